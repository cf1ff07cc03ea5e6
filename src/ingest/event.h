/* event.h - player events of SPEC section 2: decoding and validation of a
 * request body (JSON array or NDJSON) into a batch of events.
 *
 * The events' strings (sid, dims) are NOT NUL-terminated: use their lengths.
 * A string written without escapes points into the body itself, so the body
 * must outlive the batch; one with escapes is decoded into memory the batch
 * owns until vex_event_batch_destroy(). */
#ifndef VEX_INGEST_EVENT_H
#define VEX_INGEST_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "session/record.h"

enum vex_event_type {
    VEX_EV_START,
    VEX_EV_PLAYING,
    VEX_EV_BUFFERING,
    VEX_EV_SEEK,
    VEX_EV_PAUSE,
    VEX_EV_BITRATE,
    VEX_EV_ERROR,
    VEX_EV_HEARTBEAT,
    VEX_EV_END,
    VEX_EV_TYPE_COUNT
};

/* vex_event_type_lookup returns the type named s[0..len) or -1. */
int vex_event_type_lookup(const char *s, size_t len);
const char *vex_event_type_name(enum vex_event_type t);

struct vex_event {
    const char *sid;
    uint32_t sid_len;
    uint8_t type;     /* enum vex_event_type */
    uint8_t fatal;    /* meaningful on error; default 1 */
    uint8_t has_kbps;
    int8_t live;      /* -1 absent, 0 false, 1 true */
    int64_t seq;
    int64_t ts;
    double kbps;
    const char *dims[VEX_DIM_COUNT]; /* NULL when absent (or null / "") */
    uint16_t dim_len[VEX_DIM_COUNT];
};

struct vex_event_batch {
    struct vex_event *events;
    size_t count;
    void *doc; /* private: the decoded strings that had escapes (may be NULL) */
};

/* Where and why a body was rejected. */
struct vex_event_error {
    char code[32];   /* "bad_json" or "invalid_event" */
    long index;      /* 0-based event index, -1 for bad_json */
    char field[32];  /* the offending field, "" for bad_json */
    char message[256];
};

enum vex_body_format { VEX_BODY_JSON_ARRAY, VEX_BODY_NDJSON, VEX_BODY_AUTO };

/* vex_event_batch_parse decodes body[0..len) (strict JSON, RFC 8259; body
 * need not be NUL-terminated) and validates every event. On success fills
 * *out (caller destroys it; body must outlive it). On a bad body returns
 * VEX_EINVAL with *err naming the first bad event and field; VEX_ENOMEM. */
int vex_event_batch_parse(const char *body, size_t len, enum vex_body_format fmt,
                          struct vex_event_batch *out, struct vex_event_error *err);

void vex_event_batch_destroy(struct vex_event_batch *b);

#endif
