/* test_segment.c - columnar segments: every column type with edge values,
 * empty and one-row segments, big dictionaries, compression, atomic
 * replacement, and damage detection at every byte of a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/crc32c.h"
#include "store/segment.h"
#include "store_test.h"
#include <zstd.h>

static void seg_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* finish_and_open writes w to path, frees it and opens the file. */
static struct vex_segment *finish_and_open(struct vex_segment_writer *w, const char *path)
{
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    return s;
}

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* Five rows of everything, with the awkward values of each type. */
static const int64_t I64_5[5] = {INT64_MIN, INT64_MAX, 0, -1, 42};
static const char *const STR_5[5] = {"", "a", "", "b\xc3\xa9ta", "a"};
static const unsigned char BLOB_BIN[4] = {0, 0xFF, 0, 7};

static void write_five(const char *path)
{
    double f[5] = {NAN, -0.0, INFINITY, 1.5, DBL_MIN};
    const void *bp[5] = {"hello", NULL, BLOB_BIN, "", "x"};
    size_t bl[5] = {5, 0, 4, 0, 1};
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(5, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "ts", I64_5), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "kbps", f), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "cdn", STR_5), 0);
    assert_int_equal(vex_segment_writer_add_blob(w, "state", bp, bl), 0);
    assert_int_equal(vex_segment_writer_set_meta(w, "customer", "acme"), 0);
    assert_int_equal(vex_segment_writer_set_meta(w, "day", "2024-01-02"), 0);
    assert_int_equal(vex_segment_writer_set_meta(w, "empty", ""), 0);
    assert_int_equal(vex_segment_writer_set_meta(w, "customer", "acme2"), 0); /* replaces */
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
}

