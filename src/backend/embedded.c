/* embedded.c - the embedded store: WAL, in-memory session tables and
 * columnar checkpoints.
 *
 * Layout under <data_dir>/store:
 *   wal/                 the write-ahead log (store/wal.c); one record per batch
 *   seg/<customer>/<day>-<lsn>.seg
 *                        one columnar segment per customer and day of
 *                        attempt_ts, holding every session of that partition with
 *                        the sessionizer state needed to take late events
 *   MANIFEST             JSON: the segments in force and the log position they
 *                        cover; replaced atomically (write, fsync, rename)
 *
 * Ingest appends a batch to the log and applies it to the tables under one
 * mutex, so that the log order is the order in which "the first copy wins"
 * was decided, then waits for the log to be durable (group commit) outside
 * the mutex. A checkpoint rewrites the partitions that changed, installs a
 * new manifest and lets the log drop what the manifest covers. */
#include "backend/embedded.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/err.h"
#include "ingest/wire.h"
#include "session/table.h"
#include "store/segment.h"
#include "store/wal.h"

#define DAY_MS 86400000LL

struct cust {
    char id[65];
    struct vex_table *t;
    pthread_rwlock_t lock;
};

struct part {
    char customer[65];
    int64_t day;
    char file[160]; /* relative to store dir */
};

struct vex_engine {
    struct vex_engine_options opt;
    char store_dir[PATH_MAX];
    struct vex_wal *wal;
    pthread_mutex_t ingest_mu; /* orders log appends with table changes */
    pthread_rwlock_t cust_lock;
    struct cust **custs;
    size_t ncust, capcust;
    struct part *parts;
    size_t nparts, capparts;
    uint64_t ckpt_lsn;
    uint64_t wal_bytes;
    /* Replication: everything logged before pushed_lsn is in the replica;
     * unpushed_bytes of log are not yet. */
    uint64_t pushed_lsn;
    int64_t pushed_until_ms; /* sessions changed before this are in the replica */
    uint64_t unpushed_bytes;
    uint64_t pushes, push_failures;
    pthread_mutex_t push_mu; /* one push at a time */
    uint64_t batches, events, checkpoints;
    pthread_mutex_t ckpt_mu; /* one checkpoint at a time */
    pthread_t bg;
    int bg_running, stop;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cond;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return VEX_EIO;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return VEX_EIO;
    return 0;
}

static int fsync_dir(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return VEX_EIO;
    int rc = fsync(fileno(f)) ? VEX_EIO : 0;
    fclose(f);
    return rc;
}

/* find_cust returns the customer's table holder, or NULL. Caller holds
 * cust_lock. */
static struct cust *find_cust(struct vex_engine *e, const char *id)
{
    for (size_t i = 0; i < e->ncust; i++)
        if (!strcmp(e->custs[i]->id, id))
            return e->custs[i];
    return NULL;
}

static struct cust *get_or_add_cust(struct vex_engine *e, const char *id)
{
    pthread_rwlock_rdlock(&e->cust_lock);
    struct cust *c = find_cust(e, id);
    pthread_rwlock_unlock(&e->cust_lock);
    if (c)
        return c;
    pthread_rwlock_wrlock(&e->cust_lock);
    c = find_cust(e, id);
    if (!c && strlen(id) < sizeof c->id) {
        if (e->ncust == e->capcust) {
            size_t cap = e->capcust ? e->capcust * 2 : 8;
            struct cust **v = realloc(e->custs, cap * sizeof *v);
            if (!v)
                goto out;
            e->custs = v;
            e->capcust = cap;
        }
        c = calloc(1, sizeof *c);
        if (!c)
            goto out;
        if (vex_table_create(&c->t)) {
            free(c);
            c = NULL;
            goto out;
        }
        snprintf(c->id, sizeof c->id, "%s", id);
        pthread_rwlock_init(&c->lock, NULL);
        e->custs[e->ncust++] = c;
    }
out:
    pthread_rwlock_unlock(&e->cust_lock);
    return c;
}

/* apply_batch applies events to a customer's table. Caller holds ingest_mu. */
static int apply_batch(struct vex_engine *e, const char *customer, const struct vex_event *evs,
                       size_t n, const char *ip, int64_t received_ms)
{
    struct cust *c = get_or_add_cust(e, customer);
    if (!c)
        return VEX_ENOMEM;
    int rc = 0;
    pthread_rwlock_wrlock(&c->lock);
    for (size_t i = 0; i < n && !rc; i++)
        rc = vex_table_apply(c->t, &evs[i], ip, received_ms);
    pthread_rwlock_unlock(&c->lock);
    e->batches++;
    e->events += n;
    return rc;
}

