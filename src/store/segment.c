/* segment.c - writing and reading immutable columnar segment files.
 *
 * ON-DISK FORMAT, version 2 (FORMAT.md section 2 has it byte by byte, and
 * version 1, which is still read; all integers little-endian)
 *
 *     header    16 bytes: magic "VEXSEG\0\0", u32 version 2, u32 CRC-32C of
 *               bytes 0..11
 *     column 0  stored bytes of the first column added
 *     ...       one block per column, in the order added, back to back
 *     index     u64 nrows, u32 ncols, u32 nmeta, nmeta pairs (u16 K, K key
 *               bytes, u32 V, V value bytes), then per column: u8 type (1 i64,
 *               2 f64, 3 str, 4 blob), u8 compression (0 as is, 1 one zstd
 *               frame), u16 L, L name bytes, u64 block offset, u64 stored
 *               length, u64 raw length, u32 CRC-32C of the stored bytes
 *     trailer   32 bytes: u64 index offset, u64 index length, u32 CRC-32C of
 *               the index, u32 CRC-32C of trailer bytes 0..19, magic
 *
 * The blocks start at byte 16, follow each other without gaps, and the index
 * follows the last one; the trailer ends the file. Every byte is therefore
 * under a checksum or a magic, so any flipped bit makes open fail with
 * VEX_ECORRUPT. A block's raw bytes (after zstd, if compressed) are:
 *
 * int block (inside i64, str and f64 columns), M packed values:
 *       u8 kind (0 frame of reference, 1 delta, 2 difference from the column
 *       numbered ref), u8 width W (0..8 bytes), u16 ref (kind 2, else 0), u8
 *       depth (kind 2, else 0), 3 zero bytes, u64 base, u64 first (kind 1,
 *       else 0), then W byte planes of M bytes each: plane k holds byte k of
 *       every packed value.
 *       Kind 0: M = n, value[i] = base + packed[i].
 *       Kind 1: M = n - 1 (0 when n is 0), value[0] = first,
 *               value[i] = value[i-1] + base + packed[i-1].
 *       Kind 2: M = n, value[i] = ref[i] + base + packed[i], where ref is an
 *               earlier i64 column; depth is ref's depth + 1 (a column
 *               decoded on its own has depth 0), at most MAX_DEPTH.
 *       Arithmetic is modulo 2^64.
 * i64:  an int block of nrows values.
 * f64:  u8 kind, 7 zero bytes; kind 0: 8 byte planes of nrows bytes (plane
 *       k holds byte k of every value); kind 1 (every value an integer of
 *       magnitude <= 2^53, no -0.0): an int block of kind 0 or 1.
 * str:  u32 dictionary size D, u8 kind (0 a code per row, 1 a code per entry
 *       of the dictionary of the earlier str column numbered ref), u8 depth
 *       (kind 1: ref's + 1, else 0), u16 ref (kind 1, else 0), u64 B, then B
 *       bytes: the D distinct strings
 *       in strictly increasing strcmp order, front coded (each a LEB128 count
 *       of leading bytes shared with the previous string, then the rest and a
 *       NUL), then an int block of kind 0 or 1: nrows codes (kind 0) or one
 *       code per entry of ref's dictionary (kind 1), every one < D.
 * blob: nrows u64 lengths, then the bytes of every row back to back.
 *
 * Why: session segments hold unique ids, near-unique subscriber ids and
 * addresses, timestamps and durations. Sorted dictionaries share long
 * prefixes; byte planes keep the random low bytes of a value apart from its
 * nearly constant high ones; a timestamp or duration is often another column
 * plus a small amount (end = start + duration, the same duration twice); and
 * one dimension often determines another (an asset its title, a subscriber
 * its address), so its codes cost one entry per distinct value instead of
 * one per row. The writer picks each int block's kind by the number of
 * significant bits the packed values would have, a cheap stand-in for their
 * compressed size, and compresses each block with zstd level 3, storing it
 * as is when that does not make it smaller. */
#include "store/segment.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/err.h"
#include "store/crc32c.h"
#include "store/fsutil.h"
#include "store/store_int.h"

#define HDR_SIZE 16
#define TRAILER_SIZE 32
#define VERSION 2 /* written; version 1 is still read */
#define ZSTD_LEVEL 3
#define MAX_META_VALUE (1u << 20)
#define MAX_COLS 65535
#define I64_HDR 24 /* an int block's header; all of a version 1 i64 header */
#define STR_HDR 16
#define F64_HDR 8
/* A column coded against another one is decoded after it, recursively, so
 * chains are kept short. */
#define MAX_DEPTH 8
/* The writer keeps the values of up to this many i64 and str columns of
 * each type, so that later columns can be coded against them. */
#define MAX_KEPT 16
#define F64_INT_MAX 9007199254740992.0 /* 2^53: every integer up to it is exact */

static const unsigned char magic[8] = {'V', 'E', 'X', 'S', 'E', 'G', 0, 0};

/* ---- writer ---------------------------------------------------------- */

struct wcol {
    char *name;
    int type;
    unsigned char *raw; /* the block's raw bytes, ready to compress */
    size_t raw_len;
    int depth; /* length of the chain of columns this one is coded against */
    /* What later columns may be coded against (NULL when not kept). */
    int64_t *vals;  /* i64: a copy of the values */
    int64_t lo, hi; /* i64: their range */
    void *codes;    /* str: each row's code, cw bytes each */
    int cw;
    size_t nd; /* str: dictionary size */
};

struct meta {
    char *key;
    char *value;
};

struct vex_segment_writer {
    size_t nrows;
    struct wcol *cols;
    size_t ncols, capcols;
    struct meta *meta;
    size_t nmeta, capmeta;
    int kept_i64, kept_str;
};

int vex_segment_writer_create(size_t nrows, struct vex_segment_writer **out)
{
    if (!out)
        return VEX_EINVAL;
    struct vex_segment_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return VEX_ENOMEM;
    w->nrows = nrows;
    *out = w;
    return 0;
}

void vex_segment_writer_destroy(struct vex_segment_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ncols; i++) {
        free(w->cols[i].name);
        free(w->cols[i].raw);
        free(w->cols[i].vals);
        free(w->cols[i].codes);
    }
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->cols);
    free(w->meta);
    free(w);
}

/* check_new_column validates a name and makes room for one more column. */
static int check_new_column(struct vex_segment_writer *w, const char *name)
{
    if (!w || !name)
        return VEX_EINVAL;
    size_t n = strlen(name);
    if (n == 0 || n > VEX_SEGMENT_MAX_NAME)
        return VEX_EINVAL;
    for (size_t i = 0; i < w->ncols; i++)
        if (strcmp(w->cols[i].name, name) == 0)
            return VEX_EEXIST;
    if (w->ncols == MAX_COLS)
        return VEX_ETOOBIG;
    if (w->ncols == w->capcols) {
        size_t cap = w->capcols ? w->capcols * 2 : 16;
        struct wcol *c = realloc(w->cols, cap * sizeof(*c));
        if (!c)
            return VEX_ENOMEM;
        w->cols = c;
        w->capcols = cap;
    }
    return 0;
}

/* push_column adds *c under `name`, taking ownership of its buffers (also
 * on failure). */
static int push_column(struct vex_segment_writer *w, const char *name, struct wcol *c)
{
    c->name = strdup(name);
    if (!c->name) {
        free(c->raw);
        free(c->vals);
        free(c->codes);
        return VEX_ENOMEM;
    }
    w->cols[w->ncols++] = *c;
    return 0;
}

static int width_for(uint64_t range)
{
    int w = 0;
    while (range) {
        w++;
        range >>= 8;
    }
    return w;
}

/* ---- int blocks -------------------------------------------------------- */

/* An int block being planned: t[0..m) are the values before the base is
 * taken off (modulo 2^64). */
struct block {
    int kind, width, depth;
    unsigned ref;
    uint64_t base, first;
    const uint64_t *t;
    size_t m;
};

/* The range is taken between the smallest and largest value read as signed,
 * as the version 1 writer did: a column of small negative and positive
 * numbers (or differences) then has a narrow range. */
static void range_of(const uint64_t *t, size_t m, uint64_t *lo, uint64_t *hi)
{
    int64_t l = m ? (int64_t)t[0] : 0, h = l;
    for (size_t i = 1; i < m; i++) {
        int64_t v = (int64_t)t[i];
        l = v < l ? v : l;
        h = v > h ? v : h;
    }
    *lo = (uint64_t)l;
    *hi = (uint64_t)h;
}

