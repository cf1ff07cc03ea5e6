/* test_event_diff.c - the fast event decoder against a reference decoder
 * built on jansson 2.14 (the decoder event.c used before), on hand-written
 * tricky bodies and on a few hundred thousand deterministic random mutations
 * of the test vectors' events.
 *
 * Both must agree on acceptance, on the error code, index and field, and on
 * every decoded field of every event (kbps bit for bit). Every body is copied
 * into a buffer of exactly its length, so that under AddressSanitizer a read
 * past the end of the body is caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/err.h"
#include "ingest/event.h"

/* ---- The reference: event.c as it was, decoding with jansson ---- */

#define MAX_SAFE_INT 9007199254740992LL /* 2^53 */

struct ref_batch {
    struct vex_event *events;
    size_t count;
    json_t **docs;
    size_t ndocs, docs_cap;
};

static int ref_docs_push(struct ref_batch *b, json_t *j)
{
    if (b->ndocs == b->docs_cap) {
        size_t cap = b->docs_cap ? b->docs_cap * 2 : 16;
        json_t **v = realloc(b->docs, cap * sizeof *v);
        if (!v)
            return VEX_ENOMEM;
        b->docs = v;
        b->docs_cap = cap;
    }
    b->docs[b->ndocs++] = j;
    return 0;
}

static void ref_destroy(struct ref_batch *b)
{
    for (size_t i = 0; i < b->ndocs; i++)
        json_decref(b->docs[i]);
    free(b->docs);
    free(b->events);
    memset(b, 0, sizeof *b);
}

static int ref_fail(struct vex_event_error *err, const char *code, long index, const char *field)
{
    snprintf(err->code, sizeof err->code, "%s", code);
    err->index = index;
    snprintf(err->field, sizeof err->field, "%s", field);
    return VEX_EINVAL;
}

static json_t *ref_present(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v) && json_string_length(v) == 0)
        return NULL;
    return v;
}

static int ref_int(json_t *obj, const char *key, int64_t *out, long idx,
                   struct vex_event_error *err)
{
    json_t *v = ref_present(obj, key);
    if (!v || !json_is_integer(v))
        return ref_fail(err, "invalid_event", idx, key);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > MAX_SAFE_INT)
        return ref_fail(err, "invalid_event", idx, key);
    *out = x;
    return 0;
}

static int ref_event(json_t *obj, long idx, struct vex_event *ev, struct vex_event_error *err)
{
    memset(ev, 0, sizeof *ev);
    ev->fatal = 1;
    ev->live = -1;
    if (!json_is_object(obj))
        return ref_fail(err, "invalid_event", idx, "");
    json_t *v = ref_present(obj, "sid");
    if (!v || !json_is_string(v) || json_string_length(v) > 128)
        return ref_fail(err, "invalid_event", idx, "sid");
    ev->sid = json_string_value(v);
    ev->sid_len = (uint32_t)json_string_length(v);
    if (ref_int(obj, "seq", &ev->seq, idx, err) || ref_int(obj, "ts", &ev->ts, idx, err))
        return VEX_EINVAL;
    v = ref_present(obj, "type");
    int t = v && json_is_string(v)
                ? vex_event_type_lookup(json_string_value(v), json_string_length(v))
                : -1;
    if (t < 0)
        return ref_fail(err, "invalid_event", idx, "type");
    ev->type = (uint8_t)t;
    if ((v = ref_present(obj, "kbps"))) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0))
            return ref_fail(err, "invalid_event", idx, "kbps");
        ev->has_kbps = 1;
        ev->kbps = json_number_value(v);
    }
    if ((v = ref_present(obj, "fatal"))) {
        if (!json_is_boolean(v))
            return ref_fail(err, "invalid_event", idx, "fatal");
        ev->fatal = json_is_true(v);
    }
    if ((v = ref_present(obj, "live"))) {
        if (!json_is_boolean(v))
            return ref_fail(err, "invalid_event", idx, "live");
        ev->live = json_is_true(v) ? 1 : 0;
    }
    if ((v = ref_present(obj, "code")) && !json_is_string(v))
        return ref_fail(err, "invalid_event", idx, "code");
    if ((v = ref_present(obj, "msg")) && !json_is_string(v))
        return ref_fail(err, "invalid_event", idx, "msg");
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        const char *name = vex_dim_name((enum vex_dim)d);
        if (!(v = ref_present(obj, name)))
            continue;
        if (!json_is_string(v) || json_string_length(v) > 256)
            return ref_fail(err, "invalid_event", idx, name);
        ev->dims[d] = json_string_value(v);
        ev->dim_len[d] = (uint16_t)json_string_length(v);
    }
    return 0;
}