static void test_round_trip_all_types(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600], tmp[700];
    seg_path(path, sizeof(path), dir, "seg");
    write_five(path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(file_size(tmp), -1);

    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    assert_int_equal(vex_segment_rows(s), 5);
    assert_string_equal(vex_segment_meta(s, "customer"), "acme2");
    assert_string_equal(vex_segment_meta(s, "day"), "2024-01-02");
    assert_string_equal(vex_segment_meta(s, "empty"), "");
    assert_null(vex_segment_meta(s, "version"));

    const int64_t *ts = vex_segment_i64(s, "ts");
    assert_non_null(ts);
    assert_true(ts[0] == INT64_MIN);
    assert_true(ts[1] == INT64_MAX);
    assert_true(ts[2] == 0);
    assert_true(ts[3] == -1);
    assert_true(ts[4] == 42);

    const double *f = vex_segment_f64(s, "kbps");
    assert_non_null(f);
    assert_true(isnan(f[0]));
    assert_true(bits_of(f[0]) == bits_of(NAN));
    assert_true(bits_of(f[1]) == 0x8000000000000000ull); /* -0.0 keeps its sign */
    assert_true(isinf(f[2]) && f[2] > 0);
    assert_true(f[3] == 1.5);
    assert_true(f[4] == DBL_MIN);

    const uint32_t *codes;
    const char *const *dict;
    size_t nd;
    assert_int_equal(vex_segment_str(s, "cdn", &codes, &dict, &nd), 0);
    assert_int_equal(nd, 3); /* sorted: "", "a", "b\xc3\xa9ta" */
    assert_string_equal(dict[0], "");
    assert_string_equal(dict[1], "a");
    assert_string_equal(dict[2], "b\xc3\xa9ta");
    uint32_t want_codes[5] = {0, 1, 0, 2, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(codes[i], want_codes[i]);

    const void *p;
    size_t len;
    assert_int_equal(vex_segment_blob(s, "state", 0, &p, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "hello", 5);
    assert_int_equal(vex_segment_blob(s, "state", 1, &p, &len), 0);
    assert_int_equal(len, 0);
    assert_non_null(p);
    assert_int_equal(vex_segment_blob(s, "state", 2, &p, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(p, BLOB_BIN, 4);
    assert_int_equal(vex_segment_blob(s, "state", 3, &p, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(vex_segment_blob(s, "state", 4, &p, &len), 0);
    assert_int_equal(len, 1);
    assert_memory_equal(p, "x", 1);
    assert_int_equal(vex_segment_blob(s, "state", 5, &p, &len), VEX_EINVAL);

    assert_int_equal(vex_segment_ncols(s), 4);
    const char *name;
    enum vex_segment_type type;
    assert_int_equal(vex_segment_column(s, 2, &name, &type), 0);
    assert_string_equal(name, "cdn");
    assert_int_equal(type, VEX_SEGMENT_STR);
    assert_int_equal(vex_segment_column(s, 4, &name, &type), VEX_EINVAL);
    vex_segment_close(s);
    scratch_free(dir);
}

static void test_missing_columns(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "seg");
    write_five(path);
    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    assert_null(vex_segment_i64(s, "nope"));
    assert_null(vex_segment_f64(s, "nope"));
    assert_null(vex_segment_i64(s, "kbps")); /* exists, but as f64 */
    assert_null(vex_segment_f64(s, "ts"));
    const uint32_t *codes = NULL;
    assert_int_equal(vex_segment_str(s, "nope", &codes, NULL, NULL), VEX_ENOENT);
    assert_int_equal(vex_segment_str(s, "ts", &codes, NULL, NULL), VEX_ENOENT);
    const void *p;
    size_t len;
    assert_int_equal(vex_segment_blob(s, "nope", 0, &p, &len), VEX_ENOENT);
    assert_int_equal(vex_segment_blob(s, "cdn", 0, &p, &len), VEX_ENOENT);
    vex_segment_close(s);

    assert_int_equal(vex_segment_open(dir, &s), VEX_EIO); /* a directory */
    seg_path(path, sizeof(path), dir, "absent");
    assert_int_equal(vex_segment_open(path, &s), VEX_ENOENT);
    scratch_free(dir);
}

static void test_writer_rejects(void **state)
{
    (void)state;
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(2, &w), 0);
    int64_t v[2] = {1, 2};
    const char *sv[2] = {"a", NULL};
    char long_name[300];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(vex_segment_writer_add_i64(w, "a", v), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "a", v), VEX_EEXIST);
    assert_int_equal(vex_segment_writer_add_f64(w, "a", (double[]){1, 2}), VEX_EEXIST);
    assert_int_equal(vex_segment_writer_add_i64(w, "", v), VEX_EINVAL);
    assert_int_equal(vex_segment_writer_add_i64(w, long_name, v), VEX_EINVAL);
    assert_int_equal(vex_segment_writer_add_i64(w, "b", NULL), VEX_EINVAL);
    assert_int_equal(vex_segment_writer_add_str(w, "s", sv), VEX_EINVAL);
    const void *bp[2] = {NULL, "x"};
    size_t bl[2] = {3, 1};
    assert_int_equal(vex_segment_writer_add_blob(w, "bl", bp, bl), VEX_EINVAL);
    assert_int_equal(vex_segment_writer_set_meta(w, "", "x"), VEX_EINVAL);
    assert_int_equal(vex_segment_writer_set_meta(w, long_name, "x"), VEX_EINVAL);
    vex_segment_writer_destroy(w);
}

static void test_zero_rows(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "empty");
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(0, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "i", NULL), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "f", NULL), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "s", NULL), 0);
    assert_int_equal(vex_segment_writer_add_blob(w, "b", NULL, NULL), 0);
    struct vex_segment *s = finish_and_open(w, path);
    assert_int_equal(vex_segment_rows(s), 0);
    assert_non_null(vex_segment_i64(s, "i"));
    assert_non_null(vex_segment_f64(s, "f"));
    const uint32_t *codes = NULL;
    const char *const *dict = NULL;
    size_t nd = 99;
    assert_int_equal(vex_segment_str(s, "s", &codes, &dict, &nd), 0);
    assert_int_equal(nd, 0);
    const void *p;
    size_t len;
    assert_int_equal(vex_segment_blob(s, "b", 0, &p, &len), VEX_EINVAL);
    vex_segment_close(s);

    /* No columns at all: header, a 16-byte index and the trailer. */
    seg_path(path, sizeof(path), dir, "bare");
    assert_int_equal(vex_segment_writer_create(7, &w), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    assert_int_equal(file_size(path), 16 + 16 + 32);
    assert_int_equal(vex_segment_open(path, &s), 0);
    assert_int_equal(vex_segment_rows(s), 7);
    assert_int_equal(vex_segment_ncols(s), 0);
    vex_segment_close(s);
    scratch_free(dir);
}

