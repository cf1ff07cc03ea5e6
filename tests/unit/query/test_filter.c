/* test_filter.c - the `filter` and `qoefilter` parsers and their evaluation
 * on hand-made records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"
#include "query/query_int.h"

static struct vex_qmem *mem;

static int setup(void **state)
{
    (void)state;
    return vex_qmem_create(&mem);
}

static int teardown(void **state)
{
    (void)state;
    vex_qmem_destroy(mem);
    return 0;
}

static struct vex_filter *filter_ok(const char *raw)
{
    struct vex_filter *f = NULL;
    struct vex_query_error err;
    int rc = vex_filter_parse(mem, raw, strlen(raw), &f, &err);
    if (rc)
        fail_msg("filter '%s' should parse: %s", raw, err.message);
    return f;
}

static void filter_bad(const char *raw)
{
    struct vex_filter *f = NULL;
    struct vex_query_error err;
    memset(&err, 0, sizeof err);
    int rc = vex_filter_parse(mem, raw, strlen(raw), &f, &err);
    if (rc != VEX_EINVAL)
        fail_msg("filter '%s' should be refused", raw);
    assert_string_equal(err.code, "bad_filter");
    assert_true(strlen(err.message) > 10);
}

static void test_filter_parse(void **state)
{
    (void)state;
    struct vex_filter *f = filter_ok("");
    assert_null(f);

    f = filter_ok("cdn=a|b,country!=us,isp=");
    assert_int_equal(f->n, 3);
    assert_int_equal(f->conds[0].dim, VEX_DIM_CDN);
    assert_int_equal(f->conds[0].negate, 0);
    assert_int_equal(f->conds[0].nvals, 2);
    assert_string_equal(f->conds[0].vals[0], "a");
    assert_string_equal(f->conds[0].vals[1], "b");
    assert_int_equal(f->conds[1].dim, VEX_DIM_COUNTRY);
    assert_int_equal(f->conds[1].negate, 1);
    assert_string_equal(f->conds[1].vals[0], "us");
    assert_int_equal(f->conds[2].nvals, 1);
    assert_string_equal(f->conds[2].vals[0], "");

    f = filter_ok("[platform=web|ios][country!=us]");
    assert_int_equal(f->n, 2);
    assert_int_equal(f->conds[0].dim, VEX_DIM_PLATFORM);
    assert_int_equal(f->conds[1].negate, 1);
    f = filter_ok("[cdn=a],[streamtype=live]");
    assert_int_equal(f->n, 2);
    assert_int_equal(f->conds[1].dim, VEX_QDIM_STREAMTYPE);

    /* Split first, decode after: %2C and %7C belong to the value, + is a
     * space, and an encoded name is still a name. */
    f = filter_ok("cdn=a%2Cb|c%7Cd,title=Harbor+Lights,%63ountry=%5Bx%5D");
    assert_int_equal(f->n, 3);
    assert_string_equal(f->conds[0].vals[0], "a,b");
    assert_string_equal(f->conds[0].vals[1], "c|d");
    assert_string_equal(f->conds[1].vals[0], "Harbor Lights");
    assert_int_equal(f->conds[2].dim, VEX_DIM_COUNTRY);
    assert_string_equal(f->conds[2].vals[0], "[x]");
}

static void test_filter_errors(void **state)
{
    (void)state;
    filter_bad("cdn%3Dcdn-a");      /* an encoded '=' is not an operator */
    filter_bad("cdn");
    filter_bad("nosuch=a");
    filter_bad("ip=1.2.3.4");       /* not a dimension of 4.4 */
    filter_bad("=a");
    filter_bad("!=a");
    filter_bad("cdn=a,");
    filter_bad(",cdn=a");
    filter_bad("cdn=a,,isp=b");
    filter_bad("cdn=a=b");
    filter_bad("cdn==a");
    filter_bad("[cdn=a");
    filter_bad("[cdn=a]x");
    filter_bad("[cdn=a],");
    filter_bad("[]");
    filter_bad("cdn=a,[isp=b]");
    filter_bad("cdn=a]");
    filter_bad("cdn=%zz");
    filter_bad("cdn=a%00b");
    filter_bad("Cdn=a");
}

static void test_filter_match(void **state)
{
    (void)state;
    struct vex_record r = qt_rec("s", 0, 0);
    r.dims[VEX_DIM_CDN] = "a,b";
    r.dims[VEX_DIM_COUNTRY] = "us";
    r.live = 1;
    assert_int_equal(vex_filter_match(filter_ok("cdn=a%2Cb"), &r), 1);
    assert_int_equal(vex_filter_match(filter_ok("cdn=a"), &r), 0);
    assert_int_equal(vex_filter_match(filter_ok("cdn=x|a%2Cb"), &r), 1);
    assert_int_equal(vex_filter_match(filter_ok("cdn!=x|y"), &r), 1);
    assert_int_equal(vex_filter_match(filter_ok("cdn!=x|a%2Cb"), &r), 0);
    assert_int_equal(vex_filter_match(filter_ok("isp="), &r), 1); /* empty value */
    assert_int_equal(vex_filter_match(filter_ok("isp!="), &r), 0);
    assert_int_equal(vex_filter_match(filter_ok("country=US"), &r), 0); /* exact */
    assert_int_equal(vex_filter_match(filter_ok("[country=us][streamtype=live]"), &r), 1);
    assert_int_equal(vex_filter_match(filter_ok("country=us,streamtype=vod"), &r), 0);
    assert_int_equal(vex_filter_match(filter_ok("country=us,country!=us"), &r), 0);
}