static int ref_push(struct ref_batch *b, json_t *doc, size_t *cap, struct vex_event_error *err)
{
    size_t add = json_is_array(doc) ? json_array_size(doc) : 1;
    if (b->count + add > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < b->count + add)
            c *= 2;
        struct vex_event *e = realloc(b->events, c * sizeof *e);
        if (!e)
            return VEX_ENOMEM;
        b->events = e;
        *cap = c;
    }
    for (size_t i = 0; i < add; i++) {
        json_t *o = json_is_array(doc) ? json_array_get(doc, i) : doc;
        if (ref_event(o, (long)b->count, &b->events[b->count], err))
            return VEX_EINVAL;
        b->count++;
    }
    return 0;
}

/* json_loadb, except for one jansson 2.14 quirk that vex does not keep: its
 * lexer drops a NUL byte that directly follows a number or a literal (it
 * ungets the lookahead NUL into a buffer where NUL means "empty", so "[1\0]"
 * loads as [1]). RFC 8259 allows no NUL byte anywhere in a text, and jansson
 * refuses every other NUL (in a string: a control character; between tokens:
 * an invalid token), so refusing any NUL changes nothing but that quirk. */
static json_t *ref_loadb(const char *buf, size_t len)
{
    json_error_t jerr;
    if (memchr(buf, '\0', len))
        return NULL;
    return json_loadb(buf, len, 0, &jerr);
}

static int ref_parse(const char *body, size_t len, enum vex_body_format fmt, struct ref_batch *b,
                     struct vex_event_error *err)
{
    size_t cap = 0;
    memset(b, 0, sizeof *b);
    memset(err, 0, sizeof *err);
    err->index = -1;
    size_t first = 0;
    while (first < len && strchr(" \t\r\n", body[first]) && body[first])
        first++;
    if (fmt == VEX_BODY_AUTO)
        fmt = (first < len && body[first] == '[') ? VEX_BODY_JSON_ARRAY : VEX_BODY_NDJSON;
    if (fmt == VEX_BODY_JSON_ARRAY) {
        json_t *doc = ref_loadb(body, len);
        if (!doc)
            return ref_fail(err, "bad_json", -1, "");
        ref_docs_push(b, doc);
        if (!json_is_array(doc) && !json_is_object(doc))
            return ref_fail(err, "invalid_event", 0, "");
        return ref_push(b, doc, &cap, err);
    }
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len, i;
        for (i = pos; i < end && strchr(" \t\r", body[i]) && body[i]; i++)
            ;
        if (i < end) {
            json_t *doc = ref_loadb(body + pos, end - pos);
            if (!doc)
                return ref_fail(err, "bad_json", -1, "");
            ref_docs_push(b, doc);
            if (!json_is_object(doc))
                return ref_fail(err, "invalid_event", (long)b->count, "");
            if (ref_push(b, doc, &cap, err))
                return VEX_EINVAL;
        }
        pos = end + 1;
    }
    return 0;
}

/* ---- Comparison ---- */

/* The body, printable: bytes outside ASCII's printable range as \xHH. */
static const char *shown(const char *body, size_t len)
{
    static char out[4 * 4096 + 16];
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < sizeof out - 8; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "\\x%02x", c);
    }
    if (o + 5 >= sizeof out - 8)
        o += (size_t)sprintf(out + o, "...");
    out[o] = '\0';
    return out;
}

struct tally {
    size_t ok, bad_json, invalid;
};

static const char *const fmt_names[] = {"array", "ndjson", "auto"};

static void same_text(const char *what, const char *a, size_t alen, const char *b, size_t blen,
                      const char *body, size_t len)
{
    if (alen != blen || (alen && memcmp(a, b, alen) != 0))
        fail_msg("%s differs (%zu vs %zu bytes) on body [%s]", what, alen, blen, (int)len, body);
}