int vex_engine_ingest(struct vex_engine *e, const char *customer, const struct vex_event *evs,
                      size_t n, const char *ip)
{
    void *buf;
    size_t len;
    int64_t t = now_ms();
    int rc = vex_wire_encode(customer, ip, t, evs, n, &buf, &len);
    if (rc)
        return rc;
    uint64_t lsn;
    pthread_mutex_lock(&e->ingest_mu);
    if (e->opt.replica && e->unpushed_bytes > e->opt.replica_backlog_bytes) {
        pthread_mutex_unlock(&e->ingest_mu);
        free(buf);
        return VEX_EUNAVAIL;
    }
    rc = vex_wal_append(e->wal, buf, len, &lsn);
    if (!rc) {
        rc = apply_batch(e, customer, evs, n, ip, t);
        e->wal_bytes += len;
        e->unpushed_bytes += len;
    }
    int want_ckpt = e->opt.checkpoint_wal_bytes && e->wal_bytes >= e->opt.checkpoint_wal_bytes;
    pthread_mutex_unlock(&e->ingest_mu);
    free(buf);
    if (!rc)
        rc = vex_wal_sync(e->wal, lsn);
    if (want_ckpt && e->bg_running) {
        pthread_mutex_lock(&e->bg_mu);
        pthread_cond_signal(&e->bg_cond);
        pthread_mutex_unlock(&e->bg_mu);
    }
    return rc;
}

int vex_engine_import(struct vex_engine *e, const char *customer,
                      const struct vex_session_state *states, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&e->ingest_mu);
    struct cust *c = get_or_add_cust(e, customer);
    if (!c) {
        pthread_mutex_unlock(&e->ingest_mu);
        return VEX_ENOMEM;
    }
    pthread_rwlock_wrlock(&c->lock);
    rc = vex_table_reserve(c->t, n);
    for (size_t k = 0; k < n && !rc; k++) {
        rc = vex_table_import(c->t, &states[k]);
        if (!rc)
            vex_table_mark_dirty(c->t, vex_table_count(c->t) - 1);
    }
    pthread_rwlock_unlock(&c->lock);
    pthread_mutex_unlock(&e->ingest_mu);
    return rc;
}

/* ---- scanning ---- */

