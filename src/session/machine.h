/* machine.h - the SPEC section 3 state machine of one session.
 *
 * A machine accumulates the record fields as events are applied in seq
 * order. It is a plain value: copying it forks the session's state, which the
 * sessionizer uses to replay out-of-order events from a known prefix. */
#ifndef VEX_SESSION_MACHINE_H
#define VEX_SESSION_MACHINE_H

#include <stdint.h>

#include "session/record.h"

struct vex_machine {
    int64_t attempt_ts;
    int64_t last_ts;
    int64_t startup_ms;
    int64_t play_ms;
    int64_t cirr_ms;
    int64_t vrt_ms;
    double kbps_ms;
    int64_t kbps_known_ms;
    double kbps; /* current bitrate, valid when has_kbps */
    uint32_t rebuffers;
    uint32_t seeks;
    uint32_t warnings;
    uint8_t state;
    uint8_t started; /* 1 once the first event was applied */
    uint8_t has_kbps;
    uint8_t played;
    uint8_t vsf;
    uint8_t vpf;
    uint8_t errors;
};

/* One event as the machine needs it. */
struct vex_machine_event {
    int64_t seq;
    int64_t ts;
    double kbps;
    uint8_t type; /* enum vex_event_type */
    uint8_t fatal;
    uint8_t has_kbps;
};

/* vex_machine_init puts m in STARTING with nothing applied. */
void vex_machine_init(struct vex_machine *m);

/* vex_machine_apply applies the next event in seq order (ignored once ENDED). */
void vex_machine_apply(struct vex_machine *m, const struct vex_machine_event *ev);

/* vex_machine_fill copies the accumulated fields into a record (dimensions,
 * sid, live, closed and ebvs are not touched). */
void vex_machine_fill(const struct vex_machine *m, struct vex_record *r);

#endif
