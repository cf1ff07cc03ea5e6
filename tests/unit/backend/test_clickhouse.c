/* test_clickhouse.c - the pure parts of the ClickHouse backend: store URL
 * parsing, SQL string literals, and the RowBinary codec (bytes written by
 * hand from ClickHouse's format description, and decode of encode). The
 * parts that talk to a server are covered by
 * tests/integration/test_clickhouse.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/clickhouse.h"
#include "core/err.h"

/* ---- URL ---- */

static void test_url_defaults(void **state)
{
    (void)state;
    struct vex_clickhouse_config c;
    char err[256];
    assert_int_equal(vex_clickhouse_parse_url("http://127.0.0.1:8123", &c, err, sizeof err), 0);
    assert_string_equal(c.base, "http://127.0.0.1:8123");
    assert_string_equal(c.db, "vex");
    assert_string_equal(c.cluster, "");
    assert_int_equal(c.push_interval_ms, 0);
    assert_int_equal(c.max_backlog_bytes, 0);
    assert_int_equal(vex_clickhouse_parse_url("http://h:1/", &c, err, sizeof err), 0);
    assert_string_equal(c.base, "http://h:1");
    assert_string_equal(c.db, "vex");
}

static void test_url_full(void **state)
{
    (void)state;
    struct vex_clickhouse_config c;
    char err[256];
    assert_int_equal(vex_clickhouse_parse_url("https://u:p@ch.example:8443/qoe_1/?cluster=prod2"
                                              "&push_interval_ms=500&max_backlog_bytes=1048576",
                                              &c, err, sizeof err),
                     0);
    assert_string_equal(c.base, "https://u:p@ch.example:8443");
    assert_string_equal(c.db, "qoe_1");
    assert_string_equal(c.cluster, "prod2");
    assert_int_equal(c.push_interval_ms, 500);
    assert_int_equal(c.max_backlog_bytes, 1048576);
    assert_int_equal(vex_clickhouse_parse_url("http://h:8123/db2?cluster=_c", &c, err, sizeof err),
                     0);
    assert_string_equal(c.db, "db2");
    assert_string_equal(c.cluster, "_c");
}

static void test_url_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "ftp://h:1/db",              /* scheme */
        "127.0.0.1:8123/db",         /* no scheme */
        "http:///db",                /* no host */
        "http://h:1/a-b",            /* database not an identifier */
        "http://h:1/1db",            /* starts with a digit */
        "http://h:1/db/sessions",    /* a path, not a database */
        "http://h:1/db?cluster",     /* option without value */
        "http://h:1/db?cluster=a b", /* bad cluster name */
        "http://h:1/db?cluster=x'y", /* quote in a cluster name */
        "http://h:1/db?shard=1",     /* unknown option */
        "http://h:1/db?push_interval_ms=0",
        "http://h:1/db?push_interval_ms=-5",
        "http://h:1/db?push_interval_ms=3600001",
        "http://h:1/db?max_backlog_bytes=12k",
        "http://h:1/db#frag",
        "http://h:1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vex_clickhouse_config c;
        char err[256] = "";
        int rc = vex_clickhouse_parse_url(bad[i], &c, err, sizeof err);
        if (rc != VEX_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(strlen(err) > 10); /* a message a person can act on */
    }
}

/* ---- literals ---- */

static void test_quote(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(vex_clickhouse_quote("acme-1_x", out, sizeof out), 0);
    assert_string_equal(out, "'acme-1_x'");
    assert_int_equal(vex_clickhouse_quote("a'b\\c", out, sizeof out), 0);
    assert_string_equal(out, "'a\\'b\\\\c'");
    assert_int_equal(vex_clickhouse_quote("x\n\t\x01\x7fy", out, sizeof out), 0);
    assert_string_equal(out, "'x\\x0A\\x09\\x01\\x7Fy'");
    assert_int_equal(vex_clickhouse_quote("' OR 1=1 --", out, sizeof out), 0);
    assert_string_equal(out, "'\\' OR 1=1 --'");
    assert_int_equal(vex_clickhouse_quote("", out, sizeof out), 0);
    assert_string_equal(out, "''");
    /* 'abc' needs 6 bytes with its NUL. */
    assert_int_equal(vex_clickhouse_quote("abc", out, 5), VEX_EFULL);
    assert_int_equal(vex_clickhouse_quote("abc", out, 6), 0);
    assert_string_equal(out, "'abc'");
}

