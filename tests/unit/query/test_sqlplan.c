/* test_sqlplan.c - the aggregation sent to a SQL backend (query/sqlplan.c),
 * against a fake backend that records the statements and answers with
 * hand-made RowBinary: request values never appear as SQL text, answers
 * decode into the right rows, and broken answers are errors, not crashes.
 * (tests/integration/test_clickhouse.py compares real ClickHouse answers
 * with the embedded store's over a battery of queries.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/err.h"
#include "query/query.h"

#define MAX_STMTS 4

struct fake {
    char *stmts[MAX_STMTS];
    int nstmts;
    unsigned char body[MAX_STMTS][512];
    size_t blen[MAX_STMTS];
    int fail_rc; /* returned by sql_select when nonzero */
    int64_t count; /* the answer to a "SELECT count()" statement */
};

static int fake_sessions(void *self, const char *customer, char *out, size_t cap)
{
    (void)self;
    snprintf(out, cap, "(REL_OF_%s)", customer);
    return 0;
}

/* Statements may come from several threads at once (sqlplan.c fetches them
 * in parallel); the canned answer body[0] goes to the first statement, which
 * is always the only one in the tests that give answers. */
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;

static int fake_select(void *self, const char *stmt, unsigned char **body, size_t *len)
{
    struct fake *f = self;
    if (f->fail_rc)
        return f->fail_rc;
    pthread_mutex_lock(&fake_mu);
    int i = f->nstmts < MAX_STMTS ? f->nstmts++ : -1;
    if (i >= 0)
        f->stmts[i] = strdup(stmt);
    pthread_mutex_unlock(&fake_mu);
    if (i < 0)
        return VEX_EIO;
    if (strncmp(stmt, "SELECT count() FROM", 19) == 0) {
        *len = 8;
        *body = malloc(8);
        for (int k = 0; k < 8; k++)
            (*body)[k] = (unsigned char)((uint64_t)f->count >> (8 * k));
        return 0;
    }
    *len = f->blen[i];
    *body = malloc(*len ? *len : 1);
    memcpy(*body, f->body[i], *len);
    return 0;
}

/* find_stmt returns the recorded statement that contains `part`, or NULL. */
static const char *find_stmt(const struct fake *f, const char *part)
{
    for (int i = 0; i < f->nstmts; i++)
        if (strstr(f->stmts[i], part))
            return f->stmts[i];
    return NULL;
}

static int no_scan(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                   vex_record_visit_fn fn, void *ctx)
{
    (void)self, (void)customer, (void)from_ms, (void)to_ms, (void)fn, (void)ctx;
    fail_msg("a SQL backend must not be scanned");
    return VEX_EIO;
}

static void fake_free(struct fake *f)
{
    for (int i = 0; i < f->nstmts; i++)
        free(f->stmts[i]);
}

/* ---- RowBinary by hand ---- */

static void b_str(struct fake *f, int i, const char *s)
{
    size_t n = strlen(s);
    assert_true(n < 128);
    f->body[i][f->blen[i]++] = (unsigned char)n;
    memcpy(f->body[i] + f->blen[i], s, n);
    f->blen[i] += n;
}

static void b_u64(struct fake *f, int i, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        f->body[i][f->blen[i]++] = (unsigned char)(v >> (8 * k));
}

/* One row of the belonging statement of ROWS_QS below, which needs these
 * sums (its metrics and their companions: latency brings viewercount): the
 * key, then attempts and played (counts), then play, cirr, vrt and the
 * startup of played sessions (Int64). */
#define ROWS_QS "metrics=attempts,playdur,latency,bufferingratio&aggby=cdn"
static void b_row(struct fake *f, const char *key, uint64_t attempts, uint64_t played,
                  int64_t play_ms, int64_t cirr_ms, int64_t startup_ms)
{
    b_str(f, 0, key);
    b_u64(f, 0, attempts);
    b_u64(f, 0, played);
    int64_t sums[4] = {play_ms, cirr_ms, 0, startup_ms};
    for (int k = 0; k < 4; k++)
        b_u64(f, 0, (uint64_t)sums[k]);
}

