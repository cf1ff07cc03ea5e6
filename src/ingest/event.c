/* event.c - decoding and validation of event bodies (SPEC section 2).
 *
 * A single pass over the body with the strict scanner of json_scan.h: each
 * event object is read field by field, the fields vex knows are remembered
 * (the last copy of a duplicated key wins, as in jansson) and checked once
 * the object is closed, and everything else is validated and skipped. A
 * string without escapes stays where it is in the body; one with escapes is
 * decoded into the batch's arena. So the common event costs no allocation at
 * all; the events array grows geometrically.
 *
 * What is accepted and rejected, and which event and field an error names,
 * is exactly what the jansson decoder this replaces said (checked by
 * tests/unit/ingest/test_event_diff.c): in a JSON array body every byte is
 * parsed before any event is judged, so a syntax error anywhere beats an
 * invalid event; NDJSON is judged line by line. A batch is validated whole:
 * the first bad event stops it and nothing of it is used. */
#include "ingest/event.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ingest/json_scan.h"

#define MAX_SAFE_INT 9007199254740992LL /* 2^53 */
#define ARENA_CHUNK 4096

static const char *const type_names[VEX_EV_TYPE_COUNT] = {
    "start", "playing", "buffering", "seek", "pause", "bitrate", "error", "heartbeat", "end",
};

/* Every event goes through here, so the length picks the candidates. */
int vex_event_type_lookup(const char *s, size_t len)
{
#define IS(lit) (memcmp(s, lit, sizeof lit - 1) == 0)
    switch (len) {
    case 3:
        return IS("end") ? VEX_EV_END : -1;
    case 4:
        return IS("seek") ? VEX_EV_SEEK : -1;
    case 5:
        return IS("start")   ? VEX_EV_START
               : IS("pause") ? VEX_EV_PAUSE
               : IS("error") ? VEX_EV_ERROR
                             : -1;
    case 7:
        return IS("playing") ? VEX_EV_PLAYING : IS("bitrate") ? VEX_EV_BITRATE : -1;
    case 9:
        return IS("buffering") ? VEX_EV_BUFFERING : IS("heartbeat") ? VEX_EV_HEARTBEAT : -1;
    default:
        return -1;
    }
#undef IS
}

const char *vex_event_type_name(enum vex_event_type t)
{
    return (t >= 0 && t < VEX_EV_TYPE_COUNT) ? type_names[t] : "?";
}

/* The batch's private part (vex_event_batch.doc): the chunks that hold the
 * decoded strings with escapes, newest first. NULL while none was needed. */
struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
};

