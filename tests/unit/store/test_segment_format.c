/* test_segment_format.c - segment files built byte by byte from FORMAT.md:
 * version 1 files (written before version 2 existed) still read back, an
 * unknown version is refused, version 2 references between columns decode as
 * documented, forged chains fail cleanly; and the writer's choices (a column
 * coded against another, a dimension determined by another, front-coded
 * dictionaries, integral doubles) round-trip and show up in the bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/err.h"
#include "store/crc32c.h"
#include "store/segment.h"
#include "store_test.h"

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* One column of a hand-built file: its raw bytes, stored as is or as one
 * zstd frame. */
struct hcol {
    int type;
    const char *name;
    const unsigned char *raw;
    size_t len;
    int zstd;
};

/* build writes a segment of the given version with no meta pairs, laid out
 * as FORMAT.md section 2 says: header, blocks, index, trailer. */
static void build(const char *path, uint32_t version, uint64_t nrows, const struct hcol *cols,
                  size_t ncols)
{
    size_t cap = 16 + 16 + 32 + 64 * ncols; /* header, index head, trailer */
    for (size_t i = 0; i < ncols; i++)
        cap += ZSTD_compressBound(cols[i].len) + cols[i].len;
    unsigned char *f = calloc(1, cap);
    memcpy(f, "VEXSEG\0\0", 8);
    put_le(f + 8, version, 4);
    put_le(f + 12, vex_crc32c_of(f, 12), 4);
    size_t off = 16;
    size_t *at = calloc(ncols + 1, sizeof(*at)), *stored = calloc(ncols + 1, sizeof(*stored));
    for (size_t i = 0; i < ncols; i++) {
        at[i] = off;
        if (cols[i].zstd) {
            stored[i] = ZSTD_compress(f + off, cap - off, cols[i].raw, cols[i].len, 3);
            assert_false(ZSTD_isError(stored[i]));
        } else {
            memcpy(f + off, cols[i].raw, cols[i].len);
            stored[i] = cols[i].len;
        }
        off += stored[i];
    }
    size_t ix = off;
    put_le(f + off, nrows, 8);
    put_le(f + off + 8, ncols, 4);
    put_le(f + off + 12, 0, 4);
    off += 16;
    for (size_t i = 0; i < ncols; i++) {
        size_t nl = strlen(cols[i].name);
        f[off] = (unsigned char)cols[i].type;
        f[off + 1] = (unsigned char)(cols[i].zstd ? 1 : 0);
        put_le(f + off + 2, nl, 2);
        memcpy(f + off + 4, cols[i].name, nl);
        off += 4 + nl;
        put_le(f + off, at[i], 8);
        put_le(f + off + 8, stored[i], 8);
        put_le(f + off + 16, cols[i].len, 8);
        put_le(f + off + 24, vex_crc32c_of(f + at[i], stored[i]), 4);
        off += 28;
    }
    put_le(f + off, ix, 8);
    put_le(f + off + 8, off - ix, 8);
    put_le(f + off + 16, vex_crc32c_of(f + ix, off - ix), 4);
    put_le(f + off + 20, vex_crc32c_of(f + off, 20), 4);
    memcpy(f + off + 24, "VEXSEG\0\0", 8);
    off += 32;
    assert_int_equal(write_file_all(path, f, off), 0);
    free(at);
    free(stored);
    free(f);
}

/* raw_of returns the raw bytes of column i of a segment file (malloc'd),
 * read through the index as FORMAT.md describes it. */
