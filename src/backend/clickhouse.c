/* clickhouse.c - the ClickHouse backend: replica (INSERT) and source
 * (SELECT ... FINAL) over ClickHouse's HTTP interface with libcurl.
 *
 * Wire format: RowBinary both ways, with the columns of `cols` below in that
 * order. Per row:
 *   String    LEB128 length, then the bytes (no escaping, any byte allowed)
 *   UInt8     1 byte;  UInt32: 4 bytes little-endian
 *   Int64     8 bytes little-endian two's complement;  UInt64: 8 bytes LE
 *   Float64   the IEEE-754 bits as 8 bytes LE
 *
 * Why the SELECT looks the way it does:
 *   SELECT cols FROM (SELECT cols FROM T FINAL WHERE customer = '...')
 *   WHERE (attempt_ts < TO AND last_ts >= FROM)
 *      OR attempt_ts in [FROM, TO) OR last_ts in [FROM, TO)
 * The last two terms matter only for a session whose last_ts is before its
 * attempt_ts (client clocks that go back between seqs): it belongs to a
 * period by either end (sessiontype started / ended, endedplays), as the
 * embedded store's column scan counts it.
 *
 * A session's versions may live in different partitions (its attempt_ts can
 * move to another day when a lower-seq event arrives late). FINAL keeps the
 * newest version across partitions, but a time condition next to FINAL
 * would let ClickHouse prune partitions by attempt_ts first, dropping the
 * newest version while an older one elsewhere survives (measured on 18.16).
 * So FINAL runs over the customer alone and the time filter applies to its
 * result; predicate push-down into the subquery and PREWHERE moves are
 * switched off for the same reason. wait_end_of_query=1 makes ClickHouse
 * finish the query before it sends the status line, so an error in the
 * middle of a large answer is a 500, not a 200 with an error text appended
 * to the rows. */
#include "backend/clickhouse.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "core/err.h"

#define CONNECT_TIMEOUT_MS 3000L
#define DDL_TIMEOUT_S 30L
#define PUSH_TIMEOUT_S 60L
#define SCAN_TIMEOUT_S 300L
#define SELECT_CAP (1u << 30) /* largest answer of a pushed-down query */
#define TEXT_CAP (4u << 20) /* largest answer kept as text (DDL, checks) */
#define STR_MAX (1u << 20)  /* longest string accepted in a scanned row */
#define DECODE_BATCH 1024   /* records per visit */
#define POOL_MAX 8          /* idle curl handles kept for reuse */
#define LOG_REPEAT_MS 30000 /* the same error is logged at most this often */

/* ---- columns of the sessions table ---- */

enum {
    C_CUSTOMER,
    C_SID,
    C_DIM0,
    C_LIVE = C_DIM0 + VEX_DIM_COUNT,
    C_ATTEMPT,
    C_LAST,
    C_STARTUP,
    C_PLAY,
    C_CIRR,
    C_VRT,
    C_KBPS_MS,
    C_KNOWN,
    C_REBUF,
    C_SEEKS,
    C_WARN,
    C_STATE,
    C_PLAYED,
    C_VSF,
    C_VPF,
    C_ERRORS,
    C_VERSION,
    C_COUNT
};

static const char *const tail_names[C_COUNT - C_LIVE] = {
    "live",   "attempt_ts", "last_ts",       "startup_ms", "play_ms", "cirr_ms",
    "vrt_ms", "kbps_ms",    "kbps_known_ms", "rebuffers",  "seeks",   "warnings",
    "state",  "played",     "vsf",           "vpf",        "errors",  "version",
};
static const char *const tail_types[C_COUNT - C_LIVE] = {
    "UInt8",  "Int64",  "Int64",  "Int64", "Int64", "Int64", "Int64", "Float64", "Int64",
    "UInt32", "UInt32", "UInt32", "UInt8", "UInt8", "UInt8", "UInt8", "UInt8",   "UInt64",
};

/* Bytes of each fixed-size column from C_LIVE on, in RowBinary. */
static const unsigned char tail_bytes[C_COUNT - C_LIVE] = {
    1, 8, 8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 1, 1, 1, 1, 1, 8,
};

static const char *col_name(int i)
{
    if (i == C_CUSTOMER)
        return "customer";
    if (i == C_SID)
        return "sid";
    if (i < C_LIVE)
        return vex_dim_name((enum vex_dim)(i - C_DIM0));
    return tail_names[i - C_LIVE];
}

static const char *col_type(int i)
{
    return i < C_LIVE ? "String" : tail_types[i - C_LIVE];
}

/* ---- growable byte buffer ---- */

struct obuf {
    unsigned char *p;
    size_t len, cap;
};

static int ob_reserve(struct obuf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return VEX_ENOMEM;
        cap *= 2;
    }
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return VEX_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int ob_add(struct obuf *b, const void *s, size_t n)
{
    if (ob_reserve(b, n + 1))
        return VEX_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0'; /* text answers are read as C strings */
    return 0;
}