static int engine_scan(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                       vex_record_visit_fn fn, void *ctx)
{
    struct vex_engine *e = self;
    pthread_rwlock_rdlock(&e->cust_lock);
    struct cust *c = find_cust(e, customer);
    pthread_rwlock_unlock(&e->cust_lock);
    if (!c)
        return 0;
    pthread_rwlock_rdlock(&c->lock);
    int rc = vex_table_scan(c->t, from_ms, to_ms, now_ms(), e->opt.session_timeout_ms, fn, ctx);
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

static int engine_scan_columns(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                               vex_columns_visit_fn fn, void *ctx)
{
    struct vex_engine *e = self;
    (void)from_ms;
    (void)to_ms;
    pthread_rwlock_rdlock(&e->cust_lock);
    struct cust *c = find_cust(e, customer);
    pthread_rwlock_unlock(&e->cust_lock);
    if (!c)
        return 0;
    pthread_rwlock_rdlock(&c->lock);
    int rc = vex_table_scan_columns(c->t, now_ms(), e->opt.session_timeout_ms, fn, ctx);
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

struct vex_source vex_engine_source(struct vex_engine *e)
{
    struct vex_source s = {.self = e, .scan = engine_scan, .scan_columns = engine_scan_columns};
    return s;
}

/* ---- checkpoint segments ----
 * Columns of a partition segment (one row per session):
 *   sid, d.<dim> (13 dictionary strings), ipfb (string),
 *   q.<dim> (13 i64: seq of the event the dimension came from, relative to
 *   prefix_next, see seq_rel; live_seq likewise),
 *   min_seq, live, live_seq, prefix_next, last_change (i64),
 *   m.attempt_ts, m.last_ts, m.startup_ms, m.play_ms, m.cirr_ms, m.vrt_ms,
 *   m.kbps_known_ms, m.rebuffers, m.seeks, m.warnings, m.flags (i64),
 *   m.kbps_ms, m.kbps (f64): the machine over the contiguous seq prefix,
 *   pending (blob): the events after the prefix, 27 bytes each
 *   (i64 seq, i64 ts, f64 kbps, u8 type, u8 fatal, u8 has_kbps). */

#define PENDING_SIZE 27

static int64_t machine_flags(const struct vex_machine *m)
{
    return (int64_t)m->state | (int64_t)m->started << 8 | (int64_t)m->has_kbps << 9 |
           (int64_t)m->played << 10 | (int64_t)m->vsf << 11 | (int64_t)m->vpf << 12 |
           (int64_t)m->errors << 13;
}

static void machine_unflags(struct vex_machine *m, int64_t f)
{
    m->state = (uint8_t)(f & 0xff);
    m->started = (f >> 8) & 1;
    m->has_kbps = (f >> 9) & 1;
    m->played = (f >> 10) & 1;
    m->vsf = (f >> 11) & 1;
    m->vpf = (f >> 12) & 1;
    m->errors = (f >> 13) & 1;
}

enum {
    I_MIN_SEQ,
    I_LIVE,
    I_LIVE_SEQ,
    I_PREFIX_NEXT,
    I_LAST_CHANGE,
    I_ATTEMPT,
    I_LAST,
    I_STARTUP,
    I_PLAY,
    I_CIRR,
    I_VRT,
    I_KNOWN,
    I_REBUF,
    I_SEEKS,
    I_WARN,
    I_FLAGS,
    I_COUNT
};
static const char *const i64_names[I_COUNT] = {
    "min_seq",   "live",         "live_seq",   "prefix_next", "last_change",     "m.attempt_ts",
    "m.last_ts", "m.startup_ms", "m.play_ms",  "m.cirr_ms",   "m.vrt_ms",        "m.kbps_known_ms",
    "m.rebuffers", "m.seeks",    "m.warnings", "m.flags",
};

/* The seq a dimension (or `live`) came from is stored relative to the
 * session's prefix_next: 0 for "none", else prefix_next - seq. For sessions
 * that arrived in order that is the constant 1, which costs nothing once
 * compressed (sessions-v1 stored the seq itself). A set seq never equals
 * prefix_next: prefix events are below it, pending ones above. */
static int64_t seq_rel(int64_t seq, int64_t prefix_next)
{
    return seq < 0 ? 0 : prefix_next - seq;
}

static int64_t seq_abs(int64_t rel, int64_t prefix_next, int v1)
{
    if (v1)
        return rel;
    return rel == 0 ? -1 : prefix_next - rel;
}

static int write_partition(struct vex_engine *e, struct cust *c, int64_t day, const size_t *rows,
                           size_t n, const char *relpath)
{
    int rc = VEX_ENOMEM;
    struct vex_segment_writer *w = NULL;
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    int64_t *ints = malloc((n ? n : 1) * sizeof *ints);
    double *dbls = malloc((n ? n : 1) * sizeof *dbls);
    const void **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    unsigned char **blobs = calloc(n ? n : 1, sizeof *blobs);
    struct vex_session_state *st = malloc((n ? n : 1) * sizeof *st);
    char name[32], path[PATH_MAX], dayv[32];
    if (!strs || !ints || !dbls || !ptrs || !lens || !blobs || !st)
        goto done;
    for (size_t r = 0; r < n; r++)
        vex_table_export(c->t, rows[r], &st[r]);
    if ((rc = vex_segment_writer_create(n, &w)))
        goto done;
    snprintf(dayv, sizeof dayv, "%lld", (long long)day);
    if ((rc = vex_segment_writer_set_meta(w, "customer", c->id)) ||
        (rc = vex_segment_writer_set_meta(w, "day", dayv)) ||
        (rc = vex_segment_writer_set_meta(w, "kind", "sessions-v2")))
        goto done;

    for (size_t r = 0; r < n; r++)
        strs[r] = st[r].sid;
    if ((rc = vex_segment_writer_add_str(w, "sid", strs)))
        goto done;
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        for (size_t r = 0; r < n; r++) {
            strs[r] = st[r].dims[d];
            ints[r] = seq_rel(st[r].dim_seq[d], st[r].prefix_next);
        }
        snprintf(name, sizeof name, "d.%s", vex_dim_name((enum vex_dim)d));
        if ((rc = vex_segment_writer_add_str(w, name, strs)))
            goto done;
        snprintf(name, sizeof name, "q.%s", vex_dim_name((enum vex_dim)d));
        if ((rc = vex_segment_writer_add_i64(w, name, ints)))
            goto done;
    }
    for (size_t r = 0; r < n; r++)
        strs[r] = st[r].ip_fallback;
    if ((rc = vex_segment_writer_add_str(w, "ipfb", strs)))
        goto done;
    for (int k = 0; k < I_COUNT; k++) {
        for (size_t r = 0; r < n; r++) {
            const struct vex_session_state *s = &st[r];
            const struct vex_machine *m = &s->prefix;
            int64_t v = 0;
            switch (k) {
            case I_MIN_SEQ: v = s->min_seq; break;
            case I_LIVE: v = s->live; break;
            case I_LIVE_SEQ: v = seq_rel(s->live_seq, s->prefix_next); break;
            case I_PREFIX_NEXT: v = s->prefix_next; break;
            case I_LAST_CHANGE: v = s->last_change_ms; break;
            case I_ATTEMPT: v = m->attempt_ts; break;
            case I_LAST: v = m->last_ts; break;
            case I_STARTUP: v = m->startup_ms; break;
            case I_PLAY: v = m->play_ms; break;
            case I_CIRR: v = m->cirr_ms; break;
            case I_VRT: v = m->vrt_ms; break;
            case I_KNOWN: v = m->kbps_known_ms; break;
            case I_REBUF: v = m->rebuffers; break;
            case I_SEEKS: v = m->seeks; break;
            case I_WARN: v = m->warnings; break;
            case I_FLAGS: v = machine_flags(m); break;
            }
            ints[r] = v;
        }
        if ((rc = vex_segment_writer_add_i64(w, i64_names[k], ints)))
            goto done;
    }
    for (size_t r = 0; r < n; r++)
        dbls[r] = st[r].prefix.kbps_ms;
    if ((rc = vex_segment_writer_add_f64(w, "m.kbps_ms", dbls)))
        goto done;
    for (size_t r = 0; r < n; r++)
        dbls[r] = st[r].prefix.kbps;
    if ((rc = vex_segment_writer_add_f64(w, "m.kbps", dbls)))
        goto done;
    for (size_t r = 0; r < n; r++) {
        size_t np = st[r].npending;
        lens[r] = np * PENDING_SIZE;
        ptrs[r] = "";
        if (!np)
            continue;
        unsigned char *b = malloc(lens[r]);
        rc = VEX_ENOMEM;
        if (!b)
            goto done;
        blobs[r] = b;
        for (size_t k = 0; k < np; k++) {
            const struct vex_machine_event *pe = &st[r].pending[k];
            unsigned char *p = b + k * PENDING_SIZE;
            memcpy(p, &pe->seq, 8);
            memcpy(p + 8, &pe->ts, 8);
            memcpy(p + 16, &pe->kbps, 8);
            p[24] = pe->type;
            p[25] = pe->fatal;
            p[26] = pe->has_kbps;
        }
        ptrs[r] = b;
    }
    if ((rc = vex_segment_writer_add_blob(w, "pending", ptrs, lens)))
        goto done;
    snprintf(path, sizeof path, "%s/%s", e->store_dir, relpath);
    rc = vex_segment_writer_finish(w, path);
done:
    vex_segment_writer_destroy(w);
    if (blobs)
        for (size_t r = 0; r < n; r++)
            free(blobs[r]);
    free(blobs);
    free(strs);
    free(ints);
    free(dbls);
    free(ptrs);
    free(lens);
    free(st);
    return rc;
}

static int load_partition(struct vex_engine *e, const struct part *p)
{
    char path[PATH_MAX], name[32];
    snprintf(path, sizeof path, "%s/%s", e->store_dir, p->file);
    struct vex_segment *seg;
    int rc = vex_segment_open(path, &seg);
    if (rc)
        return rc;
    struct cust *c = get_or_add_cust(e, p->customer);
    size_t n = vex_segment_rows(seg);
    const char *kind = vex_segment_meta(seg, "kind");
    int v1 = kind && !strcmp(kind, "sessions-v1");
    if (!kind || (!v1 && strcmp(kind, "sessions-v2"))) {
        vex_segment_close(seg);
        return VEX_ECORRUPT; /* not a session segment of a version we know */
    }
    const uint32_t *codes[VEX_DIM_COUNT + 2];
    const char *const *dicts[VEX_DIM_COUNT + 2];
    size_t dsz[VEX_DIM_COUNT + 2];
    const int64_t *dseq[VEX_DIM_COUNT], *ints[I_COUNT];
    const double *kbps_ms = vex_segment_f64(seg, "m.kbps_ms");
    const double *kbps = vex_segment_f64(seg, "m.kbps");
    rc = VEX_ECORRUPT;
    if (!c || !kbps_ms || !kbps)
        goto done;
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        snprintf(name, sizeof name, "d.%s", vex_dim_name((enum vex_dim)d));
        if (vex_segment_str(seg, name, &codes[d], &dicts[d], &dsz[d]))
            goto done;
        snprintf(name, sizeof name, "q.%s", vex_dim_name((enum vex_dim)d));
        if (!(dseq[d] = vex_segment_i64(seg, name)))
            goto done;
    }
    if (vex_segment_str(seg, "sid", &codes[VEX_DIM_COUNT], &dicts[VEX_DIM_COUNT],
                        &dsz[VEX_DIM_COUNT]) ||
        vex_segment_str(seg, "ipfb", &codes[VEX_DIM_COUNT + 1], &dicts[VEX_DIM_COUNT + 1],
                        &dsz[VEX_DIM_COUNT + 1]))
        goto done;
    for (int k = 0; k < I_COUNT; k++)
        if (!(ints[k] = vex_segment_i64(seg, i64_names[k])))
            goto done;
    rc = 0;
    struct vex_machine_event *pend = NULL;
    size_t pendcap = 0;
    pthread_rwlock_wrlock(&c->lock);
    rc = vex_table_reserve(c->t, n);
    for (size_t r = 0; r < n && !rc; r++) {
        struct vex_session_state s;
        memset(&s, 0, sizeof s);
        for (int d = 0; d < VEX_DIM_COUNT + 2; d++) {
            if (codes[d][r] >= dsz[d]) {
                rc = VEX_ECORRUPT;
                break;
            }
        }
        if (rc)
            break;
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            s.dims[d] = dicts[d][codes[d][r]];
            s.dim_seq[d] = seq_abs(dseq[d][r], ints[I_PREFIX_NEXT][r], v1);
        }
        s.sid = dicts[VEX_DIM_COUNT][codes[VEX_DIM_COUNT][r]];
        s.ip_fallback = dicts[VEX_DIM_COUNT + 1][codes[VEX_DIM_COUNT + 1][r]];
        s.min_seq = ints[I_MIN_SEQ][r];
        s.live = ints[I_LIVE][r];
        s.live_seq = seq_abs(ints[I_LIVE_SEQ][r], ints[I_PREFIX_NEXT][r], v1);
        s.prefix_next = ints[I_PREFIX_NEXT][r];
        s.last_change_ms = ints[I_LAST_CHANGE][r];
        struct vex_machine *m = &s.prefix;
        m->attempt_ts = ints[I_ATTEMPT][r];
        m->last_ts = ints[I_LAST][r];
        m->startup_ms = ints[I_STARTUP][r];
        m->play_ms = ints[I_PLAY][r];
        m->cirr_ms = ints[I_CIRR][r];
        m->vrt_ms = ints[I_VRT][r];
        m->kbps_known_ms = ints[I_KNOWN][r];
        m->rebuffers = (uint32_t)ints[I_REBUF][r];
        m->seeks = (uint32_t)ints[I_SEEKS][r];
        m->warnings = (uint32_t)ints[I_WARN][r];
        machine_unflags(m, ints[I_FLAGS][r]);
        m->kbps_ms = kbps_ms[r];
        m->kbps = kbps[r];
        const void *blob;
        size_t blen;
        if (vex_segment_blob(seg, "pending", r, &blob, &blen) || blen % PENDING_SIZE) {
            rc = VEX_ECORRUPT;
            break;
        }
        size_t np = blen / PENDING_SIZE;
        if (np > pendcap) {
            struct vex_machine_event *v = realloc(pend, np * sizeof *v);
            if (!v) {
                rc = VEX_ENOMEM;
                break;
            }
            pend = v;
            pendcap = np;
        }
        for (size_t k = 0; k < np; k++) {
            const unsigned char *q = (const unsigned char *)blob + k * PENDING_SIZE;
            memcpy(&pend[k].seq, q, 8);
            memcpy(&pend[k].ts, q + 8, 8);
            memcpy(&pend[k].kbps, q + 16, 8);
            pend[k].type = q[24];
            pend[k].fatal = q[25];
            pend[k].has_kbps = q[26];
            if (pend[k].type >= VEX_EV_TYPE_COUNT)
                rc = VEX_ECORRUPT;
        }
        s.pending = pend;
        s.npending = (uint32_t)np;
        if (!rc)
            rc = vex_table_import(c->t, &s);
        if (!rc)
            rc = vex_table_mark_saved(c->t, vex_table_count(c->t) - 1, p->day);
    }
    pthread_rwlock_unlock(&c->lock);
    free(pend);