static struct vex_qoefilter *qoe_ok(const char *s)
{
    struct vex_qoefilter *f = NULL;
    struct vex_query_error err;
    int rc = vex_filter_qoe_parse(mem, s, &f, &err);
    if (rc)
        fail_msg("qoefilter '%s' should parse: %s", s, err.message);
    return f;
}

static void qoe_bad(const char *s)
{
    struct vex_qoefilter *f = NULL;
    struct vex_query_error err;
    memset(&err, 0, sizeof err);
    if (vex_filter_qoe_parse(mem, s, &f, &err) != VEX_EINVAL)
        fail_msg("qoefilter '%s' should be refused", s);
    assert_string_equal(err.code, "bad_qoefilter");
}

static void test_qoefilter_parse(void **state)
{
    (void)state;
    assert_null(qoe_ok(""));
    struct vex_qoefilter *f = qoe_ok("latency>3 AND bufferingratio>=5.5");
    assert_int_equal(f->n, 2);
    assert_int_equal(f->conds[0].metric, VEX_M_LATENCY);
    assert_int_equal(f->conds[0].op, VEX_QOE_GT);
    assert_true(f->conds[0].value == 3.0);
    assert_int_equal(f->conds[1].metric, VEX_M_BUFFERINGRATIO);
    assert_int_equal(f->conds[1].op, VEX_QOE_GE);
    assert_true(f->conds[1].value == 5.5);

    f = qoe_ok("buffcount>=1,errors=0,ebvs!=1,playdur<=-2.5e1,avg_latency<1");
    assert_int_equal(f->n, 5);
    assert_int_equal(f->conds[1].op, VEX_QOE_EQ);
    assert_int_equal(f->conds[2].op, VEX_QOE_NE);
    assert_int_equal(f->conds[3].op, VEX_QOE_LE);
    assert_true(f->conds[3].value == -25.0);
    assert_int_equal(f->conds[4].metric, VEX_M_LATENCY);
    assert_int_equal(f->conds[4].op, VEX_QOE_LT);

    /* Spaces around operators and AND (any case); a metric containing
     * "and" is still one name. */
    f = qoe_ok("startupabandonmentrate  >  0 and  latency < 1.45 AnD errors=0");
    assert_int_equal(f->n, 3);
    assert_int_equal(f->conds[0].metric, VEX_M_STARTUPABANDONMENTRATE);
    assert_true(f->conds[1].value == 1.45);
}

static void test_qoefilter_errors(void **state)
{
    (void)state;
    qoe_bad("latency");
    qoe_bad("latency>");
    qoe_bad("latency>>3");
    qoe_bad("latency=>3");
    qoe_bad("latency==3");
    qoe_bad("nosuch>3");
    qoe_bad("cdn=a");           /* dimensions are filter's business */
    qoe_bad("latency>3 AND");
    qoe_bad("latency>3 OR errors>1");
    qoe_bad("latency>3ANDerrors>1");
    qoe_bad("latency>3,");
    qoe_bad("latency>3, errors>1"); /* nothing but AND and operators is trimmed */
    qoe_bad(" latency>3");
    qoe_bad("latency>3 ");
    qoe_bad("latency>.5");
    qoe_bad("latency>01");
    qoe_bad("latency>1.");
    qoe_bad("latency>+1");
    qoe_bad("latency>1e");
    qoe_bad("latency>0x10");
    qoe_bad("latency>1e999");
    qoe_bad("latency>nan");
}

static void test_qoefilter_match(void **state)
{
    (void)state;
    struct vex_record r = qt_rec("s", 1000, 61000);
    r.startup_ms = 1500;
    r.play_ms = 45000;
    r.cirr_ms = 5000;
    r.rebuffers = 3;
    assert_int_equal(vex_filter_qoe_match(qoe_ok("latency=1.5"), &r, 0, 100000), 1);
    assert_int_equal(vex_filter_qoe_match(qoe_ok("latency>1.5"), &r, 0, 100000), 0);
    assert_int_equal(vex_filter_qoe_match(qoe_ok("bufferingratio=10"), &r, 0, 100000), 1);
    assert_int_equal(vex_filter_qoe_match(qoe_ok("rebufferfrequency=240"), &r, 0, 100000), 1);
    assert_int_equal(vex_filter_qoe_match(qoe_ok("buffcount>=3 AND playdur<45.5"), &r, 0, 100000),
                     1);
    assert_int_equal(vex_filter_qoe_match(qoe_ok("buffcount>=3,playdur<45"), &r, 0, 100000), 0);
    /* concurviewavg on one session: 60000 of 100000 ms. */
    assert_int_equal(vex_filter_qoe_match(qoe_ok("concurviewavg=0.6"), &r, 0, 100000), 1);
    /* endedplays depends on the period: last_ts 61000 is outside [0, 50000). */
    assert_int_equal(vex_filter_qoe_match(qoe_ok("endedplays=1"), &r, 0, 100000), 1);
    assert_int_equal(vex_filter_qoe_match(qoe_ok("endedplays=1"), &r, 0, 50000), 0);
    /* Percentiles over one session are its own value. */
    assert_int_equal(vex_filter_qoe_match(qoe_ok("p95_latency=1.5"), &r, 0, 100000), 1);
    r.played = 0;
    assert_int_equal(vex_filter_qoe_match(qoe_ok("latency=0 AND median_latency=0"), &r, 0, 100000),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_parse),
        cmocka_unit_test(test_filter_errors),
        cmocka_unit_test(test_filter_match),
        cmocka_unit_test(test_qoefilter_parse),
        cmocka_unit_test(test_qoefilter_errors),
        cmocka_unit_test(test_qoefilter_match),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