/* cost_of estimates the bits the values would take once packed into byte
 * planes and entropy coded: the sum over the planes of each plane's byte
 * entropy. That is close to what zstd's entropy stage makes of planes, and
 * tells apart what byte widths do not: a duration from an evenly spread
 * timestamp, a mostly constant column from a random one. */
static double cost_of(const uint64_t *t, size_t m)
{
    uint64_t lo, hi;
    range_of(t, m, &lo, &hi);
    int width = width_for(hi - lo);
    double bits = 0;
    uint32_t hist[256];
    for (int k = 0; k < width; k++) {
        memset(hist, 0, sizeof(hist));
        for (size_t i = 0; i < m; i++)
            hist[(uint8_t)((t[i] - lo) >> (8 * k))]++;
        for (int x = 0; x < 256; x++)
            if (hist[x])
                bits -= hist[x] * log2((double)hist[x] / (double)m);
    }
    return bits;
}

static void block_plan(struct block *b)
{
    uint64_t lo, hi;
    range_of(b->t, b->m, &lo, &hi);
    b->base = lo;
    b->width = width_for(hi - lo);
}

static size_t block_size(const struct block *b)
{
    return I64_HDR + b->m * (size_t)b->width;
}

static void block_write(const struct block *b, unsigned char *p)
{
    memset(p, 0, I64_HDR);
    p[0] = (unsigned char)b->kind;
    p[1] = (unsigned char)b->width;
    vex_put_le16(p + 2, (uint16_t)b->ref);
    p[4] = (unsigned char)b->depth;
    vex_put_le64(p + 8, b->base);
    vex_put_le64(p + 16, b->first);
    unsigned char *q = p + I64_HDR;
    size_t m = b->m;
    for (int k = 0; k < b->width; k++) {
        unsigned char *plane = q + (size_t)k * m;
        int sh = 8 * k;
        for (size_t i = 0; i < m; i++)
            plane[i] = (unsigned char)((b->t[i] - b->base) >> sh);
    }
}

/* The writer judges a candidate coding by the cost of at most about
 * SAMPLE values spread evenly over the column, then codes the winner in
 * full: choosing among many candidates then costs little next to zstd. */
#define SAMPLE 4096

/* sample_cost is cost_of for the values t[i] = v[i] - (a ? a[i] : 0) (kind
 * 0, 2) or v[i + 1] - v[i] (kind 1), i < m, on a sample; tmp has room for
 * 2 * SAMPLE values. */
static double sample_cost(const uint64_t *v, const uint64_t *a, int kind, size_t m, uint64_t *tmp)
{
    size_t step = m > 2 * SAMPLE ? m / SAMPLE : 1, k = 0;
    for (size_t i = 0; i < m; i += step, k++)
        tmp[k] = kind == 1 ? v[i + 1] - v[i] : v[i] - (a ? a[i] : 0);
    return cost_of(tmp, k);
}

/* fill_block makes t[0..m) the values of the chosen candidate (as in
 * sample_cost), ready for block_plan. */
static void fill_block(struct block *b, const uint64_t *v, const uint64_t *a, size_t n, uint64_t *t)
{
    if (b->kind == 1) {
        b->first = v[0];
        b->m = n - 1;
        for (size_t i = 0; i + 1 < n; i++)
            t[i] = v[i + 1] - v[i];
    } else {
        b->m = n;
        for (size_t i = 0; i < n; i++)
            t[i] = v[i] - (a ? a[i] : 0);
    }
    b->t = t;
    block_plan(b);
}

/* plan_seq chooses frame of reference or delta for v[0..n), whichever
 * costs fewer bits; scratch has room for n values and may end up in b->t. */
static int plan_seq(struct block *b, const uint64_t *v, size_t n, uint64_t *scratch)
{
    *b = (struct block){.kind = 0, .t = v, .m = n};
    block_plan(b);
    if (n >= 2 && b->width > 0) {
        uint64_t *tmp = malloc(2 * SAMPLE * sizeof(*tmp));
        if (!tmp)
            return VEX_ENOMEM;
        if (sample_cost(v, NULL, 1, n - 1, tmp) < sample_cost(v, NULL, 0, n, tmp)) {
            b->kind = 1;
            fill_block(b, v, NULL, n, scratch);
        }
        free(tmp);
    }
    return 0;
}

/* ---- i64, f64 ---------------------------------------------------------- */

int vex_segment_writer_add_i64(struct vex_segment_writer *w, const char *name, const int64_t *vals)
{
    int rc = check_new_column(w, name);
    if (rc)
        return rc;
    size_t n = w->nrows;
    if (!vals && n > 0)
        return VEX_EINVAL;
    if (n > (SIZE_MAX - I64_HDR) / 8)
        return VEX_ETOOBIG;

    /* int64_t and uint64_t may alias; the packing works modulo 2^64. */
    const uint64_t *v = (const uint64_t *)vals;
    struct wcol c = {.type = VEX_SEGMENT_I64};
    uint64_t lo, hi;
    range_of(v, n, &lo, &hi);
    c.lo = (int64_t)lo;
    c.hi = (int64_t)hi;
    int own_width = width_for(hi - lo);
    uint64_t *t = NULL, *tmp = NULL;
    struct block b = {.kind = 0, .t = v, .m = n};
    block_plan(&b);
    if (n >= 2 && own_width > 0) {
        t = malloc(n * 8);
        tmp = malloc(2 * SAMPLE * sizeof(*tmp));
        if (!t || !tmp)
            goto nomem;
        double best = sample_cost(v, NULL, 0, n, tmp), cost;
        const uint64_t *best_ref = NULL;
        if ((cost = sample_cost(v, NULL, 1, n - 1, tmp)) < best) {
            best = cost;
            b.kind = 1;
        }
        /* Columns of overlapping ranges are candidates: an end time against
         * a start time, a duration against another. A value one byte wide
         * has little to gain. */
        for (size_t j = 0; j < w->ncols && own_width >= 2; j++) {
            const struct wcol *a = &w->cols[j];
            if (!a->vals || a->depth >= MAX_DEPTH || a->lo > c.hi || a->hi < c.lo)
                continue;
            const uint64_t *av = (const uint64_t *)a->vals;
            if ((cost = sample_cost(v, av, 2, n, tmp)) < best) {
                best = cost;
                b.kind = 2;
                b.ref = (unsigned)j;
                best_ref = av;
                c.depth = a->depth + 1;
            }
        }
        if (b.kind != 0)
            fill_block(&b, v, best_ref, n, t);
        if (b.kind == 2)
            b.depth = c.depth;
        else
            c.depth = 0;
    }
    c.raw_len = block_size(&b);
    c.raw = malloc(c.raw_len);
    if (!c.raw)
        goto nomem;
    block_write(&b, c.raw);
    if (own_width >= 2 && w->kept_i64 < MAX_KEPT) {
        c.vals = malloc(n * 8);
        if (!c.vals)
            goto nomem;
        memcpy(c.vals, vals, n * 8);
        w->kept_i64++;
    }
    free(t);
    free(tmp);
    return push_column(w, name, &c);
nomem:
    free(t);
    free(tmp);
    free(c.raw);
    return VEX_ENOMEM;
}

/* f64_integral tells whether every value is an integer that an int64_t
 * holds exactly and gives back bit for bit (no -0.0). */
static int f64_integral(const double *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double d = vals[i];
        if (!(d >= -F64_INT_MAX && d <= F64_INT_MAX) || d != (double)(int64_t)d)
            return 0;
        uint64_t bits;
        memcpy(&bits, &d, 8);
        if (bits == 0x8000000000000000ull)
            return 0;
    }
    return 1;
}

