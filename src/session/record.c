/* record.c - dimension names, state names, resolution against the clock and
 * the session score Q. */
#include "session/record.h"

#include <string.h>

static const char *const dim_names[VEX_DIM_COUNT] = {
    "cdn",     "platform", "player", "os",           "browser",       "device", "country",
    "asset",   "title",    "isp",    "subscriberid", "subscribertag", "ip",
};

const char *vex_dim_name(enum vex_dim d)
{
    return (d >= 0 && d < VEX_DIM_COUNT) ? dim_names[d] : "";
}

int vex_dim_lookup(const char *name, int len)
{
    for (int i = 0; i < VEX_DIM_COUNT; i++) {
        if ((int)strlen(dim_names[i]) == len && memcmp(dim_names[i], name, (size_t)len) == 0)
            return i;
    }
    return -1;
}

const char *vex_state_name(enum vex_state s)
{
    switch (s) {
    case VEX_STATE_STARTING:
        return "STARTING";
    case VEX_STATE_PLAYING:
        return "PLAYING";
    case VEX_STATE_REBUFFERING:
        return "REBUFFERING";
    case VEX_STATE_SEEKING:
        return "SEEKING";
    case VEX_STATE_PAUSED:
        return "PAUSED";
    case VEX_STATE_ENDED:
        return "ENDED";
    }
    return "?";
}

void vex_record_resolve(struct vex_record *r, int64_t now_ms, int64_t timeout_ms)
{
    r->closed = r->state == VEX_STATE_ENDED || now_ms - r->last_ts > timeout_ms;
    /* An `end` before video start and a timeout before video start are both
     * exits before video start; a fatal error before it is a VSF instead. */
    r->ebvs = r->closed && !r->played && !r->vsf;
}

double vex_record_q(const struct vex_record *r)
{
    if (r->vsf || r->vpf)
        return 0.0;
    double startup_s = (double)r->startup_ms / 1000.0;
    double s_start = 1.0;
    if (startup_s > 1.0) {
        s_start = 1.0 - 0.0625 * (startup_s - 1.0);
        if (s_start < 0.5)
            s_start = 0.5;
    }
    double total = (double)(r->play_ms + r->cirr_ms + r->vrt_ms);
    double ratio = total > 0 ? (double)(r->cirr_ms + r->vrt_ms) / total : 0.0;
    double s_smooth = 1.0 - 5.0 * ratio;
    if (s_smooth < 0)
        s_smooth = 0;
    double s_quality = 1.0;
    if (r->kbps_known_ms > 0) {
        double avg = r->kbps_ms / (double)r->kbps_known_ms;
        s_quality = 0.6 + 0.4 * (avg / 6000.0 < 1.0 ? avg / 6000.0 : 1.0);
    }
    return 100.0 * s_start * s_smooth * s_quality;
}
