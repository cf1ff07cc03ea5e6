/* machine.c - SPEC section 3: states, transitions and time credit. */
#include "session/machine.h"

#include <string.h>

#include "ingest/event.h"

void vex_machine_init(struct vex_machine *m)
{
    memset(m, 0, sizeof *m);
    m->state = VEX_STATE_STARTING;
}

/* Time between two consecutive events goes to the state in force after the
 * earlier one; PLAYING time also feeds the bitrate average when the current
 * bitrate is known. STARTING time needs no credit: startup_ms is measured
 * from attempt_ts when PLAYING is first entered. */
static void credit(struct vex_machine *m, int64_t dt)
{
    switch (m->state) {
    case VEX_STATE_PLAYING:
        m->play_ms += dt;
        if (m->has_kbps) {
            m->kbps_ms += m->kbps * (double)dt;
            m->kbps_known_ms += dt;
        }
        break;
    case VEX_STATE_REBUFFERING:
        m->cirr_ms += dt;
        break;
    case VEX_STATE_SEEKING:
        m->vrt_ms += dt;
        break;
    default:
        break;
    }
}

static void enter(struct vex_machine *m, enum vex_state s, int64_t ts)
{
    if (s == VEX_STATE_PLAYING && !m->played) {
        m->played = 1;
        m->startup_ms = ts - m->attempt_ts > 0 ? ts - m->attempt_ts : 0;
    }
    if (s == VEX_STATE_REBUFFERING && m->state != VEX_STATE_REBUFFERING)
        m->rebuffers++;
    if (s == VEX_STATE_SEEKING && m->state != VEX_STATE_SEEKING)
        m->seeks++;
    m->state = (uint8_t)s;
}

void vex_machine_apply(struct vex_machine *m, const struct vex_machine_event *ev)
{
    if (m->state == VEX_STATE_ENDED)
        return;
    if (!m->started) {
        m->started = 1;
        m->attempt_ts = ev->ts;
    } else {
        int64_t dt = ev->ts - m->last_ts;
        credit(m, dt > 0 ? dt : 0);
    }
    m->last_ts = ev->ts;
    if (ev->has_kbps) {
        m->has_kbps = 1;
        m->kbps = ev->kbps;
    }

    enum vex_state s = (enum vex_state)m->state;
    switch (ev->type) {
    case VEX_EV_PLAYING:
        enter(m, VEX_STATE_PLAYING, ev->ts);
        break;
    case VEX_EV_BUFFERING:
        if (s == VEX_STATE_PLAYING)
            enter(m, VEX_STATE_REBUFFERING, ev->ts);
        break;
    case VEX_EV_SEEK:
        if (s != VEX_STATE_STARTING)
            enter(m, VEX_STATE_SEEKING, ev->ts);
        break;
    case VEX_EV_PAUSE:
        if (s != VEX_STATE_STARTING)
            enter(m, VEX_STATE_PAUSED, ev->ts);
        break;
    case VEX_EV_END:
        enter(m, VEX_STATE_ENDED, ev->ts);
        break;
    case VEX_EV_ERROR:
        if (!ev->fatal) {
            m->warnings++;
        } else {
            if (s == VEX_STATE_STARTING)
                m->vsf = 1;
            else
                m->vpf = 1;
            m->errors = 1;
            enter(m, VEX_STATE_ENDED, ev->ts);
        }
        break;
    default: /* start, heartbeat, bitrate keep the state */
        break;
    }
}

void vex_machine_fill(const struct vex_machine *m, struct vex_record *r)
{
    r->attempt_ts = m->attempt_ts;
    r->last_ts = m->last_ts;
    r->startup_ms = m->startup_ms;
    r->play_ms = m->play_ms;
    r->cirr_ms = m->cirr_ms;
    r->vrt_ms = m->vrt_ms;
    r->kbps_ms = m->kbps_ms;
    r->kbps_known_ms = m->kbps_known_ms;
    r->rebuffers = m->rebuffers;
    r->seeks = m->seeks;
    r->warnings = m->warnings;
    r->state = m->state;
    r->played = m->played;
    r->vsf = m->vsf;
    r->vpf = m->vpf;
    r->errors = m->errors;
}