static char *arena_alloc(struct chunk **head, size_t n)
{
    struct chunk *c = *head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = *head;
        c->used = 0;
        c->cap = cap;
        *head = c;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

static void arena_free(struct chunk *c)
{
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* The fields vex knows, in the order they are checked. */
enum field {
    F_SID,
    F_SEQ,
    F_TS,
    F_TYPE,
    F_KBPS,
    F_FATAL,
    F_LIVE,
    F_CODE,
    F_MSG,
    F_DIM0,
    F_COUNT = F_DIM0 + VEX_DIM_COUNT
};

enum kind { K_ABSENT, K_NULL, K_FALSE, K_TRUE, K_INT, K_REAL, K_STR, K_OTHER };

/* The last value seen for each known field of the object being read. */
struct fields {
    uint8_t kind[F_COUNT];
    struct vex_json_str str[F_COUNT];
    struct vex_json_num num[F_COUNT];
};

/* The field a key names, or -1. Keys are compared after unescaping. */
static int field_of(const char *k, size_t n)
{
#define IS(lit) (memcmp(k, lit, sizeof lit - 1) == 0)
    switch (n) {
    case 2:
        return IS("ts")   ? F_TS
               : IS("os") ? F_DIM0 + VEX_DIM_OS
               : IS("ip") ? F_DIM0 + VEX_DIM_IP
                          : -1;
    case 3:
        return IS("sid")   ? F_SID
               : IS("seq") ? F_SEQ
               : IS("cdn") ? F_DIM0 + VEX_DIM_CDN
               : IS("isp") ? F_DIM0 + VEX_DIM_ISP
               : IS("msg") ? F_MSG
                           : -1;
    case 4:
        return IS("type")   ? F_TYPE
               : IS("kbps") ? F_KBPS
               : IS("live") ? F_LIVE
               : IS("code") ? F_CODE
                            : -1;
    case 5:
        return IS("fatal")   ? F_FATAL
               : IS("asset") ? F_DIM0 + VEX_DIM_ASSET
               : IS("title") ? F_DIM0 + VEX_DIM_TITLE
                             : -1;
    case 6:
        return IS("player") ? F_DIM0 + VEX_DIM_PLAYER : IS("device") ? F_DIM0 + VEX_DIM_DEVICE : -1;
    case 7:
        return IS("browser")   ? F_DIM0 + VEX_DIM_BROWSER
               : IS("country") ? F_DIM0 + VEX_DIM_COUNTRY
                               : -1;
    case 8:
        return IS("platform") ? F_DIM0 + VEX_DIM_PLATFORM : -1;
    case 12:
        return IS("subscriberid") ? F_DIM0 + VEX_DIM_SUBSCRIBERID : -1;
    case 13:
        return IS("subscribertag") ? F_DIM0 + VEX_DIM_SUBSCRIBERTAG : -1;
    default:
        return -1;
    }
#undef IS
}

static int key_field(const struct vex_json_str *k)
{
    if (!k->escaped)
        return field_of(k->raw, k->raw_len);
    /* Known names are at most 13 bytes, each written in at most 6 (\uXXXX),
     * so a raw key longer than 13 * 6 bytes cannot name one. */
    char buf[13 * 6];
    if (k->raw_len > sizeof buf)
        return -1;
    return field_of(buf, vex_json_scan_unescape(k->raw, k->raw_len, buf));
}

/* Reads the object at c->p (depth `depth`) into *f. */
static int read_object(struct vex_json_cur *c, int depth, struct fields *f)
{
    int rc;
    struct vex_json_str key, tmp_s;
    struct vex_json_num tmp_n;
    memset(f->kind, K_ABSENT, sizeof f->kind);
    c->p++;
    vex_json_scan_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        if (c->p == c->end || *c->p != '"')
            return vex_json_scan_fail(c, c->p, "string expected as an object key");
        if ((rc = vex_json_scan_string(c, &key)))
            return rc;
        int fi = key_field(&key);
        vex_json_scan_ws(c);
        if (c->p == c->end || *c->p != ':')
            return vex_json_scan_fail(c, c->p, "':' expected");
        c->p++;
        vex_json_scan_ws(c);
        if (c->p == c->end)
            return vex_json_scan_fail(c, c->p, "unexpected end of input");
        uint8_t kind;
        switch (*c->p) {
        case '"':
            rc = vex_json_scan_string(c, fi >= 0 ? &f->str[fi] : &tmp_s);
            kind = K_STR;
            break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': {
            struct vex_json_num *n = fi >= 0 ? &f->num[fi] : &tmp_n;
            rc = vex_json_scan_number(c, n);
            kind = n->is_int ? K_INT : K_REAL;
            break;
        }
        case 't':
            rc = vex_json_scan_literal(c, "true", 4);
            kind = K_TRUE;
            break;
        case 'f':
            rc = vex_json_scan_literal(c, "false", 5);
            kind = K_FALSE;
            break;
        case 'n':
            rc = vex_json_scan_literal(c, "null", 4);
            kind = K_NULL;
            break;
        default:
            rc = vex_json_scan_value(c, depth + 1);
            kind = K_OTHER;
            break;
        }
        if (rc)
            return rc;
        if (fi >= 0)
            f->kind[fi] = kind;
        vex_json_scan_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            vex_json_scan_ws(c);
            continue;
        }
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return 0;
        }
        return vex_json_scan_fail(c, c->p, "',' or '}' expected");
    }
}

static int fail(struct vex_event_error *err, const char *code, long index, const char *field,
                const char *fmt, const char *detail)
{
    snprintf(err->code, sizeof err->code, "%s", code);
    err->index = index;
    snprintf(err->field, sizeof err->field, "%s", field);
    snprintf(err->message, sizeof err->message, fmt, detail);
    return VEX_EINVAL;
}

/* A present value: neither absent, nor null, nor an empty string. An escape
 * always decodes to at least one byte (\u0000 is refused), so a string is
 * empty exactly when its raw text is. */