static int ob_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ob_printf(struct obuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ob_reserve(b, (size_t)n + 1))
        return VEX_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* ---- RowBinary encoding ---- */

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static unsigned char *put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t n)
{
    p = put_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

static unsigned char *put_f64(unsigned char *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return put_le(p, bits, 8);
}

int vex_clickhouse_encode(const char *customer, const struct vex_record *recs,
                          const int64_t *versions, size_t n, unsigned char **buf, size_t *len,
                          size_t *cap)
{
    struct obuf b = {*buf, *len, *cap};
    size_t clen = strlen(customer);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct vex_record *r = &recs[i];
        size_t slen[1 + VEX_DIM_COUNT];
        /* Fixed part: 17 numbers of at most 8 bytes; each string costs at
         * most 10 bytes of length prefix. */
        size_t need = 17 * 8 + 10 * (2 + VEX_DIM_COUNT) + clen;
        slen[0] = strlen(r->sid);
        need += slen[0];
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            slen[1 + d] = strlen(r->dims[d]);
            need += slen[1 + d];
        }
        if ((rc = ob_reserve(&b, need)))
            break;
        unsigned char *p = b.p + b.len;
        p = put_str(p, customer, clen);
        p = put_str(p, r->sid, slen[0]);
        for (int d = 0; d < VEX_DIM_COUNT; d++)
            p = put_str(p, r->dims[d], slen[1 + d]);
        *p++ = r->live;
        p = put_le(p, (uint64_t)r->attempt_ts, 8);
        p = put_le(p, (uint64_t)r->last_ts, 8);
        p = put_le(p, (uint64_t)r->startup_ms, 8);
        p = put_le(p, (uint64_t)r->play_ms, 8);
        p = put_le(p, (uint64_t)r->cirr_ms, 8);
        p = put_le(p, (uint64_t)r->vrt_ms, 8);
        p = put_f64(p, r->kbps_ms);
        p = put_le(p, (uint64_t)r->kbps_known_ms, 8);
        p = put_le(p, r->rebuffers, 4);
        p = put_le(p, r->seeks, 4);
        p = put_le(p, r->warnings, 4);
        *p++ = r->state;
        *p++ = r->played;
        *p++ = r->vsf;
        *p++ = r->vpf;
        *p++ = r->errors;
        p = put_le(p, (uint64_t)versions[i], 8);
        b.len = (size_t)(p - b.p);
    }
    *buf = b.p;
    *len = b.len;
    *cap = b.cap;
    return rc;
}

/* ---- RowBinary decoding (streaming) ----
 * Rows arrive in pieces of any size. Complete rows are decoded into records
 * whose strings are copied, NUL-terminated, into an arena; every
 * DECODE_BATCH rows the batch is visited and the arena reset. The bytes of
 * an incomplete row wait in `in` for the next piece. */

struct decoder {
    int64_t now_ms, timeout_ms;
    vex_record_visit_fn fn;
    void *ctx;
    struct obuf in;    /* bytes of an incomplete row */
    struct obuf arena; /* strings of the current batch */
    size_t n;
    int visit_rc; /* the visitor's nonzero return */
    struct vex_record recs[DECODE_BATCH];
    size_t soff[DECODE_BATCH][1 + VEX_DIM_COUNT]; /* arena offsets: sid, dims */
};

struct reader {
    const unsigned char *p, *end;
};

/* Each get_* returns 1 when the row is incomplete, 0 when it read. */
static int get_varint(struct reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end)
            return 1;
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    *v = UINT64_MAX; /* longer than 10 bytes: refused by the caller */
    return 0;
}

static int get_le(struct reader *r, int bytes, uint64_t *v)
{
    if (r->end - r->p < bytes)
        return 1;
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++)
        x |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    *v = x;
    return 0;
}

/* get_str copies a string into the arena and gives its offset; VEX_ECORRUPT
 * for an absurd length, VEX_ENOMEM. */
static int get_str(struct reader *r, struct obuf *arena, size_t *off)
{
    uint64_t n;
    if (get_varint(r, &n))
        return 1;
    if (n > STR_MAX)
        return VEX_ECORRUPT;
    if ((uint64_t)(r->end - r->p) < n)
        return 1;
    *off = arena->len;
    if (ob_add(arena, r->p, (size_t)n) || ob_add(arena, "", 1))
        return VEX_ENOMEM;
    r->p += n;
    return 0;
}

/* decode_row reads one row into dec->recs[dec->n]: 0 with *used set, 1 when
 * incomplete, VEX_ECORRUPT, VEX_ENOMEM. */
static int decode_row(struct decoder *dec, const unsigned char *p, size_t len, size_t *used)
{
    struct reader rd = {p, p + len};
    struct vex_record *r = &dec->recs[dec->n];
    size_t *off = dec->soff[dec->n];
    size_t arena_len = dec->arena.len, dummy;
    uint64_t v[C_COUNT];
    int rc = get_str(&rd, &dec->arena, &dummy); /* customer: the one asked for */
    for (int i = C_SID; i < C_LIVE && !rc; i++)
        rc = get_str(&rd, &dec->arena, &off[i - C_SID]);
    for (int i = C_LIVE; i < C_COUNT && !rc; i++)
        rc = get_le(&rd, tail_bytes[i - C_LIVE], &v[i]);
    if (rc) {
        dec->arena.len = arena_len; /* the row comes again, whole */
        return rc;
    }
    memset(r, 0, sizeof *r);
    r->live = (uint8_t)v[C_LIVE];
    r->attempt_ts = (int64_t)v[C_ATTEMPT];
    r->last_ts = (int64_t)v[C_LAST];
    r->startup_ms = (int64_t)v[C_STARTUP];
    r->play_ms = (int64_t)v[C_PLAY];
    r->cirr_ms = (int64_t)v[C_CIRR];
    r->vrt_ms = (int64_t)v[C_VRT];
    memcpy(&r->kbps_ms, &v[C_KBPS_MS], sizeof r->kbps_ms);
    r->kbps_known_ms = (int64_t)v[C_KNOWN];
    r->rebuffers = (uint32_t)v[C_REBUF];
    r->seeks = (uint32_t)v[C_SEEKS];
    r->warnings = (uint32_t)v[C_WARN];
    r->state = (uint8_t)v[C_STATE];
    r->played = (uint8_t)v[C_PLAYED];
    r->vsf = (uint8_t)v[C_VSF];
    r->vpf = (uint8_t)v[C_VPF];
    r->errors = (uint8_t)v[C_ERRORS];
    if (r->state > VEX_STATE_ENDED || r->live > 1 || r->played > 1 || r->vsf > 1 || r->vpf > 1 ||
        r->errors > 1)
        return VEX_ECORRUPT;
    *used = (size_t)(rd.p - p);
    dec->n++;
    return 0;
}