/* ---- codec ---- */

static const char *const EMPTY_DIMS[VEX_DIM_COUNT] = {"", "", "", "", "", "", "",
                                                      "", "", "", "", "", ""};

static struct vex_record base_record(void)
{
    struct vex_record r;
    memset(&r, 0, sizeof r);
    r.sid = "s1";
    memcpy(r.dims, EMPTY_DIMS, sizeof r.dims);
    return r;
}

static void test_encode_bytes(void **state)
{
    (void)state;
    struct vex_record r = base_record();
    r.dims[VEX_DIM_CDN] = "x";
    r.live = 1;
    r.attempt_ts = 0x0102030405060708LL;
    r.last_ts = 1000;
    r.startup_ms = 300;
    r.play_ms = -2; /* never negative in practice; shows two's complement */
    r.cirr_ms = 0;
    r.vrt_ms = 256;
    r.kbps_ms = 1.5; /* IEEE-754: 0x3FF8000000000000 */
    r.kbps_known_ms = 1;
    r.rebuffers = 2;
    r.seeks = 0x01020304;
    r.warnings = 0;
    r.state = 5;
    r.played = 1;
    r.vsf = 0;
    r.vpf = 1;
    r.errors = 1;
    int64_t version = 300;
    /* clang-format off */
    static const unsigned char want[] = {
        1, 'c',                                   /* customer */
        2, 's', '1',                              /* sid */
        1, 'x',                                   /* cdn */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,       /* platform .. ip */
        1,                                        /* live */
        8, 7, 6, 5, 4, 3, 2, 1,                   /* attempt_ts */
        0xe8, 3, 0, 0, 0, 0, 0, 0,                /* last_ts 1000 */
        0x2c, 1, 0, 0, 0, 0, 0, 0,                /* startup_ms 300 */
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* play_ms -2 */
        0, 0, 0, 0, 0, 0, 0, 0,                   /* cirr_ms */
        0, 1, 0, 0, 0, 0, 0, 0,                   /* vrt_ms 256 */
        0, 0, 0, 0, 0, 0, 0xf8, 0x3f,             /* kbps_ms 1.5 */
        1, 0, 0, 0, 0, 0, 0, 0,                   /* kbps_known_ms */
        2, 0, 0, 0,                               /* rebuffers */
        4, 3, 2, 1,                               /* seeks */
        0, 0, 0, 0,                               /* warnings */
        5, 1, 0, 1, 1,                            /* state played vsf vpf errors */
        0x2c, 1, 0, 0, 0, 0, 0, 0,                /* version 300 */
    };
    /* clang-format on */
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(vex_clickhouse_encode("c", &r, &version, 1, &buf, &len, &cap), 0);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);

    /* A 200-byte string has a two-byte length: 200 = 0x48 | 0x80, then 1. */
    char longsid[201];
    memset(longsid, 'z', 200);
    longsid[200] = '\0';
    r.sid = longsid;
    size_t before = len;
    assert_int_equal(vex_clickhouse_encode("c", &r, &version, 1, &buf, &len, &cap), 0);
    assert_int_equal(len - before, sizeof want - 3 + 2 + 200); /* "s1" took 1 + 2 */
    assert_int_equal(buf[before + 2], 0xc8);
    assert_int_equal(buf[before + 3], 0x01);
    assert_int_equal(buf[before + 4], 'z');
    free(buf);
}

#define NOW 2000000000000LL
#define TIMEOUT 120000LL
#define ROWS 2500

struct seen {
    size_t visits, rows;
    size_t batch[8];
    int ok;
    int stop_after; /* return this many visits in, 0: never */
};

