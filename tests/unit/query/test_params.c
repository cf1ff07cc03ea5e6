/* test_params.c - the query string rules of SPEC 4.1 and 4.7: what parses,
 * what is a 400 (and with which code), defaults, and the group-key and column
 * order a query produces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"
#include "query/query_int.h"

#define P "period=start=1709510400,end=1710115200"
#define S "planlevel=1&" P

static struct vex_query *parse_ok(enum vex_endpoint ep, const char *qs)
{
    struct vex_query *q = NULL;
    struct vex_query_error err;
    int rc = vex_query_parse(ep, qs, &q, &err);
    if (rc)
        fail_msg("'%s' should parse: %s: %s", qs, err.code, err.message);
    return q;
}

#define ERR(ep, qs, code) assert_string_equal(qt_parse_err((ep), (qs)), (code))
#define OK(ep, qs) assert_string_equal(qt_parse_err((ep), (qs)), "")

static void test_parameters(void **state)
{
    (void)state;
    OK(VEX_EP_SESSION, S "&metrics=attempts");
    OK(VEX_EP_METRICQUERY, P "&metrics=attempts");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&interval=day", "unknown_parameter");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&Limit=5", "unknown_parameter");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&metrics=viewercount", "duplicate_parameter");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&limit=&limit=", "duplicate_parameter");
    ERR(VEX_EP_SESSION, S "&metrics=attempts%2", "bad_parameter");
    ERR(VEX_EP_SESSION, S "&metrics=attempts%zz", "bad_parameter");
    ERR(VEX_EP_SESSION, S "&metrics=attempts%00", "bad_parameter");
    /* Ignored parameters, stray '&'s and an encoded parameter name. */
    OK(VEX_EP_SESSION, "&" S "&metrics=attempts&agg=x&count=1&businesserror=y&concurrency=%zz&");
    OK(VEX_EP_SESSION, S "&%6Detrics=attempts");
    ERR(VEX_EP_METRICQUERY, "", "missing_parameter");
    ERR(VEX_EP_METRICQUERY, P, "missing_parameter");
    ERR(VEX_EP_METRICQUERY, P "&metrics=", "missing_parameter");
    ERR(VEX_EP_METRICQUERY, "metrics=attempts", "missing_parameter");
}

static void test_planlevel(void **state)
{
    (void)state;
    ERR(VEX_EP_SESSION, P "&metrics=attempts", "missing_parameter");
    ERR(VEX_EP_VOD, "planlevel=&" P "&metrics=attempts", "missing_parameter");
    ERR(VEX_EP_LIVE, "planlevel=one&" P "&metrics=attempts", "bad_planlevel");
    ERR(VEX_EP_METRICQUERY, "planlevel=1.0&" P "&metrics=attempts", "bad_planlevel");
    ERR(VEX_EP_METRICQUERY, "planlevel=99999999999999999999&" P "&metrics=attempts",
        "bad_planlevel");
    struct vex_query *q = parse_ok(VEX_EP_SESSION, "planlevel=-1&" P "&metrics=attempts");
    assert_int_equal(vex_query_planlevel_ok(q, 1), 0);
    assert_int_equal(vex_query_planlevel_ok(q, -1), 1);
    vex_query_destroy(q);
    q = parse_ok(VEX_EP_METRICQUERY, P "&metrics=attempts");
    assert_int_equal(vex_query_planlevel_ok(q, 7), 1);
    vex_query_destroy(q);
    q = parse_ok(VEX_EP_METRICQUERY, "planlevel=7&" P "&metrics=attempts");
    assert_int_equal(vex_query_planlevel_ok(q, 7), 1);
    assert_int_equal(vex_query_planlevel_ok(q, 1), 0);
    vex_query_destroy(q);
}

