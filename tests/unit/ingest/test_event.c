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

/* Event strings are not NUL-terminated: compare them by length. */
static void assert_text(const char *s, size_t len, const char *want)
{
    assert_non_null(s);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
}

static void expect_bad_json(const char *body, size_t len)
{
    struct vex_event_batch b;
    struct vex_event_error err;
    int rc = vex_event_batch_parse(body, len, VEX_BODY_AUTO, &b, &err);
    if (rc != VEX_EINVAL)
        fail_msg("accepted: %.*s", (int)len, body);
    assert_string_equal(err.code, "bad_json");
    assert_int_equal(err.index, -1);
    assert_string_equal(err.field, "");
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
    assert_text(b.events[0].dims[VEX_DIM_CDN], b.events[0].dim_len[VEX_DIM_CDN], "x");
    assert_text(b.events[0].sid, b.events[0].sid_len, "a");
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
    assert_int_equal(
        parse("{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\"}\nnot json\n", &b, &err),
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
    expect_invalid("[{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"code\":5}]", 0, "code");
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

static void test_escapes_and_duplicates(void **state)
{
    (void)state;
    struct vex_event_batch b;
    struct vex_event_error err;
    /* "s\u0069d" is the key sid; \u00e9 is U+00E9 (C3 A9 in UTF-8); the pair
     * \ud83d\ude00 is U+1F600 (F0 9F 98 80); the last "ts" wins. */
    const char *body = "{\"s\\u0069d\":\"a\\\"b\\\\c\\/d\\n\",\"seq\":1,\"ts\":\"x\",\"ts\":7,"
                       "\"type\":\"pl\\u0061ying\",\"cdn\":\"caf\\u00e9\","
                       "\"title\":\"\\ud83d\\ude00\",\"x\":{\"y\":[1,{\"z\":null}]}}";
    assert_int_equal(parse(body, &b, &err), 0);
    assert_int_equal(b.count, 1);
    assert_text(b.events[0].sid, b.events[0].sid_len, "a\"b\\c/d\n");
    assert_int_equal(b.events[0].seq, 1);
    assert_int_equal(b.events[0].ts, 7);
    assert_int_equal(b.events[0].type, VEX_EV_PLAYING);
    assert_text(b.events[0].dims[VEX_DIM_CDN], b.events[0].dim_len[VEX_DIM_CDN], "caf\xc3\xa9");
    assert_text(b.events[0].dims[VEX_DIM_TITLE], b.events[0].dim_len[VEX_DIM_TITLE],
                "\xf0\x9f\x98\x80");
    vex_event_batch_destroy(&b);

    /* A later valid copy of a key hides an earlier invalid one, and the other
     * way round. */
    expect_invalid("{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"kbps\":1,"
                   "\"kbps\":-2}",
                   0, "kbps");
    assert_int_equal(parse("{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"kbps\":-2,"
                           "\"kbps\":2.5e1}",
                           &b, &err),
                     0);
    assert_true(b.events[0].kbps == 25.0);
    vex_event_batch_destroy(&b);
}

static void test_strictness(void **state)
{
    (void)state;
    const char *head = "{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"x\":";
    static const char *const bad_values[] = {
        "01",
        "+1",
        ".5",
        "1.",
        "1e",
        "-",
        "NaN",
        "Infinity",
        "tru",
        "\"\\x\"",
        "\"\\u12g4\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\u0000\"",
        "\"\x01\"",
        "\"\xc0\x80\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xe2\x82\"",
        "[1,]",
        "{\"a\":1,}",
        "9223372036854775808",
        "-9223372036854775809",
        "1e400",
        "/* c */1",
    };
    char body[256];
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        int n = snprintf(body, sizeof body, "%s%s}", head, bad_values[i]);
        expect_bad_json(body, (size_t)n);
    }
    static const char *const good_values[] = {
        "-0",
        "-0.0",
        "1e-400",
        "9223372036854775807",
        "-9223372036854775808",
        "\"\x7f\"",
        "\"\\ud83d\\ude00\"",
        "[[],{}]",
        "1E+2",
    };
    for (size_t i = 0; i < sizeof good_values / sizeof good_values[0]; i++) {
        struct vex_event_batch b;
        struct vex_event_error err;
        int n = snprintf(body, sizeof body, "%s%s}", head, good_values[i]);
        if (vex_event_batch_parse(body, (size_t)n, VEX_BODY_AUTO, &b, &err))
            fail_msg("rejected: %s (%s)", body, err.message);
        vex_event_batch_destroy(&b);
    }
    /* Trailing garbage, a NUL byte, a top-level scalar, two values. */
    expect_bad_json("[] x", 4);
    expect_bad_json("[]\0", 3);
    /* jansson 2.14 let one NUL through right after a number or a literal;
     * RFC 8259 allows none. */
    static const char nul_after_number[] =
        "[{\"sid\":\"a\",\"seq\":0\0,\"ts\":5,\"type\":\"start\"}]";
    static const char nul_after_literal[] =
        "{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\",\"live\":true\0}";
    expect_bad_json(nul_after_number, sizeof nul_after_number - 1);
    expect_bad_json(nul_after_literal, sizeof nul_after_literal - 1);
    expect_bad_json("5", 1);
    /* An empty body is no line of NDJSON (0 events), but not a JSON array. */
    struct vex_event_batch b;
    struct vex_event_error err;
    assert_int_equal(vex_event_batch_parse("", 0, VEX_BODY_AUTO, &b, &err), 0);
    assert_int_equal(b.count, 0);
    vex_event_batch_destroy(&b);
    assert_int_equal(vex_event_batch_parse(" ", 1, VEX_BODY_JSON_ARRAY, &b, &err), VEX_EINVAL);
    assert_string_equal(err.code, "bad_json");
    expect_bad_json("{\"sid\":\"a\"} {}", 14);
}

static void test_error_precedence(void **state)
{
    (void)state;
    struct vex_event_batch b;
    struct vex_event_error err;
    /* An array is parsed whole first: a syntax error after an invalid event
     * is bad_json. */
    const char *arr = "[{\"sid\":\"\"},{\"sid\":}]";
    assert_int_equal(parse(arr, &b, &err), VEX_EINVAL);
    assert_string_equal(err.code, "bad_json");
    /* NDJSON is judged line by line: the invalid first line wins. Line 3 is
     * blank (CR only) and counted. */
    const char *nd = "{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\"}\r\n"
                     "{\"sid\":\"a\",\"seq\":1.5,\"ts\":5,\"type\":\"start\"}\n\r\nnot json\n";
    assert_int_equal(parse(nd, &b, &err), VEX_EINVAL);
    assert_string_equal(err.code, "invalid_event");
    assert_int_equal(err.index, 1);
    assert_string_equal(err.field, "seq");
    const char *nd2 = "{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\"}\n \t\r\n{\"sid\":\n";
    assert_int_equal(parse(nd2, &b, &err), VEX_EINVAL);
    assert_string_equal(err.code, "bad_json");
    assert_non_null(strstr(err.message, "line 3"));
    /* A line holding an array is one non-object event. */
    const char *nd3 = "{\"sid\":\"a\",\"seq\":0,\"ts\":5,\"type\":\"start\"}\n[{}]\n";
    assert_int_equal(vex_event_batch_parse(nd3, strlen(nd3), VEX_BODY_NDJSON, &b, &err),
                     VEX_EINVAL);
    assert_string_equal(err.code, "invalid_event");
    assert_int_equal(err.index, 1);
    assert_string_equal(err.field, "");
}

static void test_type_lookup(void **state)
{
    (void)state;
    static const char *const names[] = {"start",   "playing", "buffering", "seek", "pause",
                                        "bitrate", "error",   "heartbeat", "end"};
    static const int types[] = {VEX_EV_START, VEX_EV_PLAYING,   VEX_EV_BUFFERING,
                                VEX_EV_SEEK,  VEX_EV_PAUSE,     VEX_EV_BITRATE,
                                VEX_EV_ERROR, VEX_EV_HEARTBEAT, VEX_EV_END};
    for (int i = 0; i < 9; i++) {
        assert_int_equal(vex_event_type_lookup(names[i], strlen(names[i])), types[i]);
        assert_string_equal(vex_event_type_name((enum vex_event_type)types[i]), names[i]);
    }
    assert_int_equal(vex_event_type_lookup("star", 4), -1);
    assert_int_equal(vex_event_type_lookup("starts", 6), -1);
    assert_int_equal(vex_event_type_lookup("Start", 5), -1);
    assert_int_equal(vex_event_type_lookup("endx", 3), VEX_EV_END); /* only len bytes count */
    assert_int_equal(vex_event_type_lookup("", 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_and_ndjson), cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_invalid_fields),   cmocka_unit_test(test_escapes_and_duplicates),
        cmocka_unit_test(test_strictness),       cmocka_unit_test(test_error_precedence),
        cmocka_unit_test(test_type_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
