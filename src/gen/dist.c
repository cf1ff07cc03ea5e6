/* dist.c - weighted choices, Zipf shares and diurnal start times (see dist.h). */
#include "gen/dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

uint32_t vex_dist_pick(const double *cum, uint32_t n, double u)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (u < cum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void vex_dist_make_cum(double *cum, const double *w, uint32_t n)
{
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    double acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += w[i];
        cum[i] = acc / total;
    }
    cum[n - 1] = 1.0;
}

void vex_dist_make_zipf(double *cum, uint32_t n, double s)
{
    double acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += pow((double)(i + 1), -s);
        cum[i] = acc;
    }
    for (uint32_t i = 0; i < n; i++)
        cum[i] /= acc;
    cum[n - 1] = 1.0;
}

void vex_dist_normalise(double *f, const double *cum, uint32_t n)
{
    double mean = 0, prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        mean += (cum[i] - prev) * f[i];
        prev = cum[i];
    }
    for (uint32_t i = 0; i < n; i++)
        f[i] /= mean;
}

double vex_dist_diurnal(double t)
{
    double day = floor(t / 86400.0);
    double h = (t - day * 86400.0) / 3600.0;
    double c = 0.5 + 0.5 * cos(6.283185307179586 * (h - 20.5) / 24.0);
    double w = 0.25 + 0.75 * c * c;
    /* 1970-01-01 was a Thursday: (day + 4) % 7 is 0 on Sundays, 6 on Saturdays. */
    int64_t dow = ((int64_t)day + 4) % 7;
    if (dow == 0 || dow == 6)
        w *= 1.2;
    return w;
}

int vex_traffic_init(struct vex_traffic *t, uint32_t days, int64_t end)
{
    memset(t, 0, sizeof *t);
    t->end = end;
    t->w0 = end - (int64_t)days * 86400;
    t->nbins = days * 24;
    t->bin_cum = malloc(((size_t)t->nbins + 1) * sizeof *t->bin_cum);
    t->bin_rate = malloc((size_t)t->nbins * sizeof *t->bin_rate);
    if (!t->bin_cum || !t->bin_rate) {
        vex_traffic_deinit(t);
        return VEX_ENOMEM;
    }
    double acc = 0;
    for (uint32_t b = 0; b < t->nbins; b++) {
        t->bin_cum[b] = acc;
        t->bin_rate[b] = vex_dist_diurnal((double)t->w0 + b * 3600.0 + 1800.0);
        acc += t->bin_rate[b] * 3600.0;
    }
    t->bin_cum[t->nbins] = acc;
    return 0;
}

void vex_traffic_deinit(struct vex_traffic *t)
{
    free(t->bin_cum);
    free(t->bin_rate);
    t->bin_cum = t->bin_rate = NULL;
}

int64_t vex_traffic_start_ms(const struct vex_traffic *t, uint64_t i, uint64_t n, double u)
{
    double q = ((double)i + u) / (double)n;
    double x = q * t->bin_cum[t->nbins];
    /* the last bin b with bin_cum[b] <= x */
    uint32_t lo = 0, hi = t->nbins - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (t->bin_cum[mid] <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    double s = (double)t->w0 + lo * 3600.0 + (x - t->bin_cum[lo]) / t->bin_rate[lo];
    int64_t ms = (int64_t)floor(s * 1000.0);
    int64_t first = t->w0 * 1000, last = t->end * 1000 - 1;
    return ms < first ? first : ms > last ? last : ms;
}
