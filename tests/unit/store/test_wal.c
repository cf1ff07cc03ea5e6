/* test_wal.c - the write-ahead log: round trips, rotation, reopen, torn and
 * corrupt tails, checkpoints, and concurrent appenders.
 *
 * Expected file sizes and offsets are worked out by hand from the format in
 * src/store/FORMAT.md: a 32-byte file header, then per record a 16-byte
 * header, the payload, and zero padding to a multiple of 8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/wal.h"
#include "store_test.h"

/* ---- helpers ---------------------------------------------------------- */

/* Payload of record `tag` with length len: recognisable, different per tag. */
static void fill(unsigned char *p, size_t len, unsigned tag)
{
    for (size_t j = 0; j < len; j++)
        p[j] = (unsigned char)(tag * 31u + j * 7u + 1u);
}

struct rec {
    uint64_t lsn;
    size_t len;
    unsigned char *data;
};

struct log {
    struct rec *r;
    size_t n, cap;
    int stop_at; /* return 99 from the callback at this count, if > 0 */
};

static int collect(void *ctx, uint64_t lsn, const void *payload, size_t len)
{
    struct log *l = ctx;
    if (l->stop_at > 0 && (int)l->n == l->stop_at)
        return 99;
    assert_true(((uintptr_t)payload & 7) == 0);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->r = realloc(l->r, l->cap * sizeof(*l->r));
        assert_non_null(l->r);
    }
    struct rec *r = &l->r[l->n++];
    r->lsn = lsn;
    r->len = len;
    r->data = malloc(len ? len : 1);
    assert_non_null(r->data);
    memcpy(r->data, payload, len);
    return 0;
}

static void log_free(struct log *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->r[i].data);
    free(l->r);
    memset(l, 0, sizeof(*l));
}

/* assert_rec checks that r is record `lsn` made by fill(len, tag). */
static void assert_rec(const struct rec *r, uint64_t lsn, size_t len, unsigned tag)
{
    assert_int_equal(r->lsn, lsn);
    assert_int_equal(r->len, len);
    unsigned char *want = malloc(len ? len : 1);
    fill(want, len, tag);
    assert_memory_equal(r->data, want, len);
    free(want);
}

static struct vex_wal *open_replay(const char *dir, uint64_t from, struct log *l)
{
    struct vex_wal *w = NULL;
    assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w), 0);
    assert_int_equal(vex_wal_replay(w, from, collect, l), 0);
    return w;
}

static uint64_t append_tag(struct vex_wal *w, size_t len, unsigned tag)
{
    unsigned char *p = malloc(len ? len : 1);
    fill(p, len, tag);
    uint64_t lsn = 0;
    assert_int_equal(vex_wal_append(w, p, len, &lsn), 0);
    free(p);
    return lsn;
}

/* wal_file returns the path of a log file in a static buffer. */
static char *wal_file(const char *dir, uint64_t first)
{
    static char buf[600];
    snprintf(buf, sizeof(buf), "%s/%020llu.wal", dir, (unsigned long long)first);
    return buf;
}

/* list_wal fills firsts[] with the first LSNs of the .wal files, sorted. */
static size_t list_wal(const char *dir, uint64_t *firsts, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".wal") != 0)
            continue;
        assert_true(n < cap);
        firsts[n++] = strtoull(e->d_name, NULL, 10);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && firsts[j - 1] > firsts[j]; j--) {
            uint64_t t = firsts[j];
            firsts[j] = firsts[j - 1];
            firsts[j - 1] = t;
        }
    return n;
}