int vex_segment_writer_add_f64(struct vex_segment_writer *w, const char *name, const double *vals)
{
    int rc = check_new_column(w, name);
    if (rc)
        return rc;
    size_t n = w->nrows;
    if (!vals && n > 0)
        return VEX_EINVAL;
    if (n > (SIZE_MAX - I64_HDR - F64_HDR) / 8)
        return VEX_ETOOBIG;
    struct wcol c = {.type = VEX_SEGMENT_F64};
    if (n > 0 && f64_integral(vals, n)) {
        /* Sums of whole milliseconds times whole kbps and the like: as
         * integers they take a few bytes, as doubles eight. */
        uint64_t *t = malloc(n * 8), *scratch = malloc(n * 8);
        struct block b;
        if (t && scratch) {
            for (size_t i = 0; i < n; i++)
                t[i] = (uint64_t)(int64_t)vals[i];
        }
        if (t && scratch && plan_seq(&b, t, n, scratch) == 0) {
            c.raw_len = F64_HDR + block_size(&b);
            c.raw = calloc(1, c.raw_len);
        }
        if (c.raw) {
            c.raw[0] = 1;
            block_write(&b, c.raw + F64_HDR);
        }
        free(t);
        free(scratch);
        if (!c.raw)
            return VEX_ENOMEM;
        return push_column(w, name, &c);
    }
    c.raw_len = F64_HDR + n * 8;
    c.raw = calloc(1, c.raw_len);
    if (!c.raw)
        return VEX_ENOMEM;
    unsigned char *pl = c.raw + F64_HDR;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &vals[i], 8);
        for (int k = 0; k < 8; k++)
            pl[(size_t)k * n + i] = (unsigned char)(bits >> (8 * k));
    }
    return push_column(w, name, &c);
}
/* ---- dictionary encoding ---------------------------------------------- */

struct distinct {
    const char *s;
    size_t len;
    uint64_t hash;
    uint32_t id;
};

static uint64_t hash_str(const char *s, size_t len)
{
    /* Word-at-a-time multiply-xorshift: strings here are short dimension
     * values, and byte-at-a-time FNV would dominate encoding time. */
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        len -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, len);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h;
}

static int cmp_distinct(const void *a, const void *b)
{
    return strcmp(((const struct distinct *)a)->s, ((const struct distinct *)b)->s);
}

/* dict_grow doubles the open-addressing table (slots hold id + 1, 0 = free). */
static int dict_grow(uint32_t **slots, size_t *cap, const struct distinct *d)
{
    size_t ncap = *cap * 2;
    uint32_t *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return VEX_ENOMEM;
    for (size_t i = 0; i < *cap; i++) {
        uint32_t e = (*slots)[i];
        if (!e)
            continue;
        size_t j = d[e - 1].hash & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(*slots);
    *slots = ns;
    *cap = ncap;
    return 0;
}

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static unsigned char *put_varint(unsigned char *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static size_t shared_prefix(const struct distinct *a, const struct distinct *b)
{
    size_t n = a->len < b->len ? a->len : b->len, k = 0;
    while (k < n && a->s[k] == b->s[k])
        k++;
    return k;
}

static uint32_t kept_code(const struct wcol *c, size_t i)
{
    switch (c->cw) {
    case 1:
        return ((const uint8_t *)c->codes)[i];
    case 2:
        return ((const uint16_t *)c->codes)[i];
    default:
        return ((const uint32_t *)c->codes)[i];
    }
}

/* determines tells whether column a's value determines the code in every
 * row, and fills map[] (one code per entry of a's dictionary) if so. Most
 * pairs that do not fail within a few rows. */
static int determines(const struct wcol *a, const uint32_t *codes, size_t n, uint32_t *map)
{
    for (size_t k = 0; k < a->nd; k++)
        map[k] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = kept_code(a, i);
        if (map[x] == UINT32_MAX)
            map[x] = codes[i];
        else if (map[x] != codes[i])
            return 0;
    }
    return 1;
}

/* find_determinant looks among the kept str columns for one whose value
 * determines this column's in every row (an asset its title, a subscriber
 * the address); of those, the one with the smallest dictionary wins, since
 * the codes then cost one per entry of it. Fills map and returns its
 * number, or -1. map has room for the largest kept dictionary. */
static long find_determinant(const struct vex_segment_writer *w, const uint32_t *codes, size_t nd,
                             uint32_t *map)
{
    size_t cand[MAX_KEPT], nc = 0;
    for (size_t j = 0; j < w->ncols && nc < MAX_KEPT; j++) {
        const struct wcol *a = &w->cols[j];
        /* A column that determines this one has at least as many values. */
        if (!a->codes || a->depth >= MAX_DEPTH || a->nd < nd)
            continue;
        size_t k = nc++;
        while (k > 0 && w->cols[cand[k - 1]].nd > a->nd) {
            cand[k] = cand[k - 1];
            k--;
        }
        cand[k] = j;
    }
    for (size_t k = 0; k < nc; k++)
        if (determines(&w->cols[cand[k]], codes, w->nrows, map))
            return (long)cand[k];
    return -1;
}

int vex_segment_writer_add_str(struct vex_segment_writer *w, const char *name,
                               const char *const *vals)
{
    int rc = check_new_column(w, name);
    if (rc)
        return rc;
    size_t n = w->nrows;
    if (!vals && n > 0)
        return VEX_EINVAL;
    if (n > UINT32_MAX || n > SIZE_MAX / 16)
        return VEX_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if (!vals[i])
            return VEX_EINVAL;

    rc = VEX_ENOMEM;
    struct wcol c = {.type = VEX_SEGMENT_STR};
    size_t cap = 1024, nd = 0;
    uint32_t *slots = calloc(cap, sizeof(*slots));
    uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    struct distinct *d = malloc((n ? n : 1) * sizeof(*d));
    uint32_t *rank = NULL, *map = NULL;
    uint64_t *t = NULL, *scratch = NULL;
    if (!slots || !ids || !d)
        goto out;

    /* Pass 1: give each distinct string an id in order of appearance. */
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(vals[i]);
        uint64_t h = hash_str(vals[i], len);
        size_t j = h & (cap - 1);
        uint32_t e;
        while ((e = slots[j]) != 0) {
            const struct distinct *x = &d[e - 1];
            if (x->hash == h && x->len == len && memcmp(x->s, vals[i], len) == 0)
                break;
            j = (j + 1) & (cap - 1);
        }
        if (!e) {
            d[nd] = (struct distinct){.s = vals[i], .len = len, .hash = h, .id = (uint32_t)nd};
            e = slots[j] = (uint32_t)++nd;
            if (nd * 2 > cap && dict_grow(&slots, &cap, d) != 0)
                goto out;
        }
        ids[i] = e - 1;
    }

    /* Pass 2: sort the dictionary so that codes order like strings, and
     * turn each row's id into its code (in ids, in place). */
    qsort(d, nd, sizeof(*d), cmp_distinct);
    rank = malloc((nd ? nd : 1) * sizeof(*rank));
    if (!rank)
        goto out;
    for (size_t k = 0; k < nd; k++)
        rank[d[k].id] = (uint32_t)k;
    for (size_t i = 0; i < n; i++)
        ids[i] = rank[ids[i]];
    size_t dict_bytes = 0;
    for (size_t k = 0; k < nd; k++) {
        size_t p = k ? shared_prefix(&d[k - 1], &d[k]) : 0;
        if (d[k].len > SIZE_MAX / 4 - dict_bytes) {
            rc = VEX_ETOOBIG;
            goto out;
        }
        dict_bytes += varint_len(p) + d[k].len - p + 1;
    }

    /* The codes: per row, or per entry of a column that determines them. */
    size_t maxnd = 0;
    for (size_t j = 0; j < w->ncols; j++)
        if (w->cols[j].codes && w->cols[j].nd > maxnd)
            maxnd = w->cols[j].nd;
    long ref = -1;
    if (nd >= 2 && maxnd >= nd) {
        if (!(map = malloc(maxnd * sizeof(*map))))
            goto out;
        ref = find_determinant(w, ids, nd, map);
    }
    const uint32_t *src = ref >= 0 ? map : ids;
    size_t m = ref >= 0 ? w->cols[ref].nd : n;
    t = malloc((m ? m : 1) * 8);
    scratch = malloc((m ? m : 1) * 8);
    if (!t || !scratch)
        goto out;
    for (size_t i = 0; i < m; i++)
        t[i] = src[i];
    struct block b;
    if (plan_seq(&b, t, m, scratch))
        goto out;
    if (block_size(&b) > SIZE_MAX - STR_HDR - dict_bytes) {
        rc = VEX_ETOOBIG;
        goto out;
    }
    c.raw_len = STR_HDR + dict_bytes + block_size(&b);
    if (!(c.raw = calloc(1, c.raw_len)))
        goto out;
    vex_put_le32(c.raw, (uint32_t)nd);
    if (ref >= 0) {
        c.raw[4] = 1;
        c.depth = w->cols[ref].depth + 1;
        c.raw[5] = (unsigned char)c.depth;
        vex_put_le16(c.raw + 6, (uint16_t)ref);
    }
    vex_put_le64(c.raw + 8, dict_bytes);
    unsigned char *p = c.raw + STR_HDR;
    for (size_t k = 0; k < nd; k++) {
        size_t pre = k ? shared_prefix(&d[k - 1], &d[k]) : 0;
        p = put_varint(p, pre);
        memcpy(p, d[k].s + pre, d[k].len - pre + 1);
        p += d[k].len - pre + 1;
    }
    block_write(&b, p);

    /* Keep the codes for later columns, unless (nearly) every row has its
     * own value: such a column determines everything and saves nothing. */
    if (nd >= 2 && nd <= n / 4 * 3 && w->kept_str < MAX_KEPT) {
        c.cw = nd <= 256 ? 1 : nd <= 65536 ? 2 : 4;
        if (!(c.codes = malloc(n * (size_t)c.cw)))
            goto out;
        for (size_t i = 0; i < n; i++) {
            if (c.cw == 1)
                ((uint8_t *)c.codes)[i] = (uint8_t)ids[i];
            else if (c.cw == 2)
                ((uint16_t *)c.codes)[i] = (uint16_t)ids[i];
            else
                ((uint32_t *)c.codes)[i] = ids[i];
        }
        c.nd = nd;
        w->kept_str++;
    }
    rc = push_column(w, name, &c);
    c.raw = NULL;
    c.codes = NULL;
out:
    free(c.raw);
    free(c.codes);
    free(t);
    free(scratch);
    free(map);
    free(rank);
    free(d);
    free(ids);
    free(slots);
    return rc;
}