/* Runs both decoders on a private exact-size copy of body[0..len). */
static void check(const char *body, size_t len, enum vex_body_format fmt, struct tally *t)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);
    struct ref_batch rb;
    struct vex_event_error rerr, ferr;
    struct vex_event_batch fb;
    int rrc = ref_parse(copy, len, fmt, &rb, &rerr);
    int frc = vex_event_batch_parse(copy, len, fmt, &fb, &ferr);
    if (rrc != frc)
        fail_msg("%s: reference %d (%s %ld '%s') vs fast %d (%s %ld '%s': %s) on body [%s]",
                 fmt_names[fmt], rrc, rerr.code, rerr.index, rerr.field, frc, ferr.code, ferr.index,
                 ferr.field, ferr.message, shown(copy, len));
    if (rrc) {
        if (strcmp(rerr.code, ferr.code) || rerr.index != ferr.index ||
            strcmp(rerr.field, ferr.field))
            fail_msg("%s: reference (%s %ld '%s') vs fast (%s %ld '%s': %s) on body [%s]",
                     fmt_names[fmt], rerr.code, rerr.index, rerr.field, ferr.code, ferr.index,
                     ferr.field, ferr.message, shown(copy, len));
        if (strlen(ferr.message) == 0)
            fail_msg("no message on body [%s]", shown(copy, len));
        if (!strcmp(ferr.code, "bad_json"))
            t->bad_json++;
        else
            t->invalid++;
    } else {
        t->ok++;
        if (rb.count != fb.count)
            fail_msg("count %zu vs %zu on body [%s]", rb.count, fb.count, shown(copy, len));
        for (size_t i = 0; i < rb.count; i++) {
            const struct vex_event *a = &rb.events[i], *b = &fb.events[i];
            same_text("sid", a->sid, a->sid_len, b->sid, b->sid_len, copy, len);
            if (a->type != b->type || a->fatal != b->fatal || a->has_kbps != b->has_kbps ||
                a->live != b->live || a->seq != b->seq || a->ts != b->ts ||
                (a->has_kbps && memcmp(&a->kbps, &b->kbps, sizeof a->kbps) != 0))
                fail_msg("event %zu differs: type %d/%d fatal %d/%d kbps %d:%.17g/%d:%.17g "
                         "live %d/%d seq %lld/%lld ts %lld/%lld on body [%s]",
                         i, a->type, b->type, a->fatal, b->fatal, a->has_kbps, a->kbps, b->has_kbps,
                         b->kbps, a->live, b->live, (long long)a->seq, (long long)b->seq,
                         (long long)a->ts, (long long)b->ts, shown(copy, len));
            for (int d = 0; d < VEX_DIM_COUNT; d++) {
                if (!a->dims[d] != !b->dims[d])
                    fail_msg("dimension %s presence differs on body [%s]",
                             vex_dim_name((enum vex_dim)d), shown(copy, len));
                if (a->dims[d])
                    same_text(vex_dim_name((enum vex_dim)d), a->dims[d], a->dim_len[d], b->dims[d],
                              b->dim_len[d], copy, len);
            }
        }
        vex_event_batch_destroy(&fb);
    }
    ref_destroy(&rb);
    free(copy);
}

static void check_all_formats(const char *body, size_t len, struct tally *t)
{
    check(body, len, VEX_BODY_JSON_ARRAY, t);
    check(body, len, VEX_BODY_NDJSON, t);
    check(body, len, VEX_BODY_AUTO, t);
}

/* ---- (a) hand-written tricky bodies ---- */

#define EV "\"sid\":\"a\",\"seq\":1,\"ts\":5,\"type\":\"start\""
#define B(s) {s, sizeof(s) - 1}
/* "subscribertag" with every byte escaped: 78 raw bytes for a 13-byte key. */
#define SUBTAG                                                                                     \
    "\\u0073\\u0075\\u0062\\u0073\\u0063\\u0072\\u0069"                                            \
    "\\u0062\\u0065\\u0072\\u0074\\u0061\\u0067"