static int run_ep(struct fake *f, enum vex_endpoint ep, const char *qs, char **json)
{
    struct vex_query *q;
    struct vex_query_error err;
    assert_int_equal(vex_query_parse(ep, qs, &q, &err), 0);
    struct vex_source src = {.self = f,
                             .scan = no_scan,
                             .sql_sessions = fake_sessions,
                             .sql_select = fake_select};
    int rc = vex_query_run(q, &src, "acme", json);
    vex_query_destroy(q);
    return rc;
}

static int run(struct fake *f, const char *qs, char **json)
{
    return run_ep(f, VEX_EP_SESSION, qs, json);
}

/* One per-session row of a listing that asks for no metric: the sid, its
 * attempts (the only sum a row always has), then the session's fields. */
static void b_session(struct fake *f, const char *sid, int64_t attempt_ts, int64_t last_ts)
{
    b_str(f, 0, sid);
    b_u64(f, 0, 1);
    b_u64(f, 0, (uint64_t)attempt_ts);
    b_u64(f, 0, (uint64_t)last_ts);
    b_u64(f, 0, 1000);                    /* play_ms */
    f->body[0][f->blen[0]++] = 1;         /* closed */
    b_str(f, 0, "10.0.0.1");
    b_str(f, 0, "a title");
}

static void test_listing_paged_in_sql(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    /* The backend sends the first offset + limit = 3 rows of 57. */
    b_session(&f, "s-b", 1500000, 1600000);
    b_session(&f, "s-a", 1700000, 1800000);
    b_session(&f, "s-c", 1100000, 1200000);
    f.count = 57;
    char *json = NULL;
    assert_int_equal(run_ep(&f, VEX_EP_LISTSESSIONS,
                            "period=start=1000,end=2000&metrics=sessionid,starttime"
                            "&orderby=starttime&limit=2&offset=1",
                            &json),
                     0);
    assert_int_equal(f.nstmts, 2);
    const char *rows = find_stmt(&f, "GROUP BY vex_k0");
    assert_non_null(rows);
    assert_non_null(strstr(rows, " ORDER BY any(attempt_ts) DESC, vex_k0 LIMIT 3"));
    assert_non_null(find_stmt(&f, "SELECT count() FROM"));
    /* Sorted by starttime, descending: s-a, s-b, s-c; the page is the last
     * two; the totals are the backend's count. */
    assert_string_equal(json, "{\"totalcount\":57,\"pagecount\":2,\"totalrecords\":57,"
                              "\"response\":[{\"sessionid\":\"s-b\",\"starttime\":1500000,"
                              "\"totalpages\":29},{\"sessionid\":\"s-c\","
                              "\"starttime\":1100000,\"totalpages\":29}]}");
    free(json);
    fake_free(&f);
}

static void test_rows_from_answer(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    b_row(&f, "akamai", 4, 2, 5000, 0, 3000);
    b_row(&f, "fastly", 1, 1, 3000, 1000, 500);
    char *json = NULL;
    assert_int_equal(run(&f,
                         "planlevel=1&period=start=1000,end=2000&" ROWS_QS "&orderby=attempts",
                         &json),
                     0);
    assert_int_equal(f.nstmts, 1);
    /* The customer's relation, grouped by the key's alias. */
    assert_non_null(strstr(f.stmts[0], "FROM (REL_OF_acme) WHERE"));
    assert_non_null(strstr(f.stmts[0], "GROUP BY vex_k0"));
    assert_non_null(strstr(f.stmts[0], "FORMAT RowBinary"));
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "totalcount")), 2);
    json_t *rows = json_object_get(root, "response");
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    assert_string_equal(json_string_value(json_object_get(r0, "cdn")), "akamai");
    assert_int_equal(json_integer_value(json_object_get(r0, "attempts")), 4);
    assert_int_equal(json_integer_value(json_object_get(r0, "viewercount")), 2);
    /* 3000 ms of startup over 2 plays; 5 s played; no buffering. */
    assert_true(json_real_value(json_object_get(r0, "latency")) == 1.5);
    assert_true(json_real_value(json_object_get(r0, "playdur")) == 5.0);
    assert_true(json_real_value(json_object_get(r0, "bufferingratio")) == 0.0);
    assert_string_equal(json_string_value(json_object_get(r1, "cdn")), "fastly");
    /* 1000 ms rebuffering out of 4000. */
    assert_true(json_real_value(json_object_get(r1, "bufferingratio")) == 25.0);
    assert_true(json_real_value(json_object_get(r1, "latency")) == 0.5);
    json_decref(root);
    free(json);
    fake_free(&f);
}