/* ---- tests ------------------------------------------------------------ */

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(vex_wal_next_lsn(w), 1);
    assert_int_equal(append_tag(w, 10, 1), 1);
    assert_int_equal(append_tag(w, 0, 2), 2);
    assert_int_equal(append_tag(w, 100, 3), 3);
    assert_int_equal(vex_wal_sync(w, 3), 0);
    assert_int_equal(vex_wal_sync(w, 4), VEX_EINVAL); /* not appended yet */
    struct vex_wal_stats st;
    assert_int_equal(vex_wal_stats(w, &st), 0);
    /* 32 + (16+10+6) + (16+0+0) + (16+100+4) */
    assert_int_equal(st.bytes, 200);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.synced_lsn, 3);
    vex_wal_close(w);
    assert_int_equal(file_size(wal_file(dir, 1)), 200);

    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 3);
    assert_rec(&l.r[0], 1, 10, 1);
    assert_rec(&l.r[1], 2, 0, 2);
    assert_rec(&l.r[2], 3, 100, 3);
    vex_wal_close(w);
    log_free(&l);

    w = open_replay(dir, 2, &l);
    assert_int_equal(l.n, 2);
    assert_rec(&l.r[0], 2, 0, 2);
    assert_rec(&l.r[1], 3, 100, 3);
    vex_wal_close(w);
    log_free(&l);
    scratch_free(dir);
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The bytes of a log file, against FORMAT.md. */
static void test_format_bytes(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 7, &l); /* empty log: numbering starts at 7 */
    assert_int_equal(vex_wal_append(w, "abc", 3, NULL), 0);
    assert_int_equal(vex_wal_append(w, "12345678", 8, NULL), 0);
    vex_wal_close(w);
    size_t len;
    unsigned char *b = read_file_all(wal_file(dir, 7), &len);
    assert_non_null(b);
    assert_int_equal(len, 32 + 24 + 24);
    assert_memory_equal(b, "VEXWAL\0\0", 8);
    assert_int_equal(le(b + 8, 4), 1);   /* version */
    assert_int_equal(le(b + 12, 4), 32); /* header size */
    assert_int_equal(le(b + 16, 8), 7);  /* first LSN */
    assert_int_equal(le(b + 24, 4), 0);
    assert_int_equal(le(b + 32, 8), 7); /* record LSN */
    assert_int_equal(le(b + 40, 4), 3); /* length */
    assert_memory_equal(b + 48, "abc\0\0\0\0\0", 8);
    assert_int_equal(le(b + 56, 8), 8);
    assert_int_equal(le(b + 64, 4), 8);
    assert_memory_equal(b + 72, "12345678", 8);
    free(b);
    scratch_free(dir);
}

static void test_misuse(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct vex_wal *w = NULL, *w2 = NULL;
    struct log l = {0};
    assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w), 0);
    assert_int_equal(vex_wal_append(w, "x", 1, NULL), VEX_EINVAL); /* before replay */
    assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w2), VEX_EBUSY);
    assert_int_equal(vex_wal_replay(w, 1, collect, &l), 0);
    assert_int_equal(vex_wal_replay(w, 1, collect, &l), VEX_EINVAL); /* only once */
    assert_int_equal(vex_wal_append(w, NULL, 1, NULL), VEX_EINVAL);
    static const char small[8];
    assert_int_equal(vex_wal_append(w, small, (size_t)VEX_WAL_MAX_RECORD + 1, NULL), VEX_ETOOBIG);
    assert_int_equal(vex_wal_set_file_size(w, 63), VEX_EINVAL);
    assert_int_equal(vex_wal_next_lsn(w), 1);
    vex_wal_close(w);
    assert_int_equal(vex_wal_open(dir, (enum vex_wal_sync)7, &w), VEX_EINVAL);
    scratch_free(dir);
}

/* The directory is created with its parents; stale .tmp files are removed. */
static void test_creates_dir_and_cleans_tmp(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char sub[600], tmp[700];
    snprintf(sub, sizeof(sub), "%s/a/b/wal", dir);
    struct log l = {0};
    struct vex_wal *w = open_replay(sub, 1, &l);
    assert_int_equal(append_tag(w, 3, 9), 1);
    vex_wal_close(w);
    snprintf(tmp, sizeof(tmp), "%s/00000000000000000002.wal.tmp", sub);
    assert_int_equal(write_file_all(tmp, "junk", 4), 0);
    w = open_replay(sub, 1, &l);
    assert_int_equal(file_size(tmp), -1);
    assert_int_equal(l.n, 1);
    assert_rec(&l.r[0], 1, 3, 9);
    vex_wal_close(w);
    log_free(&l);
    scratch_free(dir);
}

