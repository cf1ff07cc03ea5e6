/* segment.c - writing and reading immutable columnar segment files.
 *
 * ON-DISK FORMAT (also in FORMAT.md; all integers little-endian)
 *
 *     header    16 bytes
 *     column 0  stored bytes of the first column added
 *     ...       one block per column, in the order added, back to back
 *     index     row count, meta pairs, one entry per column
 *     trailer   32 bytes
 *
 * Header:
 *     0   8  magic "VEXSEG\0\0" (56 45 58 53 45 47 00 00)
 *     8   4  format version, 1
 *    12   4  CRC-32C of bytes 0..11
 *
 * Trailer (the last 32 bytes of the file):
 *     0   8  index offset (from the start of the file)
 *     8   8  index length
 *    16   4  CRC-32C of the index
 *    20   4  CRC-32C of trailer bytes 0..19
 *    24   8  magic "VEXSEG\0\0"
 *
 * Index:
 *     0   8  nrows
 *     8   4  ncols
 *    12   4  nmeta
 *    16      nmeta pairs: u16 key length K (1..255), K key bytes, u32 value
 *            length V (0..1 MiB), V value bytes (no NUL bytes; keys unique)
 *            ncols entries:
 *              u8  type: 1 i64, 2 f64, 3 str, 4 blob
 *              u8  compression: 0 stored as is, 1 one zstd frame
 *              u16 name length L (1..255), L name bytes (no NUL; unique)
 *              u64 block offset, u64 stored length, u64 raw length
 *              u32 CRC-32C of the stored bytes of the block
 *
 * The blocks start at byte 16, follow each other without gaps, and the index
 * follows the last one; the trailer ends the file. Every byte is therefore
 * under a checksum or a magic, so any flipped bit makes open fail with
 * VEX_ECORRUPT. A block's raw bytes (after zstd, if compressed) are:
 *
 * i64:  u8 kind (0 frame of reference, 1 delta), u8 width W (0, 1, 2, 4, 8),
 *       6 zero bytes, i64 base, i64 first, then M values of W bytes each.
 *       Kind 0: M = nrows, value[i] = base + packed[i].
 *       Kind 1: M = nrows - 1 (0 when nrows is 0), value[0] = first,
 *       value[i] = value[i-1] + base + packed[i-1].
 *       Arithmetic is modulo 2^64; W = 0 means every packed value is 0. The
 *       writer picks the kind whose W is smaller (delta wins for timestamps
 *       in order), with W the fewest bytes that hold max - min.
 * f64:  nrows IEEE-754 doubles split into 8 byte planes: plane k (k = 0..7)
 *       holds byte k (bit 8k up) of every value, row by row. Similar values
 *       share high bytes, which then compress well.
 * str:  u32 dictionary size D, u8 code width W (0 when D <= 1, else 1 for
 *       D <= 256, 2 for D <= 65536, 4 above), 3 zero bytes, u64 dictionary
 *       length B, then B bytes: the D distinct strings, each followed by a
 *       NUL, in strictly increasing strcmp order; then nrows codes of W bytes
 *       each, every one < D.
 * blob: nrows u64 lengths, then the bytes of every row back to back.
 *
 * The writer compresses each block with zstd level 3 and stores it as is
 * when that does not make it smaller. */
#include "store/segment.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
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
#define VERSION 1
#define ZSTD_LEVEL 3
#define MAX_META_VALUE (1u << 20)
#define MAX_COLS 65535
#define I64_HDR 24
#define STR_HDR 16

static const unsigned char magic[8] = {'V', 'E', 'X', 'S', 'E', 'G', 0, 0};

/* ---- writer ---------------------------------------------------------- */

struct wcol {
    char *name;
    int type;
    unsigned char *raw; /* the block's raw bytes, ready to compress */
    size_t raw_len;
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

/* push_column takes ownership of raw (also on failure). */
static int push_column(struct vex_segment_writer *w, const char *name, int type, unsigned char *raw,
                       size_t raw_len)
{
    char *copy = strdup(name);
    if (!copy) {
        free(raw);
        return VEX_ENOMEM;
    }
    w->cols[w->ncols++] = (struct wcol){.name = copy, .type = type, .raw = raw, .raw_len = raw_len};
    return 0;
}

static int width_for(uint64_t range)
{
    if (range == 0)
        return 0;
    if (range <= 0xFF)
        return 1;
    if (range <= 0xFFFF)
        return 2;
    if (range <= 0xFFFFFFFFu)
        return 4;
    return 8;
}

static void put_packed(unsigned char *p, int width, uint64_t v)
{
    switch (width) {
    case 1:
        p[0] = (unsigned char)v;
        break;
    case 2:
        vex_put_le16(p, (uint16_t)v);
        break;
    case 4:
        vex_put_le32(p, (uint32_t)v);
        break;
    case 8:
        vex_put_le64(p, v);
        break;
    }
}

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