static unsigned char *raw_of(const char *path, size_t col, size_t *rawlen)
{
    size_t len;
    unsigned char *f = read_file_all(path, &len);
    assert_non_null(f);
    const unsigned char *ix = f + le(f + len - 32, 8);
    size_t ncols = le(ix + 8, 4), nmeta = le(ix + 12, 4);
    assert_true(col < ncols);
    const unsigned char *p = ix + 16;
    for (size_t i = 0; i < nmeta; i++) {
        p += 2 + le(p, 2);
        p += 4 + le(p, 4);
    }
    for (size_t i = 0; i < col; i++)
        p += 4 + le(p + 2, 2) + 28;
    int comp = p[1];
    const unsigned char *e = p + 4 + le(p + 2, 2);
    size_t off = le(e, 8), stored = le(e + 8, 8);
    *rawlen = le(e + 16, 8);
    unsigned char *raw = malloc(*rawlen ? *rawlen : 1);
    if (comp) {
        assert_int_equal(ZSTD_decompress(raw, *rawlen, f + off, stored), *rawlen);
    } else {
        memcpy(raw, f + off, *rawlen);
    }
    free(f);
    return raw;
}

static void check_str(const struct vex_segment *s, const char *name, size_t n,
                      const char *const *want)
{
    const uint32_t *codes;
    const char *const *dict;
    size_t nd;
    assert_int_equal(vex_segment_str(s, name, &codes, &dict, &nd), 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] < nd);
        assert_string_equal(dict[codes[i]], want[i]);
    }
    for (size_t k = 1; k < nd; k++)
        assert_true(strcmp(dict[k - 1], dict[k]) < 0);
}

/* A version 1 file of three rows, every column type, one column zstd'd. */
static void test_reads_version_1(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    snprintf(path, sizeof(path), "%s/v1", dir);
    /* i64 kind 0 (frame of reference), width 2, base 1000, packed values
     * 0, 5, 65535 interleaved: 1000, 1005, 66535. */
    const unsigned char a[30] = {0, 2, 0, 0, 0, 0, 0, 0, 0xE8, 3, 0, 0, 0, 0,    0,
                                 0, 0, 0, 0, 0, 0, 0, 0, 0,    0, 0, 5, 0, 0xFF, 0xFF};
    /* i64 kind 1 (delta), width 1, base -2, first 100, packed 3, 0:
     * 100, 100 - 2 + 3 = 101, 101 - 2 + 0 = 99. */
    const unsigned char b[26] = {1,    1,    0,    0,   0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF,
                                 0xFF, 0xFF, 0xFF, 100, 0, 0, 0, 0, 0,    0,    0,    3,    0};
    /* f64 byte planes of 1.0 (3FF0 0000 0000 0000), -0.0 (8000 ...) and
     * 2.5 (4004 ...): planes 0..5 are zero. */
    unsigned char f[24] = {0};
    f[18] = 0xF0, f[19] = 0x00, f[20] = 0x04;
    f[21] = 0x3F, f[22] = 0x80, f[23] = 0x40;
    /* str: D = 2, W = 1, B = 5, "x\0yz\0", codes 1, 0, 1. */
    const unsigned char s[24] = {2, 0, 0, 0, 1,   0, 0,   0,   5, 0, 0, 0,
                                 0, 0, 0, 0, 'x', 0, 'y', 'z', 0, 1, 0, 1};
    /* blob: lengths 2, 0, 1, then "hi!". */
    const unsigned char p[27] = {2,   0,   0,  0, 0, 0, 0, 0, /* 2 */
                                 0,   0,   0,  0, 0, 0, 0, 0, /* 0 */
                                 1,   0,   0,  0, 0, 0, 0, 0, /* 1 */
                                 'h', 'i', '!'};
    const struct hcol cols[5] = {
        {VEX_SEGMENT_I64, "a", a, sizeof(a), 0},  {VEX_SEGMENT_I64, "b", b, sizeof(b), 1},
        {VEX_SEGMENT_F64, "f", f, sizeof(f), 0},  {VEX_SEGMENT_STR, "s", s, sizeof(s), 1},
        {VEX_SEGMENT_BLOB, "p", p, sizeof(p), 0},
    };
    build(path, 1, 3, cols, 5);

    struct vex_segment *seg = NULL;
    assert_int_equal(vex_segment_open(path, &seg), 0);
    assert_int_equal(vex_segment_verify(seg), 0);
    const int64_t *va = vex_segment_i64(seg, "a"), *vb = vex_segment_i64(seg, "b");
    assert_non_null(va);
    assert_non_null(vb);
    assert_true(va[0] == 1000 && va[1] == 1005 && va[2] == 66535);
    assert_true(vb[0] == 100 && vb[1] == 101 && vb[2] == 99);
    const double *vf = vex_segment_f64(seg, "f");
    assert_non_null(vf);
    assert_true(vf[0] == 1.0 && vf[2] == 2.5);
    assert_true(vf[1] == 0.0 && signbit(vf[1]));
    check_str(seg, "s", 3, (const char *const[]){"yz", "x", "yz"});
    const void *bp;
    size_t bl;
    assert_int_equal(vex_segment_blob(seg, "p", 0, &bp, &bl), 0);
    assert_int_equal(bl, 2);
    assert_memory_equal(bp, "hi", 2);
    assert_int_equal(vex_segment_blob(seg, "p", 1, &bp, &bl), 0);
    assert_int_equal(bl, 0);
    assert_int_equal(vex_segment_blob(seg, "p", 2, &bp, &bl), 0);
    assert_int_equal(bl, 1);
    assert_memory_equal(bp, "!", 1);
    vex_segment_close(seg);

    /* The version decides how the bytes are read: under version 2 the str
     * block says kind 1 (through another column) with depth 0, which no
     * version 2 writer makes, and is refused. */
    build(path, 2, 3, cols, 5);
    assert_int_equal(vex_segment_open(path, &seg), 0);
    const uint32_t *codes;
    assert_int_equal(vex_segment_str(seg, "s", &codes, NULL, NULL), VEX_ECORRUPT);
    assert_int_equal(vex_segment_verify(seg), VEX_ECORRUPT);
    vex_segment_close(seg);
    scratch_free(dir);
}