/* Row i of the round trip: sid "r<i>", every field a function of i. */
static void fill(struct vex_record *r, size_t i, char *sid, char dims[][8])
{
    *r = base_record();
    snprintf(sid, 16, "r%zu", i);
    r->sid = sid;
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        snprintf(dims[d], 8, "%c%zu", 'a' + d, i % 7);
        r->dims[d] = dims[d];
    }
    r->live = (uint8_t)(i & 1);
    r->attempt_ts = NOW - 1000000 + (int64_t)i;
    r->last_ts = i % 3 == 0 ? NOW - TIMEOUT - 1 : NOW - 5; /* every third timed out */
    r->startup_ms = (int64_t)i * 3;
    r->play_ms = (int64_t)i * 1000;
    r->cirr_ms = (int64_t)i;
    r->vrt_ms = 7;
    r->kbps_ms = (double)i * 0.25;
    r->kbps_known_ms = (int64_t)i * 2;
    r->rebuffers = (uint32_t)(i % 5);
    r->seeks = (uint32_t)(i % 4);
    r->warnings = (uint32_t)(i % 2);
    r->state = (uint8_t)(i % 6);
    r->played = (uint8_t)(i % 4 != 0);
    r->vsf = (uint8_t)(i % 8 == 0);
    r->vpf = (uint8_t)(i % 9 == 0);
    r->errors = (uint8_t)(i % 10 == 0);
}

static int check_rows(void *ctx, const struct vex_record *recs, size_t n)
{
    struct seen *s = ctx;
    if (s->visits < 8)
        s->batch[s->visits] = n;
    s->visits++;
    for (size_t k = 0; k < n; k++) {
        size_t i = s->rows + k;
        const struct vex_record *r = &recs[k];
        char sid[16], dim[8];
        snprintf(sid, sizeof sid, "r%zu", i);
        if (strcmp(r->sid, sid))
            fail_msg("row %zu: sid %s", i, r->sid);
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            snprintf(dim, sizeof dim, "%c%zu", 'a' + d, i % 7);
            if (strcmp(r->dims[d], dim))
                fail_msg("row %zu dim %d: %s", i, d, r->dims[d]);
        }
        assert_int_equal(r->live, i & 1);
        assert_int_equal(r->attempt_ts, NOW - 1000000 + (int64_t)i);
        assert_int_equal(r->startup_ms, (int64_t)i * 3);
        assert_int_equal(r->play_ms, (int64_t)i * 1000);
        assert_int_equal(r->cirr_ms, (int64_t)i);
        assert_int_equal(r->vrt_ms, 7);
        assert_true(r->kbps_ms == (double)i * 0.25);
        assert_int_equal(r->kbps_known_ms, (int64_t)i * 2);
        assert_int_equal(r->rebuffers, i % 5);
        assert_int_equal(r->seeks, i % 4);
        assert_int_equal(r->warnings, i % 2);
        assert_int_equal(r->state, i % 6);
        int played = i % 4 != 0, vsf = i % 8 == 0;
        assert_int_equal(r->played, played);
        assert_int_equal(r->vsf, vsf);
        assert_int_equal(r->vpf, i % 9 == 0);
        assert_int_equal(r->errors, i % 10 == 0);
        /* closed: ENDED (state 5) or timed out (every third row). */
        int closed = i % 6 == 5 || i % 3 == 0;
        assert_int_equal(r->closed, closed);
        assert_int_equal(r->ebvs, closed && !played && !vsf);
    }
    s->rows += n;
    s->ok = 1;
    return s->stop_after && s->visits == (size_t)s->stop_after ? 42 : 0;
}

static unsigned char *encode_rows(size_t nrows, size_t *len)
{
    struct vex_record *recs = calloc(nrows, sizeof *recs);
    int64_t *vers = calloc(nrows, sizeof *vers);
    char(*sids)[16] = calloc(nrows, sizeof *sids);
    char(*dims)[VEX_DIM_COUNT][8] = calloc(nrows, sizeof *dims);
    assert_non_null(recs);
    assert_non_null(vers);
    assert_non_null(sids);
    assert_non_null(dims);
    for (size_t i = 0; i < nrows; i++) {
        fill(&recs[i], i, sids[i], dims[i]);
        vers[i] = (int64_t)i;
    }
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    /* In two calls, as the engine pushes in chunks. */
    assert_int_equal(vex_clickhouse_encode("acme", recs, vers, nrows / 2, &buf, len, &cap), 0);
    assert_int_equal(vex_clickhouse_encode("acme", recs + nrows / 2, vers + nrows / 2,
                                           nrows - nrows / 2, &buf, len, &cap),
                     0);
    free(recs);
    free(vers);
    free(sids);
    free(dims);
    return buf;
}