static void test_one_row(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "one");
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(1, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "i", (int64_t[]){-7}), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "f", (double[]){-2.25}), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "s", (const char *[]){"only"}), 0);
    assert_int_equal(vex_segment_writer_add_blob(w, "b", (const void *[]){"zz"}, (size_t[]){2}), 0);
    struct vex_segment *s = finish_and_open(w, path);
    assert_int_equal(vex_segment_rows(s), 1);
    assert_true(vex_segment_i64(s, "i")[0] == -7);
    assert_true(vex_segment_f64(s, "f")[0] == -2.25);
    const uint32_t *codes;
    const char *const *dict;
    size_t nd;
    assert_int_equal(vex_segment_str(s, "s", &codes, &dict, &nd), 0);
    assert_int_equal(nd, 1);
    assert_int_equal(codes[0], 0);
    assert_string_equal(dict[0], "only");
    const void *p;
    size_t len;
    assert_int_equal(vex_segment_blob(s, "b", 0, &p, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(p, "zz", 2);
    vex_segment_close(s);
    scratch_free(dir);
}

/* 70000 distinct strings need 4-byte codes; rows repeat them out of order. */
static void test_large_dictionary(void **state)
{
    (void)state;
    enum { DISTINCT = 70000, ROWS = 150000 };
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "dict");
    char *store = malloc((size_t)DISTINCT * 16);
    const char **vals = malloc(ROWS * sizeof(*vals));
    for (int k = 0; k < DISTINCT; k++)
        snprintf(store + (size_t)k * 16, 16, "s%06d", k);
    /* Row i holds string (i * 7919) mod 70000: every string appears, in a
     * scrambled order (7919 is prime, so it is coprime with 70000). */
    for (int i = 0; i < ROWS; i++)
        vals[i] = store + (size_t)(((long)i * 7919) % DISTINCT) * 16;
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(ROWS, &w), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "asset", vals), 0);
    struct vex_segment *s = finish_and_open(w, path);
    const uint32_t *codes;
    const char *const *dict;
    size_t nd;
    assert_int_equal(vex_segment_str(s, "asset", &codes, &dict, &nd), 0);
    assert_int_equal(nd, DISTINCT);
    /* "s%06d" sorts numerically, so string k must have code k. */
    char want[16];
    for (int k = 0; k < DISTINCT; k += 997) {
        snprintf(want, sizeof(want), "s%06d", k);
        assert_string_equal(dict[k], want);
    }
    for (int i = 0; i < ROWS; i++)
        assert_int_equal(codes[i], ((long)i * 7919) % DISTINCT);
    vex_segment_close(s);
    free(vals);
    free(store);
    scratch_free(dir);
}

/* Dictionaries of 256 and 257, 65536 and 65537 entries sit on the code-width
 * boundaries (1, 2, 4 bytes). */
static void test_dictionary_width_boundaries(void **state)
{
    (void)state;
    size_t sizes[4] = {256, 257, 65536, 65537};
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "w");
    for (int t = 0; t < 4; t++) {
        size_t n = sizes[t];
        char *store = malloc(n * 16);
        const char **vals = malloc(n * sizeof(*vals));
        for (size_t k = 0; k < n; k++) {
            snprintf(store + k * 16, 16, "%06u", (unsigned)(n - 1 - k)); /* descending */
            vals[k] = store + k * 16;
        }
        struct vex_segment_writer *w = NULL;
        assert_int_equal(vex_segment_writer_create(n, &w), 0);
        assert_int_equal(vex_segment_writer_add_str(w, "s", vals), 0);
        assert_int_equal(vex_segment_writer_finish(w, path), 0);
        vex_segment_writer_destroy(w);
        struct vex_segment *s = NULL;
        assert_int_equal(vex_segment_open(path, &s), 0);
        const uint32_t *codes;
        const char *const *dict;
        size_t nd;
        assert_int_equal(vex_segment_str(s, "s", &codes, &dict, &nd), 0);
        assert_int_equal(nd, n);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(codes[k], n - 1 - k);
        assert_string_equal(dict[n - 1], vals[0]);
        vex_segment_close(s);
        free(vals);
        free(store);
    }
    scratch_free(dir);
}

/* Sorted timestamps, a constant, random 64-bit values, small negatives and
 * values that wrap around when differenced. */