done:
    vex_segment_close(seg);
    return rc;
}

static int write_manifest(struct vex_engine *e, const struct part *parts, size_t n, uint64_t lsn)
{
    /* With a replica, the log must keep what the replica does not hold yet:
     * replay from there is harmless for what the segments already have,
     * since a replayed event is a duplicate of its seq. */
    if (e->opt.replica && e->pushed_lsn < lsn)
        lsn = e->pushed_lsn;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:I,s:s}", "customer", parts[i].customer,
                                             "day", (json_int_t)parts[i].day, "file",
                                             parts[i].file));
    json_t *doc = json_pack("{s:i,s:I,s:I,s:o}", "version", 1, "lsn", (json_int_t)lsn,
                            "pushed_until_ms", (json_int_t)e->pushed_until_ms, "partitions", arr);
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/MANIFEST", e->store_dir);
    snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", e->store_dir);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s)
        return VEX_ENOMEM;
    int rc = VEX_EIO;
    FILE *f = fopen(tmp, "w");
    if (f) {
        size_t len = strlen(s);
        if (fwrite(s, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0)
            rc = 0;
        if (fclose(f))
            rc = VEX_EIO;
    }
    free(s);
    if (!rc && rename(tmp, path))
        rc = VEX_EIO;
    if (!rc)
        rc = fsync_dir(e->store_dir);
    return rc;
}