static const struct {
    const char *s;
    size_t n;
} tricky[] = {
    B(""),
    B(" "),
    B("\n\n\r\n"),
    B("[]"),
    B(" [ ] "),
    B("{}"),
    B("[{}]"),
    B("[[{}]]"),
    B("[5]"),
    B("5"),
    B("\"s\""),
    B("null"),
    B("[{" EV "},5,{\"sid\":3}]"),
    B("[{" EV "},{\"sid\":3},5]"),
    B("{" EV "}"),
    B("{" EV "}\n{" EV "}"),
    B("{" EV "}\r\n\r\n{" EV "}\r\n"),
    B(" \t{ \"sid\" : \"a\" , \"seq\" :\t1 ,\r\"ts\": 5 ,\"type\" : \"end\" } \t\r"),
    B("[ {" EV "} , {" EV "} ]"),
    B("[\n{" EV "},\n{" EV "}\n]\n"),
    /* escapes, surrogates, keys */
    B("{\"s\\u0069d\":\"a\",\"\\u0073eq\":1,\"ts\":5,\"t\\u0079pe\":\"\\u0073tart\"}"),
    B("{" EV ",\"cdn\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}"),
    B("{" EV ",\"cdn\":\"\\ud83d\\ude00\\u00e9\\u20ac\"}"),
    B("{" EV ",\"cdn\":\"\\uD83D\\uDE00\"}"),
    B("{" EV ",\"cdn\":\"\\ud83d\"}"),
    B("{" EV ",\"cdn\":\"\\ude00\"}"),
    B("{" EV ",\"cdn\":\"\\ud83d\\u0041\"}"),
    B("{" EV ",\"cdn\":\"\\ud83dx\"}"),
    B("{" EV ",\"cdn\":\"\\ud83d\\ud83d\"}"),
    B("{" EV ",\"cdn\":\"\\udfff\"}"),
    B("{" EV ",\"cdn\":\"\\udbff\\udfff\\ud800\\udc00\"}"),
    B("{" EV ",\"cdn\":\"\\udbff\"}"),
    B("{" EV ",\"cdn\":\"\\ud7ff\\ue000\\uffff\\u0001\\u001f\\u007f\\u0080\\u07ff\\u0800\"}"),
    B("{" EV ",\"cdn\":\"\\u0000\"}"),
    B("{" EV ",\"c\\u0000dn\":\"x\"}"),
    B("{" EV ",\"cdn\":\"\\x\"}"),
    B("{" EV ",\"cdn\":\"\\u12\"}"),
    B("{" EV ",\"cdn\":\"\\u12G4\"}"),
    B("{" EV ",\"cdn\":\"\\"),
    B("{" EV ",\"cdn\":\"\\u00"),
    B("{" EV ",\"cdn\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"),
    B("{" EV ",\"\xc3\xa9\":1}"),
    B("{" EV ",\"cdn\":\"\x7f\"}"),
    /* duplicate keys: the last wins */
    B("{" EV ",\"sid\":\"b\"}"),
    B("{" EV ",\"sid\":null}"),
    B("{" EV ",\"sid\":\"\"}"),
    B("{" EV ",\"seq\":1.5,\"seq\":2}"),
    B("{" EV ",\"seq\":2,\"seq\":1.5}"),
    B("{" EV ",\"cdn\":1,\"cdn\":\"ok\"}"),
    B("{" EV ",\"cdn\":\"x\",\"cdn\":null}"),
    B("{" EV ",\"live\":true,\"live\":\"\"}"),
    B("{" EV ",\"s\\u0069d\":\"z\"}"),
    /* every byte of the longest known key escaped (78 raw bytes), and one more */
    B("{" EV ",\"" SUBTAG "\":\"t\"}"),
    B("{" EV ",\"" SUBTAG "\\u0000\":\"t\"}"),
    B("{" EV ",\"" SUBTAG "x\":\"t\"}"),
    B("{" EV ",\"" SUBTAG "\":5}"),
    /* nested unknown fields */
    B("{" EV ",\"x\":{\"a\":[1,2,{\"b\":[[],{}]}],\"c\":\"\\u00e9\"}}"),
    B("{" EV ",\"x\":{\"a\":[1,2,{\"b\":[[],{}]}],\"c\":}}"),
    B("{" EV ",\"x\":[1,[2,]]}"),
    B("{" EV ",\"x\":{\"a\" 1}}"),
    B("{" EV ",\"x\":{1:2}}"),
    B("{" EV ",\"cdn\":{\"a\":1}}"),
    B("{" EV ",\"kbps\":[1]}"),
    B("{" EV ",\"x\":[tru]}"),
    B("{" EV ",\"x\":[nul]}"),
    B("{" EV ",\"x\":[falsey]}"),
    B("{" EV ",\"x\":{}}"),
    B("{" EV ",\"x\":[ ]}"),
    /* numbers at the edges */
    B("{\"sid\":\"a\",\"seq\":9007199254740992,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":9007199254740993,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":1,\"ts\":9007199254740992,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":1,\"ts\":9007199254740993,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":9223372036854775807,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":9223372036854775808,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":-9223372036854775808,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":-9223372036854775809,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":99999999999999999999,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":-0,\"ts\":-0,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":-0.0,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":1e2,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":1.0,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":-1,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":01,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":+1,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":.5,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":1.,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":1e,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":1e+,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":-,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":--1,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":NaN,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":Infinity,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":-Infinity,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":0x10,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":true,\"ts\":5,\"type\":\"end\"}"),
    B("{\"sid\":\"a\",\"seq\":\"\",\"ts\":5,\"type\":\"end\"}"),
    B("{" EV ",\"kbps\":1e308}"),
    B("{" EV ",\"kbps\":1.7976931348623157e308}"),
    B("{" EV ",\"kbps\":1.7976931348623159e308}"),
    B("{" EV ",\"kbps\":1e400}"),
    B("{" EV ",\"kbps\":-1e400}"),
    B("{" EV ",\"kbps\":1e-400}"),
    B("{" EV ",\"kbps\":4.9e-324}"),
    B("{" EV ",\"kbps\":2.2250738585072011e-308}"),
    B("{" EV ",\"kbps\":-0.0}"),
    B("{" EV ",\"kbps\":-0}"),
    B("{" EV ",\"kbps\":-0.1}"),
    B("{" EV ",\"kbps\":0.1}"),
    B("{" EV ",\"kbps\":0.30000000000000004}"),
    B("{" EV ",\"kbps\":123456789012345678901234567890}"),
    B("{" EV ",\"kbps\":123456789012345678901234567890.5}"),
    B("{" EV ",\"kbps\":9007199254740993.0}"),
    B("{" EV ",\"kbps\":9007199254740993}"),
    B("{" EV ",\"kbps\":9223372036854775807}"),
    B("{" EV ",\"kbps\":1e22}"),
    B("{" EV ",\"kbps\":1e23}"),
    B("{" EV ",\"kbps\":123456.789e3}"),
    B("{" EV ",\"kbps\":0.000000000000000000000000000001}"),
    B("{" EV ",\"kbps\":1E+2}"),
    B("{" EV ",\"kbps\":1e-2}"),
    B("{" EV ",\"kbps\":0e999999999999}"),
    B("{" EV ",\"kbps\":1e999999999999}"),
    B("{" EV ",\"kbps\":1e-999999999999}"),
    B("{" EV ",\"kbps\":\"\"}"),
    B("{" EV ",\"kbps\":null}"),
    B("{" EV ",\"kbps\":true}"),
    B("{" EV ",\"kbps\":\"5\"}"),
    B("{" EV ",\"x\":1e400}"),
    B("{" EV ",\"x\":-9223372036854775809}"),
    B("{" EV ",\"x\":1.7976931348623158e308}"),
    /* the other fields */
    B("{" EV ",\"fatal\":\"\"}"),
    B("{" EV ",\"fatal\":null}"),
    B("{" EV ",\"fatal\":0}"),
    B("{" EV ",\"fatal\":false,\"live\":true}"),
    B("{" EV ",\"live\":null}"),
    B("{" EV ",\"live\":1}"),
    B("{" EV ",\"code\":5}"),
    B("{" EV ",\"code\":\"\"}"),
    B("{" EV ",\"msg\":{}}"),
    B("{" EV ",\"msg\":[]}"),
    B("{" EV ",\"msg\":\"m\"}"),
    B("{" EV ",\"code\":5,\"kbps\":-1}"),
    B("{" EV ",\"ip\":5,\"cdn\":5}"),
    B("{\"sid\":5,\"seq\":\"x\"}"),
    B("{\"seq\":\"x\"}"),
    B("{\"sid\":\"a\",\"seq\":1}"),
    B("{\"sid\":\"a\",\"seq\":1,\"ts\":1,\"type\":\"\"}"),
    B("{\"sid\":\"a\",\"seq\":1,\"ts\":1,\"type\":\"START\"}"),
    B("{\"sid\":\"a\",\"seq\":1,\"ts\":1,\"type\":\"start \"}"),
    B("{\"sid\":\"a\",\"seq\":1,\"ts\":1,\"type\":7}"),
    /* structure */
    B("[1,]"),
    B("[{" EV "},]"),
    B("{" EV ",}"),
    B("{" EV "} x"),
    B("{" EV "}{" EV "}"),
    B("[{" EV "}] ]"),
    B("[{" EV "}"),
    B("{" EV),
    B("{" EV "} // c"),
    B("/* c */{" EV "}"),
    B("{\"sid\" \"a\"}"),
    B("{\"sid\":\"a\" \"seq\":1}"),
    B("{\"sid\":'a'}"),
    B("{sid:\"a\"}"),
    B("\xef\xbb\xbf{" EV "}"),
    B("{" EV "}\f"),
    B("\v{" EV "}"),
    /* bad UTF-8 */
    B("{" EV ",\"cdn\":\"\xc0\x80\"}"),
    B("{" EV ",\"cdn\":\"\xc1\xbf\"}"),
    B("{" EV ",\"cdn\":\"\xe0\x80\x80\"}"),
    B("{" EV ",\"cdn\":\"\xe0\x9f\xbf\"}"),
    B("{" EV ",\"cdn\":\"\xed\xa0\x80\"}"),
    B("{" EV ",\"cdn\":\"\xed\xbf\xbf\"}"),
    B("{" EV ",\"cdn\":\"\xed\x9f\xbf\"}"),
    B("{" EV ",\"cdn\":\"\xf0\x8f\xbf\xbf\"}"),
    B("{" EV ",\"cdn\":\"\xf4\x8f\xbf\xbf\"}"),
    B("{" EV ",\"cdn\":\"\xf4\x90\x80\x80\"}"),
    B("{" EV ",\"cdn\":\"\xf5\x80\x80\x80\"}"),
    B("{" EV ",\"cdn\":\"\xff\"}"),
    B("{" EV ",\"cdn\":\"\x80\"}"),
    B("{" EV ",\"cdn\":\"\xc3\"}"),
    B("{" EV ",\"cdn\":\"\xe2\x82\"}"),
    B("{" EV ",\"cdn\":\"\xe2\x82"),
    B("{" EV ",\"cdn\":\"\xf0\x9f\x98"),
    B("{" EV "}\xc3\xa9"),
    B("{" EV ",\"\xff\":1}"),
    B("{" EV ",\"x\":\"\xee\x80\x80\xef\xbf\xbf\"}"),
    /* NUL and control bytes */
    B("{" EV "}\0"),
    B("\0{" EV "}"),
    B("{" EV ",\"cdn\":\"a\0b\"}"),
    B("{" EV ",\0\"x\":1}"),
    B("[{" EV "}\0]"),
    B("{" EV "}\n\0\n"),
    B("{" EV ",\"cdn\":\"a\x1f\"}"),
    B("{" EV ",\"cdn\":\"a\tb\"}"),
    B("{" EV ",\"cdn\":\"a\nb\"}"),
    B("{\"sid\":\n\"a\"}"),
    B("{" EV "}\n[]"),
    B("{" EV "}\n[{" EV "}]"),
    B("{" EV "}\n5"),
    B("{" EV "}\n\"x\""),
};