static void test_period(void **state)
{
    (void)state;
    const enum vex_endpoint m = VEX_EP_METRICQUERY;
    ERR(m, "period=start=5,end=5&metrics=attempts", "bad_period");
    ERR(m, "period=start=6,end=5&metrics=attempts", "bad_period");
    ERR(m, "period=start=5&metrics=attempts", "bad_period");
    ERR(m, "period=start=5,end=6,end=7&metrics=attempts", "bad_period");
    ERR(m, "period=start=5,start=6&metrics=attempts", "bad_period");
    ERR(m, "period=start=a,end=6&metrics=attempts", "bad_period");
    ERR(m, "period=start=-5,end=6&metrics=attempts", "bad_period");
    ERR(m, "period=start=5,+end=6&metrics=attempts", "bad_period");
    ERR(m, "period=start=5.0,end=6&metrics=attempts", "bad_period");
    ERR(m, "period=start=0,end=34560001&metrics=attempts", "bad_period"); /* 400 d + 1 s */
    OK(m, "period=start=0,end=34560000&metrics=attempts");
    OK(m, "period=end=6,start=5&metrics=attempts");
    OK(m, "period=start%3D5%2Cend%3D6&metrics=attempts");
    struct vex_query *q = parse_ok(m, "period=start=1000,end=2000&metrics=attempts");
    int64_t from, to;
    vex_query_time_range(q, &from, &to);
    assert_int_equal(from, 1000000);
    assert_int_equal(to, 2000000);
    vex_query_destroy(q);
}

static void test_defaults(void **state)
{
    (void)state;
    struct vex_query *q = parse_ok(VEX_EP_SESSION, S "&metrics=attempts");
    assert_int_equal(q->ended, 0);
    assert_int_equal(q->allstatus, 1);
    assert_int_equal(q->limit, 1000);
    assert_int_equal(q->offset, 0);
    assert_int_equal(q->order_col, -1);
    assert_int_equal(q->nkeys, 0);
    vex_query_destroy(q);
    q = parse_ok(VEX_EP_LISTSESSIONS, P "&metrics=attempts");
    assert_int_equal(q->ended, 1);
    assert_int_equal(q->allstatus, 0);
    assert_int_equal(q->nkeys, 1);
    assert_int_equal(q->keys[0].kind, VEX_QKEY_SESSIONID);
    vex_query_destroy(q);
    q = parse_ok(VEX_EP_METRICQUERY, P "&metrics=attempts&sessiontype=started&allstatus=1");
    assert_int_equal(q->ended, 0);
    assert_int_equal(q->allstatus, 1);
    vex_query_destroy(q);
    ERR(VEX_EP_METRICQUERY, P "&metrics=attempts&sessiontype=Started", "bad_parameter");
    ERR(VEX_EP_METRICQUERY, P "&metrics=attempts&allstatus=2", "bad_parameter");
    /* Empty values are absent (SPEC 4.7). */
    q = parse_ok(VEX_EP_METRICQUERY, "planlevel=&" P "&metrics=attempts&aggby=&filter=&orderby="
                                     "&granularity=&sessiontype=&limit=&offset=&orderas=&order="
                                     "&dimension=&qoefilter=&allstatus=");
    assert_int_equal(q->has_planlevel, 0);
    assert_int_equal(q->ended, 1);
    assert_int_equal(q->limit, 1000);
    assert_null(q->filter);
    assert_null(q->qoe);
    vex_query_destroy(q);
}

static void test_limit_offset_order(void **state)
{
    (void)state;
    const enum vex_endpoint e = VEX_EP_SESSION;
    ERR(e, S "&metrics=attempts&limit=0", "bad_limit");
    ERR(e, S "&metrics=attempts&limit=10001", "bad_limit");
    ERR(e, S "&metrics=attempts&limit=-1", "bad_limit");
    ERR(e, S "&metrics=attempts&limit=1e3", "bad_limit");
    ERR(e, S "&metrics=attempts&limit=+5", "bad_limit");
    OK(e, S "&metrics=attempts&limit=10000");
    OK(e, S "&metrics=attempts&limit=1");
    ERR(e, S "&metrics=attempts&offset=-1", "bad_offset");
    ERR(e, S "&metrics=attempts&offset=x", "bad_offset");
    OK(e, S "&metrics=attempts&offset=0");
    ERR(e, S "&metrics=attempts&orderas=up", "bad_order");
    ERR(e, S "&metrics=attempts&orderby=attempts&orderas=ASC&order=desc", "bad_order");
    OK(e, S "&metrics=attempts&orderby=attempts&orderas=asc&order=ASC");
    struct vex_query *q = parse_ok(e, S "&metrics=attempts&orderby=attempts");
    assert_int_equal(q->order_desc, 1);
    vex_query_destroy(q);
    q = parse_ok(e, S "&metrics=attempts&orderby=attempts&order=aSc");
    assert_int_equal(q->order_desc, 0);
    vex_query_destroy(q);
}