static void test_refuses_unknown_version(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    snprintf(path, sizeof(path), "%s/v", dir);
    struct vex_segment *s = NULL;
    uint32_t bad[3] = {0, 3, 0xFFFFFFFFu};
    for (int k = 0; k < 3; k++) {
        build(path, bad[k], 0, NULL, 0);
        assert_int_equal(vex_segment_open(path, &s), VEX_ECORRUPT);
    }
    for (uint32_t v = 1; v <= 2; v++) {
        build(path, v, 4, NULL, 0);
        assert_int_equal(vex_segment_open(path, &s), 0);
        assert_int_equal(vex_segment_rows(s), 4);
        vex_segment_close(s);
    }
    /* What the writer makes is version 2. */
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(0, &w), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    size_t len;
    unsigned char *b = read_file_all(path, &len);
    assert_int_equal(le(b + 8, 4), 2);
    free(b);
    scratch_free(dir);
}

#define T0 1700000000000ull

/* Version 2 by hand: a column coded against another, a chain of two, a
 * front-coded dictionary, a dimension determined by another through a map,
 * and integral doubles. */
static void test_version_2_by_hand(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    snprintf(path, sizeof(path), "%s/v2", dir);
    /* "start": kind 0, width 3, base T0, packed 1, 256, 65538 as 3 byte
     * planes: [01 00 02] [00 01 00] [00 00 01]. */
    unsigned char start[33] = {0, 3};
    put_le(start + 8, T0, 8);
    const unsigned char planes[9] = {1, 0, 2, 0, 1, 0, 0, 0, 1};
    memcpy(start + 24, planes, 9);
    /* "end": kind 2 against column 0, depth 1, width 1, base 500, packed
     * 0, 1, 255: end = start + 500 + packed. */
    unsigned char end[27] = {2, 1, 0, 0, 1};
    put_le(end + 8, 500, 8);
    end[24] = 0, end[25] = 1, end[26] = 255;
    /* "end2": kind 2 against column 1 (itself depth 1), so depth 2, width 0,
     * base -1: end2 = end - 1. */
    unsigned char end2[24] = {2, 0, 1, 0, 2};
    put_le(end2 + 8, UINT64_MAX, 8);
    /* "asset": D = 2, kind 0, B = 7: 0 "a1\0", 1 "2\0" ("a2" shares "a"),
     * then codes 1, 0, 1 as an int block of kind 0, width 1. */
    unsigned char asset[16 + 7 + 27] = {2, 0, 0, 0, 0, 0, 0, 0, 7};
    const unsigned char adict[7] = {0, 'a', '1', 0, 1, '2', 0};
    memcpy(asset + 16, adict, 7);
    asset[23] = 0, asset[24] = 1;
    asset[47] = 1, asset[48] = 0, asset[49] = 1;
    /* "title": D = 2, kind 1 through column 3 ("asset", depth 0), so depth
     * 1; B = 6: 0 "T\0", 1 "\xFF\0" (so "T\xFF"); then one code per asset
     * entry: a1 -> 1 ("T\xFF"), a2 -> 0 ("T"), as a delta block: first 1,
     * base -1, width 0. Rows: asset 1, 0, 1 -> title 0, 1, 0. */
    unsigned char title[16 + 6 + 24] = {2, 0, 0, 0, 1, 1, 3, 0, 6};
    const unsigned char tdict[6] = {0, 'T', 0, 1, 0xFF, 0};
    memcpy(title + 16, tdict, 6);
    title[22] = 1;
    put_le(title + 22 + 8, UINT64_MAX, 8);
    put_le(title + 22 + 16, 1, 8);
    /* "k": f64 kind 1, then a delta block: first 3000, base -1500, width 1,
     * packed 0, 100: 3000, 1500, 100. */
    unsigned char k[8 + 26] = {1};
    k[8] = 1, k[9] = 1;
    put_le(k + 16, (uint64_t)-1500, 8);
    put_le(k + 24, 3000, 8);
    k[32] = 0, k[33] = 100;
    const struct hcol cols[6] = {
        {VEX_SEGMENT_I64, "start", start, sizeof(start), 0},
        {VEX_SEGMENT_I64, "end", end, sizeof(end), 1},
        {VEX_SEGMENT_I64, "end2", end2, sizeof(end2), 0},
        {VEX_SEGMENT_STR, "asset", asset, sizeof(asset), 1},
        {VEX_SEGMENT_STR, "title", title, sizeof(title), 0},
        {VEX_SEGMENT_F64, "k", k, sizeof(k), 0},
    };
    build(path, 2, 3, cols, 6);

    /* Cold, the columns at the end of chains first: they decode the rest. */
    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    const int64_t *e2 = vex_segment_i64(s, "end2");
    assert_non_null(e2);
    assert_true(e2[0] == (int64_t)(T0 + 1 + 500 + 0 - 1));
    assert_true(e2[1] == (int64_t)(T0 + 256 + 500 + 1 - 1));
    assert_true(e2[2] == (int64_t)(T0 + 65538 + 500 + 255 - 1));
    const int64_t *e = vex_segment_i64(s, "end"), *st = vex_segment_i64(s, "start");
    assert_true(st[0] == (int64_t)(T0 + 1) && st[1] == (int64_t)(T0 + 256) &&
                st[2] == (int64_t)(T0 + 65538));
    assert_true(e[0] == (int64_t)(T0 + 501) && e[1] == (int64_t)(T0 + 757) &&
                e[2] == (int64_t)(T0 + 65538 + 755));
    check_str(s, "title", 3, (const char *const[]){"T", "T\xFF", "T"});
    check_str(s, "asset", 3, (const char *const[]){"a2", "a1", "a2"});
    const double *kv = vex_segment_f64(s, "k");
    assert_non_null(kv);
    assert_true(kv[0] == 3000.0 && kv[1] == 1500.0 && kv[2] == 100.0);
    assert_int_equal(vex_segment_verify(s), 0);
    vex_segment_close(s);

    /* Wrong depths, references forward or to another type: each makes the
     * referring column fail, whatever order the columns are read in, and
     * leaves the column referred to readable. */
    struct {
        unsigned char *raw;
        size_t pos;
        unsigned char val;
        const char *bad;
    } edits[] = {
        {end2, 4, 1, "end2"},   /* says depth 1, but "end" has 1 */
        {end2, 4, 3, "end2"},   /* says depth 3 */
        {end, 4, 2, "end"},     /* says depth 2; "end2" fails with it */
        {end2, 2, 2, "end2"},   /* against itself */
        {end, 2, 3, "end"},     /* against a later column */
        {end2, 4, 9, "end2"},   /* deeper than any chain may be */
        {title, 5, 2, "title"}, /* depth 2, but "asset" has 0 */
        {title, 6, 5, "title"}, /* against a later column */
        {title, 6, 0, "title"}, /* against "start", an i64 column */
    };
    for (size_t x = 0; x < sizeof(edits) / sizeof(edits[0]); x++) {
        unsigned char was = edits[x].raw[edits[x].pos];
        edits[x].raw[edits[x].pos] = edits[x].val;
        build(path, 2, 3, cols, 6);
        edits[x].raw[edits[x].pos] = was;
        for (int order = 0; order < 2; order++) {
            assert_int_equal(vex_segment_open(path, &s), 0);
            if (order == 0) {
                assert_int_equal(vex_segment_verify(s), VEX_ECORRUPT);
            }
            int is_str = strcmp(edits[x].bad, "title") == 0;
            if (is_str)
                assert_int_equal(vex_segment_str(s, edits[x].bad, NULL, NULL, NULL), VEX_ECORRUPT);
            else
                assert_null(vex_segment_i64(s, edits[x].bad));
            const int64_t *sv = vex_segment_i64(s, "start");
            assert_non_null(sv);
            assert_true(sv[2] == (int64_t)(T0 + 65538));
            check_str(s, "asset", 3, (const char *const[]){"a2", "a1", "a2"});
            if (strcmp(edits[x].bad, "end2") == 0)
                assert_non_null(vex_segment_i64(s, "end"));
            vex_segment_close(s);
        }
    }
    scratch_free(dir);
}