int vex_segment_writer_add_blob(struct vex_segment_writer *w, const char *name,
                                const void *const *ptrs, const size_t *lens)
{
    int rc = check_new_column(w, name);
    if (rc)
        return rc;
    size_t n = w->nrows;
    if ((!ptrs || !lens) && n > 0)
        return VEX_EINVAL;
    if (n > SIZE_MAX / 8)
        return VEX_ETOOBIG;
    size_t total = n * 8;
    for (size_t i = 0; i < n; i++) {
        if (!ptrs[i] && lens[i] > 0)
            return VEX_EINVAL;
        if (lens[i] > SIZE_MAX - total)
            return VEX_ETOOBIG;
        total += lens[i];
    }
    struct wcol c = {.type = VEX_SEGMENT_BLOB, .raw_len = total};
    unsigned char *raw = c.raw = malloc(total ? total : 1);
    if (!raw)
        return VEX_ENOMEM;
    unsigned char *p = raw + n * 8;
    for (size_t i = 0; i < n; i++) {
        vex_put_le64(raw + i * 8, lens[i]);
        if (lens[i])
            memcpy(p, ptrs[i], lens[i]);
        p += lens[i];
    }
    return push_column(w, name, &c);
}

int vex_segment_writer_set_meta(struct vex_segment_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value)
        return VEX_EINVAL;
    size_t kl = strlen(key);
    if (kl == 0 || kl > VEX_SEGMENT_MAX_NAME)
        return VEX_EINVAL;
    if (strlen(value) > MAX_META_VALUE)
        return VEX_ETOOBIG;
    char *v = strdup(value);
    if (!v)
        return VEX_ENOMEM;
    for (size_t i = 0; i < w->nmeta; i++) {
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return 0;
        }
    }
    if (w->nmeta == UINT32_MAX)
        goto too_big;
    if (w->nmeta == w->capmeta) {
        size_t cap = w->capmeta ? w->capmeta * 2 : 8;
        struct meta *m = realloc(w->meta, cap * sizeof(*m));
        if (!m)
            goto no_mem;
        w->meta = m;
        w->capmeta = cap;
    }
    char *k = strdup(key);
    if (!k)
        goto no_mem;
    w->meta[w->nmeta++] = (struct meta){.key = k, .value = v};
    return 0;
no_mem:
    free(v);
    return VEX_ENOMEM;
too_big:
    free(v);
    return VEX_ETOOBIG;
}

struct entry {
    int comp;
    uint64_t offset, stored, raw;
    uint32_t crc;
};

/* write_blocks compresses and writes every column, filling in e[]. */
static int write_blocks(struct vex_segment_writer *w, int fd, struct entry *e, uint64_t *off)
{
    int rc = VEX_ENOMEM;
    size_t cap = 0;
    unsigned char *buf = NULL;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (!cctx)
        goto out;
    for (size_t i = 0; i < w->ncols; i++) {
        const struct wcol *c = &w->cols[i];
        size_t bound = ZSTD_compressBound(c->raw_len);
        if (bound > cap) {
            free(buf);
            cap = bound;
            buf = malloc(cap);
            if (!buf) {
                rc = VEX_ENOMEM;
                goto out;
            }
        }
        size_t z = ZSTD_compressCCtx(cctx, buf, cap, c->raw, c->raw_len, ZSTD_LEVEL);
        const unsigned char *out = c->raw;
        size_t len = c->raw_len;
        e[i].comp = 0;
        if (!ZSTD_isError(z) && z < c->raw_len) {
            out = buf;
            len = z;
            e[i].comp = 1;
        }
        e[i].offset = *off;
        e[i].stored = len;
        e[i].raw = c->raw_len;
        e[i].crc = vex_crc32c_of(out, len);
        rc = vex_fsutil_write_all(fd, out, len);
        if (rc)
            goto out;
        *off += len;
    }
    rc = 0;
out:
    free(buf);
    ZSTD_freeCCtx(cctx);
    return rc;
}

static unsigned char *build_index(const struct vex_segment_writer *w, const struct entry *e,
                                  size_t *len_out)
{
    size_t len = 16;
    for (size_t i = 0; i < w->nmeta; i++)
        len += 2 + strlen(w->meta[i].key) + 4 + strlen(w->meta[i].value);
    for (size_t i = 0; i < w->ncols; i++)
        len += 4 + strlen(w->cols[i].name) + 28;
    unsigned char *idx = malloc(len);
    if (!idx)
        return NULL;
    unsigned char *p = idx;
    vex_put_le64(p, w->nrows);
    vex_put_le32(p + 8, (uint32_t)w->ncols);
    vex_put_le32(p + 12, (uint32_t)w->nmeta);
    p += 16;
    for (size_t i = 0; i < w->nmeta; i++) {
        size_t kl = strlen(w->meta[i].key), vl = strlen(w->meta[i].value);
        vex_put_le16(p, (uint16_t)kl);
        memcpy(p + 2, w->meta[i].key, kl);
        p += 2 + kl;
        vex_put_le32(p, (uint32_t)vl);
        memcpy(p + 4, w->meta[i].value, vl);
        p += 4 + vl;
    }
    for (size_t i = 0; i < w->ncols; i++) {
        size_t nl = strlen(w->cols[i].name);
        p[0] = (unsigned char)w->cols[i].type;
        p[1] = (unsigned char)e[i].comp;
        vex_put_le16(p + 2, (uint16_t)nl);
        memcpy(p + 4, w->cols[i].name, nl);
        p += 4 + nl;
        vex_put_le64(p, e[i].offset);
        vex_put_le64(p + 8, e[i].stored);
        vex_put_le64(p + 16, e[i].raw);
        vex_put_le32(p + 24, e[i].crc);
        p += 28;
    }
    *len_out = len;
    return idx;
}