    /* Ranges are taken modulo 2^64, which is what the packing stores. */
    int kind = 0, width = 0;
    uint64_t base = 0, first = 0;
    if (n > 0) {
        int64_t lo = vals[0], hi = vals[0];
        for (size_t i = 1; i < n; i++) {
            lo = vals[i] < lo ? vals[i] : lo;
            hi = vals[i] > hi ? vals[i] : hi;
        }
        width = width_for((uint64_t)hi - (uint64_t)lo);
        base = (uint64_t)lo;
        if (n > 1 && width > 0) {
            int64_t dlo = INT64_MAX, dhi = INT64_MIN;
            for (size_t i = 1; i < n; i++) {
                int64_t d = (int64_t)((uint64_t)vals[i] - (uint64_t)vals[i - 1]);
                dlo = d < dlo ? d : dlo;
                dhi = d > dhi ? d : dhi;
            }
            int dwidth = width_for((uint64_t)dhi - (uint64_t)dlo);
            if (dwidth < width) {
                kind = 1;
                width = dwidth;
                base = (uint64_t)dlo;
                first = (uint64_t)vals[0];
            }
        }
    }
    size_t m = kind == 1 ? n - 1 : n;
    size_t raw_len = I64_HDR + m * (size_t)width;
    unsigned char *raw = calloc(1, raw_len);
    if (!raw)
        return VEX_ENOMEM;
    raw[0] = (unsigned char)kind;
    raw[1] = (unsigned char)width;
    vex_put_le64(raw + 8, base);
    vex_put_le64(raw + 16, first);
    unsigned char *p = raw + I64_HDR;
    if (width > 0 && kind == 0) {
        for (size_t i = 0; i < n; i++, p += width)
            put_packed(p, width, (uint64_t)vals[i] - base);
    } else if (width > 0) {
        for (size_t i = 1; i < n; i++, p += width)
            put_packed(p, width, (uint64_t)vals[i] - (uint64_t)vals[i - 1] - base);
    }
    return push_column(w, name, VEX_SEGMENT_I64, raw, raw_len);
}

int vex_segment_writer_add_f64(struct vex_segment_writer *w, const char *name, const double *vals)
{
    int rc = check_new_column(w, name);
    if (rc)
        return rc;
    size_t n = w->nrows;
    if (!vals && n > 0)
        return VEX_EINVAL;
    if (n > SIZE_MAX / 8)
        return VEX_ETOOBIG;
    unsigned char *raw = malloc(n ? n * 8 : 1);
    if (!raw)
        return VEX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &vals[i], 8);
        for (int k = 0; k < 8; k++)
            raw[(size_t)k * n + i] = (unsigned char)(bits >> (8 * k));
    }
    return push_column(w, name, VEX_SEGMENT_F64, raw, n * 8);
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

int vex_segment_writer_add_str(struct vex_segment_writer *w, const char *name,
                               const char *const *vals)
{
    int rc = check_new_column(w, name);
    if (rc)
        return rc;
    size_t n = w->nrows;
    if (!vals && n > 0)
        return VEX_EINVAL;
    if (n > UINT32_MAX)
        return VEX_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if (!vals[i])
            return VEX_EINVAL;

    rc = VEX_ENOMEM;
    unsigned char *raw = NULL;
    size_t cap = 1024, nd = 0;
    uint32_t *slots = calloc(cap, sizeof(*slots));
    uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    struct distinct *d = malloc((n ? n : 1) * sizeof(*d));
    uint32_t *rank = NULL;
    if (!slots || !ids || !d)
        goto out;

    /* Pass 1: give each distinct string an id in order of appearance. */
    size_t dict_bytes = 0;
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
            dict_bytes += len + 1;
            if (nd * 2 > cap && dict_grow(&slots, &cap, d) != 0)
                goto out;
        }
        ids[i] = e - 1;
    }

    /* Pass 2: sort the dictionary so that codes order like strings. */
    qsort(d, nd, sizeof(*d), cmp_distinct);
    rank = malloc((nd ? nd : 1) * sizeof(*rank));
    if (!rank)
        goto out;
    for (size_t k = 0; k < nd; k++)
        rank[d[k].id] = (uint32_t)k;
    int width = nd <= 1 ? 0 : nd <= 256 ? 1 : nd <= 65536 ? 2 : 4;
    if (dict_bytes > SIZE_MAX - STR_HDR - n * (size_t)width) {
        rc = VEX_ETOOBIG;
        goto out;
    }
    size_t raw_len = STR_HDR + dict_bytes + n * (size_t)width;
    raw = calloc(1, raw_len);
    if (!raw)
        goto out;
    vex_put_le32(raw, (uint32_t)nd);
    raw[4] = (unsigned char)width;
    vex_put_le64(raw + 8, dict_bytes);
    unsigned char *p = raw + STR_HDR;
    for (size_t k = 0; k < nd; k++) {
        memcpy(p, d[k].s, d[k].len + 1);
        p += d[k].len + 1;
    }
    if (width > 0)
        for (size_t i = 0; i < n; i++, p += width)
            put_packed(p, width, rank[ids[i]]);
    rc = push_column(w, name, VEX_SEGMENT_STR, raw, raw_len);
    raw = NULL;