static int read_manifest(struct vex_engine *e)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/MANIFEST", e->store_dir);
    if (access(path, F_OK))
        return 0;
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        return VEX_ECORRUPT;
    json_int_t lsn = 0;
    json_t *arr = NULL;
    int rc = VEX_ECORRUPT;
    if (json_unpack(doc, "{s:I,s:o}", "lsn", &lsn, "partitions", &arr) || !json_is_array(arr))
        goto done;
    e->ckpt_lsn = (uint64_t)lsn;
    json_t *pu = json_object_get(doc, "pushed_until_ms");
    e->pushed_until_ms = json_is_integer(pu) ? json_integer_value(pu) : 0;
    size_t n = json_array_size(arr);
    e->parts = calloc(n ? n : 1, sizeof *e->parts);
    if (!e->parts) {
        rc = VEX_ENOMEM;
        goto done;
    }
    e->capparts = n ? n : 1;
    for (size_t i = 0; i < n; i++) {
        const char *cu, *file;
        json_int_t day;
        if (json_unpack(json_array_get(arr, i), "{s:s,s:I,s:s}", "customer", &cu, "day", &day,
                        "file", &file))
            goto done;
        struct part *p = &e->parts[e->nparts++];
        snprintf(p->customer, sizeof p->customer, "%s", cu);
        p->day = day;
        snprintf(p->file, sizeof p->file, "%s", file);
    }
    rc = 0;
    for (size_t i = 0; i < e->nparts && !rc; i++)
        rc = load_partition(e, &e->parts[i]);
done:
    json_decref(doc);
    return rc;
}

/* A dirty partition to rewrite: (customer index, day). */
struct dirty {
    size_t cust;
    int64_t day;
};

static int dirty_add(struct dirty **v, size_t *n, size_t *cap, size_t cust, int64_t day)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].cust == cust && (*v)[i].day == day)
            return 0;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct dirty *d = realloc(*v, c * sizeof *d);
        if (!d)
            return VEX_ENOMEM;
        *v = d;
        *cap = c;
    }
    (*v)[(*n)++] = (struct dirty){cust, day};
    return 0;
}