static void test_rotation_many_records(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    assert_int_equal(vex_wal_set_file_size(w, 4096), 0);
    for (unsigned i = 1; i <= 1000; i++)
        assert_int_equal(append_tag(w, (i * 37u) % 300u, i), i);
    /* A record bigger than the rotation size gets a file of its own. */
    assert_int_equal(append_tag(w, 3u << 20, 5000), 1001);
    assert_int_equal(append_tag(w, 5, 5001), 1002);
    assert_int_equal(vex_wal_sync(w, 1002), 0);
    vex_wal_close(w);

    uint64_t firsts[512];
    size_t nf = list_wal(dir, firsts, 512);
    /* 1000 records averaging ~170 bytes make ~40 files of 4 KiB. */
    assert_true(nf > 30);
    assert_int_equal(firsts[0], 1);
    assert_int_equal(firsts[nf - 2], 1001);
    assert_int_equal(firsts[nf - 1], 1002);
    assert_int_equal(file_size(wal_file(dir, 1001)), 32 + 16 + (3 << 20));
    for (size_t i = 0; i + 2 < nf; i++)
        assert_true(file_size(wal_file(dir, firsts[i])) <= 4096);

    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 1002);
    for (unsigned i = 1; i <= 1000; i++)
        assert_rec(&l.r[i - 1], i, (i * 37u) % 300u, i);
    assert_rec(&l.r[1000], 1001, 3u << 20, 5000);
    assert_rec(&l.r[1001], 1002, 5, 5001);
    assert_int_equal(vex_wal_next_lsn(w), 1003);
    vex_wal_close(w);
    log_free(&l);
    scratch_free(dir);
}

static void test_lsn_continuity_after_reopen(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    for (unsigned i = 1; i <= 5; i++)
        append_tag(w, 20, i);
    vex_wal_close(w);
    for (int round = 0; round < 3; round++) {
        w = open_replay(dir, 1, &l);
        assert_int_equal(l.n, 5 + round);
        assert_int_equal(vex_wal_next_lsn(w), 6 + round);
        assert_int_equal(append_tag(w, 20, 6 + round), 6 + round);
        vex_wal_close(w);
        log_free(&l);
    }
    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 8);
    for (unsigned i = 1; i <= 8; i++)
        assert_rec(&l.r[i - 1], i, 20, i);
    vex_wal_close(w);
    log_free(&l);
    scratch_free(dir);
}

/* Three records A (10 bytes), B (100), C (37):
 *   header [0, 32), A [32, 64), B [64, 184), C [184, 240). */
static unsigned char *make_abc(const char *dir, size_t *len)
{
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    append_tag(w, 10, 1);
    append_tag(w, 100, 2);
    append_tag(w, 37, 3);
    vex_wal_close(w);
    unsigned char *bytes = read_file_all(wal_file(dir, 1), len);
    assert_non_null(bytes);
    assert_int_equal(*len, 240);
    return bytes;
}

/* After damage inside C, replay must give A and B, cut the file at 184, and
 * take new appends from LSN 3 on. */
static void check_ab_then_append(const char *dir, uint64_t discarded)
{
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 2);
    assert_rec(&l.r[0], 1, 10, 1);
    assert_rec(&l.r[1], 2, 100, 2);
    log_free(&l);
    struct vex_wal_stats st;
    vex_wal_stats(w, &st);
    assert_int_equal(st.discarded, discarded);
    assert_int_equal(st.next_lsn, 3);
    assert_int_equal(file_size(wal_file(dir, 1)), 184);
    assert_int_equal(append_tag(w, 5, 4), 3);
    vex_wal_close(w);

    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 3);
    assert_rec(&l.r[0], 1, 10, 1);
    assert_rec(&l.r[1], 2, 100, 2);
    assert_rec(&l.r[2], 3, 5, 4);
    assert_int_equal(vex_wal_next_lsn(w), 4);
    vex_wal_close(w);
    log_free(&l);
}

static void test_torn_tail_every_offset(void **state)
{
    (void)state;
    char *src = scratch_dir();
    size_t len;
    unsigned char *bytes = make_abc(src, &len);
    for (size_t cut = 184; cut < 240; cut++) {
        char *dir = scratch_dir();
        assert_int_equal(write_file_all(wal_file(dir, 1), bytes, cut), 0);
        check_ab_then_append(dir, cut - 184);
        scratch_free(dir);
    }
    free(bytes);
    scratch_free(src);
}

