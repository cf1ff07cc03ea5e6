/* event.c - decoding and validation of event bodies (SPEC section 2).
 *
 * The body is parsed with jansson; events keep pointers into the parsed
 * values, so the batch holds the documents until it is destroyed. A batch is
 * validated whole: the first bad event stops it and nothing of it is used. */
#include "ingest/event.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"

#define MAX_SAFE_INT 9007199254740992LL /* 2^53 */

static const char *const type_names[VEX_EV_TYPE_COUNT] = {
    "start", "playing", "buffering", "seek", "pause", "bitrate", "error", "heartbeat", "end",
};

int vex_event_type_lookup(const char *s, size_t len)
{
    for (int i = 0; i < VEX_EV_TYPE_COUNT; i++)
        if (strlen(type_names[i]) == len && memcmp(type_names[i], s, len) == 0)
            return i;
    return -1;
}

const char *vex_event_type_name(enum vex_event_type t)
{
    return (t >= 0 && t < VEX_EV_TYPE_COUNT) ? type_names[t] : "?";
}

/* The documents of a batch: one for a JSON array, one per line for NDJSON. */
struct docs {
    json_t **v;
    size_t n, cap;
};

static int docs_push(struct docs *d, json_t *j)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        json_t **v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return VEX_ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = j;
    return 0;
}

static void docs_free(struct docs *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        json_decref(d->v[i]);
    free(d->v);
    free(d);
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

/* A present value: neither absent, nor null, nor an empty string. */
static json_t *present(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v) && json_string_length(v) == 0)
        return NULL;
    return v;
}

static int get_int(json_t *obj, const char *key, int64_t *out, long idx,
                   struct vex_event_error *err)
{
    json_t *v = present(obj, key);
    if (!v)
        return fail(err, "invalid_event", idx, key, "required field '%s' is missing", key);
    if (!json_is_integer(v))
        return fail(err, "invalid_event", idx, key,
                    "field '%s' must be an integer written without fraction or exponent", key);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > MAX_SAFE_INT)
        return fail(err, "invalid_event", idx, key, "field '%s' must be in 0..2^53", key);
    *out = x;
    return 0;
}

static int decode_event(json_t *obj, long idx, struct vex_event *ev, struct vex_event_error *err)
{
    memset(ev, 0, sizeof *ev);
    ev->fatal = 1;
    ev->live = -1;
    if (!json_is_object(obj))
        return fail(err, "invalid_event", idx, "", "event must be a JSON object%s", "");

    json_t *v = present(obj, "sid");
    if (!v)
        return fail(err, "invalid_event", idx, "sid", "required field '%s' is missing", "sid");
    if (!json_is_string(v))
        return fail(err, "invalid_event", idx, "sid", "field '%s' must be a string", "sid");
    if (json_string_length(v) > 128)
        return fail(err, "invalid_event", idx, "sid", "field '%s' must be 1..128 bytes", "sid");
    ev->sid = json_string_value(v);
    ev->sid_len = (uint32_t)json_string_length(v);

    int rc = get_int(obj, "seq", &ev->seq, idx, err);
    if (rc)
        return rc;
    rc = get_int(obj, "ts", &ev->ts, idx, err);
    if (rc)
        return rc;

    v = present(obj, "type");
    if (!v)
        return fail(err, "invalid_event", idx, "type", "required field '%s' is missing", "type");
    int t = json_is_string(v) ? vex_event_type_lookup(json_string_value(v), json_string_length(v))
                              : -1;
    if (t < 0)
        return fail(err, "invalid_event", idx, "type",
                    "field 'type' must be one of start, playing, buffering, seek, pause, bitrate, "
                    "error, heartbeat, end%s",
                    "");
    ev->type = (uint8_t)t;

    if ((v = present(obj, "kbps"))) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0) || !isfinite(json_number_value(v)))
            return fail(err, "invalid_event", idx, "kbps",
                        "field '%s' must be a number >= 0", "kbps");
        ev->has_kbps = 1;
        ev->kbps = json_number_value(v);
    }
    if ((v = present(obj, "fatal"))) {
        if (!json_is_boolean(v))
            return fail(err, "invalid_event", idx, "fatal", "field '%s' must be a boolean",
                        "fatal");
        ev->fatal = json_is_true(v);
    }
    if ((v = present(obj, "live"))) {
        if (!json_is_boolean(v))
            return fail(err, "invalid_event", idx, "live", "field '%s' must be a boolean", "live");
        ev->live = json_is_true(v) ? 1 : 0;
    }
    static const char *const text_fields[] = {"code", "msg"};
    for (size_t i = 0; i < 2; i++) {
        if ((v = present(obj, text_fields[i])) && !json_is_string(v))
            return fail(err, "invalid_event", idx, text_fields[i], "field '%s' must be a string",
                        text_fields[i]);
    }
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        const char *name = vex_dim_name((enum vex_dim)d);
        if (!(v = present(obj, name)))
            continue;
        if (!json_is_string(v))
            return fail(err, "invalid_event", idx, name, "field '%s' must be a string", name);
        if (json_string_length(v) > 256)
            return fail(err, "invalid_event", idx, name, "field '%s' must be at most 256 bytes",
                        name);
        ev->dims[d] = json_string_value(v);
        ev->dim_len[d] = (uint16_t)json_string_length(v);
    }
    return 0;
}