/* A chain of references as long as allowed reads; one longer does not, in
 * whatever order the columns are asked for. */
static void test_chain_limit(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    snprintf(path, sizeof(path), "%s/chain", dir);
    enum { NC = 10 };
    unsigned char raws[NC][24];
    struct hcol cols[NC];
    char names[NC][8];
    for (int c = 0; c < NC; c++) {
        /* c0 = 7 (kind 0, base 7); c[k] = c[k-1] + 1 (kind 2, depth k). */
        memset(raws[c], 0, 24);
        raws[c][0] = c ? 2 : 0;
        put_le(raws[c] + 2, c ? (uint64_t)(c - 1) : 0, 2);
        raws[c][4] = (unsigned char)c;
        put_le(raws[c] + 8, c ? 1 : 7, 8);
        snprintf(names[c], sizeof(names[c]), "c%d", c);
        cols[c] = (struct hcol){VEX_SEGMENT_I64, names[c], raws[c], 24, 0};
    }
    /* Depth 9 is one more than allowed, so column 9 can never be right. */
    build(path, 2, 2, cols, NC);
    for (int order = 0; order < 2; order++) {
        struct vex_segment *s = NULL;
        assert_int_equal(vex_segment_open(path, &s), 0);
        if (order == 0)
            assert_null(vex_segment_i64(s, "c9"));
        for (int c = 0; c < NC - 1; c++) {
            const int64_t *v = vex_segment_i64(s, names[c]);
            assert_non_null(v);
            assert_true(v[0] == 7 + c && v[1] == 7 + c);
        }
        assert_null(vex_segment_i64(s, "c9"));
        assert_int_equal(vex_segment_verify(s), VEX_ECORRUPT);
        vex_segment_close(s);
    }
    scratch_free(dir);
}