static void test_corrupt_byte_in_last_record(void **state)
{
    (void)state;
    char *src = scratch_dir();
    size_t len;
    unsigned char *bytes = make_abc(src, &len);
    /* Every byte of C: LSN, length, checksum, payload and padding. */
    for (size_t pos = 184; pos < 240; pos++) {
        for (int bit = 0; bit < 8; bit += 7) {
            char *dir = scratch_dir();
            bytes[pos] ^= (unsigned char)(1u << bit);
            assert_int_equal(write_file_all(wal_file(dir, 1), bytes, len), 0);
            bytes[pos] ^= (unsigned char)(1u << bit);
            check_ab_then_append(dir, 56);
            scratch_free(dir);
        }
    }
    free(bytes);
    scratch_free(src);
}

/* Damage in the middle of the last file ends the log there: C follows a bad
 * B, so it cannot be trusted to be in order, and both go. */
static void test_corrupt_middle_of_last_file(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    size_t len;
    unsigned char *bytes = make_abc(dir, &len);
    bytes[64 + 16 + 50] ^= 0x10; /* a payload byte of B */
    assert_int_equal(write_file_all(wal_file(dir, 1), bytes, len), 0);
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 1);
    assert_rec(&l.r[0], 1, 10, 1);
    assert_int_equal(file_size(wal_file(dir, 1)), 64);
    assert_int_equal(vex_wal_next_lsn(w), 2);
    vex_wal_close(w);
    log_free(&l);
    free(bytes);
    scratch_free(dir);
}

static void test_bad_file_header(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    size_t len;
    unsigned char *bytes = make_abc(dir, &len);
    for (size_t pos = 0; pos < 32; pos++) {
        bytes[pos] ^= 0x04;
        assert_int_equal(write_file_all(wal_file(dir, 1), bytes, len), 0);
        bytes[pos] ^= 0x04;
        struct vex_wal *w = NULL;
        struct log l = {0};
        assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w), 0);
        assert_int_equal(vex_wal_replay(w, 1, collect, &l), VEX_ECORRUPT);
        assert_int_equal(vex_wal_append(w, "x", 1, NULL), VEX_EINVAL);
        vex_wal_close(w);
        log_free(&l);
    }
    /* A file named for LSN 2 whose header says 1 is not ours either. */
    assert_int_equal(write_file_all(wal_file(dir, 1), bytes, len), 0);
    char from[600];
    snprintf(from, sizeof(from), "%s", wal_file(dir, 1));
    assert_int_equal(rename(from, wal_file(dir, 2)), 0);
    struct vex_wal *w = NULL;
    struct log l = {0};
    assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w), 0);
    assert_int_equal(vex_wal_replay(w, 1, collect, &l), VEX_ECORRUPT);
    vex_wal_close(w);
    free(bytes);
    scratch_free(dir);
}

/* Rotation at 224 bytes with 32-byte payloads (48-byte records) puts exactly
 * four records in a file: LSNs 1-4 in file 1, 5-8 in file 5, ... */
static struct vex_wal *four_per_file(const char *dir, unsigned count)
{
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    assert_int_equal(vex_wal_set_file_size(w, 224), 0);
    for (unsigned i = 1; i <= count; i++)
        assert_int_equal(append_tag(w, 32, i), i);
    return w;
}

static void test_damaged_older_file_is_skipped(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    vex_wal_close(four_per_file(dir, 12));
    uint64_t firsts[8];
    assert_int_equal(list_wal(dir, firsts, 8), 3);
    size_t len;
    unsigned char *bytes = read_file_all(wal_file(dir, 1), &len);
    assert_int_equal(len, 224);
    bytes[32 + 48 + 16 + 3] ^= 0x01; /* payload of record 2 */
    assert_int_equal(write_file_all(wal_file(dir, 1), bytes, len), 0);

    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 9); /* 1, then 5..12 */
    assert_rec(&l.r[0], 1, 32, 1);
    for (unsigned i = 5; i <= 12; i++)
        assert_rec(&l.r[i - 4], i, 32, i);
    assert_int_equal(vex_wal_next_lsn(w), 13);
    /* An older file is left as found; only the current one is cut. */
    assert_int_equal(file_size(wal_file(dir, 1)), 224);
    vex_wal_close(w);
    log_free(&l);
    free(bytes);
    scratch_free(dir);
}