static int dec_flush(struct decoder *dec)
{
    if (!dec->n)
        return 0;
    const char *a = (const char *)dec->arena.p;
    for (size_t i = 0; i < dec->n; i++) {
        struct vex_record *r = &dec->recs[i];
        r->sid = a + dec->soff[i][0];
        for (int d = 0; d < VEX_DIM_COUNT; d++)
            r->dims[d] = a + dec->soff[i][1 + d];
        vex_record_resolve(r, dec->now_ms, dec->timeout_ms);
    }
    int rc = dec->fn(dec->ctx, dec->recs, dec->n);
    dec->n = 0;
    dec->arena.len = 0;
    if (rc)
        dec->visit_rc = rc;
    return rc;
}

/* dec_feed decodes what it can of the next piece; 0, the visitor's nonzero
 * return, VEX_ECORRUPT, VEX_ENOMEM. */
static int dec_feed(struct decoder *dec, const void *data, size_t len)
{
    const unsigned char *src = data;
    size_t srclen = len;
    if (dec->in.len) {
        if (ob_add(&dec->in, data, len))
            return VEX_ENOMEM;
        src = dec->in.p;
        srclen = dec->in.len;
    }
    size_t pos = 0;
    int rc = 0;
    while (pos < srclen) {
        size_t used = 0;
        rc = decode_row(dec, src + pos, srclen - pos, &used);
        if (rc == 1) {
            rc = 0;
            break;
        }
        if (rc)
            return rc;
        pos += used;
        if (dec->n == DECODE_BATCH && (rc = dec_flush(dec)))
            return rc;
    }
    size_t left = srclen - pos;
    if (src == dec->in.p) {
        memmove(dec->in.p, dec->in.p + pos, left);
        dec->in.len = left;
    } else {
        dec->in.len = 0;
        if (left && ob_add(&dec->in, src + pos, left))
            return VEX_ENOMEM;
    }
    return 0;
}

/* dec_finish visits the last batch; a partial row left over is corrupt. */
static int dec_finish(struct decoder *dec)
{
    if (dec->in.len)
        return VEX_ECORRUPT;
    return dec_flush(dec);
}

static struct decoder *dec_create(int64_t now_ms, int64_t timeout_ms, vex_record_visit_fn fn,
                                  void *ctx)
{
    struct decoder *dec = calloc(1, sizeof *dec);
    if (dec) {
        dec->now_ms = now_ms;
        dec->timeout_ms = timeout_ms;
        dec->fn = fn;
        dec->ctx = ctx;
    }
    return dec;
}

static void dec_destroy(struct decoder *dec)
{
    if (!dec)
        return;
    free(dec->in.p);
    free(dec->arena.p);
    free(dec);
}

int vex_clickhouse_decode(const void *data, size_t len, int64_t now_ms, int64_t timeout_ms,
                          vex_record_visit_fn fn, void *ctx)
{
    struct decoder *dec = dec_create(now_ms, timeout_ms, fn, ctx);
    if (!dec)
        return VEX_ENOMEM;
    int rc = dec_feed(dec, data, len);
    if (!rc)
        rc = dec_finish(dec);
    dec_destroy(dec);
    return rc;
}

/* ---- SQL literals and identifiers ---- */

int vex_clickhouse_quote(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 >= cap)                                                                          \
            return VEX_EFULL;                                                                      \
        out[o++] = (c);                                                                            \
    } while (0)
    PUT('\'');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '\'') {
            PUT('\\');
            PUT((char)*p);
        } else if (*p < 0x20 || *p == 0x7f) {
            PUT('\\');
            PUT('x');
            PUT(hex[*p >> 4]);
            PUT(hex[*p & 15]);
        } else {
            PUT((char)*p);
        }
    }
    PUT('\'');
#undef PUT
    out[o] = '\0';
    return 0;
}