static int push_events_of(json_t *doc, struct vex_event **evs, size_t *n, size_t *cap,
                          struct vex_event_error *err)
{
    size_t add = json_is_array(doc) ? json_array_size(doc) : 1;
    if (*n + add > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *n + add)
            c *= 2;
        struct vex_event *e = realloc(*evs, c * sizeof *e);
        if (!e)
            return VEX_ENOMEM;
        *evs = e;
        *cap = c;
    }
    if (json_is_array(doc)) {
        for (size_t i = 0; i < add; i++) {
            int rc = decode_event(json_array_get(doc, i), (long)*n, &(*evs)[*n], err);
            if (rc)
                return rc;
            (*n)++;
        }
        return 0;
    }
    int rc = decode_event(doc, (long)*n, &(*evs)[*n], err);
    if (rc)
        return rc;
    (*n)++;
    return 0;
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

int vex_event_batch_parse(const char *body, size_t len, enum vex_body_format fmt,
                          struct vex_event_batch *out, struct vex_event_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    err->index = -1;
    struct docs *docs = calloc(1, sizeof *docs);
    struct vex_event *evs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!docs)
        return VEX_ENOMEM;

    size_t first = 0;
    while (first < len && (body[first] == ' ' || body[first] == '\t' || body[first] == '\r' ||
                           body[first] == '\n'))
        first++;
    if (fmt == VEX_BODY_AUTO)
        fmt = (first < len && body[first] == '[') ? VEX_BODY_JSON_ARRAY : VEX_BODY_NDJSON;

    if (fmt == VEX_BODY_JSON_ARRAY) {
        json_error_t jerr;
        json_t *doc = json_loadb(body, len, 0, &jerr);
        if (!doc) {
            rc = fail(err, "bad_json", -1, "", "body is not valid JSON: %s", jerr.text);
            goto done;
        }
        if ((rc = docs_push(docs, doc))) {
            json_decref(doc);
            goto done;
        }
        if (!json_is_array(doc) && !json_is_object(doc)) {
            rc = fail(err, "invalid_event", 0, "", "body must be a JSON array of events%s", "");
            goto done;
        }
        rc = push_events_of(doc, &evs, &n, &cap, err);
        goto done;
    }

    size_t pos = 0, line = 0;
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        line++;
        if (!is_blank(body + pos, end - pos)) {
            json_error_t jerr;
            json_t *doc = json_loadb(body + pos, end - pos, 0, &jerr);
            if (!doc) {
                char detail[200];
                snprintf(detail, sizeof detail, "line %zu: %s", line, jerr.text);
                rc = fail(err, "bad_json", -1, "", "body is not valid NDJSON: %s", detail);
                goto done;
            }
            if ((rc = docs_push(docs, doc))) {
                json_decref(doc);
                goto done;
            }
            if (!json_is_object(doc)) {
                rc = fail(err, "invalid_event", (long)n, "", "each line must be one event object%s",
                          "");
                goto done;
            }
            if ((rc = push_events_of(doc, &evs, &n, &cap, err)))
                goto done;
        }
        pos = end + 1;
    }

done:
    if (rc) {
        free(evs);
        docs_free(docs);
        return rc;
    }
    out->events = evs;
    out->count = n;
    out->doc = docs;
    return 0;
}

void vex_event_batch_destroy(struct vex_event_batch *b)
{
    if (!b)
        return;
    free(b->events);
    docs_free(b->doc);
    memset(b, 0, sizeof *b);
}