int vex_engine_checkpoint(struct vex_engine *e)
{
    int rc = 0;
    struct dirty *dv = NULL;
    size_t nd = 0, capd = 0;
    size_t *rows = NULL;
    struct part *newparts = NULL;
    size_t nnew = 0;
    char **old_files = NULL;
    size_t nold = 0;

    pthread_mutex_lock(&e->ckpt_mu);
    pthread_mutex_lock(&e->ingest_mu);
    uint64_t lsn = vex_wal_next_lsn(e->wal);
    for (size_t ci = 0; ci < e->ncust && !rc; ci++) {
        struct vex_table *t = e->custs[ci]->t;
        size_t n = vex_table_count(t);
        for (size_t i = 0; i < n && !rc; i++) {
            if (!vex_table_dirty(t, i))
                continue;
            rc = dirty_add(&dv, &nd, &capd, ci, day_of(vex_table_attempt_ts(t, i)));
            int64_t saved = vex_table_saved_day(t, i);
            if (!rc && saved != INT64_MIN)
                rc = dirty_add(&dv, &nd, &capd, ci, saved);
        }
    }
    if (rc || nd == 0)
        goto unlock;

    newparts = calloc(e->nparts + nd, sizeof *newparts);
    old_files = calloc(e->nparts + 1, sizeof *old_files);
    if (!newparts || !old_files) {
        rc = VEX_ENOMEM;
        goto unlock;
    }
    /* Keep the partitions that did not change. */
    for (size_t i = 0; i < e->nparts; i++) {
        int changed = 0;
        for (size_t k = 0; k < nd; k++)
            if (!strcmp(e->custs[dv[k].cust]->id, e->parts[i].customer) &&
                dv[k].day == e->parts[i].day)
                changed = 1;
        if (changed)
            old_files[nold++] = e->parts[i].file;
        else
            newparts[nnew++] = e->parts[i];
    }
    for (size_t k = 0; k < nd && !rc; k++) {
        struct cust *c = e->custs[dv[k].cust];
        size_t n = vex_table_count(c->t), nr = 0;
        size_t *r2 = realloc(rows, (n ? n : 1) * sizeof *rows);
        if (!r2) {
            rc = VEX_ENOMEM;
            break;
        }
        rows = r2;
        for (size_t i = 0; i < n; i++)
            if (day_of(vex_table_attempt_ts(c->t, i)) == dv[k].day)
                rows[nr++] = i;
        if (nr == 0)
            continue; /* every session moved to another day: the partition goes */
        char dir[PATH_MAX];
        struct part *p = &newparts[nnew];
        snprintf(p->customer, sizeof p->customer, "%s", c->id);
        p->day = dv[k].day;
        snprintf(p->file, sizeof p->file, "seg/%s/%lld-%llu.seg", c->id, (long long)p->day,
                 (unsigned long long)lsn);
        snprintf(dir, sizeof dir, "%s/seg/%s", e->store_dir, c->id);
        if ((rc = mkdir_p(dir)))
            break;
        if ((rc = write_partition(e, c, dv[k].day, rows, nr, p->file)))
            break;
        nnew++;
    }
    if (!rc)
        rc = write_manifest(e, newparts, nnew, lsn);
    if (e->opt.replica && e->pushed_lsn < lsn)
        lsn = e->pushed_lsn;
    if (!rc) {
        for (size_t k = 0; k < nd; k++) {
            struct cust *c = e->custs[dv[k].cust];
            size_t n = vex_table_count(c->t);
            /* Flags share a column with what queries read: change them under
             * the customer's write lock. */
            pthread_rwlock_wrlock(&c->lock);
            /* Each row is marked with the day of its own attempt_ts, which
             * cannot fail. */
            for (size_t i = 0; i < n; i++)
                if (day_of(vex_table_attempt_ts(c->t, i)) == dv[k].day)
                    (void)vex_table_mark_saved(c->t, i, dv[k].day);
            pthread_rwlock_unlock(&c->lock);
        }
        for (size_t i = 0; i < nold; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", e->store_dir, old_files[i]);
            int same = 0;
            for (size_t j = 0; j < nnew; j++)
                same |= !strcmp(newparts[j].file, old_files[i]);
            if (!same)
                unlink(path);
        }
        free(e->parts);
        e->parts = newparts;
        e->nparts = nnew;
        e->capparts = e->nparts + nd;
        newparts = NULL;
        e->ckpt_lsn = lsn;
        e->wal_bytes = 0;
        e->checkpoints++;
    }
unlock:
    pthread_mutex_unlock(&e->ingest_mu);
    if (!rc && nd)
        rc = vex_wal_checkpoint(e->wal, lsn);
    pthread_mutex_unlock(&e->ckpt_mu);
    free(dv);
    free(rows);
    free(newparts);
    free(old_files);
    return rc;
}

/* ---- replication ---- */

struct push_set {
    struct cust *c;
    size_t *rows;
    size_t n, cap;
};