int vex_segment_writer_finish(struct vex_segment_writer *w, const char *path)
{
    if (!w || !path || !*path)
        return VEX_EINVAL;
    /* What later columns could have been coded against is no longer
     * needed once the file is written: columns added after this will not
     * use it. Freed first, to lower the peak. */
    for (size_t i = 0; i < w->ncols; i++) {
        free(w->cols[i].vals);
        free(w->cols[i].codes);
        w->cols[i].vals = NULL;
        w->cols[i].codes = NULL;
    }
    int rc = VEX_ENOMEM;
    int fd = -1;
    unsigned char *idx = NULL;
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    struct entry *e = calloc(w->ncols ? w->ncols : 1, sizeof(*e));
    if (!tmp || !e)
        goto out;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = errno == ENOSPC || errno == EDQUOT ? VEX_EFULL : VEX_EIO;
        goto out;
    }
    unsigned char hdr[HDR_SIZE];
    memcpy(hdr, magic, 8);
    vex_put_le32(hdr + 8, VERSION);
    vex_put_le32(hdr + 12, vex_crc32c_of(hdr, 12));
    rc = vex_fsutil_write_all(fd, hdr, sizeof(hdr));
    if (rc)
        goto out;
    uint64_t off = HDR_SIZE;
    rc = write_blocks(w, fd, e, &off);
    if (rc)
        goto out;
    size_t idx_len;
    rc = VEX_ENOMEM;
    idx = build_index(w, e, &idx_len);
    if (!idx)
        goto out;
    rc = vex_fsutil_write_all(fd, idx, idx_len);
    if (rc)
        goto out;
    unsigned char tr[TRAILER_SIZE];
    vex_put_le64(tr, off);
    vex_put_le64(tr + 8, idx_len);
    vex_put_le32(tr + 16, vex_crc32c_of(idx, idx_len));
    vex_put_le32(tr + 20, vex_crc32c_of(tr, 20));
    memcpy(tr + 24, magic, 8);
    rc = vex_fsutil_write_all(fd, tr, sizeof(tr));
    if (rc)
        goto out;
    rc = VEX_EIO;
    if (fsync(fd) != 0)
        goto out;
    int r = close(fd);
    fd = -1;
    if (r != 0 || rename(tmp, path) != 0)
        goto out;
    rc = vex_fsutil_sync_parent(path);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    } else if (rc && tmp) {
        unlink(tmp);
    }
    free(idx);
    free(e);
    free(tmp);
    return rc;
}

/* ---- reader ---------------------------------------------------------- */

/* A column of an open segment. Its stored bytes stay in the file mapping and
 * are checked against their CRC at open; they are decompressed and decoded
 * the first time the column is asked for, so a query pays only for the
 * columns it reads. */
struct rcol {
    char *name;
    int type;
    int comp;
    const unsigned char *src; /* stored bytes, inside the mapping */
    uint64_t stored, raw_len;
    int state;           /* 0 not decoded yet, 1 decoded, < 0 the VEX_E* decoding gave */
    void *vals;          /* i64: int64_t[], f64: double[], str: uint32_t codes[] */
    unsigned char *body; /* str, blob: the raw block, which the strings point into */
    const char **dict;   /* str */
    size_t dict_size;    /* str */
    uint64_t *offs;      /* blob: nrows + 1 offsets into body */
    int depth;           /* version 2 i64, str: the chain of references it heads */
};

struct vex_segment {
    size_t nrows;
    struct rcol *cols;
    size_t ncols;
    struct meta *meta;
    size_t nmeta;
    void *map;
    size_t map_size;
    /* Decoding fills in a column once; mu makes the first access from
     * several threads at once decode it exactly once. */
    pthread_mutex_t mu;
    ZSTD_DCtx *dctx; /* created on first need, used under mu */
    int version;     /* of the file's format: 1 or 2 */
};

static uint64_t get_packed(const unsigned char *p, int width)
{
    switch (width) {
    case 1:
        return p[0];
    case 2:
        return vex_get_le16(p);
    case 4:
        return vex_get_le32(p);
    case 8:
        return vex_get_le64(p);
    }
    return 0;
}

/* A bounds-checked reader over the index. */
struct cursor {
    const unsigned char *p, *end;
    int bad;
};

static const unsigned char *take(struct cursor *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    const unsigned char *r = c->p;
    c->p += n;
    return r;
}

static uint64_t take_u(struct cursor *c, int width)
{
    const unsigned char *p = take(c, (size_t)width);
    return p ? get_packed(p, width) : 0;
}

/* take_str copies n bytes into a NUL-terminated string; bytes with a NUL
 * inside are rejected, since the API could not hand them out whole. */
static char *take_str(struct cursor *c, size_t n)
{
    const unsigned char *p = take(c, n);
    if (!p || memchr(p, 0, n)) {
        c->bad = 1;
        return NULL;
    }
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* ---- version 1 column bytes ---- */

/* unpack sets out[i] = base + packed[i] for m values of `width` bytes. One
 * loop per width, with plain loads, so that the compiler can vectorise. */
static void unpack(uint64_t *out, const unsigned char *p, size_t m, int width, uint64_t base)
{
    switch (width) {
    case 0:
        for (size_t i = 0; i < m; i++)
            out[i] = base;
        break;
    case 1:
        for (size_t i = 0; i < m; i++)
            out[i] = base + p[i];
        break;
    case 2:
        for (size_t i = 0; i < m; i++) {
            uint16_t v;
            memcpy(&v, p + 2 * i, 2);
            out[i] = base + le16toh(v);
        }
        break;
    case 4:
        for (size_t i = 0; i < m; i++) {
            uint32_t v;
            memcpy(&v, p + 4 * i, 4);
            out[i] = base + le32toh(v);
        }
        break;
    default:
        for (size_t i = 0; i < m; i++) {
            uint64_t v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = base + le64toh(v);
        }
        break;
    }
}

static int decode_i64_v1(struct rcol *c, size_t n, const unsigned char *raw, size_t raw_len)
{
    if (raw_len < I64_HDR || n > SIZE_MAX / 8)
        return VEX_ECORRUPT;
    int kind = raw[0], width = raw[1];
    for (int i = 2; i < 8; i++)
        if (raw[i])
            return VEX_ECORRUPT;
    if (kind > 1 || (width != 0 && width != 1 && width != 2 && width != 4 && width != 8))
        return VEX_ECORRUPT;
    uint64_t base = vex_get_le64(raw + 8), first = vex_get_le64(raw + 16);
    size_t m = kind == 1 && n > 0 ? n - 1 : n;
    if (kind == 0 && first != 0)
        return VEX_ECORRUPT;
    if (width ? (raw_len - I64_HDR) / (size_t)width != m || (raw_len - I64_HDR) % (size_t)width
              : raw_len != I64_HDR)
        return VEX_ECORRUPT;
    /* uint64_t and int64_t share their representation; the values are
     * computed modulo 2^64 and handed out as int64_t. */
    uint64_t *v = malloc(n ? n * 8 : 8);
    if (!v)
        return VEX_ENOMEM;
    if (kind == 0) {
        unpack(v, raw + I64_HDR, n, width, base);
    } else if (n > 0) {
        v[0] = first;
        unpack(v + 1, raw + I64_HDR, m, width, base);
        for (size_t i = 1; i < n; i++)
            v[i] += v[i - 1];
    }
    c->vals = v;
    return 0;
}

static int decode_f64_v1(struct rcol *c, size_t n, const unsigned char *raw, size_t raw_len)
{
    if (n > SIZE_MAX / 8 || raw_len != n * 8)
        return VEX_ECORRUPT;
    double *v = malloc(n ? n * 8 : 8);
    if (!v)
        return VEX_ENOMEM;
    const unsigned char *pl[8];
    for (int k = 0; k < 8; k++)
        pl[k] = raw + (size_t)k * n;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits = (uint64_t)pl[0][i] | (uint64_t)pl[1][i] << 8 | (uint64_t)pl[2][i] << 16 |
                        (uint64_t)pl[3][i] << 24 | (uint64_t)pl[4][i] << 32 |
                        (uint64_t)pl[5][i] << 40 | (uint64_t)pl[6][i] << 48 |
                        (uint64_t)pl[7][i] << 56;
        memcpy(&v[i], &bits, 8);
    }
    c->vals = v;
    return 0;
}