static void test_i64_encodings(void **state)
{
    (void)state;
    enum { N = 100000 };
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "i64");
    int64_t *ts = malloc(N * 8), *cst = malloc(N * 8), *rnd = malloc(N * 8);
    int64_t *neg = malloc(N * 8), *wrap = malloc(N * 8);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        ts[i] = 1700000000000 + (int64_t)i * 1000 + (i % 7);
        cst[i] = -123456789;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rnd[i] = (int64_t)x;
        neg[i] = -(int64_t)(i % 300);
        wrap[i] = i % 2 ? INT64_MAX : INT64_MIN;
    }
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(N, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "ts", ts), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "cst", cst), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "rnd", rnd), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "neg", neg), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "wrap", wrap), 0);
    struct vex_segment *s = finish_and_open(w, path);
    const int64_t *cols[5] = {vex_segment_i64(s, "ts"), vex_segment_i64(s, "cst"),
                              vex_segment_i64(s, "rnd"), vex_segment_i64(s, "neg"),
                              vex_segment_i64(s, "wrap")};
    int64_t *want[5] = {ts, cst, rnd, neg, wrap};
    for (int c = 0; c < 5; c++) {
        assert_non_null(cols[c]);
        assert_memory_equal(cols[c], want[c], (size_t)N * 8);
    }
    vex_segment_close(s);
    /* 800 KB of random values cannot shrink, the rest must: the file stays
     * well under the 4 MB the five raw columns take. */
    assert_true(file_size(path) < 1000000);
    free(ts);
    free(cst);
    free(rnd);
    free(neg);
    free(wrap);
    scratch_free(dir);
}

static void test_constant_column_compresses(void **state)
{
    (void)state;
    enum { N = 1000000 };
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "c");
    int64_t *v = malloc(N * 8);
    double *f = malloc(N * 8);
    const char **sv = malloc(N * sizeof(*sv));
    for (int i = 0; i < N; i++) {
        v[i] = 5;
        f[i] = 0.25;
        sv[i] = "akamai";
    }
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(N, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "v", v), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "f", f), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "s", sv), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    /* 20 MB of raw values; zstd turns runs of equal bytes into almost nothing. */
    assert_true(file_size(path) < 4096);
    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    const int64_t *rv = vex_segment_i64(s, "v");
    const double *rf = vex_segment_f64(s, "f");
    const uint32_t *codes;
    const char *const *dict;
    size_t nd;
    assert_int_equal(vex_segment_str(s, "s", &codes, &dict, &nd), 0);
    assert_int_equal(nd, 1);
    assert_string_equal(dict[0], "akamai");
    for (int i = 0; i < N; i++) {
        assert_true(rv[i] == 5);
        assert_true(rf[i] == 0.25);
        assert_true(codes[i] == 0);
    }
    vex_segment_close(s);
    free(v);
    free(f);
    free(sv);
    scratch_free(dir);
}

/* Flipping any single bit anywhere in a file, truncating it anywhere, or
 * appending a byte makes it unreadable, never silently different. */
static void test_corruption_everywhere(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600], bad[600];
    seg_path(path, sizeof(path), dir, "seg");
    seg_path(bad, sizeof(bad), dir, "bad");
    write_five(path);
    size_t len;
    unsigned char *bytes = read_file_all(path, &len);
    assert_non_null(bytes);
    assert_true(len > 48);
    struct vex_segment *s = NULL;
    for (size_t pos = 0; pos < len; pos++) {
        for (int bit = 0; bit < 8; bit += 3) {
            bytes[pos] ^= (unsigned char)(1u << bit);
            assert_int_equal(write_file_all(bad, bytes, len), 0);
            bytes[pos] ^= (unsigned char)(1u << bit);
            s = NULL;
            assert_int_equal(vex_segment_open(bad, &s), VEX_ECORRUPT);
            assert_null(s);
        }
    }
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(write_file_all(bad, bytes, cut), 0);
        assert_int_equal(vex_segment_open(bad, &s), VEX_ECORRUPT);
    }
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, bytes, len);
    longer[len] = 0;
    assert_int_equal(write_file_all(bad, longer, len + 1), 0);
    assert_int_equal(vex_segment_open(bad, &s), VEX_ECORRUPT);
    /* The untouched copy still opens. */
    assert_int_equal(write_file_all(bad, bytes, len), 0);
    assert_int_equal(vex_segment_open(bad, &s), 0);
    vex_segment_close(s);
    free(longer);
    free(bytes);
    scratch_free(dir);
}

