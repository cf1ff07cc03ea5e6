/* colpre.h - pre-aggregates of column runs of closed sessions (struct
 * vex_colpre of backend.h): the plain sums a query would add, made once when
 * the sessions can no longer change, so that a totals query over days of
 * them adds a few numbers instead of scanning every row. */
#ifndef VEX_SESSION_COLPRE_H
#define VEX_SESSION_COLPRE_H

#include <stddef.h>

#include "backend/backend.h"

/* vex_colpre_build sums rows [lo, hi) of c into *out, with per-value sums
 * of dimension key_dim (its arrays are allocated: vex_colpre_deinit frees
 * them). Every row must be closed at c->now_ms (VEX_EINVAL otherwise, and
 * for an empty range). VEX_ENOMEM. */
int vex_colpre_build(const struct vex_columns *c, size_t lo, size_t hi, int key_dim,
                     struct vex_colpre *out);

void vex_colpre_deinit(struct vex_colpre *p);

#endif