/* The writer codes an end time against its start time, a copy against
 * the original, keeps chains within the limit, and everything reads back
 * bit for bit, wrapping differences included. */
static void test_writer_references(void **state)
{
    (void)state;
    enum { N = 20000, NCH = 12 };
    char *dir = scratch_dir();
    char path[600];
    snprintf(path, sizeof(path), "%s/refs", dir);
    int64_t *start = malloc(N * 8), *end = malloc(N * 8), *copy = malloc(N * 8);
    int64_t *wrap = malloc(N * 8), *chain[NCH];
    uint64_t x = 88172645463325252ull;
    for (int c = 0; c < NCH; c++)
        chain[c] = malloc(N * 8);
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        start[i] = (int64_t)(T0 + (x % 86400000u)); /* a day of random starts */
        end[i] = start[i] + (int64_t)(x >> 40) % 1000;
        copy[i] = end[i];
        wrap[i] = i % 2 ? INT64_MIN + (i % 5) : INT64_MAX - (i % 3);
        /* Each link adds its own noise, so the previous link is always the
         * best reference for the next. */
        chain[0][i] = (int64_t)(x % 100000000u);
        for (int c = 1; c < NCH; c++)
            chain[c][i] = chain[c - 1][i] + (int64_t)((x >> (3 * c)) & 3);
    }
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(N, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "start", start), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "end", end), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "copy", copy), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "wrap", wrap), 0);
    char name[16];
    for (int c = 0; c < NCH; c++) {
        snprintf(name, sizeof(name), "ch%d", c);
        assert_int_equal(vex_segment_writer_add_i64(w, name, chain[c]), 0);
    }
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);

    size_t rl;
    unsigned char *raw = raw_of(path, 1, &rl); /* end: kind 2 against start */
    assert_int_equal(raw[0], 2);
    assert_int_equal(le(raw + 2, 2), 0);
    assert_int_equal(raw[4], 1);
    assert_int_equal(raw[1], 2); /* differences 0..999 take 2 bytes */
    free(raw);
    raw = raw_of(path, 2, &rl); /* copy: against end, width 0 */
    assert_int_equal(raw[0], 2);
    assert_int_equal(le(raw + 2, 2), 1);
    assert_int_equal(raw[4], 2);
    assert_int_equal(raw[1], 0);
    assert_int_equal(rl, 24);
    free(raw);
    for (int c = 1; c < NCH; c++) {
        raw = raw_of(path, 4 + (size_t)c, &rl);
        assert_int_equal(raw[0], 2);
        assert_true(raw[4] >= 1 && raw[4] <= 8);
        if (c <= 8) {
            /* Up to the limit, each link is coded against the one before. */
            assert_int_equal(le(raw + 2, 2), 4 + c - 1);
            assert_int_equal(raw[4], c);
        }
        free(raw);
    }
    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    /* Cold: the last link decodes its whole chain. */
    snprintf(name, sizeof(name), "ch%d", NCH - 1);
    const int64_t *last = vex_segment_i64(s, name);
    assert_non_null(last);
    assert_memory_equal(last, chain[NCH - 1], (size_t)N * 8);
    assert_memory_equal(vex_segment_i64(s, "copy"), end, (size_t)N * 8);
    assert_memory_equal(vex_segment_i64(s, "end"), end, (size_t)N * 8);
    assert_memory_equal(vex_segment_i64(s, "start"), start, (size_t)N * 8);
    assert_memory_equal(vex_segment_i64(s, "wrap"), wrap, (size_t)N * 8);
    for (int c = 0; c < NCH; c++) {
        snprintf(name, sizeof(name), "ch%d", c);
        assert_memory_equal(vex_segment_i64(s, name), chain[c], (size_t)N * 8);
    }
    vex_segment_close(s);
    free(start);
    free(end);
    free(copy);
    free(wrap);
    for (int c = 0; c < NCH; c++)
        free(chain[c]);
    scratch_free(dir);
}