/* decode_str_v1 takes ownership of raw (the strings stay in it). */
static int decode_str_v1(struct rcol *c, size_t n, unsigned char *raw, size_t raw_len)
{
    c->body = raw;
    if (raw_len < STR_HDR || raw[5] || raw[6] || raw[7])
        return VEX_ECORRUPT;
    size_t nd = vex_get_le32(raw);
    int width = raw[4];
    uint64_t dict_bytes = vex_get_le64(raw + 8);
    if (width != 0 && width != 1 && width != 2 && width != 4)
        return VEX_ECORRUPT;
    if (dict_bytes > raw_len - STR_HDR || dict_bytes < nd)
        return VEX_ECORRUPT;
    size_t codes_len = raw_len - STR_HDR - (size_t)dict_bytes;
    if (width ? codes_len / (size_t)width != n || codes_len % (size_t)width : codes_len != 0)
        return VEX_ECORRUPT;
    if ((width == 0 && nd > 1) || (n > 0 && nd == 0) || (nd == 0) != (dict_bytes == 0))
        return VEX_ECORRUPT;
    const char **dict = malloc((nd ? nd : 1) * sizeof(*dict));
    uint32_t *codes = malloc((n ? n : 1) * sizeof(*codes));
    c->dict = dict;
    c->vals = codes;
    if (!dict || !codes)
        return VEX_ENOMEM;

    /* The dictionary must be exactly nd NUL-terminated, strictly increasing
     * strings: callers rely on sortedness to compare codes. */
    const char *p = (const char *)raw + STR_HDR, *end = p + dict_bytes;
    if (nd > 0 && end[-1] != '\0')
        return VEX_ECORRUPT;
    for (size_t k = 0; k < nd; k++) {
        if (p >= end)
            return VEX_ECORRUPT;
        dict[k] = p;
        if (k > 0 && strcmp(dict[k - 1], p) >= 0)
            return VEX_ECORRUPT;
        p += strlen(p) + 1;
    }
    if (p != end)
        return VEX_ECORRUPT;
    c->dict_size = nd;

    const unsigned char *q = (const unsigned char *)end;
    uint32_t maxcode = 0;
    switch (width) {
    case 0:
        memset(codes, 0, n * sizeof(*codes));
        break;
    case 1:
        for (size_t i = 0; i < n; i++)
            codes[i] = q[i];
        break;
    case 2:
        for (size_t i = 0; i < n; i++) {
            uint16_t v;
            memcpy(&v, q + 2 * i, 2);
            codes[i] = le16toh(v);
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            uint32_t v;
            memcpy(&v, q + 4 * i, 4);
            codes[i] = le32toh(v);
        }
        break;
    }
    for (size_t i = 0; i < n; i++)
        maxcode = codes[i] > maxcode ? codes[i] : maxcode;
    if (n > 0 && maxcode >= nd)
        return VEX_ECORRUPT;
    return 0;
}

/* decode_blob takes ownership of raw (the blobs stay in it). */
static int decode_blob(struct rcol *c, size_t n, unsigned char *raw, size_t raw_len)
{
    c->body = raw;
    if (n > raw_len / 8)
        return VEX_ECORRUPT;
    uint64_t *offs = malloc((n + 1) * sizeof(*offs));
    c->offs = offs;
    if (!offs)
        return VEX_ENOMEM;
    uint64_t avail = raw_len - n * 8, pos = n * 8;
    for (size_t i = 0; i < n; i++) {
        uint64_t len = vex_get_le64(raw + i * 8);
        if (len > avail)
            return VEX_ECORRUPT;
        offs[i] = pos;
        pos += len;
        avail -= len;
    }
    if (avail != 0)
        return VEX_ECORRUPT;
    offs[n] = pos;
    return 0;
}

/* ---- version 2 column bytes ---- */

static int load_locked(struct vex_segment *s, struct rcol *c, int expect);

/* block_read checks an int block of `len` bytes holding n values and
 * decodes it into out[0..n). `kinds` is the set of kinds allowed (bit k for
 * kind k). For kind 2 it leaves out[i] = base + packed[i] and sets *ref, for
 * the caller to add the referenced column. */
static int block_read(const unsigned char *p, size_t len, size_t n, unsigned kinds, uint64_t *out,
                      int *kind_out, size_t *ref, int *depth)
{
    if (len < I64_HDR)
        return VEX_ECORRUPT;
    int kind = p[0], width = p[1];
    *ref = vex_get_le16(p + 2);
    *kind_out = kind;
    *depth = p[4];
    if (kind > 2 || !(kinds >> kind & 1) || width > 8 || p[5] || p[6] || p[7])
        return VEX_ECORRUPT;
    if (kind == 2 ? *depth < 1 || *depth > MAX_DEPTH : *depth != 0)
        return VEX_ECORRUPT;
    uint64_t base = vex_get_le64(p + 8), first = vex_get_le64(p + 16);
    if ((kind != 2 && *ref != 0) || (kind != 1 && first != 0))
        return VEX_ECORRUPT;
    size_t m = kind == 1 && n > 0 ? n - 1 : n;
    size_t body = len - I64_HDR;
    if (width ? body / (size_t)width != m || body % (size_t)width : body != 0)
        return VEX_ECORRUPT;
    const unsigned char *q = p + I64_HDR;
    uint64_t *dst = kind == 1 && n > 0 ? out + 1 : out;
    /* One pass per byte plane, adding it in at its place: plain loops over
     * bytes that the compiler vectorises. */
    for (size_t i = 0; i < m; i++)
        dst[i] = base;
    for (int k = 0; k < width; k++) {
        const unsigned char *pl = q + (size_t)k * m;
        int sh = 8 * k;
        for (size_t i = 0; i < m; i++)
            dst[i] += (uint64_t)pl[i] << sh;
    }
    if (kind == 1 && n > 0) {
        out[0] = first;
        for (size_t i = 1; i < n; i++)
            out[i] += out[i - 1];
    }
    return 0;
}

/* ref_column loads column number `ref`, which must come before column c,
 * have the given type and a chain one shorter than c's `depth`. Since the
 * depth falls by one at each step and starts at most MAX_DEPTH, decoding
 * never recurses deeper than that, whatever the file says. */
static int ref_column(struct vex_segment *s, const struct rcol *c, size_t ref, int type, int depth,
                      struct rcol **out)
{
    if (ref >= (size_t)(c - s->cols) || s->cols[ref].type != type || s->version < 2)
        return VEX_ECORRUPT;
    *out = &s->cols[ref];
    int rc = load_locked(s, *out, depth - 1);
    /* A bad column makes every column coded against it bad too. */
    return rc == VEX_ENOMEM ? rc : rc ? VEX_ECORRUPT : 0;
}

static int decode_i64_v2(struct vex_segment *s, struct rcol *c, const unsigned char *raw,
                         size_t raw_len)
{
    size_t n = s->nrows, ref;
    int kind, depth;
    if (n > SIZE_MAX / 8)
        return VEX_ECORRUPT;
    uint64_t *v = malloc(n ? n * 8 : 8);
    c->vals = v;
    if (!v)
        return VEX_ENOMEM;
    int rc = block_read(raw, raw_len, n, 7, v, &kind, &ref, &depth);
    if (rc || kind != 2)
        return rc;
    struct rcol *r;
    if ((rc = ref_column(s, c, ref, VEX_SEGMENT_I64, depth, &r)))
        return rc;
    const uint64_t *rv = r->vals;
    for (size_t i = 0; i < n; i++)
        v[i] += rv[i];
    return 0;
}

static int decode_f64_v2(struct vex_segment *s, struct rcol *c, const unsigned char *raw,
                         size_t raw_len)
{
    size_t n = s->nrows, ref;
    if (raw_len < F64_HDR || raw[0] > 1 || n > SIZE_MAX / 8 - 1)
        return VEX_ECORRUPT;
    for (int k = 1; k < F64_HDR; k++)
        if (raw[k])
            return VEX_ECORRUPT;
    if (raw[0] == 0)
        return decode_f64_v1(c, n, raw + F64_HDR, raw_len - F64_HDR);
    uint64_t *v = malloc(n ? n * 8 : 8);
    c->vals = v;
    if (!v)
        return VEX_ENOMEM;
    int kind, depth;
    int rc = block_read(raw + F64_HDR, raw_len - F64_HDR, n, 3, v, &kind, &ref, &depth);
    if (rc)
        return rc;
    /* In place: each slot is read as an integer and written as a double. */
    for (size_t i = 0; i < n; i++) {
        int64_t x = (int64_t)v[i];
        if (x < -(int64_t)F64_INT_MAX || x > (int64_t)F64_INT_MAX)
            return VEX_ECORRUPT;
        double d = (double)x;
        memcpy(&v[i], &d, 8);
    }
    return 0;
}

/* take_varint reads a LEB128 number of at most 5 bytes below `end`. */
static int take_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int k = 0; k < 5 && *p < end; k++) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << (7 * k);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return VEX_ECORRUPT;
}