int vex_engine_push(struct vex_engine *e)
{
    if (!e->opt.replica)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&e->push_mu);
    pthread_mutex_lock(&e->ingest_mu);
    uint64_t lsn = vex_wal_next_lsn(e->wal);
    uint64_t bytes = e->unpushed_bytes;
    int64_t started = now_ms();
    size_t nc = e->ncust;
    struct push_set *sets = calloc(nc ? nc : 1, sizeof *sets);
    if (!sets)
        rc = VEX_ENOMEM;
    for (size_t i = 0; i < nc && !rc; i++) {
        sets[i].c = e->custs[i];
        pthread_rwlock_wrlock(&sets[i].c->lock); /* flags are read by queries */
        rc = vex_table_take_unpushed(e->custs[i]->t, &sets[i].rows, &sets[i].n, &sets[i].cap);
        pthread_rwlock_unlock(&sets[i].c->lock);
    }
    pthread_mutex_unlock(&e->ingest_mu);

    /* Records are built under the customer's read lock; their strings live
     * in the table's pools, which never move them. */
    struct vex_record *recs = NULL;
    int64_t *vers = NULL;
    size_t done = 0;
    for (size_t i = 0; i < nc && !rc; i++, done = i) {
        struct push_set *ps = &sets[i];
        for (size_t off = 0; off < ps->n && !rc; off += 4096) {
            size_t k = ps->n - off < 4096 ? ps->n - off : 4096;
            if (!recs) {
                recs = malloc(4096 * sizeof *recs);
                vers = malloc(4096 * sizeof *vers);
                if (!recs || !vers) {
                    rc = VEX_ENOMEM;
                    break;
                }
            }
            pthread_rwlock_rdlock(&ps->c->lock);
            for (size_t j = 0; j < k; j++) {
                size_t row = ps->rows[off + j];
                vex_table_record(ps->c->t, row, INT64_MIN / 2, e->opt.session_timeout_ms,
                                 &recs[j]);
                vers[j] = vex_table_last_change(ps->c->t, row);
            }
            pthread_rwlock_unlock(&ps->c->lock);
            rc = e->opt.replica->push(e->opt.replica->self, ps->c->id, recs, vers, k);
        }
    }
    (void)done;
    pthread_mutex_lock(&e->ingest_mu);
    if (rc) {
        /* Whatever was not confirmed is pushed again next time (the
         * replica replaces rows by version, so a repeat is harmless). */
        for (size_t i = 0; i < nc; i++) {
            if (!sets || !sets[i].n)
                continue;
            pthread_rwlock_wrlock(&sets[i].c->lock);
            vex_table_mark_unpushed(sets[i].c->t, sets[i].rows, sets[i].n);
            pthread_rwlock_unlock(&sets[i].c->lock);
        }
        e->push_failures++;
    } else {
        e->pushed_lsn = lsn;
        e->pushed_until_ms = started;
        e->unpushed_bytes -= bytes;
        e->pushes++;
    }
    pthread_mutex_unlock(&e->ingest_mu);
    for (size_t i = 0; sets && i < nc; i++)
        free(sets[i].rows);
    free(sets);
    free(recs);
    free(vers);
    pthread_mutex_unlock(&e->push_mu);
    return rc;
}

/* ---- frozen blocks ---- */

/* Rows a frozen block holds at least: smaller runs are scanned anyway. */
#define FREEZE_MIN_ROWS 4096

int vex_engine_freeze(struct vex_engine *e)
{
    if (e->opt.freeze_after_ms < 0)
        return 0;
    int64_t quiet = e->opt.freeze_after_ms ? e->opt.freeze_after_ms : DAY_MS;
    int rc = 0;
    pthread_rwlock_rdlock(&e->cust_lock);
    for (size_t i = 0; i < e->ncust && !rc; i++) {
        struct cust *c = e->custs[i];
        pthread_rwlock_wrlock(&c->lock);
        rc = vex_table_freeze(c->t, now_ms(), e->opt.session_timeout_ms, quiet,
                              FREEZE_MIN_ROWS);
        pthread_rwlock_unlock(&c->lock);
    }
    pthread_rwlock_unlock(&e->cust_lock);
    return rc;
}

/* ---- open / close ---- */

static int replay_one(void *ctx, uint64_t lsn, const void *payload, size_t len)
{
    struct vex_engine *e = ctx;
    (void)lsn;
    struct vex_wire_batch b;
    int rc = vex_wire_decode(payload, len, &b);
    if (rc)
        return rc;
    rc = apply_batch(e, b.customer, b.events, b.count, b.ip, b.received_ms);
    e->wal_bytes += len;
    vex_wire_batch_deinit(&b);
    return rc;
}

static void *bg_main(void *arg)
{
    struct vex_engine *e = arg;
    int64_t last_ckpt = now_ms();
    int push_failing = 0;
    pthread_mutex_lock(&e->bg_mu);
    while (!e->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ms = e->opt.checkpoint_interval_ms > 0 ? e->opt.checkpoint_interval_ms : 60000;
        if (e->opt.replica && e->opt.replica_interval_ms < ms)
            ms = e->opt.replica_interval_ms;
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&e->bg_cond, &e->bg_mu, &ts);
        if (e->stop)
            break;
        pthread_mutex_unlock(&e->bg_mu);
        int64_t t = now_ms();
        if (e->opt.replica) {
            /* The replica logs its own failures (rate-limited); say here only
             * when pushing stops and starts working again. */
            int rc = vex_engine_push(e);
            if (rc && !push_failing)
                fprintf(stderr, "vex: replica push failed: %s (retrying; ingest goes on)\n",
                        vex_strerror(rc));
            else if (!rc && push_failing)
                fprintf(stderr, "vex: replica push works again\n");
            push_failing = rc != 0;
        }
        int64_t every = e->opt.checkpoint_interval_ms > 0 ? e->opt.checkpoint_interval_ms : 60000;
        if (t - last_ckpt >= every || (e->opt.checkpoint_wal_bytes &&
                                       e->wal_bytes >= e->opt.checkpoint_wal_bytes)) {
            last_ckpt = t;
            int rc = vex_engine_checkpoint(e);
            if (rc)
                fprintf(stderr, "vex: checkpoint failed: %s\n", vex_strerror(rc));
            if ((rc = vex_engine_freeze(e)))
                fprintf(stderr, "vex: freezing sessions failed: %s\n", vex_strerror(rc));
        }
        pthread_mutex_lock(&e->bg_mu);
    }
    pthread_mutex_unlock(&e->bg_mu);
    return NULL;
}

