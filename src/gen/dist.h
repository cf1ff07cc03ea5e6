/* dist.h - the distributions the workload model draws from, shared by `vex gen`
 * (events) and the benchmark store maker (session records): weighted choices over
 * cumulative tables, Zipf shares, and the diurnal traffic that spreads session
 * start times over a window. */
#ifndef VEX_GEN_DIST_H
#define VEX_GEN_DIST_H

#include <stdint.h>

/* vex_dist_pick returns the first i with u < cum[i]; cum is non-decreasing, ends at
 * 1 and u is in [0, 1), so the answer is always in [0, n). */
uint32_t vex_dist_pick(const double *cum, uint32_t n, double u);

/* vex_dist_make_cum turns weights w[0..n) into a cumulative table ending at exactly 1. */
void vex_dist_make_cum(double *cum, const double *w, uint32_t n);

/* vex_dist_make_zipf fills cum[0..n) with cumulative Zipf shares 1/(rank+1)^s. */
void vex_dist_make_zipf(double *cum, uint32_t n, double s);

/* vex_dist_normalise divides the factors f[0..n) by their mean weighted by the shares
 * in `cum`, so that scaling a rate by them keeps the overall rate. */
void vex_dist_normalise(double *f, const double *cum, uint32_t n);

/* Start times over [end - days * 86400, end) seconds, following the audience of
 * vex_dist_diurnal, in hour bins. */
struct vex_traffic {
    int64_t w0;  /* first second of the window */
    int64_t end; /* end of the window (epoch seconds) */
    uint32_t nbins;
    double *bin_cum;  /* cumulative weight at the start of each bin, nbins + 1 */
    double *bin_rate; /* weight per second inside each bin */
};

/* vex_dist_diurnal is the relative audience at epoch second t: an evening peak
 * (20:30 UTC) four times the morning trough, weekends a fifth busier. */
double vex_dist_diurnal(double t);

/* vex_traffic_init builds the bins (VEX_ENOMEM); vex_traffic_deinit frees them. */
int vex_traffic_init(struct vex_traffic *t, uint32_t days, int64_t end);
void vex_traffic_deinit(struct vex_traffic *t);

/* vex_traffic_start_ms maps session i of n to its start time (ms), with u in [0, 1):
 * the sessions are stratified over the cumulative traffic, so they come out in
 * start-time order and their density follows the diurnal curve. */
int64_t vex_traffic_start_ms(const struct vex_traffic *t, uint64_t i, uint64_t n, double u);

#endif