/* finish replaces an existing file whole. */
static void test_replace_existing(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "seg");
    write_five(path);
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(2, &w), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "g", (double[]){from_bits(1), 3.0}), 0);
    struct vex_segment *s = finish_and_open(w, path);
    assert_int_equal(vex_segment_rows(s), 2);
    assert_null(vex_segment_i64(s, "ts"));
    assert_null(vex_segment_meta(s, "customer"));
    const double *g = vex_segment_f64(s, "g");
    assert_true(bits_of(g[0]) == 1); /* the smallest subnormal, bit for bit */
    assert_true(g[1] == 3.0);
    vex_segment_close(s);

    /* A writer whose target directory is missing fails and leaves nothing. */
    char nodir[700];
    snprintf(nodir, sizeof(nodir), "%s/missing/seg", dir);
    assert_int_equal(vex_segment_writer_create(0, &w), 0);
    assert_int_equal(vex_segment_writer_finish(w, nodir), VEX_EIO);
    vex_segment_writer_destroy(w);
    scratch_free(dir);
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The bytes of a tiny segment, against FORMAT.md. [10, 11, 12] has deltas
 * of 1, so it is stored as an int block of kind 1 (delta), width 0, ref 0,
 * base 1, first 10; the 24-byte block is too small for zstd to shrink, so
 * it is stored as is. */