static void test_tricky(void **state)
{
    (void)state;
    struct tally t = {0, 0, 0};
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        check_all_formats(tricky[i].s, tricky[i].n, &t);
    assert_true(t.ok > 50 && t.bad_json > 100 && t.invalid > 50);
}

/* Two bad fields in one event, written in reverse check order: the error
 * names the one checked first (sid, seq, ts, type, kbps, fatal, live, code,
 * msg, then the dimensions in enum order), not the one written first. */
static void test_check_order(void **state)
{
    (void)state;
    struct tally t = {0, 0, 0};
    const char *names[9 + VEX_DIM_COUNT];
    static const char *const good[] = {"\"a\"", "1",     "5",     "\"start\"", "2",
                                       "true",  "false", "\"c\"", "\"m\""};
    static const char *const bad[] = {"5", "\"x\"", "1.5", "\"stop\"", "-1", "1", "1", "{}", "[]"};
    static const char *const base[] = {"sid",   "seq",  "ts",   "type", "kbps",
                                       "fatal", "live", "code", "msg"};
    size_t nf = 9 + VEX_DIM_COUNT;
    for (size_t i = 0; i < 9; i++)
        names[i] = base[i];
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        names[9 + d] = vex_dim_name((enum vex_dim)d);
    char body[2048];
    for (size_t i = 0; i < nf; i++) {
        for (size_t j = i; j < nf; j++) {
            size_t o = (size_t)sprintf(body, "{");
            for (size_t k = nf; k-- > 0;) {
                int broken = k == i || k == j;
                const char *v = k < 9 ? (broken ? bad[k] : good[k]) : (broken ? "7" : "\"d\"");
                o += (size_t)sprintf(body + o, "%s\"%s\":%s", o > 1 ? "," : "", names[k], v);
            }
            body[o++] = '}';
            check_all_formats(body, o, &t);
        }
    }
    assert_int_equal(t.ok, 0);
    assert_int_equal(t.invalid, 3 * nf * (nf + 1) / 2);
}