static void test_orderby_must_be_a_column(void **state)
{
    (void)state;
    const enum vex_endpoint e = VEX_EP_SESSION;
    ERR(e, S "&metrics=attempts&orderby=viewercount", "bad_orderby");
    ERR(e, S "&metrics=avg_latency&orderby=latency", "bad_orderby");
    ERR(e, S "&metrics=attempts&orderby=totalpages", "bad_orderby");
    ERR(e, S "&metrics=attempts&orderby=cdn", "bad_orderby");
    OK(e, S "&metrics=avg_latency&orderby=viewercount");     /* a companion */
    OK(e, S "&metrics=attempts&aggby=cdn&orderby=cdn");       /* a group key */
    OK(e, S "&metrics=attempts,platform&orderby=platform");   /* a key from metrics */
    struct vex_query *q = parse_ok(e, S "&metrics=attempts,latency&aggby=cdn&orderby=viewercount");
    /* keys: cdn; columns: attempts, latency, viewercount */
    assert_int_equal(q->order_col, 1 + 2);
    vex_query_destroy(q);
}

static void test_group_keys(void **state)
{
    (void)state;
    struct vex_query *q =
        parse_ok(VEX_EP_SESSION, S "&aggby=country,timestamp,country&dimension=cdn"
                                   "&metrics=platform,attempts,country,cdn,timestamp");
    assert_int_equal(q->nkeys, 4);
    assert_int_equal(q->keys[0].kind, VEX_QKEY_DIM);
    assert_int_equal(q->keys[0].dim, VEX_DIM_COUNTRY);
    assert_int_equal(q->keys[1].kind, VEX_QKEY_TIMESTAMP);
    assert_int_equal(q->keys[2].dim, VEX_DIM_CDN);
    assert_int_equal(q->keys[3].dim, VEX_DIM_PLATFORM);
    assert_int_equal(q->ncols, 1); /* timestamp only echoes the key */
    assert_string_equal(q->cols[0].name, "attempts");
    vex_query_destroy(q);

    ERR(VEX_EP_SESSION, S "&metrics=attempts&aggby=nosuch", "bad_aggby");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&aggby=cdn,", "bad_aggby");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&aggby=ip", "bad_aggby");
    ERR(VEX_EP_LISTSESSIONS, P "&metrics=attempts&aggby=cdn", "bad_aggby");
    ERR(VEX_EP_LISTSESSIONS, P "&metrics=attempts&aggby=sessionid,timestamp", "bad_aggby");
    OK(VEX_EP_LISTSESSIONS, P "&metrics=attempts&aggby=sessionid,sessionid");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&dimension=timestamp", "bad_dimension");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&dimension=ALL", "bad_dimension");
    OK(VEX_EP_SESSION, S "&metrics=attempts&dimension=all");

    /* microscope adds sessionid only without aggby. */
    q = parse_ok(VEX_EP_SESSION, S "&metrics=attempts,cdn&dimension=microscope");
    assert_int_equal(q->nkeys, 2);
    assert_int_equal(q->keys[0].kind, VEX_QKEY_SESSIONID);
    assert_int_equal(q->keys[1].dim, VEX_DIM_CDN);
    vex_query_destroy(q);
    q = parse_ok(VEX_EP_SESSION, S "&metrics=attempts&dimension=microscope&aggby=isp");
    assert_int_equal(q->nkeys, 1);
    assert_int_equal(q->keys[0].dim, VEX_DIM_ISP);
    vex_query_destroy(q);
    q = parse_ok(VEX_EP_SESSION, S "&metrics=attempts,streamtype");
    assert_int_equal(q->keys[0].dim, VEX_QDIM_STREAMTYPE);
    vex_query_destroy(q);
}