out:
    free(raw);
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
    unsigned char *raw = malloc(total ? total : 1);
    if (!raw)
        return VEX_ENOMEM;
    unsigned char *p = raw + n * 8;
    for (size_t i = 0; i < n; i++) {
        vex_put_le64(raw + i * 8, lens[i]);
        if (lens[i])
            memcpy(p, ptrs[i], lens[i]);
        p += lens[i];
    }
    return push_column(w, name, VEX_SEGMENT_BLOB, raw, total);
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
};

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

static int decode_i64(struct rcol *c, size_t n, const unsigned char *raw, size_t raw_len)
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

static int decode_f64(struct rcol *c, size_t n, const unsigned char *raw, size_t raw_len)
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

/* decode_str takes ownership of raw (the strings stay in it). */
static int decode_str(struct rcol *c, size_t n, unsigned char *raw, size_t raw_len)
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

/* decode turns a column's stored bytes into its arrays. Called under mu. */
static int decode(struct vex_segment *s, struct rcol *c)
{
    size_t n = s->nrows;
    if (c->raw_len > SIZE_MAX - 1)
        return VEX_ECORRUPT;
    size_t raw_len = (size_t)c->raw_len;
    unsigned char *raw;
    if (c->comp == 0) {
        if (c->stored != c->raw_len)
            return VEX_ECORRUPT;
        /* i64 and f64 decode into arrays of their own; only str and blob
         * keep the raw bytes, so only they need a copy. */
        if (c->type == VEX_SEGMENT_I64)
            return decode_i64(c, n, c->src, raw_len);
        if (c->type == VEX_SEGMENT_F64)
            return decode_f64(c, n, c->src, raw_len);
        raw = malloc(raw_len ? raw_len : 1);
        if (!raw)
            return VEX_ENOMEM;
        memcpy(raw, c->src, raw_len);
    } else {
        if (!s->dctx && !(s->dctx = ZSTD_createDCtx()))
            return VEX_ENOMEM;
        if (ZSTD_getFrameContentSize(c->src, c->stored) != c->raw_len)
            return VEX_ECORRUPT;
        raw = malloc(raw_len ? raw_len : 1);
        if (!raw)
            return VEX_ENOMEM;
        size_t z = ZSTD_decompressDCtx(s->dctx, raw, raw_len, c->src, c->stored);
        if (ZSTD_isError(z) || z != raw_len) {
            free(raw);
            return VEX_ECORRUPT;
        }
    }
    int rc;
    switch (c->type) {
    case VEX_SEGMENT_I64:
        rc = decode_i64(c, n, raw, raw_len);
        free(raw);
        return rc;
    case VEX_SEGMENT_F64:
        rc = decode_f64(c, n, raw, raw_len);
        free(raw);
        return rc;
    case VEX_SEGMENT_STR:
        return decode_str(c, n, raw, raw_len);
    default:
        return decode_blob(c, n, raw, raw_len);
    }
}

/* load decodes column c unless that was done before; returns 0 or the
 * error its decoding gave (which sticks: the bytes will not change). */
static int load(const struct vex_segment *cs, struct rcol *c)
{
    /* Decoding fills a cache inside a segment the API hands out as const;
     * mu serialises it, and a decoded column never changes again. */
    struct vex_segment *s = (struct vex_segment *)cs;
    pthread_mutex_lock(&s->mu);
    if (c->state == 0) {
        int rc = decode(s, c);
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
    }
    int st = c->state;
    pthread_mutex_unlock(&s->mu);
    return st == 1 ? 0 : st;
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
    if (memcmp(map, magic, 8) != 0 || vex_get_le32(map + 8) != VERSION ||
        vex_get_le32(map + 12) != vex_crc32c_of(map, 12))
        return VEX_ECORRUPT;
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