/* Long strings: sid at 128 and 129 decoded bytes, dimensions at 256 and 257,
 * written plain and with escapes (raw text longer than the limit). */
static void test_lengths(void **state)
{
    (void)state;
    struct tally t = {0, 0, 0};
    static const char *const units[] = {"x", "\\/", "\\u0078", "\xc3\xa9", "\\u00e9"};
    static const size_t unit_bytes[] = {1, 1, 1, 2, 2};
    char body[8192], text[4096];
    for (size_t u = 0; u < 5; u++) {
        for (size_t want = 126; want <= 258; want++) {
            size_t o = 0, bytes = 0;
            while (bytes + unit_bytes[u] <= want) {
                o += (size_t)sprintf(text + o, "%s", units[u]);
                bytes += unit_bytes[u];
            }
            int n = snprintf(body, sizeof body,
                             "{\"sid\":\"%s\",\"seq\":1,\"ts\":2,\"type\":\"end\"}", text);
            check_all_formats(body, (size_t)n, &t);
            n = snprintf(body, sizeof body, "[{" EV ",\"title\":\"%s\"}]", text);
            check_all_formats(body, (size_t)n, &t);
        }
    }
    assert_true(t.ok > 100 && t.invalid > 100);
}

/* Nesting at jansson's limit: a value may sit at most 2048 levels deep (the
 * top level is 1), so an empty container is fine one level deeper than a
 * scalar. Arrays, and objects {"k":{"k":...}}, under an unknown field. */
static void test_depth(void **state)
{
    (void)state;
    struct tally t = {0, 0, 0};
    char *body = malloc(6 * 2100 + 256);
    assert_non_null(body);
    for (int top = 0; top < 2; top++) {
        for (int k = 2040; k <= 2052; k++) {
            for (int kind = 0; kind < 3; kind++) {
                size_t o = (size_t)sprintf(body, "%s{" EV ",\"x\":", top ? "[" : "");
                for (int i = 0; i < k; i++)
                    o += (size_t)sprintf(body + o, "%s", kind == 2 ? "{\"k\":" : "[");
                o += (size_t)sprintf(body + o, "%s", kind == 0 ? "" : "1");
                for (int i = 0; i < k; i++)
                    body[o++] = kind == 2 ? '}' : ']';
                o += (size_t)sprintf(body + o, "}%s", top ? "]" : "");
                check_all_formats(body, o, &t);
            }
        }
    }
    free(body);
    assert_true(t.ok > 20 && t.bad_json > 20);
}