/* A dimension that another one determines is coded through it; one that
 * no column determines is not; the dictionaries are front coded (long
 * shared prefixes, 0xFF bytes, the empty string) and come back sorted. */
static void test_writer_determined_strings(void **state)
{
    (void)state;
    enum { N = 3000, NA = 40 };
    char *dir = scratch_dir();
    char path[600];
    snprintf(path, sizeof(path), "%s/dims", dir);
    static char assets[NA][16], titles[NA][300];
    const char **asset = malloc(N * sizeof(*asset)), **title = malloc(N * sizeof(*title));
    const char **other = malloc(N * sizeof(*other)), **uniq = malloc(N * sizeof(*uniq));
    char(*ids)[24] = malloc(N * sizeof(*ids));
    const char *odd[3] = {"", "\xFF\xFE", "\xFF"};
    for (int a = 0; a < NA; a++) {
        snprintf(assets[a], sizeof(assets[a]), "vod-%05d", a);
        /* 200 shared bytes, then a tail that repeats every 8 assets. */
        memset(titles[a], 'x', 200);
        snprintf(titles[a] + 200, 100, "%c%d", a % 2 ? '\xFF' : 'T', a % 8);
    }
    for (int i = 0; i < N; i++) {
        int a = (i * 7) % NA;
        asset[i] = assets[a];
        title[i] = titles[a];
        other[i] = odd[(i / 3 + i % 2) % 3]; /* not a function of the asset */
        snprintf(ids[i], sizeof(ids[i]), "acme-%d", N - i);
        uniq[i] = ids[i];
    }
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(N, &w), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "uniq", uniq), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "asset", asset), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "title", title), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "other", other), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);

    size_t rl;
    unsigned char *raw = raw_of(path, 2, &rl); /* title: kind 1 through asset */
    assert_int_equal(le(raw, 4), 8);           /* asset % 8 makes the title */
    assert_int_equal(raw[4], 1);
    assert_int_equal(raw[5], 1);
    assert_int_equal(le(raw + 6, 2), 1);
    /* Sorted: x..xT0, T2, T4, T6, x..x\xFF1, \xFF3, \xFF5, \xFF7. The first
     * whole (LEB128 0, 202 bytes, NUL: 204); the next three share 201 bytes
     * (LEB128 C9 01, 1 byte, NUL: 4 each); x..x\xFF1 shares 200 (C8 01, 2
     * bytes, NUL: 5); the last three share 201 again (4 each). */
    assert_int_equal(le(raw + 8, 8), 204 + 3 * 4 + 5 + 3 * 4);
    assert_int_equal(raw[16 + 204], 0xC9);
    assert_int_equal(raw[16 + 205], 0x01);
    assert_int_equal(raw[16 + 204 + 12], 0xC8);
    free(raw);
    raw = raw_of(path, 3, &rl); /* other: per row */
    assert_int_equal(raw[4], 0);
    assert_int_equal(le(raw + 6, 2), 0);
    free(raw);
    raw = raw_of(path, 1, &rl); /* asset: determined by uniq, but uniq is
                                   unique per row and saves nothing */
    assert_int_equal(raw[4], 0);
    free(raw);

    struct vex_segment *s = NULL;
    assert_int_equal(vex_segment_open(path, &s), 0);
    check_str(s, "title", N, title); /* cold: decodes asset first */
    check_str(s, "asset", N, asset);
    check_str(s, "other", N, other);
    check_str(s, "uniq", N, uniq);
    const char *const *dict;
    size_t nd;
    assert_int_equal(vex_segment_str(s, "other", NULL, &dict, &nd), 0);
    assert_int_equal(nd, 3);
    assert_string_equal(dict[0], "");
    assert_string_equal(dict[1], "\xFF");
    assert_string_equal(dict[2], "\xFF\xFE");
    vex_segment_close(s);
    free(asset);
    free(title);
    free(other);
    free(uniq);
    free(ids);
    scratch_free(dir);
}