static int valid_customer(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* An identifier ClickHouse takes unquoted: [A-Za-z_][A-Za-z0-9_]*. */
static int valid_ident(const char *s, size_t n)
{
    if (n < 1 || n > 64 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* ---- URL ---- */

static int parse_count(const char *s, size_t n, int64_t max, int64_t *out)
{
    if (n == 0 || n > 18)
        return VEX_EINVAL;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return VEX_EINVAL;
        x = x * 10 + (s[i] - '0');
    }
    if (x <= 0 || x > max)
        return VEX_EINVAL;
    *out = x;
    return 0;
}

int vex_clickhouse_parse_url(const char *url, struct vex_clickhouse_config *cfg, char *err,
                             size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    const char *p;
    if (!strncmp(url, "http://", 7))
        p = url + 7;
    else if (!strncmp(url, "https://", 8))
        p = url + 8;
    else {
        snprintf(err, errlen, "the ClickHouse URL must start with http:// or https://, got '%s'",
                 url);
        return VEX_EINVAL;
    }
    size_t host_len = strcspn(p, "/?#");
    if (host_len == 0 || p[host_len] == '#') {
        snprintf(err, errlen, "the ClickHouse URL '%s' needs a host (http://HOST:8123/DB)", url);
        return VEX_EINVAL;
    }
    size_t base_len = (size_t)(p - url) + host_len;
    if (base_len >= sizeof cfg->base) {
        snprintf(err, errlen, "the ClickHouse URL is too long");
        return VEX_EINVAL;
    }
    memcpy(cfg->base, url, base_len);
    cfg->base[base_len] = '\0';
    p += host_len;
    snprintf(cfg->db, sizeof cfg->db, "vex");
    if (*p == '/') {
        p++;
        size_t n = strcspn(p, "/?#");
        if (p[n] == '/' && n > 0 && (p[n + 1] == '\0' || p[n + 1] == '?'))
            ; /* one trailing slash is fine */
        else if (p[n] == '/' || p[n] == '#') {
            snprintf(err, errlen, "the ClickHouse URL path must be one database name: '%s'", url);
            return VEX_EINVAL;
        }
        if (n) {
            if (!valid_ident(p, n)) {
                snprintf(err, errlen,
                         "database name '%.*s' must match [A-Za-z_][A-Za-z0-9_]*, "
                         "at most 64 characters",
                         (int)n, p);
                return VEX_EINVAL;
            }
            memcpy(cfg->db, p, n);
            cfg->db[n] = '\0';
        }
        p += n;
        if (*p == '/')
            p++;
    }
    if (*p == '?') {
        p++;
        while (*p) {
            size_t n = strcspn(p, "&");
            const char *eq = memchr(p, '=', n);
            if (!eq) {
                snprintf(err, errlen, "ClickHouse URL option '%.*s' needs a value (NAME=VALUE)",
                         (int)n, p);
                return VEX_EINVAL;
            }
            size_t kl = (size_t)(eq - p), vl = n - kl - 1;
            const char *v = eq + 1;
            int64_t x;
            if (kl == 7 && !memcmp(p, "cluster", 7)) {
                if (!valid_ident(v, vl)) {
                    snprintf(err, errlen,
                             "cluster name '%.*s' must match "
                             "[A-Za-z_][A-Za-z0-9_]*",
                             (int)vl, v);
                    return VEX_EINVAL;
                }
                memcpy(cfg->cluster, v, vl);
                cfg->cluster[vl] = '\0';
            } else if (kl == 16 && !memcmp(p, "push_interval_ms", 16)) {
                if (parse_count(v, vl, 3600000, &x)) {
                    snprintf(err, errlen, "push_interval_ms wants 1..3600000, got '%.*s'", (int)vl,
                             v);
                    return VEX_EINVAL;
                }
                cfg->push_interval_ms = x;
            } else if (kl == 17 && !memcmp(p, "max_backlog_bytes", 17)) {
                if (parse_count(v, vl, INT64_MAX / 2, &x) || (uint64_t)x > SIZE_MAX) {
                    snprintf(err, errlen,
                             "max_backlog_bytes wants a positive number of bytes, "
                             "got '%.*s'",
                             (int)vl, v);
                    return VEX_EINVAL;
                }
                cfg->max_backlog_bytes = (size_t)x;
            } else {
                snprintf(err, errlen,
                         "unknown ClickHouse URL option '%.*s' (known: cluster, "
                         "push_interval_ms, max_backlog_bytes)",
                         (int)kl, p);
                return VEX_EINVAL;
            }
            p += n;
            if (*p == '&')
                p++;
        }
    }
    return 0;
}

/* ---- the backend ---- */

struct vex_clickhouse {
    struct vex_clickhouse_config cfg;
    int64_t timeout_ms;
    const char *table;        /* sessions, or sessions_dist with a cluster */
    char where[512];          /* the base URL without user:password, for messages */
    char columns[1024];       /* "customer, sid, cdn, ..." */
    char insert_params[2048]; /* query=INSERT... (percent-encoded) for pushes */
    pthread_mutex_t prepare_mu;
    int prepared;
    pthread_mutex_t pool_mu;
    CURL *pool[POOL_MAX];
    int npool;
    pthread_mutex_t push_mu;
    struct obuf pushbuf;
    pthread_mutex_t log_mu;
    char last_log[512];
    int64_t last_log_ms;
    int failing; /* the last push failed */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* note logs a problem with ClickHouse, but not the same one over and over. */
static void note(struct vex_clickhouse *ch, const char *msg)
{
    pthread_mutex_lock(&ch->log_mu);
    int64_t t = now_ms();
    if (strcmp(msg, ch->last_log) || t - ch->last_log_ms >= LOG_REPEAT_MS) {
        fprintf(stderr, "vex: clickhouse: %s\n", msg);
        snprintf(ch->last_log, sizeof ch->last_log, "%s", msg);
        ch->last_log_ms = t;
    }
    pthread_mutex_unlock(&ch->log_mu);
}

static CURL *handle_get(struct vex_clickhouse *ch)
{
    CURL *h = NULL;
    pthread_mutex_lock(&ch->pool_mu);
    if (ch->npool)
        h = ch->pool[--ch->npool];
    pthread_mutex_unlock(&ch->pool_mu);
    return h ? h : curl_easy_init();
}

static void handle_put(struct vex_clickhouse *ch, CURL *h)
{
    if (!h)
        return;
    curl_easy_reset(h);
    pthread_mutex_lock(&ch->pool_mu);
    if (ch->npool < POOL_MAX) {
        ch->pool[ch->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&ch->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* One HTTP exchange. The answer goes to `text` (capped), or, when status is
 * 200 and dec is set, to the decoder. */
struct exchange {
    CURL *h;
    long status;
    struct obuf text;
    struct decoder *dec;
    int dec_rc;
    size_t cap; /* largest text answer kept; 0: TEXT_CAP */
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    struct exchange *x = ud;
    size_t n = size * nmemb;
    if (!x->status)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status == 200 && x->dec) {
        int rc = dec_feed(x->dec, data, n);
        if (rc) {
            x->dec_rc = rc;
            return 0; /* stops the transfer */
        }
        return n;
    }
    if (x->text.len + n > (x->cap ? x->cap : TEXT_CAP)) {
        x->dec_rc = VEX_ETOOBIG;
        return 0;
    }
    if (ob_add(&x->text, data, n)) {
        x->dec_rc = VEX_ENOMEM;
        return 0;
    }
    return n;
}

/* first_line copies the first line of ClickHouse's error text. */
static void first_line(const struct obuf *t, char *out, size_t cap)
{
    size_t n = 0;
    if (t->p)
        n = strcspn((const char *)t->p, "\r\n");
    if (n > 300)
        n = 300;
    snprintf(out, cap, "%.*s", (int)n, t->p ? (const char *)t->p : "");
}

/* post sends `body` to ClickHouse with the URL parameters `params` (already
 * escaped). Returns 0 on 200; VEX_EUNAVAIL when ClickHouse cannot be
 * reached; VEX_EIO on any other status (err holds ClickHouse's message); the
 * decoder's error or the visitor's return when they stopped the transfer. */
static int post(struct vex_clickhouse *ch, struct exchange *x, const char *params, const void *body,
                size_t blen, long timeout_s, char *err, size_t errlen)
{
    struct obuf url = {0};
    int rc = ob_printf(&url, "%s/?%s", ch->cfg.base, params);
    x->h = handle_get(ch);
    if (rc || !x->h) {
        free(url.p);
        snprintf(err, errlen, "out of memory");
        return VEX_ENOMEM;
    }
    /* No "Expect: 100-continue" round trip before large bodies. */
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:"), *more = NULL;
    if (hdrs && (more = curl_slist_append(hdrs, "Content-Type: application/octet-stream")))
        hdrs = more;
    CURL *h = x->h;
    curl_easy_setopt(h, CURLOPT_URL, (const char *)url.p);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* A connection per request: a ClickHouse that is shutting down keeps
     * serving requests on open keep-alive connections, and pushes every
     * second would hold its shutdown up (measured: 18 s instead of 2). */
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    CURLcode cc = curl_easy_perform(h);
    if (!x->status)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    if (cc == CURLE_WRITE_ERROR && x->dec_rc) {
        rc = x->dec_rc;
        if (x->dec && x->dec->visit_rc)
            snprintf(err, errlen, "scan stopped by its visitor");
        else
            snprintf(err, errlen, "ClickHouse at %s: unreadable answer: %s", ch->where,
                     vex_strerror(rc));
    } else if (cc != CURLE_OK) {
        rc = cc == CURLE_OUT_OF_MEMORY ? VEX_ENOMEM : VEX_EUNAVAIL;
        snprintf(err, errlen, "ClickHouse at %s is unreachable: %s", ch->where,
                 curl_easy_strerror(cc));
    } else if (x->status != 200) {
        char line[320];
        first_line(&x->text, line, sizeof line);
        rc = VEX_EIO;
        snprintf(err, errlen, "ClickHouse at %s answered %ld: %s", ch->where, x->status, line);
    } else {
        rc = 0;
    }
    curl_slist_free_all(hdrs);
    free(url.p);
    handle_put(ch, h);
    x->h = NULL;
    return rc;
}

/* sql runs one statement whose answer is small text (in x->text). */
static int sql(struct vex_clickhouse *ch, struct exchange *x, const char *stmt, char *err,
               size_t errlen)
{
    memset(x, 0, sizeof *x);
    return post(ch, x, "wait_end_of_query=1", stmt, strlen(stmt), DDL_TIMEOUT_S, err, errlen);
}

/* ---- schema ---- */

struct table_info {
    int exists;
    char engine[64];
    char engine_full[512];
};

/* unquote drops quotes and backquotes, so that engine arguments compare the
 * same however they were written. */
static void unquote(char *s)
{
    char *o = s;
    for (; *s; s++)
        if (*s != '\'' && *s != '`' && *s != '"')
            *o++ = *s;
    *o = '\0';
}

static int list_tables(struct vex_clickhouse *ch, struct table_info *sessions,
                       struct table_info *dist, struct table_info *meta, char *err, size_t errlen)
{
    char stmt[512];
    struct exchange x;
    snprintf(stmt, sizeof stmt,
             "SELECT name, engine, engine_full FROM system.tables WHERE database = '%s' "
             "FORMAT TabSeparated",
             ch->cfg.db);
    int rc = sql(ch, &x, stmt, err, errlen);
    if (!rc && x.text.p) {
        char *save = NULL;
        for (char *line = strtok_r((char *)x.text.p, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *f1 = strchr(line, '\t');
            char *f2 = f1 ? strchr(f1 + 1, '\t') : NULL;
            if (!f2)
                continue;
            *f1 = *f2 = '\0';
            struct table_info *t = !strcmp(line, "sessions")        ? sessions
                                   : !strcmp(line, "sessions_dist") ? dist
                                   : !strcmp(line, "vex_meta")      ? meta
                                                                    : NULL;
            if (!t)
                continue;
            t->exists = 1;
            snprintf(t->engine, sizeof t->engine, "%s", f1 + 1);
            snprintf(t->engine_full, sizeof t->engine_full, "%s", f2 + 1);
            unquote(t->engine_full);
        }
    }
    free(x.text.p);
    return rc;
}

/* check_columns compares DESCRIBE TABLE with the columns this vex writes. */
static int check_columns(struct vex_clickhouse *ch, const char *table, char *err, size_t errlen)
{
    char stmt[256];
    struct exchange x;
    snprintf(stmt, sizeof stmt, "DESCRIBE TABLE %s.%s FORMAT TabSeparated", ch->cfg.db, table);
    int rc = sql(ch, &x, stmt, err, errlen);
    int i = 0;
    if (!rc && x.text.p) {
        char *save = NULL;
        for (char *line = strtok_r((char *)x.text.p, "\n", &save); line && !rc;
             line = strtok_r(NULL, "\n", &save), i++) {
            char *tab = strchr(line, '\t'), none[1] = "";
            char *type = tab ? tab + 1 : none;
            if (tab)
                *tab = '\0';
            type[strcspn(type, "\t")] = '\0';
            if (i >= C_COUNT || strcmp(line, col_name(i)) || strcmp(type, col_type(i))) {
                snprintf(err, errlen,
                         "table %s.%s has column %d '%s %s' where this vex expects '%s %s': its "
                         "schema is not vex schema %d; use another database in the store URL, "
                         "or drop the table",
                         ch->cfg.db, table, i + 1, line, type, i < C_COUNT ? col_name(i) : "-",
                         i < C_COUNT ? col_type(i) : "(nothing)", VEX_CLICKHOUSE_SCHEMA);
                rc = VEX_ECORRUPT;
            }
        }
    }
    if (!rc && i != C_COUNT) {
        snprintf(err, errlen,
                 "table %s.%s has %d columns where this vex expects %d (first missing: "
                 "'%s'): its schema is not vex schema %d; use another database in the "
                 "store URL, or drop the table",
                 ch->cfg.db, table, i, C_COUNT, col_name(i), VEX_CLICKHOUSE_SCHEMA);
        rc = VEX_ECORRUPT;
    }
    free(x.text.p);
    return rc;
}

static int check_sessions(struct vex_clickhouse *ch, const struct table_info *t, char *err,
                          size_t errlen)
{
    size_t n = strlen(t->engine), k = strlen("ReplacingMergeTree");
    /* ReplacingMergeTree, or its Replicated form that an operator creates
     * for replicas (docs/scale-out.md), with `version` as the version. */
    if (n < k || strcmp(t->engine + n - k, "ReplacingMergeTree") ||
        !strstr(t->engine_full, "version)")) {
        snprintf(err, errlen,
                 "table %s.sessions has engine '%s' where this vex expects "
                 "ReplacingMergeTree(version): its schema is not vex schema %d; use another "
                 "database in the store URL, or drop the table",
                 ch->cfg.db, t->engine_full, VEX_CLICKHOUSE_SCHEMA);
        return VEX_ECORRUPT;
    }
    return check_columns(ch, "sessions", err, errlen);
}

static int check_dist(struct vex_clickhouse *ch, const struct table_info *t, char *err,
                      size_t errlen)
{
    char want[256];
    snprintf(want, sizeof want, "Distributed(%s, %s, sessions,", ch->cfg.cluster, ch->cfg.db);
    if (strcmp(t->engine, "Distributed") || strncmp(t->engine_full, want, strlen(want))) {
        snprintf(err, errlen,
                 "table %s.sessions_dist has engine '%s' where this vex expects '%s ...)' "
                 "(cluster=%s in the store URL)",
                 ch->cfg.db, t->engine_full, want, ch->cfg.cluster);
        return VEX_ECORRUPT;
    }
    return check_columns(ch, "sessions_dist", err, errlen);
}

/* read_schema_version reads vex_meta's 'schema' row: 0 with *have set. */
static int read_schema_version(struct vex_clickhouse *ch, int *have, char *ver, size_t cap,
                               char *err, size_t errlen)
{
    char stmt[256];
    struct exchange x;
    snprintf(stmt, sizeof stmt,
             "SELECT value FROM %s.vex_meta FINAL WHERE key = 'schema' FORMAT TabSeparated",
             ch->cfg.db);
    int rc = sql(ch, &x, stmt, err, errlen);
    *have = 0;
    if (rc == VEX_EIO) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, errlen, "table %s.vex_meta is not vex's: %s", ch->cfg.db, msg);
        rc = VEX_ECORRUPT;
    } else if (!rc && x.text.p && x.text.len) {
        *have = 1;
        snprintf(ver, cap, "%.*s", (int)strcspn((const char *)x.text.p, "\n"),
                 (const char *)x.text.p);
    }
    free(x.text.p);
    return rc;
}

static int do_prepare(struct vex_clickhouse *ch, char *err, size_t errlen)
{
    char stmt[4096];
    struct exchange x;
    struct table_info ts = {0}, td = {0}, tm = {0};
    int rc, have = 0;
    char ver[64] = "", want[16];
    snprintf(want, sizeof want, "%d", VEX_CLICKHOUSE_SCHEMA);

    snprintf(stmt, sizeof stmt, "CREATE DATABASE IF NOT EXISTS %s", ch->cfg.db);
    rc = sql(ch, &x, stmt, err, errlen);
    free(x.text.p);
    if (rc || (rc = list_tables(ch, &ts, &td, &tm, err, errlen)))
        return rc;
    /* Everything that exists is checked before anything is created, so
     * that a foreign database is left as it was. */
    if (tm.exists && (rc = read_schema_version(ch, &have, ver, sizeof ver, err, errlen)))
        return rc;
    if (have && strcmp(ver, want)) {
        snprintf(err, errlen,
                 "database %s holds vex schema version '%s'; this vex knows version %s only "
                 "(use a vex of that version, or another database)",
                 ch->cfg.db, ver, want);
        return VEX_ECORRUPT;
    }
    if (ts.exists && (rc = check_sessions(ch, &ts, err, errlen)))
        return rc;
    if (ch->cfg.cluster[0]) {
        snprintf(stmt, sizeof stmt,
                 "SELECT count() FROM system.clusters WHERE cluster = '%s' FORMAT TabSeparated",
                 ch->cfg.cluster);
        rc = sql(ch, &x, stmt, err, errlen);
        int known = !rc && x.text.p && atoi((const char *)x.text.p) > 0;
        free(x.text.p);
        if (rc)
            return rc;
        if (!known) {
            snprintf(err, errlen,
                     "cluster '%s' is not in ClickHouse's remote_servers (system.clusters); "
                     "fix cluster= in the store URL or the server's config",
                     ch->cfg.cluster);
            return VEX_EINVAL;
        }
        if (td.exists && (rc = check_dist(ch, &td, err, errlen)))
            return rc;
    }

    if (!ts.exists) {
        struct obuf b = {0};
        rc = ob_printf(&b, "CREATE TABLE IF NOT EXISTS %s.sessions (", ch->cfg.db);
        for (int i = 0; i < C_COUNT && !rc; i++)
            rc = ob_printf(&b, "%s%s %s", i ? ", " : "", col_name(i), col_type(i));
        if (!rc)
            rc = ob_printf(&b, ") ENGINE = ReplacingMergeTree(version) "
                               "PARTITION BY toYYYYMMDD(toDateTime(intDiv(attempt_ts, 1000))) "
                               "ORDER BY (customer, sid)");
        if (!rc) {
            rc = sql(ch, &x, (const char *)b.p, err, errlen);
            free(x.text.p);
        }
        free(b.p);
        if (rc)
            return rc;
    }
    if (ch->cfg.cluster[0] && !td.exists) {
        snprintf(stmt, sizeof stmt,
                 "CREATE TABLE IF NOT EXISTS %s.sessions_dist AS %s.sessions "
                 "ENGINE = Distributed(%s, %s, sessions, cityHash64(customer, sid))",
                 ch->cfg.db, ch->cfg.db, ch->cfg.cluster, ch->cfg.db);
        rc = sql(ch, &x, stmt, err, errlen);
        free(x.text.p);
        if (rc)
            return rc;
    }
    if (!tm.exists) {
        snprintf(stmt, sizeof stmt,
                 "CREATE TABLE IF NOT EXISTS %s.vex_meta (key String, value String) "
                 "ENGINE = ReplacingMergeTree() ORDER BY key",
                 ch->cfg.db);
        rc = sql(ch, &x, stmt, err, errlen);
        free(x.text.p);
        if (rc)
            return rc;
    }
    if (!have) {
        snprintf(stmt, sizeof stmt, "INSERT INTO %s.vex_meta VALUES ('schema', '%s')", ch->cfg.db,
                 want);
        rc = sql(ch, &x, stmt, err, errlen);
        free(x.text.p);
        if (rc)
            return rc;
    }
    /* Check again what is there now: another node may have created the
     * tables at the same time, and this also proves the statements above
     * made what the codec expects. */
    memset(&ts, 0, sizeof ts);
    memset(&td, 0, sizeof td);
    memset(&tm, 0, sizeof tm);
    if ((rc = list_tables(ch, &ts, &td, &tm, err, errlen)))
        return rc;
    if ((rc = read_schema_version(ch, &have, ver, sizeof ver, err, errlen)))
        return rc;
    if (!have || strcmp(ver, want)) {
        snprintf(err, errlen, "database %s holds vex schema version '%s'; this vex knows %s",
                 ch->cfg.db, ver, want);
        return VEX_ECORRUPT;
    }
    if ((rc = check_sessions(ch, &ts, err, errlen)))
        return rc;
    if (ch->cfg.cluster[0] && (rc = check_dist(ch, &td, err, errlen)))
        return rc;
    return 0;
}

int vex_clickhouse_prepare(struct vex_clickhouse *ch, char *err, size_t errlen)
{
    pthread_mutex_lock(&ch->prepare_mu);
    int rc = ch->prepared ? 0 : do_prepare(ch, err, errlen);
    if (!rc)
        ch->prepared = 1;
    pthread_mutex_unlock(&ch->prepare_mu);
    return rc;
}

/* ---- replica ---- */

static int ch_push(void *self, const char *customer, const struct vex_record *recs,
                   const int64_t *versions, size_t n)
{
    struct vex_clickhouse *ch = self;
    char err[512];
    if (!n)
        return 0;
    int rc = vex_clickhouse_prepare(ch, err, sizeof err);
    pthread_mutex_lock(&ch->push_mu);
    if (rc) {
        note(ch, err);
        ch->failing = 1;
        pthread_mutex_unlock(&ch->push_mu);
        return rc;
    }
    ch->pushbuf.len = 0;
    rc = vex_clickhouse_encode(customer, recs, versions, n, &ch->pushbuf.p, &ch->pushbuf.len,
                               &ch->pushbuf.cap);
    if (!rc) {
        /* The customer travels in the rows: nothing of it reaches SQL. */
        struct exchange x;
        memset(&x, 0, sizeof x);
        rc = post(ch, &x, ch->insert_params, ch->pushbuf.p, ch->pushbuf.len, PUSH_TIMEOUT_S, err,
                  sizeof err);
        free(x.text.p);
    } else {
        snprintf(err, sizeof err, "out of memory");
    }
    if (rc) {
        note(ch, err);
        ch->failing = 1;
    } else if (ch->failing) {
        ch->failing = 0;
        note(ch, "inserts succeed again");
    }
    pthread_mutex_unlock(&ch->push_mu);
    return rc;
}

struct vex_replica vex_clickhouse_replica(struct vex_clickhouse *ch)
{
    struct vex_replica r = {.self = ch, .push = ch_push};
    return r;
}

/* ---- source ---- */

static int ch_scan(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                   vex_record_visit_fn fn, void *ctx)
{
    struct vex_clickhouse *ch = self;
    char err[512];
    if (!valid_customer(customer))
        return VEX_EINVAL;
    int rc = vex_clickhouse_prepare(ch, err, sizeof err);
    if (rc) {
        note(ch, err);
        return rc;
    }
    char lit[140];
    if (vex_clickhouse_quote(customer, lit, sizeof lit))
        return VEX_EINVAL;
    struct obuf q = {0};
    rc = ob_printf(&q,
                   "SELECT %s FROM (SELECT %s FROM %s.%s FINAL WHERE customer = %s) "
                   "WHERE (attempt_ts < %lld AND last_ts >= %lld) "
                   "OR (attempt_ts >= %lld AND attempt_ts < %lld) "
                   "OR (last_ts >= %lld AND last_ts < %lld) FORMAT RowBinary",
                   ch->columns, ch->columns, ch->cfg.db, ch->table, lit, (long long)to_ms,
                   (long long)from_ms, (long long)from_ms, (long long)to_ms, (long long)from_ms,
                   (long long)to_ms);
    struct exchange x;
    memset(&x, 0, sizeof x);
    x.dec = rc ? NULL : dec_create(now_ms(), ch->timeout_ms, fn, ctx);
    if (!x.dec) {
        free(q.p);
        return VEX_ENOMEM;
    }
    rc = post(ch, &x,
              "wait_end_of_query=1&buffer_size=8388608&enable_optimize_predicate_expression=0"
              "&optimize_move_to_prewhere=0",
              q.p, q.len, SCAN_TIMEOUT_S, err, sizeof err);
    if (!rc)
        rc = dec_finish(x.dec);
    else if (rc != x.dec->visit_rc)
        note(ch, err);
    dec_destroy(x.dec);
    free(x.text.p);
    free(q.p);
    return rc;
}

/* The relation the query engine aggregates (backend.h): FINAL over the
 * customer alone, for the reason given at the top, then closed and ebvs from
 * this node's clock, as vex_record_resolve has them. */
static int ch_sql_sessions(void *self, const char *customer, char *out, size_t cap)
{
    struct vex_clickhouse *ch = self;
    char lit[140];
    if (!valid_customer(customer) || vex_clickhouse_quote(customer, lit, sizeof lit))
        return VEX_EINVAL;
    int n = snprintf(out, cap,
                     "(SELECT *, (state = %d OR %lld - last_ts > %lld) AS closed, "
                     "(closed AND NOT played AND NOT vsf) AS ebvs "
                     "FROM (SELECT %s FROM %s.%s FINAL WHERE customer = %s))",
                     (int)VEX_STATE_ENDED, (long long)now_ms(), (long long)ch->timeout_ms,
                     ch->columns, ch->cfg.db, ch->table, lit);
    return n < 0 || (size_t)n >= cap ? VEX_ETOOBIG : 0;
}

static int ch_sql_select(void *self, const char *stmt, unsigned char **body, size_t *len)
{
    struct vex_clickhouse *ch = self;
    char err[512];
    *body = NULL;
    *len = 0;
    int rc = vex_clickhouse_prepare(ch, err, sizeof err);
    if (rc) {
        note(ch, err);
        return rc;
    }
    struct exchange x;
    memset(&x, 0, sizeof x);
    x.cap = SELECT_CAP;
    rc = post(ch, &x,
              "wait_end_of_query=1&buffer_size=8388608&enable_optimize_predicate_expression=0"
              "&optimize_move_to_prewhere=0",
              stmt, strlen(stmt), SCAN_TIMEOUT_S, err, sizeof err);
    if (rc) {
        note(ch, err);
        free(x.text.p);
        return rc;
    }
    *body = x.text.p;
    *len = x.text.len;
    return 0;
}

struct vex_source vex_clickhouse_source(struct vex_clickhouse *ch)
{
    struct vex_source s = {.self = ch,
                           .scan = ch_scan,
                           .scan_columns = NULL,
                           .sql_sessions = ch_sql_sessions,
                           .sql_select = ch_sql_select};
    return s;
}

/* ---- lifecycle ---- */

int vex_clickhouse_create(const struct vex_clickhouse_config *cfg, int64_t session_timeout_ms,
                          struct vex_clickhouse **out)
{
    struct vex_clickhouse *ch = calloc(1, sizeof *ch);
    if (!ch)
        return VEX_ENOMEM;
    ch->cfg = *cfg;
    ch->timeout_ms = session_timeout_ms > 0 ? session_timeout_ms : 120000;
    ch->table = cfg->cluster[0] ? "sessions_dist" : "sessions";
    /* Messages name the server, never its password. */
    const char *at = strchr(cfg->base, '@'), *sep = strstr(cfg->base, "://");
    if (at && sep)
        snprintf(ch->where, sizeof ch->where, "%.*s%s", (int)(sep + 3 - cfg->base), cfg->base,
                 at + 1);
    else
        snprintf(ch->where, sizeof ch->where, "%s", cfg->base);
    size_t o = 0;
    for (int i = 0; i < C_COUNT; i++)
        o += (size_t)snprintf(ch->columns + o, sizeof ch->columns - o, "%s%s", i ? ", " : "",
                              col_name(i));
    char stmt[1200];
    snprintf(stmt, sizeof stmt, "INSERT INTO %s.%s (%s) FORMAT RowBinary", cfg->db, ch->table,
             ch->columns);
    o = (size_t)snprintf(ch->insert_params, sizeof ch->insert_params, "query=");
    for (const char *p = stmt; *p && o + 4 < sizeof ch->insert_params; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.')
            ch->insert_params[o++] = (char)c;
        else
            o += (size_t)snprintf(ch->insert_params + o, 4, "%%%02X", c);
    }
    ch->insert_params[o] = '\0';
    /* Through a Distributed table, the answer waits until the shard holds
     * the rows, not just a local queue. */
    if (cfg->cluster[0])
        snprintf(ch->insert_params + o, sizeof ch->insert_params - o, "&insert_distributed_sync=1");
    pthread_mutex_init(&ch->prepare_mu, NULL);
    pthread_mutex_init(&ch->pool_mu, NULL);
    pthread_mutex_init(&ch->push_mu, NULL);
    pthread_mutex_init(&ch->log_mu, NULL);
    *out = ch;
    return 0;
}

void vex_clickhouse_destroy(struct vex_clickhouse *ch)
{
    if (!ch)
        return;
    for (int i = 0; i < ch->npool; i++)
        curl_easy_cleanup(ch->pool[i]);
    free(ch->pushbuf.p);
    pthread_mutex_destroy(&ch->prepare_mu);
    pthread_mutex_destroy(&ch->pool_mu);
    pthread_mutex_destroy(&ch->push_mu);
    pthread_mutex_destroy(&ch->log_mu);
    free(ch);
}