static int present(const struct fields *f, int fi)
{
    return f->kind[fi] != K_ABSENT && f->kind[fi] != K_NULL &&
           !(f->kind[fi] == K_STR && f->str[fi].raw_len == 0);
}

/* A string with escapes, unescaped into the arena. */
static int unescape_text(const struct vex_json_str *s, struct chunk **arena, const char **out,
                         size_t *len)
{
    char *dst = arena_alloc(arena, s->raw_len);
    if (!dst)
        return VEX_ENOMEM;
    *len = vex_json_scan_unescape(s->raw, s->raw_len, dst);
    *out = dst;
    return 0;
}

/* The decoded bytes of a string field: in place, or unescaped into the arena. */
static inline int text_of(const struct vex_json_str *s, struct chunk **arena, const char **out,
                          size_t *len)
{
    if (s->escaped)
        return unescape_text(s, arena, out, len);
    *out = s->raw;
    *len = s->raw_len;
    return 0;
}

static int get_int(const struct fields *f, int fi, const char *key, int64_t *out, long idx,
                   struct vex_event_error *err)
{
    if (!present(f, fi))
        return fail(err, "invalid_event", idx, key, "required field '%s' is missing", key);
    if (f->kind[fi] != K_INT)
        return fail(err, "invalid_event", idx, key,
                    "field '%s' must be an integer written without fraction or exponent", key);
    int64_t x = f->num[fi].i;
    if (x < 0 || x > MAX_SAFE_INT)
        return fail(err, "invalid_event", idx, key, "field '%s' must be in 0..2^53", key);
    *out = x;
    return 0;
}

/* Checks the object read into *f, in the order of SPEC section 2's table,
 * and fills *ev. VEX_EINVAL names the first bad field; VEX_ENOMEM. */
static int check_event(const struct fields *f, long idx, struct chunk **arena, struct vex_event *ev,
                       struct vex_event_error *err)
{
    const char *s;
    size_t len;
    int rc;
    memset(ev, 0, sizeof *ev);
    ev->fatal = 1;
    ev->live = -1;

    if (!present(f, F_SID))
        return fail(err, "invalid_event", idx, "sid", "required field '%s' is missing", "sid");
    if (f->kind[F_SID] != K_STR)
        return fail(err, "invalid_event", idx, "sid", "field '%s' must be a string", "sid");
    if ((rc = text_of(&f->str[F_SID], arena, &s, &len)))
        return rc;
    if (len > 128)
        return fail(err, "invalid_event", idx, "sid", "field '%s' must be 1..128 bytes", "sid");
    ev->sid = s;
    ev->sid_len = (uint32_t)len;

    if ((rc = get_int(f, F_SEQ, "seq", &ev->seq, idx, err)))
        return rc;
    if ((rc = get_int(f, F_TS, "ts", &ev->ts, idx, err)))
        return rc;

    if (!present(f, F_TYPE))
        return fail(err, "invalid_event", idx, "type", "required field '%s' is missing", "type");
    int t = -1;
    if (f->kind[F_TYPE] == K_STR) {
        if ((rc = text_of(&f->str[F_TYPE], arena, &s, &len)))
            return rc;
        t = vex_event_type_lookup(s, len);
    }
    if (t < 0)
        return fail(err, "invalid_event", idx, "type",
                    "field 'type' must be one of start, playing, buffering, seek, pause, bitrate, "
                    "error, heartbeat, end%s",
                    "");
    ev->type = (uint8_t)t;