static void test_roundtrip(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = encode_rows(ROWS, &len);
    struct seen s = {0};
    assert_int_equal(vex_clickhouse_decode(buf, len, NOW, TIMEOUT, check_rows, &s), 0);
    assert_int_equal(s.rows, ROWS);
    /* Batches of 1024: 1024 + 1024 + 452. */
    assert_int_equal(s.visits, 3);
    assert_int_equal(s.batch[0], 1024);
    assert_int_equal(s.batch[1], 1024);
    assert_int_equal(s.batch[2], 452);

    /* The visitor's nonzero return stops the scan and comes back. */
    struct seen s2 = {.stop_after = 2};
    assert_int_equal(vex_clickhouse_decode(buf, len, NOW, TIMEOUT, check_rows, &s2), 42);
    assert_int_equal(s2.visits, 2);
    assert_int_equal(s2.rows, 2048);

    /* An empty answer visits nothing. */
    struct seen s3 = {0};
    assert_int_equal(vex_clickhouse_decode(buf, 0, NOW, TIMEOUT, check_rows, &s3), 0);
    assert_int_equal(s3.visits, 0);
    free(buf);
}

static int count_rows(void *ctx, const struct vex_record *recs, size_t n)
{
    (void)recs;
    *(size_t *)ctx += n;
    return 0;
}

static void test_decode_bad(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = encode_rows(3, &len);
    size_t one = len / 3; /* rows 0..2 have sids and dims of equal length */
    size_t n = 0;
    /* Every truncation inside a row is corrupt, at the end of a row fine. */
    for (size_t cut = 1; cut < len; cut++) {
        n = 0;
        int rc = vex_clickhouse_decode(buf, cut, NOW, TIMEOUT, count_rows, &n);
        if (cut % one == 0)
            assert_int_equal(rc, 0);
        else if (rc != VEX_ECORRUPT)
            fail_msg("cut at %zu: rc %d", cut, rc);
    }
    /* A state past ENDED: byte at offset (row size - 13) of row 0. */
    unsigned char *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, buf, len);
    bad[one - 13] = 6;
    assert_int_equal(vex_clickhouse_decode(bad, len, NOW, TIMEOUT, count_rows, &n), VEX_ECORRUPT);
    /* A flag that is not 0/1 (played). */
    memcpy(bad, buf, len);
    bad[one - 12] = 2;
    assert_int_equal(vex_clickhouse_decode(bad, len, NOW, TIMEOUT, count_rows, &n), VEX_ECORRUPT);
    /* A string length past 1 MiB. */
    static const unsigned char huge[] = {0x80, 0x80, 0x80, 0x01, 'a'};
    assert_int_equal(vex_clickhouse_decode(huge, sizeof huge, NOW, TIMEOUT, count_rows, &n),
                     VEX_ECORRUPT);
    free(bad);
    free(buf);
}

/* Bytes that TSV or SQL would need escaped travel as they are. */
static const char *const ODD[] = {"a'b",      "c\\d", "e\tf\ng", "-- x", "UNION SELECT 1",
                                  "\xff\xfe", "\x01"};

static int check_odd(void *ctx, const struct vex_record *recs, size_t n)
{
    assert_int_equal(n, 1);
    for (int d = 0; d < 7; d++)
        assert_string_equal(recs[0].dims[d], ODD[d]);
    for (int d = 7; d < VEX_DIM_COUNT; d++)
        assert_string_equal(recs[0].dims[d], "");
    assert_int_equal(recs[0].closed, 1);
    assert_int_equal(recs[0].ebvs, 1); /* ended, never played, no VSF */
    (*(int *)ctx)++;
    return 0;
}

static void test_bytes_roundtrip(void **state)
{
    (void)state;
    struct vex_record r = base_record();
    for (int d = 0; d < 7; d++)
        r.dims[d] = ODD[d];
    r.state = 5;
    int64_t v = 1;
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(vex_clickhouse_encode("x", &r, &v, 1, &buf, &len, &cap), 0);
    int seen = 0;
    assert_int_equal(vex_clickhouse_decode(buf, len, NOW, TIMEOUT, check_odd, &seen), 0);
    assert_int_equal(seen, 1);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_defaults), cmocka_unit_test(test_url_full),
        cmocka_unit_test(test_url_bad),      cmocka_unit_test(test_quote),
        cmocka_unit_test(test_encode_bytes), cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_decode_bad),   cmocka_unit_test(test_bytes_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