static void test_checkpoint(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct vex_wal *w = four_per_file(dir, 100);
    uint64_t firsts[64];
    assert_int_equal(list_wal(dir, firsts, 64), 25);
    assert_int_equal(firsts[24], 97);

    /* Files 1..53 hold only LSNs < 60; file 57 holds 57..60 and stays. */
    assert_int_equal(vex_wal_checkpoint(w, 60), 0);
    size_t nf = list_wal(dir, firsts, 64);
    assert_int_equal(nf, 11);
    for (size_t i = 0; i < nf; i++)
        assert_int_equal(firsts[i], 57 + 4 * i);
    struct vex_wal_stats st;
    vex_wal_stats(w, &st);
    assert_int_equal(st.files, 11);
    assert_int_equal(st.bytes, 11 * 224);
    vex_wal_close(w);

    struct log l = {0};
    w = open_replay(dir, 60, &l);
    assert_int_equal(l.n, 41);
    for (unsigned i = 60; i <= 100; i++)
        assert_rec(&l.r[i - 60], i, 32, i);
    vex_wal_close(w);
    log_free(&l);

    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 44); /* from file 57 on */
    assert_rec(&l.r[0], 57, 32, 57);
    log_free(&l);

    /* Everything obsolete: the current file rotates, numbering is kept. */
    assert_int_equal(vex_wal_checkpoint(w, 1000), 0);
    nf = list_wal(dir, firsts, 64);
    assert_int_equal(nf, 1);
    assert_int_equal(firsts[0], 101);
    assert_int_equal(file_size(wal_file(dir, 101)), 32);
    vex_wal_close(w);

    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(vex_wal_next_lsn(w), 101);
    assert_int_equal(append_tag(w, 32, 101), 101);
    assert_int_equal(vex_wal_checkpoint(w, 50), 0); /* nothing to delete */
    assert_int_equal(list_wal(dir, firsts, 64), 1);
    vex_wal_close(w);
    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, 1);
    assert_rec(&l.r[0], 101, 32, 101);
    vex_wal_close(w);
    log_free(&l);
    scratch_free(dir);
}

/* A caller whose snapshot is newer than the log's end never sees an LSN it
 * has already seen handed out again. */
