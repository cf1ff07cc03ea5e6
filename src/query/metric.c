/* metric.c - the metrics of SPEC 4.2: one table of names (aliases included),
 * JSON kinds and companions, and the formulas over per-group sums.
 *
 * Every metric is a function of plain sums (struct vex_acc) except the four
 * percentiles, which aggregate.c computes from value arrays. A ratio or mean
 * whose denominator is 0 is 0 (SPEC 4.2). docs/metrics.md describes the same
 * table for users. */
#include "query/query_int.h"

#include <string.h>

struct metric_def {
    const char *name;
    int id;
};

/* Names users may write in `metrics`, `orderby` and `qoefilter`. An alias maps
 * to the id of the metric it stands for and so brings the same companions
 * (SPEC 4.7). */
static const struct metric_def metric_names[] = {
    {"attempts", VEX_M_ATTEMPTS},
    {"viewercount", VEX_M_VIEWERCOUNT},
    {"endedplays", VEX_M_ENDEDPLAYS},
    {"errors", VEX_M_ERRORS},
    {"totalstartupfailure", VEX_M_TOTALSTARTUPFAILURE},
    {"ebvs", VEX_M_EBVS},
    {"buffcount", VEX_M_BUFFCOUNT},
    {"uniqueviewercount", VEX_M_UNIQUEVIEWERCOUNT},
    {"concurviewavg", VEX_M_CONCURVIEWAVG},
    {"startupabandonmentrate", VEX_M_STARTUPABANDONMENTRATE},
    {"failurerate", VEX_M_FAILURERATE},
    {"playbackfailurerate", VEX_M_PLAYBACKFAILURERATE},
    {"bufferingratio", VEX_M_BUFFERINGRATIO},
    {"sumbuffwaitcirr", VEX_M_SUMBUFFWAITCIRR},
    {"vrtbufferingratio", VEX_M_VRTBUFFERINGRATIO},
    {"rebufferfrequency", VEX_M_REBUFFERFREQUENCY},
    {"playdur", VEX_M_PLAYDUR},
    {"latency", VEX_M_LATENCY},
    {"median_latency", VEX_M_MEDIAN_LATENCY},
    {"p95_latency", VEX_M_P95_LATENCY},
    {"p99_latency", VEX_M_P99_LATENCY},
    {"avgbitrate", VEX_M_AVGBITRATE},
    {"qualityofexperience", VEX_M_QOE},
    {"median_qualityofexperience", VEX_M_MEDIAN_QOE},
    /* aliases */
    {"avg_latency", VEX_M_LATENCY},
    {"avg_qualityofexperience", VEX_M_QOE},
};

int vex_metric_lookup(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++) {
        if (strlen(metric_names[i].name) == len && memcmp(metric_names[i].name, s, len) == 0)
            return metric_names[i].id;
    }
    return -1;
}

const char *vex_metric_name(int m)
{
    /* The first VEX_M_COUNT entries are the canonical names in id order. */
    return m >= 0 && m < VEX_M_COUNT ? metric_names[m].name : "";
}

int vex_metric_is_count(int m)
{
    switch (m) {
    case VEX_M_ATTEMPTS:
    case VEX_M_VIEWERCOUNT:
    case VEX_M_ENDEDPLAYS:
    case VEX_M_ERRORS:
    case VEX_M_TOTALSTARTUPFAILURE:
    case VEX_M_EBVS:
    case VEX_M_BUFFCOUNT:
    case VEX_M_UNIQUEVIEWERCOUNT:
        return 1;
    default:
        return 0;
    }
}

int vex_metric_pct(int m)
{
    switch (m) {
    case VEX_M_MEDIAN_LATENCY:
        return VEX_PCT_MEDIAN_LATENCY;
    case VEX_M_P95_LATENCY:
        return VEX_PCT_P95_LATENCY;
    case VEX_M_P99_LATENCY:
        return VEX_PCT_P99_LATENCY;
    case VEX_M_MEDIAN_QOE:
        return VEX_PCT_MEDIAN_QOE;
    default:
        return -1;
    }
}

int vex_metric_companions(int m, int out[3])
{
    switch (m) {
    case VEX_M_STARTUPABANDONMENTRATE:
        out[0] = VEX_M_VIEWERCOUNT;
        out[1] = VEX_M_ATTEMPTS;
        out[2] = VEX_M_FAILURERATE;
        return 3;
    case VEX_M_BUFFERINGRATIO:
    case VEX_M_SUMBUFFWAITCIRR:
    case VEX_M_VRTBUFFERINGRATIO:
        out[0] = VEX_M_PLAYDUR;
        return 1;
    case VEX_M_LATENCY:
        out[0] = VEX_M_VIEWERCOUNT;
        return 1;
    case VEX_M_QOE:
        out[0] = VEX_M_VIEWERCOUNT;
        out[1] = VEX_M_ATTEMPTS;
        return 2;
    default:
        return 0;
    }
}

void vex_metric_acc_add(struct vex_acc *a, const struct vex_record *r, int want_q)
{
    a->attempts++;
    a->played += r->played != 0;
    a->errors += r->errors != 0;
    a->vsf += r->vsf != 0;
    a->vpf += r->vpf != 0;
    a->ebvs += r->ebvs != 0;
    a->rebuffers += r->rebuffers;
    a->play_ms += r->play_ms;
    a->cirr_ms += r->cirr_ms;
    a->vrt_ms += r->vrt_ms;
    if (r->played)
        a->startup_ms += r->startup_ms;
    a->kbps_ms += r->kbps_ms;
    a->kbps_known_ms += r->kbps_known_ms;
    if (want_q && (r->played || r->vsf)) {
        a->q_sum += vex_record_q(r);
        a->q_n++;
    }
}