int vex_engine_open(const struct vex_engine_options *opt, struct vex_engine **out)
{
    struct vex_engine *e = calloc(1, sizeof *e);
    if (!e)
        return VEX_ENOMEM;
    e->opt = *opt;
    if (e->opt.session_timeout_ms <= 0)
        e->opt.session_timeout_ms = 120000;
    pthread_mutex_init(&e->ingest_mu, NULL);
    pthread_mutex_init(&e->ckpt_mu, NULL);
    pthread_mutex_init(&e->push_mu, NULL);
    if (e->opt.replica_interval_ms <= 0)
        e->opt.replica_interval_ms = 1000;
    if (!e->opt.replica_backlog_bytes)
        e->opt.replica_backlog_bytes = (size_t)1 << 30;
    pthread_mutex_init(&e->bg_mu, NULL);
    pthread_cond_init(&e->bg_cond, NULL);
    pthread_rwlock_init(&e->cust_lock, NULL);
    snprintf(e->store_dir, sizeof e->store_dir, "%s/store", opt->data_dir);
    char wal_dir[PATH_MAX];
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", e->store_dir);
    int rc = mkdir_p(e->store_dir);
    if (!rc)
        rc = read_manifest(e);
    if (!rc)
        rc = vex_wal_open(wal_dir, (enum vex_wal_sync)opt->fsync_policy, &e->wal);
    if (!rc)
        rc = vex_wal_replay(e->wal, e->ckpt_lsn, replay_one, e);
    if (!rc && e->opt.replica) {
        /* Sessions changed since the last confirmed push may be missing in
         * the replica: push them again (1 s of margin for clock steps). */
        for (size_t i = 0; i < e->ncust; i++)
            vex_table_mark_unpushed_since(e->custs[i]->t, e->pushed_until_ms - 1000);
        e->pushed_lsn = e->ckpt_lsn;
        e->unpushed_bytes = e->wal_bytes;
    }
    if (!rc)
        rc = vex_engine_freeze(e);
    /* Loading decoded every segment into buffers freed since, below the
     * columns that grew over them: give those pages back to the system. */
    malloc_trim(0);
    if (rc) {
        vex_engine_close(e);
        return rc;
    }
    if (opt->checkpoint_interval_ms > 0 || opt->checkpoint_wal_bytes > 0 || opt->replica) {
        if (pthread_create(&e->bg, NULL, bg_main, e) == 0)
            e->bg_running = 1;
    }
    *out = e;
    return 0;
}

void vex_engine_stats(struct vex_engine *e, struct vex_engine_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&e->ingest_mu);
    st->customers = e->ncust;
    for (size_t i = 0; i < e->ncust; i++) {
        st->sessions += vex_table_count(e->custs[i]->t);
        st->memory_bytes += vex_table_memory(e->custs[i]->t);
    }
    st->batches = e->batches;
    st->events = e->events;
    st->checkpoints = e->checkpoints;
    st->wal_bytes_since_checkpoint = e->wal_bytes;
    st->replica_backlog_bytes = e->opt.replica ? e->unpushed_bytes : 0;
    st->replica_pushes = e->pushes;
    st->replica_failures = e->push_failures;
    pthread_mutex_unlock(&e->ingest_mu);
}

void vex_engine_memory(struct vex_engine *e, struct vex_table_mem *m)
{
    memset(m, 0, sizeof *m);
    pthread_rwlock_rdlock(&e->cust_lock);
    for (size_t i = 0; i < e->ncust; i++) {
        struct vex_table_mem x;
        pthread_rwlock_rdlock(&e->custs[i]->lock);
        vex_table_memory_detail(e->custs[i]->t, &x);
        pthread_rwlock_unlock(&e->custs[i]->lock);
        size_t *dst = (size_t *)m;
        const size_t *src = (const size_t *)&x;
        for (size_t k = 0; k < sizeof *m / sizeof(size_t); k++)
            dst[k] += src[k];
    }
    pthread_rwlock_unlock(&e->cust_lock);
}

void vex_engine_close(struct vex_engine *e)
{
    if (!e)
        return;
    if (e->bg_running) {
        pthread_mutex_lock(&e->bg_mu);
        e->stop = 1;
        pthread_cond_signal(&e->bg_cond);
        pthread_mutex_unlock(&e->bg_mu);
        pthread_join(e->bg, NULL);
    }
    if (e->wal) {
        if (e->opt.replica && vex_engine_push(e))
            fprintf(stderr, "vex: final replica push failed; the log keeps the events\n");
        int rc = vex_engine_checkpoint(e);
        if (rc)
            fprintf(stderr, "vex: final checkpoint failed: %s\n", vex_strerror(rc));
        vex_wal_close(e->wal);
    }
    for (size_t i = 0; i < e->ncust; i++) {
        vex_table_destroy(e->custs[i]->t);
        pthread_rwlock_destroy(&e->custs[i]->lock);
        free(e->custs[i]);
    }
    free(e->custs);
    free(e->parts);
    pthread_mutex_destroy(&e->ingest_mu);
    pthread_mutex_destroy(&e->ckpt_mu);
    pthread_mutex_destroy(&e->push_mu);
    pthread_mutex_destroy(&e->bg_mu);
    pthread_cond_destroy(&e->bg_cond);
    pthread_rwlock_destroy(&e->cust_lock);
    free(e);
}