static void test_replay_from_beyond_end(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct log l = {0};
    struct vex_wal *w = NULL;
    assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w), 0);
    assert_int_equal(vex_wal_replay(w, 50, collect, &l), 0);
    assert_int_equal(vex_wal_next_lsn(w), 50);
    assert_int_equal(append_tag(w, 8, 50), 50);
    assert_int_equal(append_tag(w, 8, 51), 51);
    vex_wal_close(w);

    assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w), 0);
    assert_int_equal(vex_wal_replay(w, 80, collect, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(vex_wal_next_lsn(w), 80);
    uint64_t firsts[4];
    assert_int_equal(list_wal(dir, firsts, 4), 1);
    assert_int_equal(firsts[0], 80);
    vex_wal_close(w);
    scratch_free(dir);
}

static void test_replay_stopped_by_callback(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    vex_wal_close(four_per_file(dir, 10));
    struct vex_wal *w = NULL;
    struct log l = {.stop_at = 6};
    assert_int_equal(vex_wal_open(dir, VEX_WAL_SYNC_ALWAYS, &w), 0);
    assert_int_equal(vex_wal_replay(w, 1, collect, &l), 99);
    assert_int_equal(l.n, 6);
    assert_int_equal(vex_wal_append(w, "x", 1, NULL), VEX_EINVAL);
    log_free(&l);
    assert_int_equal(vex_wal_replay(w, 1, collect, &l), 0);
    assert_int_equal(l.n, 10);
    assert_int_equal(append_tag(w, 1, 11), 11);
    vex_wal_close(w);
    log_free(&l);
    scratch_free(dir);
}

static void test_other_policies(void **state)
{
    (void)state;
    enum vex_wal_sync pol[2] = {VEX_WAL_SYNC_EVERYSEC, VEX_WAL_SYNC_NONE};
    for (int p = 0; p < 2; p++) {
        char *dir = scratch_dir();
        struct vex_wal *w = NULL;
        struct log l = {0};
        assert_int_equal(vex_wal_open(dir, pol[p], &w), 0);
        assert_int_equal(vex_wal_replay(w, 1, collect, &l), 0);
        assert_int_equal(vex_wal_set_file_size(w, 224), 0);
        for (unsigned i = 1; i <= 9; i++) {
            assert_int_equal(append_tag(w, 32, i), i);
            assert_int_equal(vex_wal_sync(w, i), 0);
        }
        vex_wal_close(w);
        uint64_t firsts[8];
        assert_int_equal(list_wal(dir, firsts, 8), 3);
        w = open_replay(dir, 1, &l);
        assert_int_equal(l.n, 9);
        for (unsigned i = 1; i <= 9; i++)
            assert_rec(&l.r[i - 1], i, 32, i);
        vex_wal_close(w);
        log_free(&l);
        scratch_free(dir);
    }
}

/* ---- concurrency ------------------------------------------------------ */

#define THREADS 8
#define PER_THREAD 250

struct worker {
    struct vex_wal *w;
    unsigned id;
    uint64_t lsns[PER_THREAD];
    int rc;
};

static size_t worker_len(unsigned id, unsigned i)
{
    return 8 + (id * 131u + i * 17u) % 900u;
}

static void *worker_main(void *arg)
{
    struct worker *k = arg;
    unsigned char buf[1024];
    for (unsigned i = 0; i < PER_THREAD && k->rc == 0; i++) {
        size_t len = worker_len(k->id, i);
        fill(buf, len, k->id * 1000 + i);
        int rc = vex_wal_append(k->w, buf, len, &k->lsns[i]);
        if (rc == 0)
            rc = vex_wal_sync(k->w, k->lsns[i]);
        k->rc = rc;
    }
    return NULL;
}

static void test_concurrent_appends_and_syncs(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    struct log l = {0};
    struct vex_wal *w = open_replay(dir, 1, &l);
    assert_int_equal(vex_wal_set_file_size(w, 16384), 0); /* rotate under load */
    static struct worker ks[THREADS];
    pthread_t th[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        ks[t] = (struct worker){.w = w, .id = t};
        assert_int_equal(pthread_create(&th[t], NULL, worker_main, &ks[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    struct vex_wal_stats st;
    vex_wal_stats(w, &st);
    assert_int_equal(st.next_lsn, THREADS * PER_THREAD + 1);
    assert_int_equal(st.synced_lsn, THREADS * PER_THREAD);
    assert_true(st.files > 1);
    vex_wal_close(w);

    /* Each thread's LSNs increase, and all of them together are 1..N. */
    static unsigned char seen[THREADS * PER_THREAD + 1];
    memset(seen, 0, sizeof(seen));
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(ks[t].rc, 0);
        for (unsigned i = 0; i < PER_THREAD; i++) {
            uint64_t lsn = ks[t].lsns[i];
            assert_true(lsn >= 1 && lsn <= THREADS * PER_THREAD);
            assert_int_equal(seen[lsn], 0);
            seen[lsn] = 1;
            if (i > 0)
                assert_true(lsn > ks[t].lsns[i - 1]);
        }
    }

    w = open_replay(dir, 1, &l);
    assert_int_equal(l.n, THREADS * PER_THREAD);
    for (unsigned t = 0; t < THREADS; t++)
        for (unsigned i = 0; i < PER_THREAD; i++) {
            uint64_t lsn = ks[t].lsns[i];
            assert_rec(&l.r[lsn - 1], lsn, worker_len(t, i), t * 1000 + i);
        }
    vex_wal_close(w);
    log_free(&l);
    scratch_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_creates_dir_and_cleans_tmp),
        cmocka_unit_test(test_rotation_many_records),
        cmocka_unit_test(test_lsn_continuity_after_reopen),
        cmocka_unit_test(test_torn_tail_every_offset),
        cmocka_unit_test(test_corrupt_byte_in_last_record),
        cmocka_unit_test(test_corrupt_middle_of_last_file),
        cmocka_unit_test(test_bad_file_header),
        cmocka_unit_test(test_damaged_older_file_is_skipped),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_replay_from_beyond_end),
        cmocka_unit_test(test_replay_stopped_by_callback),
        cmocka_unit_test(test_other_policies),
        cmocka_unit_test(test_concurrent_appends_and_syncs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
