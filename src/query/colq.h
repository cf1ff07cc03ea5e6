/* colq.h - the session score Q (SPEC 4.2) from a row's column values, for
 * the columnar path (colscan.c), which would otherwise rebuild a record per
 * session only to call vex_record_q.
 *
 * The operations, their types and their order are exactly those of
 * vex_record_q (src/session/record.c), so the two give bit-identical doubles
 * and the columnar and record paths keep agreeing; the unit test
 * test_colq.c checks that. Change both together. */
#ifndef VEX_QUERY_COLQ_H
#define VEX_QUERY_COLQ_H

#include <stdint.h>
#include <string.h>

#include "backend/backend.h"

/* vex_colq_pick is `c ? a : b` as bit masks: compilers turn a conditional
 * expression on doubles back into a branch, and a branch on startup times
 * around 1 s mispredicts half the time. */
static inline double vex_colq_pick(int c, double a, double b)
{
    uint64_t ua, ub, m = -(uint64_t)(c != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* vex_colq_score is vex_record_q of a session with flags f (VEX_COL_*) and
 * the given sums. Every branch of vex_record_q is a selection here: both
 * sides are computed (a division by zero on the side not taken is thrown
 * away), so a row costs the same whatever its values and the rows of a
 * block overlap in the processor. The selected values are those
 * vex_record_q computes, by the same operations. */
static inline double vex_colq_score(unsigned f, int64_t startup_ms, int64_t play_ms,
                                    int64_t cirr_ms, int64_t vrt_ms, double kbps_ms,
                                    int64_t kbps_known_ms)
{
    double startup_s = (double)startup_ms / 1000.0;
    double late = 1.0 - 0.0625 * (startup_s - 1.0);
    late = vex_colq_pick(late < 0.5, 0.5, late);
    double s_start = vex_colq_pick(startup_s > 1.0, late, 1.0);
    double total = (double)(play_ms + cirr_ms + vrt_ms);
    double ratio = vex_colq_pick(total > 0, (double)(cirr_ms + vrt_ms) / total, 0.0);
    double s_smooth = 1.0 - 5.0 * ratio;
    s_smooth = vex_colq_pick(s_smooth < 0, 0, s_smooth);
    double avg = kbps_ms / (double)kbps_known_ms;
    double frac = avg / 6000.0;
    double s_quality = 0.6 + 0.4 * vex_colq_pick(frac < 1.0, frac, 1.0);
    s_quality = vex_colq_pick(kbps_known_ms > 0, s_quality, 1.0);
    double q = 100.0 * s_start * s_smooth * s_quality;
    return vex_colq_pick((f & (VEX_COL_VSF | VEX_COL_VPF)) != 0, 0.0, q);
}

#endif