static int decode_str_v2(struct vex_segment *s, struct rcol *c, const unsigned char *raw,
                         size_t raw_len)
{
    size_t n = s->nrows;
    if (raw_len < STR_HDR || raw[4] > 1)
        return VEX_ECORRUPT;
    size_t nd = vex_get_le32(raw), ref = vex_get_le16(raw + 6);
    int kind = raw[4], depth = raw[5];
    if (kind == 1 ? depth < 1 || depth > MAX_DEPTH : depth != 0)
        return VEX_ECORRUPT;
    uint64_t dict_bytes = vex_get_le64(raw + 8);
    /* Every string of the dictionary is some row's value. */
    if ((kind == 0 && ref != 0) || dict_bytes > raw_len - STR_HDR || nd > n || (n > 0) != (nd > 0))
        return VEX_ECORRUPT;

    /* Pass 1 checks the front coding and sizes the strings. */
    const unsigned char *p = raw + STR_HDR, *end = p + dict_bytes;
    size_t prev = 0, total = 0;
    for (size_t k = 0; k < nd; k++) {
        uint64_t pre;
        if (take_varint(&p, end, &pre) || pre > prev)
            return VEX_ECORRUPT;
        const unsigned char *z = memchr(p, 0, (size_t)(end - p));
        if (!z)
            return VEX_ECORRUPT;
        prev = (size_t)pre + (size_t)(z - p);
        if (prev >= SIZE_MAX / 2 - total)
            return VEX_ECORRUPT;
        total += prev + 1;
        p = z + 1;
    }
    if (p != end)
        return VEX_ECORRUPT;

    /* Pass 2 writes the strings out whole; they must strictly increase,
     * since callers compare codes to compare strings. */
    char *body = malloc(total ? total : 1);
    const char **dict = malloc((nd ? nd : 1) * sizeof(*dict));
    uint32_t *codes = malloc((n ? n : 1) * sizeof(*codes));
    c->body = (unsigned char *)body;
    c->dict = dict;
    c->vals = codes;
    if (!body || !dict || !codes)
        return VEX_ENOMEM;
    p = raw + STR_HDR;
    char *o = body;
    for (size_t k = 0; k < nd; k++) {
        uint64_t pre = 0;
        take_varint(&p, end, &pre); /* checked in pass 1 */
        size_t rest = strlen((const char *)p) + 1;
        if (k > 0)
            memcpy(o, dict[k - 1], (size_t)pre);
        memcpy(o + pre, p, rest);
        p += rest;
        dict[k] = o;
        if (k > 0 && strcmp(dict[k - 1], o) >= 0)
            return VEX_ECORRUPT;
        o += (size_t)pre + rest;
    }
    c->dict_size = nd;

    struct rcol *r = NULL;
    size_t m = n;
    int rc;
    if (kind == 1) {
        if ((rc = ref_column(s, c, ref, VEX_SEGMENT_STR, depth, &r)))
            return rc;
        m = r->dict_size;
    }
    uint64_t *t = malloc((m ? m : 1) * 8);
    if (!t)
        return VEX_ENOMEM;
    int bkind, bdepth;
    size_t bref;
    rc = block_read(end, raw_len - STR_HDR - (size_t)dict_bytes, m, 3, t, &bkind, &bref, &bdepth);
    for (size_t i = 0; i < m && !rc; i++)
        if (t[i] >= nd)
            rc = VEX_ECORRUPT;
    if (!rc && kind == 0) {
        for (size_t i = 0; i < n; i++)
            codes[i] = (uint32_t)t[i];
    } else if (!rc) {
        const uint32_t *rcodes = r->vals;
        for (size_t i = 0; i < n; i++)
            codes[i] = (uint32_t)t[rcodes[i]];
    }
    free(t);
    return rc;
}

/* raw_bytes gives a column's raw bytes: its stored bytes in the mapping, or
 * decompressed into *owned (the caller frees it). */
static int raw_bytes(struct vex_segment *s, const struct rcol *c, const unsigned char **raw,
                     unsigned char **owned)
{
    *raw = c->src;
    *owned = NULL;
    if (c->raw_len > SIZE_MAX - 1)
        return VEX_ECORRUPT;
    size_t raw_len = (size_t)c->raw_len;
    if (c->comp == 0)
        return c->stored == c->raw_len ? 0 : VEX_ECORRUPT;
    if (!s->dctx && !(s->dctx = ZSTD_createDCtx()))
        return VEX_ENOMEM;
    if (ZSTD_getFrameContentSize(c->src, c->stored) != c->raw_len)
        return VEX_ECORRUPT;
    unsigned char *buf = malloc(raw_len ? raw_len : 1);
    if (!buf)
        return VEX_ENOMEM;
    size_t z = ZSTD_decompressDCtx(s->dctx, buf, raw_len, c->src, c->stored);
    if (ZSTD_isError(z) || z != raw_len) {
        free(buf);
        return VEX_ECORRUPT;
    }
    *raw = *owned = buf;
    return 0;
}

/* declared_depth is the length of the chain of references a version 2
 * column says it heads (0 for one decoded on its own; -1 for bytes too
 * short to say, which decoding then reports). */
static int declared_depth(const struct vex_segment *s, const struct rcol *c,
                          const unsigned char *raw)
{
    if (s->version < 2)
        return 0;
    if (c->type == VEX_SEGMENT_I64)
        return c->raw_len >= I64_HDR ? raw[4] : -1;
    if (c->type == VEX_SEGMENT_STR)
        return c->raw_len >= STR_HDR ? raw[5] : -1;
    return 0;
}

/* decode turns a column's raw bytes into its arrays, taking ownership of
 * `owned`. Called under mu. */
static int decode(struct vex_segment *s, struct rcol *c, const unsigned char *raw,
                  unsigned char *owned)
{
    size_t n = s->nrows, raw_len = (size_t)c->raw_len;
    /* Version 1 strings and all blobs point into the raw bytes, which they
     * then keep (copied out of the mapping when stored as is). */
    int keeps = c->type == VEX_SEGMENT_BLOB || (c->type == VEX_SEGMENT_STR && s->version == 1);
    if (keeps && !owned) {
        if (!(owned = malloc(raw_len ? raw_len : 1)))
            return VEX_ENOMEM;
        memcpy(owned, raw, raw_len);
    }
    int rc;
    if (c->type == VEX_SEGMENT_BLOB)
        return decode_blob(c, n, owned, raw_len);
    if (s->version == 1) {
        if (c->type == VEX_SEGMENT_STR)
            return decode_str_v1(c, n, owned, raw_len);
        rc = c->type == VEX_SEGMENT_I64 ? decode_i64_v1(c, n, raw, raw_len)
                                        : decode_f64_v1(c, n, raw, raw_len);
    } else if (c->type == VEX_SEGMENT_I64) {
        rc = decode_i64_v2(s, c, raw, raw_len);
    } else if (c->type == VEX_SEGMENT_F64) {
        rc = decode_f64_v2(s, c, raw, raw_len);
    } else {
        rc = decode_str_v2(s, c, raw, raw_len);
    }
    free(owned);
    return rc;
}

/* load_locked decodes column c unless that was done before and returns 0
 * or the error its decoding gave (which sticks: the bytes will not change).
 * expect, when not -1, is the depth the column coded against this one says
 * this one has: when it does not match, the referring column is at fault,
 * so that error is returned without being kept here. */
static int load_locked(struct vex_segment *s, struct rcol *c, int expect)
{
    if (c->state == 0) {
        const unsigned char *raw;
        unsigned char *owned;
        int rc = raw_bytes(s, c, &raw, &owned);
        if (!rc) {
            int d = declared_depth(s, c, raw);
            if (expect >= 0 && d != expect) {
                free(owned);
                return VEX_ECORRUPT;
            }
            c->depth = d;
            rc = decode(s, c, raw, owned);
        }
        if (rc) {
            free(c->vals);
            free(c->body);
            free(c->dict);
            free(c->offs);
            c->vals = c->body = NULL;
            c->dict = NULL;
            c->offs = NULL;
        }
        c->state = rc ? rc : 1;
    } else if (c->state == 1 && expect >= 0 && c->depth != expect) {
        return VEX_ECORRUPT;
    }
    return c->state == 1 ? 0 : c->state;
}