static void test_granularity(void **state)
{
    (void)state;
    ERR(VEX_EP_SESSION, S "&metrics=attempts&granularity=week", "bad_granularity");
    ERR(VEX_EP_SESSION, S "&metrics=attempts&aggby=cdn&granularity=Hour", "bad_granularity");
    OK(VEX_EP_SESSION, S "&metrics=attempts&aggby=cdn&granularity=5minute");
    static const struct {
        const char *qs;
        int64_t size;
    } cases[] = {
        {"period=start=0,end=21600&granularity=auto", 60},       /* 6 h */
        {"period=start=0,end=21601", 3600},                     /* auto */
        {"period=start=0,end=604800", 3600},                    /* 7 days */
        {"period=start=0,end=604801", 86400},
        {"period=start=0,end=604801&granularity=10minute", 600},
        {"period=start=0,end=60&granularity=day", 86400},
        {"period=start=0,end=60&granularity=5minute", 300},
        {"period=start=0,end=60&granularity=minute", 60},
        {"period=start=0,end=60&granularity=hour", 3600},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char qs[256];
        snprintf(qs, sizeof qs, "%s&metrics=attempts&aggby=timestamp", cases[i].qs);
        struct vex_query *q = parse_ok(VEX_EP_METRICQUERY, qs);
        if (q->bucket_s != cases[i].size)
            fail_msg("%s: bucket %lld, expected %lld", qs, (long long)q->bucket_s,
                     (long long)cases[i].size);
        vex_query_destroy(q);
    }
}

static void test_metrics_names(void **state)
{
    (void)state;
    const enum vex_endpoint e = VEX_EP_SESSION;
    ERR(e, S "&metrics=attempts,nosuch", "unknown_metric");
    ERR(e, S "&metrics=Attempts", "unknown_metric");
    ERR(e, S "&metrics=ip", "unknown_metric"); /* not a 4.4 dimension */
    ERR(e, S "&metrics=attempts,,viewercount", "bad_metrics");
    ERR(e, S "&metrics=attempts,", "bad_metrics");
    /* Per-session fields need sessionid as a group key. */
    static const char *const fields[] = {"sessionid", "ipaddress", "timestamp", "starttime",
                                         "endtime",   "watchtime", "assetname", "status"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char qs[256];
        snprintf(qs, sizeof qs, S "&metrics=attempts,%s&aggby=cdn", fields[i]);
        ERR(e, qs, "bad_metrics");
        snprintf(qs, sizeof qs, S "&metrics=attempts,%s&aggby=sessionid", fields[i]);
        OK(e, qs);
        snprintf(qs, sizeof qs, S "&metrics=%s&dimension=microscope", fields[i]);
        OK(e, qs);
        snprintf(qs, sizeof qs, P "&metrics=%s", fields[i]);
        OK(VEX_EP_LISTSESSIONS, qs);
    }
    /* subscriberid and subscribertag are dimensions: fine anywhere. */
    OK(e, S "&metrics=attempts,subscriberid,subscribertag");
    OK(e, S "&metrics=timestamp&aggby=timestamp");
}

static void test_columns_and_companions(void **state)
{
    (void)state;
    struct vex_query *q = parse_ok(VEX_EP_SESSION,
                                   S "&metrics=qualityofexperience,startupabandonmentrate,"
                                     "avg_latency,attempts,vrtbufferingratio,attempts");
    static const char *const want[] = {"qualityofexperience", "startupabandonmentrate",
                                       "avg_latency",         "attempts",
                                       "vrtbufferingratio",   "viewercount",
                                       "failurerate",         "playdur"};
    assert_int_equal(q->ncols, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(q->cols[i].name, want[i]);
    vex_query_destroy(q);
    /* An alias brings its companions; both spellings are columns. */
    q = parse_ok(VEX_EP_SESSION, S "&metrics=avg_qualityofexperience,qualityofexperience");
    assert_int_equal(q->ncols, 4);
    assert_string_equal(q->cols[0].name, "avg_qualityofexperience");
    assert_string_equal(q->cols[1].name, "qualityofexperience");
    assert_string_equal(q->cols[2].name, "viewercount");
    assert_string_equal(q->cols[3].name, "attempts");
    vex_query_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_planlevel),
        cmocka_unit_test(test_period),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_limit_offset_order),
        cmocka_unit_test(test_orderby_must_be_a_column),
        cmocka_unit_test(test_group_keys),
        cmocka_unit_test(test_granularity),
        cmocka_unit_test(test_metrics_names),
        cmocka_unit_test(test_columns_and_companions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