/* ---- (b) random mutations ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64: deterministic, good enough to pick mutations. */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static size_t rndn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

struct lines {
    char **v;
    size_t *len;
    size_t n;
};

static void load_lines(struct lines *l)
{
    const char *dir = getenv("VEX_VECTORS");
    char path[1024];
    if (dir)
        snprintf(path, sizeof path, "%s/events.ndjson", dir);
    else
        snprintf(path, sizeof path, "%s/tests/vectors/events.ndjson",
                 getenv("VEX_SOURCE_DIR") ? getenv("VEX_SOURCE_DIR") : ".");
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (set VEX_VECTORS)", path);
    memset(l, 0, sizeof *l);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
        l->len = realloc(l->len, (l->n + 1) * sizeof *l->len);
        assert_non_null(l->v);
        assert_non_null(l->len);
        l->v[l->n] = malloc((size_t)n);
        assert_non_null(l->v[l->n]);
        memcpy(l->v[l->n], line, (size_t)n);
        l->len[l->n++] = (size_t)n;
    }
    free(line);
    fclose(f);
    assert_true(l->n >= 50);
}

static void free_lines(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->len);
}

/* Bytes and snippets that sit on the decoder's decision points. */
static const char special_bytes[] = "\"\\{}[],: \t\r\n\0.-+eE0129untfa/\x7f\x80\xbf\xc0\xc2\xdf"
                                    "\xe0\xed\xef\xf0\xf4\xf5\xff";

static const char *const snippets[] = {
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\\ud83d\\ude00",
    "\\u00e9",
    "\\u0069",
    "\\\"",
    "\\\\",
    "\\x",
    "\\u12",
    "1e400",
    "-0",
    "-0.0",
    "1e2",
    "1.0",
    "null",
    "\"\"",
    "true",
    "false",
    "{}",
    "[]",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "9007199254740993",
    "9007199254740992",
    "0.1",
    "1e-400",
    "\xc3\xa9",
    "\xed\xa0\x80",
    "\xf0\x9f\x98\x80",
    "\xf4\x90\x80\x80",
    "\xc0\x80",
    "{\"a\":[1,{\"b\":null}]}",
    ",\"sid\":\"z\"",
    ",\"seq\":2",
    ",\"kbps\":-1",
    ",\"live\":1",
    ",\"fatal\":null",
    ",\"cdn\":\"\"",
    ",\"x\":",
    "\r\n",
    "\n\n",
    "/*",
    "NaN",
    "01",
    ".5",
    "1.",
    "+1",
    "\"s\\u0069d\"",
};

/* Values to put in place of a field's value. */
static const char *const values[] = {
    "\"\"",
    "null",
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e2",
    "2.5e3",
    "-0.0",
    "true",
    "false",
    "\"start\"",
    "\"end\"",
    "\"error\"",
    "\"x\"",
    "{}",
    "[]",
    "[1,2]",
    "{\"a\":{}}",
    "9007199254740992",
    "9007199254740993",
    "1e308",
    "1e400",
    "\"\\u0073tart\"",
    "\"\\u00e9\"",
    "\"\\ud83d\\ude00\"",
    "\"a\\nb\"",
    "12345678901234567890",
    "0.30000000000000004",
};

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void insert_at(struct buf *b, size_t at, const void *s, size_t n)
{
    put(b, s, n); /* grow, then make room */
    memmove(b->p + at + n, b->p + at, b->n - n - at);
    memcpy(b->p + at, s, n);
}

static void erase(struct buf *b, size_t at, size_t n)
{
    memmove(b->p + at, b->p + at + n, b->n - at - n);
    b->n -= n;
}

/* Replaces the value after a random ':' with one of values[]. */
static void replace_value(struct buf *b)
{
    size_t start = rndn(b->n), at = 0;
    for (size_t i = 0; i < b->n; i++) {
        size_t j = (start + i) % b->n;
        if (b->p[j] == ':') {
            at = j + 1;
            break;
        }
    }
    if (!at)
        return;
    size_t e = at;
    if (e < b->n && b->p[e] == '"') {
        for (e++; e < b->n && b->p[e] != '"'; e++)
            if (b->p[e] == '\\')
                e++;
        e = e < b->n ? e + 1 : b->n;
    } else {
        while (e < b->n && !strchr(",}]", b->p[e]))
            e++;
    }
    erase(b, at, e - at);
    const char *v = values[rndn(sizeof values / sizeof values[0])];
    insert_at(b, at, v, strlen(v));
}