    if (present(f, F_KBPS)) {
        /* Reals never overflow here (the scanner refuses that), so a number
         * is finite and NaN cannot occur. */
        uint8_t k = f->kind[F_KBPS];
        if ((k != K_INT && k != K_REAL) || !(f->num[F_KBPS].d >= 0))
            return fail(err, "invalid_event", idx, "kbps", "field '%s' must be a number >= 0",
                        "kbps");
        ev->has_kbps = 1;
        ev->kbps = f->num[F_KBPS].d;
    }
    if (present(f, F_FATAL)) {
        if (f->kind[F_FATAL] != K_TRUE && f->kind[F_FATAL] != K_FALSE)
            return fail(err, "invalid_event", idx, "fatal", "field '%s' must be a boolean",
                        "fatal");
        ev->fatal = f->kind[F_FATAL] == K_TRUE;
    }
    if (present(f, F_LIVE)) {
        if (f->kind[F_LIVE] != K_TRUE && f->kind[F_LIVE] != K_FALSE)
            return fail(err, "invalid_event", idx, "live", "field '%s' must be a boolean", "live");
        ev->live = f->kind[F_LIVE] == K_TRUE ? 1 : 0;
    }
    if (present(f, F_CODE) && f->kind[F_CODE] != K_STR)
        return fail(err, "invalid_event", idx, "code", "field '%s' must be a string", "code");
    if (present(f, F_MSG) && f->kind[F_MSG] != K_STR)
        return fail(err, "invalid_event", idx, "msg", "field '%s' must be a string", "msg");
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        int fi = F_DIM0 + d;
        if (!present(f, fi))
            continue;
        const char *name = vex_dim_name((enum vex_dim)d);
        if (f->kind[fi] != K_STR)
            return fail(err, "invalid_event", idx, name, "field '%s' must be a string", name);
        if ((rc = text_of(&f->str[fi], arena, &s, &len)))
            return rc;
        if (len > 256)
            return fail(err, "invalid_event", idx, name, "field '%s' must be at most 256 bytes",
                        name);
        ev->dims[d] = s;
        ev->dim_len[d] = (uint16_t)len;
    }
    return 0;
}

/* The state of one vex_event_batch_parse call. */
struct parse {
    struct vex_event *evs;
    size_t n, cap;
    struct chunk *arena;
    struct fields f;
    struct vex_event_error *err;
};

/* The slot of the next event, growing the array geometrically. */
static struct vex_event *next_slot(struct parse *ps)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap * 2;
        struct vex_event *e = realloc(ps->evs, cap * sizeof *e);
        if (!e)
            return NULL;
        ps->evs = e;
        ps->cap = cap;
    }
    return &ps->evs[ps->n];
}

/* Reads the event object at c->p and, when it is valid, appends it. */
static int take_event(struct parse *ps, struct vex_json_cur *c, int depth, long idx, int *invalid)
{
    int rc = read_object(c, depth, &ps->f);
    if (rc)
        return rc;
    struct vex_event *ev = next_slot(ps);
    if (!ev)
        return VEX_ENOMEM;
    rc = check_event(&ps->f, idx, &ps->arena, ev, ps->err);
    if (rc == VEX_EINVAL) {
        *invalid = 1;
        return 0;
    }
    if (rc)
        return rc;
    ps->n++;
    return 0;
}

static int bad_json(struct vex_event_error *err, const struct vex_json_cur *c, const char *base,
                    size_t line)
{
    char detail[200];
    const char *why = c->why ? c->why : "invalid JSON";
    if (line)
        snprintf(detail, sizeof detail, "line %zu: %s at column %zu", line, why,
                 (size_t)(c->at - base) + 1);
    else
        snprintf(detail, sizeof detail, "%s at byte %zu", why, (size_t)(c->at - base));
    return fail(err, "bad_json", -1, "",
                line ? "body is not valid NDJSON: %s" : "body is not valid JSON: %s", detail);
}

/* The whole body is one JSON value: an array of events or a single event.
 * jansson parsed all of it before looking at any event, so after the first
 * invalid event the rest is only checked for syntax, and a syntax error still
 * wins. Returns 0 with *invalid set when an event was invalid. */
static int parse_document(struct parse *ps, const char *body, size_t len, int *invalid)
{
    struct vex_json_cur c = {body, body + len, NULL, NULL};
    int rc = 0;
    vex_json_scan_ws(&c);
    if (c.p < c.end && *c.p == '{') {
        rc = take_event(ps, &c, 1, 0, invalid);
    } else if (c.p < c.end && *c.p == '[') {
        c.p++;
        vex_json_scan_ws(&c);
        if (c.p < c.end && *c.p == ']') {
            c.p++;
        } else {
            for (long i = 0;; i++) {
                if (*invalid)
                    rc = vex_json_scan_value(&c, 2);
                else if (c.p < c.end && *c.p == '{')
                    rc = take_event(ps, &c, 2, i, invalid);
                else if ((rc = vex_json_scan_value(&c, 2)) == 0) {
                    fail(ps->err, "invalid_event", i, "", "event must be a JSON object%s", "");
                    *invalid = 1;
                }
                if (rc)
                    break;
                vex_json_scan_ws(&c);
                if (c.p < c.end && *c.p == ',') {
                    c.p++;
                    vex_json_scan_ws(&c);
                    continue;
                }
                if (c.p < c.end && *c.p == ']') {
                    c.p++;
                    break;
                }
                rc = vex_json_scan_fail(&c, c.p, "',' or ']' expected");
                break;
            }
        }
    } else {
        rc = vex_json_scan_fail(&c, c.p, "'[' or '{' expected");
    }
    if (!rc) {
        vex_json_scan_ws(&c);
        if (c.p != c.end)
            rc = vex_json_scan_fail(&c, c.p, "end of input expected after the value");
    }
    if (rc == VEX_EINVAL) {
        *invalid = 0;
        return bad_json(ps->err, &c, body, 0);
    }
    return rc;
}

