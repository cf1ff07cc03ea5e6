/* test_vectors.c - every query of $VEX_VECTORS/queries.json against the
 * session records of $VEX_VECTORS/sessions.json, through the public query
 * API and a vex_source over those records, then again over the same
 * sessions as columns (the engine's columnar path): as one column run on one
 * thread, and as runs of 4 rows, each with its own dictionary, on two
 * threads.
 *
 * The records are fed as the file gives them (nothing computed by vex code).
 * The source delivers every record whatever range is asked for, in small
 * batches whose strings are copied before and scribbled over after each
 * callback, so the engine must do its own membership and must copy what it
 * keeps. 200: the whole envelope must match (keys, key order, row order,
 * integers where SPEC 4.2 says so, numbers within 1e-9 relative, the four
 * percentiles within 1 %), on every path. 400: parse fails with VEX_EINVAL.
 * 403: parse succeeds and the plan-level check fails for plan level 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "query/query.h"
#include "qcols.h"

#define BATCH 5

static json_t *g_sessions;
static json_t *g_queries;
static struct vex_record *g_recs;
static size_t g_nrecs;
static struct qc_src g_cols_one, g_cols_split;

static json_t *load(const char *file)
{
    const char *dir = getenv("VEX_VECTORS");
    char path[4096];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/vectors", file);
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fprintf(stderr, "cannot load %s: %s (line %d)\n", path, jerr.text, jerr.line);
    return j;
}

static int64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_non_null(v);
    return (int64_t)json_number_value(v);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static int state_of(const char *s)
{
    for (int i = VEX_STATE_STARTING; i <= VEX_STATE_ENDED; i++) {
        if (strcmp(vex_state_name((enum vex_state)i), s) == 0)
            return i;
    }
    fail_msg("unknown state %s", s);
    return 0;
}

static void load_records(void)
{
    g_nrecs = json_object_size(g_sessions);
    g_recs = calloc(g_nrecs, sizeof *g_recs);
    assert_non_null(g_recs);
    size_t i = 0;
    const char *key;
    json_t *s;
    json_object_foreach(g_sessions, key, s) {
        struct vex_record *r = &g_recs[i++];
        r->sid = jstr(s, "sid");
        for (int d = 0; d < VEX_DIM_COUNT; d++)
            r->dims[d] = jstr(s, vex_dim_name((enum vex_dim)d));
        r->attempt_ts = jint(s, "attempt_ts");
        r->last_ts = jint(s, "last_ts");
        r->startup_ms = jint(s, "startup_ms");
        r->play_ms = jint(s, "play_ms");
        r->cirr_ms = jint(s, "cirr_ms");
        r->vrt_ms = jint(s, "vrt_ms");
        r->kbps_ms = json_number_value(json_object_get(s, "kbps_ms"));
        r->kbps_known_ms = jint(s, "kbps_known_ms");
        r->rebuffers = (uint32_t)jint(s, "rebuffers");
        r->seeks = (uint32_t)jint(s, "seeks");
        r->warnings = (uint32_t)jint(s, "warnings");
        r->state = (uint8_t)state_of(jstr(s, "state"));
        r->played = (uint8_t)jint(s, "played");
        r->vsf = (uint8_t)jint(s, "vsf");
        r->vpf = (uint8_t)jint(s, "vpf");
        r->errors = (uint8_t)jint(s, "errors");
        r->live = strcmp(jstr(s, "streamtype"), "live") == 0;
        r->closed = (uint8_t)jint(s, "closed");
        r->ebvs = (uint8_t)jint(s, "ebvs");
    }
    qc_build(&g_cols_one, g_recs, g_nrecs, 0);
    qc_build(&g_cols_split, g_recs, g_nrecs, 4);
    assert_int_equal(g_cols_one.nruns, 1);
    assert_int_equal(g_cols_split.nruns, (g_nrecs + 3) / 4);
}

/* The source: every record, in batches with per-batch string copies. */
static int scan_all(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                    vex_record_visit_fn fn, void *ctx)
{
    (void)self;
    (void)from_ms;
    (void)to_ms;
    assert_string_equal(customer, "cust-1");
    assert_true(from_ms < to_ms);
    for (size_t i = 0; i < g_nrecs; i += BATCH) {
        size_t n = g_nrecs - i < BATCH ? g_nrecs - i : BATCH;
        struct vex_record batch[BATCH];
        char *copies[BATCH][VEX_DIM_COUNT + 1];
        for (size_t j = 0; j < n; j++) {
            batch[j] = g_recs[i + j];
            copies[j][VEX_DIM_COUNT] = strdup(batch[j].sid);
            batch[j].sid = copies[j][VEX_DIM_COUNT];
            for (int d = 0; d < VEX_DIM_COUNT; d++) {
                copies[j][d] = strdup(batch[j].dims[d]);
                batch[j].dims[d] = copies[j][d];
            }
        }
        int rc = fn(ctx, batch, n);
        for (size_t j = 0; j < n; j++) {
            for (int d = 0; d <= VEX_DIM_COUNT; d++) {
                memset(copies[j][d], 'X', strlen(copies[j][d]));
                free(copies[j][d]);
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

static enum vex_endpoint endpoint_of(const char *s)
{
    if (strcmp(s, "session") == 0)
        return VEX_EP_SESSION;
    if (strcmp(s, "vod") == 0)
        return VEX_EP_VOD;
    if (strcmp(s, "live") == 0)
        return VEX_EP_LIVE;
    if (strcmp(s, "metricquery") == 0)
        return VEX_EP_METRICQUERY;
    if (strcmp(s, "listsessions") == 0)
        return VEX_EP_LISTSESSIONS;
    fail_msg("unknown endpoint %s", s);
    return VEX_EP_SESSION;
}

static int is_percentile(const char *key)
{
    return strcmp(key, "median_latency") == 0 || strcmp(key, "p95_latency") == 0 ||
           strcmp(key, "p99_latency") == 0 || strcmp(key, "median_qualityofexperience") == 0;
}

static void compare_value(const char *name, const char *key, json_t *exp, json_t *got)
{
    if (json_is_string(exp)) {
        if (!json_is_string(got) || strcmp(json_string_value(exp), json_string_value(got)) != 0)
            fail_msg("%s: %s: expected \"%s\"", name, key, json_string_value(exp));
        return;
    }
    if (json_is_integer(exp)) {
        if (!json_is_integer(got))
            fail_msg("%s: %s: expected the JSON integer %lld", name, key,
                     (long long)json_integer_value(exp));
        if (json_integer_value(exp) != json_integer_value(got))
            fail_msg("%s: %s: expected %lld, got %lld", name, key,
                     (long long)json_integer_value(exp), (long long)json_integer_value(got));
        return;
    }
    if (!json_is_real(exp))
        fail_msg("%s: %s: unexpected expected type", name, key);
    if (!json_is_real(got))
        fail_msg("%s: %s: expected a JSON real (%.17g)", name, key, json_real_value(exp));
    double e = json_real_value(exp), g = json_real_value(got);
    double tol = is_percentile(key) ? 0.01 * fabs(e) : fmax(1e-9 * fabs(e), 1e-9);
    if (fabs(e - g) > tol)
        fail_msg("%s: %s: expected %.17g, got %.17g", name, key, e, g);
}

static void compare_row(const char *name, size_t idx, json_t *exp, json_t *got)
{
    if (!json_is_object(got))
        fail_msg("%s: row %zu is not an object", name, idx);
    if (json_object_size(exp) != json_object_size(got)) {
        char *d = json_dumps(got, JSON_COMPACT);
        fail_msg("%s: row %zu has %zu keys, expected %zu: %s", name, idx,
                 json_object_size(got), json_object_size(exp), d);
    }
    /* Same keys in the same order (jansson keeps insertion order). */
    void *ie = json_object_iter(exp), *ig = json_object_iter(got);
    for (; ie && ig; ie = json_object_iter_next(exp, ie), ig = json_object_iter_next(got, ig)) {
        const char *ke = json_object_iter_key(ie), *kg = json_object_iter_key(ig);
        if (strcmp(ke, kg) != 0)
            fail_msg("%s: row %zu: key %s where %s was expected", name, idx, kg, ke);
        compare_value(name, ke, json_object_iter_value(ie), json_object_iter_value(ig));
    }
}

/* check_answer compares the answer `out` of path `path` with the vector. */
static void check_answer(const char *vname, json_t *v, const char *out, const char *path)
{
    char name[256];
    snprintf(name, sizeof name, "%s (%s)", vname, path);
    json_error_t jerr;
    json_t *got = json_loads(out, 0, &jerr);
    if (!got)
        fail_msg("%s: output is not JSON: %s", name, out);
    json_t *exp = json_object_get(v, "response");
    static const char *const top[] = {"totalcount", "pagecount", "totalrecords"};
    if (json_object_size(got) != 4)
        fail_msg("%s: envelope has %zu keys: %s", name, json_object_size(got), out);
    for (int i = 0; i < 3; i++) {
        if (!json_is_integer(json_object_get(got, top[i])))
            fail_msg("%s: %s missing or not an integer: %s", name, top[i], out);
        compare_value(name, top[i], json_object_get(exp, top[i]), json_object_get(got, top[i]));
    }
    json_t *er = json_object_get(exp, "response"), *gr = json_object_get(got, "response");
    if (!json_is_array(gr) || json_array_size(gr) != json_array_size(er))
        fail_msg("%s: %zu rows, expected %zu: %s", name, json_array_size(gr),
                 json_array_size(er), out);
    for (size_t i = 0; i < json_array_size(er); i++)
        compare_row(name, i, json_array_get(er, i), json_array_get(gr, i));
    json_decref(got);
}

static void run_vector(void **state)
{
    json_t *v = *state;
    const char *name = jstr(v, "name");
    int status = (int)jint(v, "status");
    enum vex_endpoint ep = endpoint_of(jstr(v, "endpoint"));
    struct vex_query *q = NULL;
    struct vex_query_error err;
    int rc = vex_query_parse(ep, jstr(v, "query"), &q, &err);
    if (status == 400) {
        if (rc != VEX_EINVAL)
            fail_msg("%s: expected VEX_EINVAL from parse, got %d", name, rc);
        assert_null(q);
        assert_true(err.code[0] != '\0');
        assert_true(strlen(err.message) > 10);
        return;
    }
    if (rc != 0)
        fail_msg("%s: parse failed: %s: %s", name, err.code, err.message);
    if (status == 403) {
        assert_int_equal(vex_query_planlevel_ok(q, 1), 0);
        vex_query_destroy(q);
        return;
    }
    assert_int_equal(status, 200);
    assert_int_equal(vex_query_planlevel_ok(q, 1), 1);
    struct vex_source src = {.self = NULL, .scan = scan_all};
    char *out = NULL;
    rc = vex_query_run(q, &src, "cust-1", &out);
    assert_int_equal(rc, 0);
    assert_non_null(out);
    check_answer(name, v, out, "records");
    free(out);
    size_t visits = g_cols_one.visits;
    out = qc_run_columns(q, &g_cols_one, SIZE_MAX);
    assert_int_equal(g_cols_one.visits, visits + 1);
    check_answer(name, v, out, "columns, one run, one thread");
    free(out);
    visits = g_cols_split.visits;
    out = qc_run_columns(q, &g_cols_split, 1);
    assert_int_equal(g_cols_split.visits, visits + g_cols_split.nruns);
    check_answer(name, v, out, "columns, runs of 4, two threads");
    free(out);
    vex_query_destroy(q);
}

static void test_load_records(void **state)
{
    (void)state;
    load_records();
}

static void test_vector_counts(void **state)
{
    (void)state;
    int n200 = 0, n400 = 0, n403 = 0;
    size_t i;
    json_t *v;
    json_array_foreach(g_queries, i, v) {
        int s = (int)jint(v, "status");
        n200 += s == 200;
        n400 += s == 400;
        n403 += s == 403;
    }
    /* The README promises 39 + 8 + 1; if the generator changes them this
     * reminds us to look at the new cases. */
    assert_int_equal(json_array_size(g_queries), 48);
    assert_int_equal(n200, 39);
    assert_int_equal(n400, 8);
    assert_int_equal(n403, 1);
    assert_int_equal(g_nrecs, 26);
}

int main(void)
{
    g_sessions = load("sessions.json");
    g_queries = load("queries.json");
    if (!g_sessions || !g_queries)
        return 1;
    size_t n = json_array_size(g_queries);
    struct CMUnitTest *tests = calloc(n + 2, sizeof *tests);
    if (!tests)
        return 1;
    /* load_records asserts, so it runs inside a test. */
    tests[0].name = "load_records";
    tests[0].test_func = test_load_records;
    tests[1].name = "vector_counts";
    tests[1].test_func = test_vector_counts;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(g_queries, i);
        tests[i + 2].name = json_string_value(json_object_get(v, "name"));
        tests[i + 2].test_func = run_vector;
        tests[i + 2].initial_state = v;
    }
    int failed = _cmocka_run_group_tests("query_vectors", tests, n + 2, NULL, NULL);
    free(tests);
    qc_free(&g_cols_one);
    qc_free(&g_cols_split);
    free(g_recs);
    json_decref(g_sessions);
    json_decref(g_queries);
    return failed;
}
