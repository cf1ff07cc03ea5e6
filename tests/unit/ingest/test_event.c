/* test_event.c - body decoding and whole-batch validation (SPEC 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "ingest/event.h"

static int parse(const char *body, struct vex_event_batch *b, struct vex_event_error *err)
{
    return vex_event_batch_parse(body, strlen(body), VEX_BODY_AUTO, b, err);
}

static void expect_invalid(const char *body, long index, const char *field)
{
    struct vex_event_batch b;
    struct vex_event_error err;
    int rc = parse(body, &b, &err);
    if (rc != VEX_EINVAL)
        fail_msg("accepted: %s", body);
    assert_string_equal(err.code, "invalid_event");
    assert_int_equal(err.index, index);
    assert_string_equal(err.field, field);
    assert_true(strlen(err.message) > 0);
}

static void test_array_and_ndjson(void **state)
{
    (void)state;
    struct vex_event_batch b;
    struct vex_event_error err;
    const char *arr = "[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"cdn\":\"x\","
                      "\"kbps\":1500.5,\"live\":true},"
                      "{\"sid\":\"a\",\"seq\":1,\"ts\":6,\"type\":\"error\",\"fatal\":false,"
                      "\"code\":\"E1\",\"unknown\":{\"x\":1}}]";
    assert_int_equal(parse(arr, &b, &err), 0);
    assert_int_equal(b.count, 2);
    assert_int_equal(b.events[0].type, VEX_EV_START);
    assert_true(b.events[0].has_kbps);
    assert_true(b.events[0].kbps == 1500.5);
    assert_int_equal(b.events[0].live, 1);
    assert_string_equal(b.events[0].dims[VEX_DIM_CDN], "x");
    assert_null(b.events[0].dims[VEX_DIM_COUNTRY]);
    assert_int_equal(b.events[1].fatal, 0);
    assert_int_equal(b.events[1].live, -1);
    vex_event_batch_destroy(&b);

    const char *nd = "{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\"}\n\n"
                     "{\"sid\":\"b\",\"seq\":9007199254740992,\"ts\":0,\"type\":\"end\","
                     "\"cdn\":null,\"country\":\"\"}\n";
    assert_int_equal(parse(nd, &b, &err), 0);
    assert_int_equal(b.count, 2);
    assert_int_equal(b.events[1].seq, 9007199254740992LL);
    assert_null(b.events[1].dims[VEX_DIM_CDN]);
    assert_null(b.events[1].dims[VEX_DIM_COUNTRY]);
    assert_int_equal(b.events[1].fatal, 1);
    vex_event_batch_destroy(&b);

    assert_int_equal(parse("[]", &b, &err), 0);
    assert_int_equal(b.count, 0);
    vex_event_batch_destroy(&b);
}

static void test_bad_json(void **state)
{
    (void)state;
    struct vex_event_batch b;
    struct vex_event_error err;
    assert_int_equal(parse("[{\"sid\":", &b, &err), VEX_EINVAL);
    assert_string_equal(err.code, "bad_json");
    assert_int_equal(parse("{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\"}\nnot json\n",
                           &b, &err),
                     VEX_EINVAL);
    assert_string_equal(err.code, "bad_json");
}

static void test_invalid_fields(void **state)
{
    (void)state;
    const char *ok = "{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\"}";
    char body[1024];
    expect_invalid("[{\"seq\":0,\"ts\":5,\"type\":\"start\"}]", 0, "sid");
    snprintf(body, sizeof body, "[%s,{\"sid\":\"\",\"seq\":0,\"ts\":5,\"type\":\"start\"}]", ok);
    expect_invalid(body, 1, "sid");
    snprintf(body, sizeof body, "[%s,%s,{\"sid\":\"a\",\"seq\":1.0,\"ts\":5,\"type\":\"start\"}]",
             ok, ok);
    expect_invalid(body, 2, "seq");
    expect_invalid("[{\"sid\":\"a\",\"seq\":-1,\"ts\":5,\"type\":\"start\"}]", 0, "seq");
    expect_invalid("[{\"sid\":\"a\",\"seq\":9007199254740993,\"ts\":5,\"type\":\"start\"}]", 0,
                   "seq");
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":\"5\",\"type\":\"start\"}]", 0, "ts");
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"stop\"}]", 0, "type");
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"kbps\":-1}]", 0,
                   "kbps");
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"fatal\":1}]", 0,
                   "fatal");
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"live\":\"yes\"}]", 0,
                   "live");
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"cdn\":5}]", 0, "cdn");
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"code\":5}]", 0,
                   "code");
    expect_invalid("[5]", 0, "");
    char longsid[200];
    memset(longsid, 'x', 129);
    longsid[129] = '\0';
    snprintf(body, sizeof body, "[{\"sid\":\"%s\",\"seq\":0,\"ts\":5,\"type\":\"start\"}]",
             longsid);
    expect_invalid(body, 0, "sid");
    char longdim[400];
    memset(longdim, 'y', 257);
    longdim[257] = '\0';
    snprintf(body, sizeof body,
             "[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"asset\":\"%s\"}]", longdim);
    expect_invalid(body, 0, "asset");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_and_ndjson),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_invalid_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