static void test_format_bytes(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "tiny");
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(3, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "t", (int64_t[]){10, 11, 12}), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    size_t len;
    unsigned char *b = read_file_all(path, &len);
    /* header 16 + block 24 + index (16 + 4 + 1 + 28 = 49) + trailer 32 */
    assert_int_equal(len, 121);
    assert_memory_equal(b, "VEXSEG\0\0", 8);
    assert_int_equal(le(b + 8, 4), 2); /* format version 2 */
    const unsigned char block[24] = {1, 0, 0, 0, 0,  0, 0, 0, 1, 0, 0, 0,
                                     0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(b + 16, block, 24);
    const unsigned char *ix = b + 40;
    assert_int_equal(le(ix, 8), 3);      /* nrows */
    assert_int_equal(le(ix + 8, 4), 1);  /* ncols */
    assert_int_equal(le(ix + 12, 4), 0); /* nmeta */
    assert_int_equal(ix[16], 1);         /* i64 */
    assert_int_equal(ix[17], 0);         /* stored as is */
    assert_int_equal(le(ix + 18, 2), 1);
    assert_int_equal(ix[20], 't');
    assert_int_equal(le(ix + 21, 8), 16); /* offset */
    assert_int_equal(le(ix + 29, 8), 24); /* stored */
    assert_int_equal(le(ix + 37, 8), 24); /* raw */
    const unsigned char *tr = b + 89;
    assert_int_equal(le(tr, 8), 40);
    assert_int_equal(le(tr + 8, 8), 49);
    assert_memory_equal(tr + 24, "VEXSEG\0\0", 8);
    free(b);
    scratch_free(dir);
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A one-column segment taken apart by hand, per FORMAT.md: the block starts
 * at 16, the index follows it, and the column's index entry is the only one
 * (no meta pairs). */
struct onecol {
    unsigned char *file;
    size_t len;
    size_t block; /* stored length of the block */
    size_t entry; /* offset of the index entry */
    size_t namelen;
    int comp;
};

static void onecol_parse(struct onecol *o, unsigned char *file, size_t len)
{
    o->file = file;
    o->len = len;
    /* trailer: index offset + index length + 32 = file length */
    assert_int_equal(le(file + len - 32, 8) + le(file + len - 24, 8) + 32, len);
    o->block = le(file + len - 32, 8) - 16;
    o->entry = 16 + o->block + 16;
    assert_int_equal(le(file + 16 + o->block + 8, 4), 1);  /* ncols */
    assert_int_equal(le(file + 16 + o->block + 12, 4), 0); /* nmeta */
    o->comp = file[o->entry + 1];
    o->namelen = le(file + o->entry + 2, 2);
}

/* onecol_raw returns the block's raw bytes (decompressed if need be). */
static unsigned char *onecol_raw(const struct onecol *o, size_t *rawlen)
{
    const unsigned char *e = o->file + o->entry + 4 + o->namelen;
    *rawlen = le(e + 16, 8);
    unsigned char *raw = malloc(*rawlen);
    if (o->comp) {
        size_t z = ZSTD_decompress(raw, *rawlen, o->file + 16, o->block);
        assert_int_equal(z, *rawlen);
    } else {
        memcpy(raw, o->file + 16, *rawlen);
    }
    return raw;
}

/* onecol_forge writes to `path` the file with its block replaced by `raw`,
 * compressed or not as before, and every length and checksum made right:
 * the file is well-formed on the outside, whatever raw says. */
static void onecol_forge(const struct onecol *o, const unsigned char *raw, size_t rawlen,
                         const char *path)
{
    size_t cap = ZSTD_compressBound(rawlen);
    unsigned char *blk = malloc(cap);
    size_t blen = rawlen;
    if (o->comp) {
        blen = ZSTD_compress(blk, cap, raw, rawlen, 3);
        assert_false(ZSTD_isError(blen));
    } else {
        memcpy(blk, raw, rawlen);
    }
    size_t ixlen = o->len - 32 - 16 - o->block;
    size_t len = 16 + blen + ixlen + 32;
    unsigned char *f = malloc(len);
    memcpy(f, o->file, 16);
    memcpy(f + 16, blk, blen);
    unsigned char *ix = f + 16 + blen;
    memcpy(ix, o->file + 16 + o->block, ixlen);
    unsigned char *e = ix + 16 + 4 + o->namelen;
    put_le(e + 8, blen, 8);
    put_le(e + 16, rawlen, 8);
    put_le(e + 24, vex_crc32c_of(f + 16, blen), 4);
    unsigned char *tr = ix + ixlen;
    put_le(tr, 16 + blen, 8);
    put_le(tr + 8, ixlen, 8);
    put_le(tr + 16, vex_crc32c_of(ix, ixlen), 4);
    put_le(tr + 20, vex_crc32c_of(tr, 20), 4);
    memcpy(tr + 24, "VEXSEG\0\0", 8);
    assert_int_equal(write_file_all(path, f, len), 0);
    free(f);
    free(blk);
}

/* expect_bad_column opens a forged file: it opens (every checksum matches)
 * and the column fails to decode, every time it is asked for. */
static void expect_bad_column(const char *path, int type)
{
    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    const uint32_t *codes = NULL;
    const void *p;
    size_t len;
    for (int twice = 0; twice < 2; twice++) {
        if (type == VEX_SEGMENT_I64)
            assert_null(vex_segment_i64(s, "c"));
        else if (type == VEX_SEGMENT_F64)
            assert_null(vex_segment_f64(s, "c"));
        else if (type == VEX_SEGMENT_STR)
            assert_int_equal(vex_segment_str(s, "c", &codes, NULL, NULL), VEX_ECORRUPT);
        else
            assert_int_equal(vex_segment_blob(s, "c", 0, &p, &len), VEX_ECORRUPT);
    }
    assert_int_equal(vex_segment_verify(s), VEX_ECORRUPT);
    vex_segment_close(s);
}

/* Files whose checksums all match but whose contents are inconsistent (a
 * writer bug, or a forged file) open, and fail when the column is decoded. */
static void test_inconsistent_contents(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600], bad[600];
    seg_path(path, sizeof(path), dir, "s");
    seg_path(bad, sizeof(bad), dir, "bad");
    struct vex_segment_writer *w = NULL;
    size_t len, rawlen;
    unsigned char *file;
    struct onecol o;

    /* str ["a", "b"]: D = 2, kind 0, zero, ref 0, B = 6, the dictionary
     * front coded (0 "a\0", 0 "b\0"), then the codes [0, 1] as an int block:
     * delta (kind 1), width 0, base 1, first 0. */
    assert_int_equal(vex_segment_writer_create(2, &w), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "c", (const char *[]){"a", "b"}), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    file = read_file_all(path, &len);
    onecol_parse(&o, file, len);
    unsigned char *raw = onecol_raw(&o, &rawlen);
    const unsigned char want[46] = {
        2, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0, 'b', 0, /* dictionary */
        1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0,   0, 0, 0};
    assert_int_equal(rawlen, 46);
    assert_memory_equal(raw, want, 46);
    /* Forging the unchanged bytes gives a file that reads back fine. */
    onecol_forge(&o, raw, rawlen, bad);
    struct vex_segment *s = NULL;
    const uint32_t *codes;
    const char *const *dict;
    size_t nd;
    assert_int_equal(vex_segment_open(bad, &s), 0);
    assert_int_equal(vex_segment_str(s, "c", &codes, &dict, &nd), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], 1);
    assert_string_equal(dict[1], "b");
    vex_segment_close(s);
    const struct {
        size_t pos;
        unsigned char val;
    } edits[] = {
        {30, 2},   /* base 2: codes 0, 2, and 2 >= D */
        {38, 2},   /* first 2: a code >= D */
        {17, 'c'}, /* dictionary "c", "b": not sorted */
        {20, 'a'}, /* dictionary "a", "a": a duplicate */
        {19, 2},   /* shares 2 bytes with "a", which has 1 */
        {4, 2},    /* no such kind */
        {4, 1},    /* kind 1 through column 0, which is this very column */
        {5, 1},    /* a reserved byte set */
        {6, 1},    /* a reference for kind 0 */
        {0, 3},    /* D = 3, but the bytes hold 2 strings */
        {0, 1},    /* D = 1, but the bytes hold 2 strings */
        {8, 5},    /* B = 5: the last string has no NUL */
        {22, 2},   /* int block kind 2 is for i64 columns only */
        {23, 9},   /* no such width */
        {23, 1},   /* width 1, but no packed bytes */
        {26, 1},   /* a reserved byte of the int block */
    };
    for (size_t k = 0; k < sizeof(edits) / sizeof(edits[0]); k++) {
        unsigned char copy[46];
        memcpy(copy, raw, 46);
        copy[edits[k].pos] = edits[k].val;
        onecol_forge(&o, copy, 46, bad);
        expect_bad_column(bad, VEX_SEGMENT_STR);
    }
    onecol_forge(&o, raw, 45, bad); /* the int block cut short */
    expect_bad_column(bad, VEX_SEGMENT_STR);
    free(raw);
    free(o.file);

    /* i64 [10, 11, 12]: kind 1, width 0, ref 0, base 1, first 10 (24 bytes). */
    assert_int_equal(vex_segment_writer_create(3, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "c", (int64_t[]){10, 11, 12}), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    file = read_file_all(path, &len);
    onecol_parse(&o, file, len);
    raw = onecol_raw(&o, &rawlen);
    assert_int_equal(rawlen, 24);
    const struct {
        size_t pos;
        unsigned char val;
    } i64_edits[] = {
        {1, 9}, /* no such width */
        {1, 1}, /* width 1 without values */
        {0, 3}, /* no such kind */
        {7, 1}, /* a reserved byte */
        {2, 1}, /* a reference for kind 1 */
        {0, 0}, /* kind 0 with a first value */
    };
    for (size_t k = 0; k < sizeof(i64_edits) / sizeof(i64_edits[0]); k++) {
        unsigned char copy[24];
        memcpy(copy, raw, 24);
        copy[i64_edits[k].pos] = i64_edits[k].val;
        onecol_forge(&o, copy, 24, bad);
        expect_bad_column(bad, VEX_SEGMENT_I64);
    }
    /* Kind 2 against column 0, itself: first set to 0 so that only the
     * reference is wrong. */
    unsigned char self[24];
    memcpy(self, raw, 24);
    self[0] = 2;
    self[16] = 0;
    onecol_forge(&o, self, 24, bad);
    expect_bad_column(bad, VEX_SEGMENT_I64);
    free(raw);
    free(o.file);

    /* f64 [1.0]: kind 1 (integers), 7 zero bytes, then an int block of one
     * value: kind 0, width 0, base 1 (32 bytes). */
    assert_int_equal(vex_segment_writer_create(1, &w), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "c", (double[]){1.0}), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    file = read_file_all(path, &len);
    onecol_parse(&o, file, len);
    raw = onecol_raw(&o, &rawlen);
    const unsigned char fwant[32] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(rawlen, 32);
    assert_memory_equal(raw, fwant, 32);
    onecol_forge(&o, raw, 31, bad);
    expect_bad_column(bad, VEX_SEGMENT_F64);
    const struct {
        size_t pos;
        unsigned char val;
    } f64_edits[] = {
        {0, 2},     /* no such kind */
        {0, 0},     /* kind 0 (planes) needs 8 + 8 bytes, not 32 */
        {3, 1},     /* a reserved byte */
        {8, 1},     /* int block kind 1 (delta) with first 0: fine, see below */
        {8, 2},     /* int block kind 2 is for i64 columns only */
        {23, 0x7F}, /* base 0x7F00000000000001: beyond 2^53 */
    };
    for (size_t k = 0; k < sizeof(f64_edits) / sizeof(f64_edits[0]); k++) {
        unsigned char copy[32];
        memcpy(copy, raw, 32);
        copy[f64_edits[k].pos] = f64_edits[k].val;
        onecol_forge(&o, copy, 32, bad);
        if (f64_edits[k].pos == 8 && f64_edits[k].val == 1) {
            /* One value by delta is `first`, here 0. */
            assert_int_equal(vex_segment_open(bad, &s), 0);
            const double *fv = vex_segment_f64(s, "c");
            assert_non_null(fv);
            assert_true(fv[0] == 0.0);
            vex_segment_close(s);
            continue;
        }
        expect_bad_column(bad, VEX_SEGMENT_F64);
    }
    free(raw);
    free(o.file);

    /* f64 [1.5]: kind 0, then the 8 byte planes of one value (16 bytes). */
    assert_int_equal(vex_segment_writer_create(1, &w), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "c", (double[]){1.5}), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    file = read_file_all(path, &len);
    onecol_parse(&o, file, len);
    raw = onecol_raw(&o, &rawlen);
    assert_int_equal(rawlen, 16);
    assert_int_equal(raw[0], 0);
    assert_int_equal(raw[15], 0x3F); /* 1.5 = 0x3FF8000000000000 */
    assert_int_equal(raw[14], 0xF8);
    onecol_forge(&o, raw, 15, bad);
    expect_bad_column(bad, VEX_SEGMENT_F64);
    free(raw);
    free(o.file);

    /* blob ["xy"]: length 2 then "xy"; a length of 3 overruns. */
    assert_int_equal(vex_segment_writer_create(1, &w), 0);
    assert_int_equal(vex_segment_writer_add_blob(w, "c", (const void *[]){"xy"}, (size_t[]){2}), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    file = read_file_all(path, &len);
    onecol_parse(&o, file, len);
    raw = onecol_raw(&o, &rawlen);
    assert_int_equal(rawlen, 10);
    raw[0] = 3;
    onecol_forge(&o, raw, 10, bad);
    expect_bad_column(bad, VEX_SEGMENT_BLOB);
    raw[0] = 1; /* and one that leaves a byte over */
    onecol_forge(&o, raw, 10, bad);
    expect_bad_column(bad, VEX_SEGMENT_BLOB);
    free(raw);
    free(o.file);
    scratch_free(dir);
}

/* Threads that ask for the same columns of a fresh segment at once all get
 * the one decoded copy. */
enum { MT_ROWS = 50000, MT_THREADS = 6 };

struct mt_arg {
    const struct vex_segment *s;
    const int64_t *i64;
    const uint32_t *codes;
    int ok;
};

static void *mt_main(void *p)
{
    struct mt_arg *a = p;
    const char *const *dict;
    size_t nd;
    a->i64 = vex_segment_i64(a->s, "t");
    a->ok = vex_segment_str(a->s, "s", &a->codes, &dict, &nd) == 0 && nd == 3;
    return NULL;
}

static void test_concurrent_first_access(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    seg_path(path, sizeof(path), dir, "mt");
    int64_t *t = malloc(MT_ROWS * sizeof(*t));
    const char **sv = malloc(MT_ROWS * sizeof(*sv));
    const char *names[3] = {"x", "y", "z"};
    for (int i = 0; i < MT_ROWS; i++) {
        t[i] = (int64_t)i * 3 - 7;
        sv[i] = names[i % 3];
    }
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(MT_ROWS, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "t", t), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "s", sv), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);

    for (int round = 0; round < 5; round++) {
        struct vex_segment *s = NULL;
        assert_int_equal(vex_segment_open(path, &s), 0);
        struct mt_arg args[MT_THREADS];
        pthread_t th[MT_THREADS];
        for (int k = 0; k < MT_THREADS; k++) {
            args[k] = (struct mt_arg){.s = s};
            assert_int_equal(pthread_create(&th[k], NULL, mt_main, &args[k]), 0);
        }
        for (int k = 0; k < MT_THREADS; k++)
            pthread_join(th[k], NULL);
        for (int k = 0; k < MT_THREADS; k++) {
            assert_true(args[k].ok);
            assert_ptr_equal(args[k].i64, args[0].i64);
            assert_ptr_equal(args[k].codes, args[0].codes);
        }
        assert_memory_equal(args[0].i64, t, MT_ROWS * sizeof(*t));
        for (int i = 0; i < MT_ROWS; i++)
            assert_int_equal(args[0].codes[i], i % 3);
        vex_segment_close(s);
    }
    free(t);
    free(sv);
    scratch_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_types),
        cmocka_unit_test(test_missing_columns),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_zero_rows),
        cmocka_unit_test(test_one_row),
        cmocka_unit_test(test_large_dictionary),
        cmocka_unit_test(test_dictionary_width_boundaries),
        cmocka_unit_test(test_i64_encodings),
        cmocka_unit_test(test_constant_column_compresses),
        cmocka_unit_test(test_corruption_everywhere),
        cmocka_unit_test(test_replace_existing),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_inconsistent_contents),
        cmocka_unit_test(test_concurrent_first_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
