/* record.h - the session record of SPEC section 3 and the dimension table.
 *
 * A record is what the sessionizer makes of one session's events and what the
 * store keeps and the query engine aggregates. String fields are borrowed:
 * whoever hands a record out says how long its strings live. */
#ifndef VEX_SESSION_RECORD_H
#define VEX_SESSION_RECORD_H

#include <stdint.h>

/* Dimensions carried by events, in the order of SPEC section 2. `streamtype`
 * is not stored: it is derived from `live`. */
enum vex_dim {
    VEX_DIM_CDN,
    VEX_DIM_PLATFORM,
    VEX_DIM_PLAYER,
    VEX_DIM_OS,
    VEX_DIM_BROWSER,
    VEX_DIM_DEVICE,
    VEX_DIM_COUNTRY,
    VEX_DIM_ASSET,
    VEX_DIM_TITLE,
    VEX_DIM_ISP,
    VEX_DIM_SUBSCRIBERID,
    VEX_DIM_SUBSCRIBERTAG,
    VEX_DIM_IP,
    VEX_DIM_COUNT
};

/* vex_dim_name returns the event field name of a dimension ("cdn", ...). */
const char *vex_dim_name(enum vex_dim d);

/* vex_dim_lookup returns the dimension named `name` (length len) or -1. */
int vex_dim_lookup(const char *name, int len);

/* States of the SPEC section 3 machine. */
enum vex_state {
    VEX_STATE_STARTING,
    VEX_STATE_PLAYING,
    VEX_STATE_REBUFFERING,
    VEX_STATE_SEEKING,
    VEX_STATE_PAUSED,
    VEX_STATE_ENDED
};

const char *vex_state_name(enum vex_state s);

struct vex_record {
    const char *sid;
    const char *dims[VEX_DIM_COUNT]; /* never NULL: "" when absent */
    int64_t attempt_ts;              /* ms */
    int64_t last_ts;                 /* ms */
    int64_t startup_ms;
    int64_t play_ms;
    int64_t cirr_ms;
    int64_t vrt_ms;
    double kbps_ms;        /* sum of kbps x ms over PLAYING time with a known bitrate */
    int64_t kbps_known_ms; /* that time */
    uint32_t rebuffers;
    uint32_t seeks;
    uint32_t warnings;
    uint8_t state; /* enum vex_state after the last applied event */
    uint8_t played;
    uint8_t vsf;
    uint8_t vpf;
    uint8_t errors;
    uint8_t live; /* streamtype: 1 live, 0 vod */
    /* Resolved against the server clock by vex_record_resolve(): */
    uint8_t closed;
    uint8_t ebvs;
};

/* vex_record_resolve sets `closed` and `ebvs` for the server time now_ms:
 * closed when ENDED or now_ms - last_ts > timeout_ms; a session closed by
 * timeout that never played is an EBVS; an `end` in STARTING is an EBVS (the
 * sessionizer records that as state ENDED with played 0 and vsf 0). */
void vex_record_resolve(struct vex_record *r, int64_t now_ms, int64_t timeout_ms);

/* vex_record_q returns the session score Q (model q1, SPEC 4.2). */
double vex_record_q(const struct vex_record *r);

#endif
