/* wire.h - the binary form of an accepted batch, as the write-ahead log
 * keeps it. One WAL record holds one whole batch, so a batch is durable
 * entirely or not at all.
 *
 * Layout (little-endian):
 *   u32 magic "VXB1" | u16 customer_len, customer | u16 ip_len, ip |
 *   i64 received_ms | u32 count | count x event
 * event:
 *   u8 type | u8 flags (1 fatal, 2 has_kbps, 4 live present, 8 live value) |
 *   u16 sid_len, sid | i64 seq | i64 ts | [f64 kbps when has_kbps] |
 *   u16 dim_mask (bit d: dimension d present) | per present dim: u16 len, bytes */
#ifndef VEX_INGEST_WIRE_H
#define VEX_INGEST_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"

/* vex_wire_encode serialises a batch into a new malloc'd buffer. */
int vex_wire_encode(const char *customer, const char *ip, int64_t received_ms,
                    const struct vex_event *evs, size_t n, void **out, size_t *out_len);

/* A decoded batch; events point into the encoded bytes, which must outlive
 * it. `customer` and `ip` are NUL-terminated copies. */
struct vex_wire_batch {
    char customer[65];
    char ip[64];
    int64_t received_ms;
    struct vex_event *events; /* malloc'd */
    size_t count;
};

/* vex_wire_decode parses buf[0..len). VEX_ECORRUPT, VEX_ENOMEM. */
int vex_wire_decode(const void *buf, size_t len, struct vex_wire_batch *out);
void vex_wire_batch_deinit(struct vex_wire_batch *b);

#endif