static void mutate(struct buf *b)
{
    size_t at = rndn(b->n + 1);
    switch (rndn(9)) {
    case 0: /* flip a bit */
        if (b->n)
            b->p[rndn(b->n)] ^= (char)(1u << rndn(8));
        break;
    case 1: /* overwrite with a special byte */
        if (b->n)
            b->p[rndn(b->n)] = special_bytes[rndn(sizeof special_bytes - 1)];
        break;
    case 2: { /* insert a special byte */
        char c = special_bytes[rndn(sizeof special_bytes - 1)];
        insert_at(b, at, &c, 1);
        break;
    }
    case 3: { /* insert a snippet */
        const char *s = snippets[rndn(sizeof snippets / sizeof snippets[0])];
        insert_at(b, at, s, strlen(s));
        break;
    }
    case 4: /* truncate */
        b->n = at;
        break;
    case 5: { /* duplicate a span */
        if (!b->n)
            break;
        size_t from = rndn(b->n), n = 1 + rndn(b->n - from < 40 ? b->n - from : 40);
        char tmp[40];
        memcpy(tmp, b->p + from, n);
        insert_at(b, at, tmp, n);
        break;
    }
    case 6: /* delete a span */
        if (at < b->n)
            erase(b, at, 1 + rndn(b->n - at < 8 ? b->n - at : 8));
        break;
    default: /* 7, 8: change a field's value (keeps the syntax mostly valid) */
        if (b->n)
            replace_value(b);
        break;
    }
}

static void test_mutations(void **state)
{
    (void)state;
    struct lines l;
    load_lines(&l);
    struct tally t = {0, 0, 0};
    struct buf b = {NULL, 0, 0};
    rng_state = 20240601;
    /* VEX_DIFF_ROUNDS raises the count for a longer soak by hand. */
    const char *env = getenv("VEX_DIFF_ROUNDS");
    const size_t rounds = env && atol(env) > 200000 ? (size_t)atol(env) : 200000;
    for (size_t r = 0; r < rounds; r++) {
        b.n = 0;
        int array = rndn(3) == 0;
        size_t k = 1 + rndn(3);
        if (array)
            put(&b, "[", 1);
        for (size_t i = 0; i < k; i++) {
            size_t li = rndn(l.n);
            if (i && array)
                put(&b, ",", 1);
            else if (i && rndn(4))
                put(&b, "\n", 1);
            else if (i)
                put(&b, "\r\n \t\n", 5); /* CRLF and a blank line */
            put(&b, l.v[li], l.len[li]);
        }
        if (array)
            put(&b, "]", 1);
        size_t muts = rndn(4); /* 0..3: some bodies stay valid */
        for (size_t m = 0; m < muts; m++)
            mutate(&b);
        check(b.p, b.n, (enum vex_body_format)(r % 3), &t);
    }
    free(b.p);
    free_lines(&l);
    print_message("mutations: %zu accepted, %zu bad_json, %zu invalid_event\n", t.ok, t.bad_json,
                  t.invalid);
    assert_true(t.ok > rounds / 10 && t.bad_json > rounds / 10 && t.invalid > rounds / 20);
}

/* Random reals as kbps: the decoder's short-cut must round exactly as
 * strtod (through jansson) does, bit for bit. */
static void test_reals(void **state)
{
    (void)state;
    struct tally t = {0, 0, 0};
    char body[256], num[96];
    rng_state = 7;
    for (int r = 0; r < 30000; r++) {
        size_t o = 0, nint = rndn(20), nfrac = rndn(3) ? rndn(20) : 0;
        if (rndn(8) == 0)
            num[o++] = '-';
        /* The integer part is 0 or has no leading zero. */
        num[o++] = (char)(nint ? '1' + rndn(9) : '0');
        for (size_t i = 1; i < nint; i++)
            num[o++] = (char)('0' + rndn(10));
        if (nfrac)
            num[o++] = '.';
        for (size_t i = 0; i < nfrac; i++)
            num[o++] = (char)('0' + rndn(10));
        if (rndn(2))
            o += (size_t)sprintf(num + o, "e%s%d", rndn(2) ? "-" : (rndn(2) ? "+" : ""),
                                 (int)rndn(r % 10 == 0 ? 330 : 30));
        num[o] = '\0';
        int n = snprintf(body, sizeof body, "{" EV ",\"kbps\":%s}", num);
        check(body, (size_t)n, VEX_BODY_NDJSON, &t);
    }
    assert_true(t.ok > 10000 && t.bad_json > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tricky),    cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_lengths),   cmocka_unit_test(test_depth),
        cmocka_unit_test(test_mutations), cmocka_unit_test(test_reals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