/* Doubles that are all integers are stored as integers; any other value
 * (a fraction, -0.0, NaN, beyond 2^53) keeps the byte planes. Both read
 * back bit for bit. */
static void test_writer_integral_doubles(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char path[600];
    snprintf(path, sizeof(path), "%s/f", dir);
    const double two53 = 9007199254740992.0;
    const double sets[6][4] = {
        {3.0, -5.0, two53, -two53}, {862626000.0, 0.0, 1.0, 4500.0}, {1.0, -0.0, 2.0, 3.0},
        {1.0, NAN, 2.0, 3.0},       {two53 * 2, 1.0, 2.0, 3.0},      {0.5, 1.0, 2.0, 3.0},
    };
    const int integral[6] = {1, 1, 0, 0, 0, 0};
    for (int k = 0; k < 6; k++) {
        struct vex_segment_writer *w = NULL;
        assert_int_equal(vex_segment_writer_create(4, &w), 0);
        assert_int_equal(vex_segment_writer_add_f64(w, "f", sets[k]), 0);
        assert_int_equal(vex_segment_writer_finish(w, path), 0);
        vex_segment_writer_destroy(w);
        size_t rl;
        unsigned char *raw = raw_of(path, 0, &rl);
        assert_int_equal(raw[0], integral[k]);
        if (!integral[k])
            assert_int_equal(rl, 8 + 4 * 8);
        free(raw);
        struct vex_segment *s = NULL;
        assert_int_equal(vex_segment_open(path, &s), 0);
        const double *v = vex_segment_f64(s, "f");
        assert_non_null(v);
        assert_memory_equal(v, sets[k], sizeof(sets[k]));
        vex_segment_close(s);
    }
    scratch_free(dir);
}