static void test_values_never_sql_text(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    char *json = NULL;
    /* a'b, x\y, "' OR 1=1 --" and a 0xFF byte; a qoefilter number. */
    assert_int_equal(run(&f,
                         "planlevel=1&period=start=1000,end=2000&metrics=attempts"
                         "&filter=cdn=a%27b|x%5Cy|%27%20OR%201%3D1%20--,country!=%FF"
                         "&qoefilter=playdur>0.1",
                         &json),
                     0);
    assert_int_equal(f.nstmts, 1);
    const char *s = f.stmts[0];
    assert_null(strstr(s, "a'b"));
    assert_null(strstr(s, "OR 1=1"));
    assert_null(strstr(s, "x\\y"));
    assert_null(strchr(s, '\xff'));
    assert_non_null(strstr(s, "`cdn` IN (unhex('612762'), unhex('785C79'), "
                              "unhex('27204F5220313D31202D2D'))"));
    assert_non_null(strstr(s, "`country` NOT IN (unhex('FF'))"));
    /* 0.1 as its IEEE bits, little-endian: 0x3FB999999999999A. */
    assert_non_null(strstr(s, "reinterpretAsFloat64(unhex('9A9999999999B93F'))"));
    free(json);
    fake_free(&f);
}

static void test_broken_answers(void **state)
{
    (void)state;
    const char *qs = "planlevel=1&period=start=1000,end=2000&" ROWS_QS;
    /* A whole row is 1 + 6 + 6 * 8 = 55 bytes. */
    for (size_t cut = 1; cut < 55; cut += 7) {
        struct fake f;
        memset(&f, 0, sizeof f);
        b_row(&f, "akamai", 4, 2, 5000, 0, 3000);
        f.blen[0] = cut; /* a row cut short */
        char *json = NULL;
        assert_int_equal(run(&f, qs, &json), VEX_ECORRUPT);
        assert_null(json);
        fake_free(&f);
    }
    struct fake f;
    memset(&f, 0, sizeof f);
    f.body[0][0] = 0xff; /* a string length that runs past the end */
    f.body[0][1] = 0x7f;
    f.blen[0] = 2;
    char *json = NULL;
    assert_int_equal(run(&f, qs, &json), VEX_ECORRUPT);
    fake_free(&f);
    memset(&f, 0, sizeof f);
    f.fail_rc = VEX_EUNAVAIL; /* the backend is down: its code comes back */
    assert_int_equal(run(&f, qs, &json), VEX_EUNAVAIL);
}

static void test_buckets_use_three_statements(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    char *json = NULL;
    /* Empty answers: no bucket holds a session. */
    assert_int_equal(run(&f,
                         "planlevel=1&period=start=0,end=7200&metrics=attempts,endedplays,concurviewavg"
                         "&aggby=timestamp&granularity=hour",
                         &json),
                     0);
    assert_int_equal(f.nstmts, 3);
    /* Buckets by floor division in integers (no `%`): belonging by
     * attempt_ts, endedplays by last_ts, concurviewavg spread by arrayJoin. */
    for (int i = 0; i < 3; i++)
        assert_null(strchr(f.stmts[i], '%'));
    assert_non_null(find_stmt(&f, "toInt64((intDiv(attempt_ts, toInt64(3600000))"));
    assert_non_null(find_stmt(&f, "toInt64((intDiv(last_ts, toInt64(3600000))"));
    assert_non_null(find_stmt(&f, "arrayJoin(range("));
    assert_string_equal(json, "{\"totalcount\":0,\"pagecount\":0,\"totalrecords\":0,"
                              "\"response\":[]}");
    free(json);
    fake_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_from_answer),
        cmocka_unit_test(test_values_never_sql_text),
        cmocka_unit_test(test_broken_answers),
        cmocka_unit_test(test_buckets_use_three_statements),
        cmocka_unit_test(test_listing_paged_in_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