/* One value per line, blank lines (spaces, tabs, CRs) skipped. Each line is
 * judged before the next is read, as the jansson decoder did. */
static int parse_lines(struct parse *ps, const char *body, size_t len, int *invalid)
{
    size_t pos = 0, line = 0;
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        struct vex_json_cur c = {body + pos, body + end, NULL, NULL};
        int rc = 0, array = 0;
        line++;
        vex_json_scan_ws(&c);
        if (c.p < c.end) {
            if (*c.p == '{') {
                rc = take_event(ps, &c, 1, (long)ps->n, invalid);
            } else if (*c.p == '[') {
                array = 1;
                rc = vex_json_scan_value(&c, 1);
            } else {
                rc = vex_json_scan_fail(&c, c.p, "'[' or '{' expected");
            }
            if (!rc) {
                vex_json_scan_ws(&c);
                if (c.p != c.end)
                    rc = vex_json_scan_fail(&c, c.p, "end of line expected after the value");
            }
            if (rc == VEX_EINVAL) {
                *invalid = 0;
                return bad_json(ps->err, &c, body + pos, line);
            }
            if (rc || *invalid)
                return rc;
            if (array) {
                fail(ps->err, "invalid_event", (long)ps->n, "",
                     "each line must be one event object%s", "");
                *invalid = 1;
                return 0;
            }
        }
        pos = end + 1;
    }
    return 0;
}

int vex_event_batch_parse(const char *body, size_t len, enum vex_body_format fmt,
                          struct vex_event_batch *out, struct vex_event_error *err)
{
    struct parse *ps;
    int rc, invalid = 0;
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    err->index = -1;

    size_t first = 0;
    while (first < len && (body[first] == ' ' || body[first] == '\t' || body[first] == '\r' ||
                           body[first] == '\n'))
        first++;
    if (fmt == VEX_BODY_AUTO)
        fmt = (first < len && body[first] == '[') ? VEX_BODY_JSON_ARRAY : VEX_BODY_NDJSON;

    /* The parse state holds the per-object field table (a few hundred bytes),
     * which is better on the heap than on a server thread's stack. */
    ps = malloc(sizeof *ps);
    if (!ps)
        return VEX_ENOMEM;
    memset(ps, 0, offsetof(struct parse, f));
    ps->err = err;
    /* A first guess of the event count (about 64 bytes an event), so that a
     * typical body needs no regrowth. */
    ps->cap = len / 64 + 8;
    if (ps->cap > 65536)
        ps->cap = 65536;
    ps->evs = malloc(ps->cap * sizeof *ps->evs);
    if (!ps->evs) {
        rc = VEX_ENOMEM;
        goto fail;
    }
    if (fmt == VEX_BODY_JSON_ARRAY)
        rc = parse_document(ps, body, len, &invalid);
    else
        rc = parse_lines(ps, body, len, &invalid);
    if (!rc && invalid)
        rc = VEX_EINVAL;
    if (rc)
        goto fail;
    out->events = ps->evs;
    out->count = ps->n;
    out->doc = ps->arena;
    free(ps);
    return 0;

fail:
    free(ps->evs);
    arena_free(ps->arena);
    free(ps);
    return rc;
}

void vex_event_batch_destroy(struct vex_event_batch *b)
{
    if (!b)
        return;
    free(b->events);
    arena_free(b->doc);
    memset(b, 0, sizeof *b);
}