/* Flipping any bit of a file with references, a determined dimension and
 * integral doubles is reported at open, never read as other data. */
static void test_corruption_with_references(void **state)
{
    (void)state;
    enum { N = 40 };
    char *dir = scratch_dir();
    char path[600], bad[600];
    snprintf(path, sizeof(path), "%s/seg", dir);
    snprintf(bad, sizeof(bad), "%s/bad", dir);
    int64_t a[N], b[N];
    double f[N];
    const char *sa[N], *sb[N];
    const char *names[4] = {"k1", "k2", "k3", "k4"}, *labels[4] = {"L", "L", "M", "\xFF"};
    for (int i = 0; i < N; i++) {
        a[i] = (int64_t)T0 + i * 7919 % 100003;
        b[i] = a[i] + i % 3;
        f[i] = (double)(i * 1500);
        sa[i] = names[i % 4];
        sb[i] = labels[i % 4];
    }
    struct vex_segment_writer *w = NULL;
    assert_int_equal(vex_segment_writer_create(N, &w), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "a", a), 0);
    assert_int_equal(vex_segment_writer_add_i64(w, "b", b), 0);
    assert_int_equal(vex_segment_writer_add_f64(w, "f", f), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "sa", sa), 0);
    assert_int_equal(vex_segment_writer_add_str(w, "sb", sb), 0);
    assert_int_equal(vex_segment_writer_finish(w, path), 0);
    vex_segment_writer_destroy(w);
    size_t rl;
    unsigned char *raw = raw_of(path, 1, &rl);
    assert_int_equal(raw[0], 2); /* b is coded against a */
    free(raw);
    raw = raw_of(path, 4, &rl);
    assert_int_equal(raw[4], 1); /* sb through sa */
    free(raw);

    size_t len;
    unsigned char *bytes = read_file_all(path, &len);
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
    assert_int_equal(vex_segment_open(path, &s), 0);
    assert_int_equal(vex_segment_verify(s), 0);
    assert_memory_equal(vex_segment_i64(s, "b"), b, sizeof(b));
    assert_memory_equal(vex_segment_f64(s, "f"), f, sizeof(f));
    check_str(s, "sb", N, sb);
    vex_segment_close(s);
    free(bytes);
    scratch_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_version_1),
        cmocka_unit_test(test_refuses_unknown_version),
        cmocka_unit_test(test_version_2_by_hand),
        cmocka_unit_test(test_chain_limit),
        cmocka_unit_test(test_writer_references),
        cmocka_unit_test(test_writer_determined_strings),
        cmocka_unit_test(test_writer_integral_doubles),
        cmocka_unit_test(test_corruption_with_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
