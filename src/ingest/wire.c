/* wire.c - encoding and decoding of WAL batch records (see wire.h). */
#include "ingest/wire.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define WIRE_MAGIC 0x31425856u /* "VXB1" */

static size_t event_size(const struct vex_event *e)
{
    size_t n = 1 + 1 + 2 + e->sid_len + 8 + 8 + (e->has_kbps ? 8 : 0) + 2;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        if (e->dims[d])
            n += 2 + e->dim_len[d];
    return n;
}

static unsigned char *put(unsigned char *p, const void *v, size_t n)
{
    memcpy(p, v, n);
    return p + n;
}

int vex_wire_encode(const char *customer, const char *ip, int64_t received_ms,
                    const struct vex_event *evs, size_t n, void **out, size_t *out_len)
{
    uint16_t clen = (uint16_t)strlen(customer);
    uint16_t iplen = (uint16_t)(ip ? strlen(ip) : 0);
    size_t size = 4 + 2 + clen + 2 + iplen + 8 + 4;
    for (size_t i = 0; i < n; i++)
        size += event_size(&evs[i]);
    unsigned char *buf = malloc(size), *p = buf;
    if (!buf)
        return VEX_ENOMEM;
    uint32_t magic = WIRE_MAGIC, count = (uint32_t)n;
    p = put(p, &magic, 4);
    p = put(p, &clen, 2);
    p = put(p, customer, clen);
    p = put(p, &iplen, 2);
    p = put(p, ip ? ip : "", iplen);
    p = put(p, &received_ms, 8);
    p = put(p, &count, 4);
    for (size_t i = 0; i < n; i++) {
        const struct vex_event *e = &evs[i];
        uint8_t flags = (uint8_t)((e->fatal ? 1 : 0) | (e->has_kbps ? 2 : 0) |
                                  (e->live >= 0 ? 4 : 0) | (e->live == 1 ? 8 : 0));
        uint16_t sl = (uint16_t)e->sid_len, mask = 0;
        *p++ = e->type;
        *p++ = flags;
        p = put(p, &sl, 2);
        p = put(p, e->sid, sl);
        p = put(p, &e->seq, 8);
        p = put(p, &e->ts, 8);
        if (e->has_kbps)
            p = put(p, &e->kbps, 8);
        for (int d = 0; d < VEX_DIM_COUNT; d++)
            if (e->dims[d])
                mask |= (uint16_t)(1u << d);
        p = put(p, &mask, 2);
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            if (!e->dims[d])
                continue;
            p = put(p, &e->dim_len[d], 2);
            p = put(p, e->dims[d], e->dim_len[d]);
        }
    }
    *out = buf;
    *out_len = (size_t)(p - buf);
    return 0;
}

struct reader {
    const unsigned char *p, *end;
    int bad;
};

static const void *take(struct reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const void *v = r->p;
    r->p += n;
    return v;
}

static uint16_t take16(struct reader *r)
{
    uint16_t v = 0;
    const void *p = take(r, 2);
    if (p)
        memcpy(&v, p, 2);
    return v;
}

static int64_t take64(struct reader *r)
{
    int64_t v = 0;
    const void *p = take(r, 8);
    if (p)
        memcpy(&v, p, 8);
    return v;
}

int vex_wire_decode(const void *buf, size_t len, struct vex_wire_batch *out)
{
    struct reader r = {buf, (const unsigned char *)buf + len, 0};
    memset(out, 0, sizeof *out);
    uint32_t magic = 0, count = 0;
    const void *p = take(&r, 4);
    if (p)
        memcpy(&magic, p, 4);
    if (magic != WIRE_MAGIC)
        return VEX_ECORRUPT;
    uint16_t clen = take16(&r);
    const char *c = take(&r, clen);
    uint16_t iplen = take16(&r);
    const char *ip = take(&r, iplen);
    out->received_ms = take64(&r);
    p = take(&r, 4);
    if (p)
        memcpy(&count, p, 4);
    if (r.bad || clen >= sizeof out->customer || iplen >= sizeof out->ip ||
        count > len / 22)
        return VEX_ECORRUPT;
    memcpy(out->customer, c, clen);
    memcpy(out->ip, ip, iplen);
    out->events = calloc(count ? count : 1, sizeof *out->events);
    if (!out->events)
        return VEX_ENOMEM;
    for (uint32_t i = 0; i < count && !r.bad; i++) {
        struct vex_event *e = &out->events[i];
        const uint8_t *tf = take(&r, 2);
        if (!tf)
            break;
        e->type = tf[0];
        e->fatal = tf[1] & 1;
        e->has_kbps = (tf[1] & 2) != 0;
        e->live = (tf[1] & 4) ? ((tf[1] & 8) ? 1 : 0) : -1;
        e->sid_len = take16(&r);
        e->sid = take(&r, e->sid_len);
        e->seq = take64(&r);
        e->ts = take64(&r);
        if (e->has_kbps) {
            p = take(&r, 8);
            if (p)
                memcpy(&e->kbps, p, 8);
        }
        uint16_t mask = take16(&r);
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            if (!(mask & (1u << d)))
                continue;
            e->dim_len[d] = take16(&r);
            e->dims[d] = take(&r, e->dim_len[d]);
        }
        if (e->type >= VEX_EV_TYPE_COUNT || e->sid_len == 0)
            r.bad = 1;
    }
    if (r.bad || r.p != r.end) {
        free(out->events);
        out->events = NULL;
        return VEX_ECORRUPT;
    }
    out->count = count;
    return 0;
}

void vex_wire_batch_deinit(struct vex_wire_batch *b)
{
    free(b->events);
    b->events = NULL;
    b->count = 0;
}