void vex_metric_acc_merge(struct vex_acc *a, const struct vex_acc *b)
{
    a->attempts += b->attempts;
    a->played += b->played;
    a->endedplays += b->endedplays;
    a->errors += b->errors;
    a->vsf += b->vsf;
    a->vpf += b->vpf;
    a->ebvs += b->ebvs;
    a->q_n += b->q_n;
    a->rebuffers += b->rebuffers;
    a->play_ms += b->play_ms;
    a->cirr_ms += b->cirr_ms;
    a->vrt_ms += b->vrt_ms;
    a->startup_ms += b->startup_ms;
    a->kbps_known_ms += b->kbps_known_ms;
    a->overlap_ms += b->overlap_ms;
    a->kbps_ms += b->kbps_ms;
    a->q_sum += b->q_sum;
}

/* ratio is num / den, 0 when den is 0 (SPEC 4.2). */
static double ratio(double num, double den)
{
    return den != 0 ? num / den : 0.0;
}

double vex_metric_value(int m, const struct vex_acc *a, double window_ms)
{
    double buf = (double)(a->play_ms + a->cirr_ms + a->vrt_ms);
    switch (m) {
    case VEX_M_ATTEMPTS:
        return a->attempts;
    case VEX_M_VIEWERCOUNT:
        return a->played;
    case VEX_M_ENDEDPLAYS:
        return a->endedplays;
    case VEX_M_ERRORS:
        return a->errors;
    case VEX_M_TOTALSTARTUPFAILURE:
        return a->vsf;
    case VEX_M_EBVS:
        return a->ebvs;
    case VEX_M_BUFFCOUNT:
        return (double)a->rebuffers;
    case VEX_M_UNIQUEVIEWERCOUNT:
        return a->uniq;
    case VEX_M_CONCURVIEWAVG:
        return ratio((double)a->overlap_ms, window_ms);
    case VEX_M_STARTUPABANDONMENTRATE:
        return ratio(100.0 * a->ebvs, a->attempts);
    case VEX_M_FAILURERATE:
        return ratio(100.0 * a->vsf, a->attempts);
    case VEX_M_PLAYBACKFAILURERATE:
        return ratio(100.0 * a->vpf, a->played);
    case VEX_M_BUFFERINGRATIO:
        return ratio(100.0 * (double)(a->cirr_ms + a->vrt_ms), buf);
    case VEX_M_SUMBUFFWAITCIRR:
        return ratio(100.0 * (double)a->cirr_ms, buf);
    case VEX_M_VRTBUFFERINGRATIO:
        return ratio(100.0 * (double)a->vrt_ms, buf);
    case VEX_M_REBUFFERFREQUENCY:
        return ratio((double)a->rebuffers * 3600000.0, (double)a->play_ms);
    case VEX_M_PLAYDUR:
        return (double)a->play_ms / 1000.0;
    case VEX_M_LATENCY:
        return ratio((double)a->startup_ms / 1000.0, a->played);
    case VEX_M_AVGBITRATE:
        return ratio(a->kbps_ms, (double)a->kbps_known_ms);
    case VEX_M_QOE:
        return ratio(a->q_sum, a->q_n);
    default:
        /* Percentiles come from value arrays, not sums. */
        return 0.0;
    }
}

double vex_metric_session_value(int m, const struct vex_record *r, int64_t s_ms, int64_t e_ms)
{
    switch (m) {
    case VEX_M_MEDIAN_LATENCY:
    case VEX_M_P95_LATENCY:
    case VEX_M_P99_LATENCY:
        /* A percentile over one value is that value; over none it is 0. */
        return r->played ? (double)r->startup_ms / 1000.0 : 0.0;
    case VEX_M_MEDIAN_QOE:
        return (r->played || r->vsf) ? vex_record_q(r) : 0.0;
    default:
        break;
    }
    struct vex_acc a;
    memset(&a, 0, sizeof a);
    vex_metric_acc_add(&a, r, m == VEX_M_QOE);
    if (m == VEX_M_ENDEDPLAYS)
        a.endedplays = r->played && r->closed && r->last_ts >= s_ms && r->last_ts < e_ms;
    if (m == VEX_M_UNIQUEVIEWERCOUNT)
        a.uniq = r->dims[VEX_DIM_SUBSCRIBERID] && r->dims[VEX_DIM_SUBSCRIBERID][0] != '\0';
    if (m == VEX_M_CONCURVIEWAVG) {
        int64_t lo = r->attempt_ts > s_ms ? r->attempt_ts : s_ms;
        int64_t hi = r->last_ts < e_ms ? r->last_ts : e_ms;
        a.overlap_ms = hi > lo ? hi - lo : 0;
    }
    return vex_metric_value(m, &a, (double)(e_ms - s_ms));
}

/* ---- dimensions (SPEC 4.4) ---- */

int vex_qdim_lookup(const char *s, size_t len)
{
    if (len == 10 && memcmp(s, "streamtype", 10) == 0)
        return VEX_QDIM_STREAMTYPE;
    int d = vex_dim_lookup(s, (int)len);
    /* `ip` is a record field but not a dimension of 4.4. */
    return d == VEX_DIM_IP ? -1 : d;
}

const char *vex_qdim_name(int qdim)
{
    return qdim == VEX_QDIM_STREAMTYPE ? "streamtype" : vex_dim_name((enum vex_dim)qdim);
}