static int load(const struct vex_segment *cs, struct rcol *c)
{
    /* Decoding fills a cache inside a segment the API hands out as const;
     * mu serialises it, and a decoded column never changes again. */
    struct vex_segment *s = (struct vex_segment *)cs;
    pthread_mutex_lock(&s->mu);
    int rc = load_locked(s, c, -1);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* parse checks the frame of the mapped file and every checksum, and reads
 * the index. Columns are decoded later, on demand. */
static int parse(struct vex_segment *s, const unsigned char *map, uint64_t size)
{
    if (size < HDR_SIZE + TRAILER_SIZE)
        return VEX_ECORRUPT;
    uint32_t version = vex_get_le32(map + 8);
    if (memcmp(map, magic, 8) != 0 || version < 1 || version > VERSION ||
        vex_get_le32(map + 12) != vex_crc32c_of(map, 12))
        return VEX_ECORRUPT;
    s->version = (int)version;
    const unsigned char *tr = map + size - TRAILER_SIZE;
    if (memcmp(tr + 24, magic, 8) != 0 || vex_get_le32(tr + 20) != vex_crc32c_of(tr, 20))
        return VEX_ECORRUPT;
    uint64_t idx_off = vex_get_le64(tr), idx_len = vex_get_le64(tr + 8);
    if (idx_off < HDR_SIZE || idx_off > size - TRAILER_SIZE ||
        idx_len != size - TRAILER_SIZE - idx_off)
        return VEX_ECORRUPT;
    if (vex_crc32c_of(map + idx_off, idx_len) != vex_get_le32(tr + 16))
        return VEX_ECORRUPT;

    struct cursor c = {.p = map + idx_off, .end = map + idx_off + idx_len};
    uint64_t nrows = take_u(&c, 8);
    uint64_t ncols = take_u(&c, 4);
    uint64_t nmeta = take_u(&c, 4);
    if (c.bad || nrows > SIZE_MAX || ncols > MAX_COLS || nmeta > idx_len / 7)
        return VEX_ECORRUPT;
    s->nrows = (size_t)nrows;
    s->meta = calloc(nmeta ? nmeta : 1, sizeof(*s->meta));
    s->cols = calloc(ncols ? ncols : 1, sizeof(*s->cols));
    if (!s->meta || !s->cols)
        return VEX_ENOMEM;
    for (uint64_t i = 0; i < nmeta; i++) {
        size_t kl = take_u(&c, 2);
        if (kl == 0 || kl > VEX_SEGMENT_MAX_NAME)
            return VEX_ECORRUPT;
        char *k = take_str(&c, kl);
        s->meta[i].key = k;
        s->nmeta = i + 1;
        size_t vl = take_u(&c, 4);
        if (c.bad || vl > MAX_META_VALUE)
            return VEX_ECORRUPT;
        s->meta[i].value = take_str(&c, vl);
        if (c.bad)
            return VEX_ECORRUPT;
        if (!k || !s->meta[i].value)
            return VEX_ENOMEM;
    }

    uint64_t expect = HDR_SIZE;
    for (uint64_t i = 0; i < ncols; i++) {
        struct rcol *col = &s->cols[i];
        int type = (int)take_u(&c, 1);
        int comp = (int)take_u(&c, 1);
        size_t nl = take_u(&c, 2);
        if (c.bad || type < VEX_SEGMENT_I64 || type > VEX_SEGMENT_BLOB || comp > 1 || nl == 0 ||
            nl > VEX_SEGMENT_MAX_NAME)
            return VEX_ECORRUPT;
        col->type = type;
        col->comp = comp;
        col->name = take_str(&c, nl);
        s->ncols = i + 1;
        uint64_t off = take_u(&c, 8);
        col->stored = take_u(&c, 8);
        col->raw_len = take_u(&c, 8);
        uint32_t crc = (uint32_t)take_u(&c, 4);
        if (c.bad || off != expect || col->stored > idx_off - off)
            return VEX_ECORRUPT;
        if (!col->name)
            return VEX_ENOMEM;
        col->src = map + off;
        if (vex_crc32c_of(col->src, col->stored) != crc)
            return VEX_ECORRUPT;
        expect += col->stored;
    }
    if (c.p != c.end || expect != idx_off)
        return VEX_ECORRUPT;

    /* Names must be unique, or lookups by name would be ambiguous. */
    int rc = 0;
    if (s->ncols > 1) {
        char **names = malloc(s->ncols * sizeof(*names));
        if (!names)
            return VEX_ENOMEM;
        for (size_t i = 0; i < s->ncols; i++)
            names[i] = s->cols[i].name;
        qsort(names, s->ncols, sizeof(*names), cmp_names);
        for (size_t i = 1; i < s->ncols && rc == 0; i++)
            if (strcmp(names[i - 1], names[i]) == 0)
                rc = VEX_ECORRUPT;
        free(names);
    }
    return rc;
}

int vex_segment_open(const char *path, struct vex_segment **out)
{
    if (!path || !out)
        return VEX_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? VEX_ENOENT : VEX_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return VEX_EIO;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < HDR_SIZE + TRAILER_SIZE || size > SIZE_MAX) {
        close(fd);
        return VEX_ECORRUPT;
    }
    /* The mapping outlives the descriptor. Segments are never modified in
     * place (a new version is renamed over the old name, and a deleted file
     * lives on while mapped), so its bytes cannot change under us. */
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return VEX_EIO;
    struct vex_segment *s = calloc(1, sizeof(*s));
    if (!s || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        munmap(map, (size_t)size);
        return VEX_ENOMEM;
    }
    s->map = map;
    s->map_size = (size_t)size;
    int rc = parse(s, map, size);
    if (rc) {
        vex_segment_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vex_segment_verify(const struct vex_segment *s)
{
    for (size_t i = 0; i < s->ncols; i++) {
        int rc = load(s, &s->cols[i]);
        if (rc)
            return rc;
    }
    return 0;
}

size_t vex_segment_rows(const struct vex_segment *s)
{
    return s->nrows;
}

const char *vex_segment_meta(const struct vex_segment *s, const char *key)
{
    for (size_t i = 0; i < s->nmeta; i++)
        if (strcmp(s->meta[i].key, key) == 0)
            return s->meta[i].value;
    return NULL;
}

size_t vex_segment_ncols(const struct vex_segment *s)
{
    return s->ncols;
}

int vex_segment_column(const struct vex_segment *s, size_t i, const char **name,
                       enum vex_segment_type *type)
{
    if (i >= s->ncols)
        return VEX_EINVAL;
    if (name)
        *name = s->cols[i].name;
    if (type)
        *type = (enum vex_segment_type)s->cols[i].type;
    return 0;
}

/* find returns the decoded column `name` of `type`; NULL with *err set to
 * VEX_ENOENT when there is none, or to the error decoding it gave. */
static struct rcol *find(const struct vex_segment *s, const char *name, int type, int *err)
{
    *err = VEX_ENOENT;
    if (!s || !name)
        return NULL;
    for (size_t i = 0; i < s->ncols; i++) {
        struct rcol *c = &s->cols[i];
        if (c->type == type && strcmp(c->name, name) == 0) {
            *err = load(s, c);
            return *err ? NULL : c;
        }
    }
    return NULL;
}

const int64_t *vex_segment_i64(const struct vex_segment *s, const char *name)
{
    int err;
    const struct rcol *c = find(s, name, VEX_SEGMENT_I64, &err);
    return c ? c->vals : NULL;
}

const double *vex_segment_f64(const struct vex_segment *s, const char *name)
{
    int err;
    const struct rcol *c = find(s, name, VEX_SEGMENT_F64, &err);
    return c ? c->vals : NULL;
}

int vex_segment_str(const struct vex_segment *s, const char *name, const uint32_t **codes,
                    const char *const **dict, size_t *dict_size)
{
    int err;
    const struct rcol *c = find(s, name, VEX_SEGMENT_STR, &err);
    if (!c)
        return err;
    if (codes)
        *codes = c->vals;
    if (dict)
        *dict = c->dict;
    if (dict_size)
        *dict_size = c->dict_size;
    return 0;
}

int vex_segment_blob(const struct vex_segment *s, const char *name, size_t row, const void **ptr,
                     size_t *len)
{
    int err;
    const struct rcol *c = find(s, name, VEX_SEGMENT_BLOB, &err);
    if (!c)
        return err;
    if (row >= s->nrows)
        return VEX_EINVAL;
    if (ptr)
        *ptr = c->body + c->offs[row];
    if (len)
        *len = (size_t)(c->offs[row + 1] - c->offs[row]);
    return 0;
}

void vex_segment_close(struct vex_segment *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->cols[i].name);
        free(s->cols[i].vals);
        free(s->cols[i].body);
        free(s->cols[i].dict);
        free(s->cols[i].offs);
    }
    for (size_t i = 0; i < s->nmeta; i++) {
        free(s->meta[i].key);
        free(s->meta[i].value);
    }
    free(s->cols);
    free(s->meta);
    ZSTD_freeDCtx(s->dctx);
    if (s->map)
        munmap(s->map, s->map_size);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
