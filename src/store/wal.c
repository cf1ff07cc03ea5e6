/* wal.c - the write-ahead log: append, group commit, rotation, replay.
 *
 * ON-DISK FORMAT (also in FORMAT.md; all integers little-endian)
 *
 * A log is a directory. Each log file is named by the LSN of its first record,
 * as 20 decimal digits: dir/00000000000000000001.wal. The files' LSN ranges
 * follow each other; the newest file is the one appended to. dir/LOCK is an
 * empty file that a running log holds an exclusive flock(2) on. A name ending
 * in ".wal.tmp" is a file being created, removed at the next open.
 *
 * A log file starts with a 32-byte header:
 *
 *     0   8  magic "VEXWAL\0\0" (56 45 58 57 41 4C 00 00)
 *     8   4  format version, 1
 *    12   4  header size, 32
 *    16   8  LSN of the first record of the file (the number in the name)
 *    24   4  reserved, 0
 *    28   4  CRC-32C of bytes 0..27
 *
 * followed by zero or more records, each a 16-byte header, the payload, and
 * 0..7 zero bytes that pad the record to a multiple of 8 bytes (so that every
 * header and payload is 8-byte aligned in a mapping of the file):
 *
 *     0   8  LSN: the file's first LSN for its first record, then +1 each
 *     8   4  payload length N, at most 256 MiB
 *    12   4  CRC-32C of the N payload bytes followed by header bytes 0..11
 *    16   N  payload
 *  16+N   P  padding, P = (8 - N % 8) % 8 zero bytes
 *
 * A record is intact when its LSN is the expected one, N is in range, the
 * whole padded record lies inside the file, the padding is zero and the CRC
 * matches. The log of a file is its longest prefix of intact records; the
 * expected-LSN rule keeps a stale or misplaced record from passing for a
 * new one. A header of zeros (a file extended but not written) never passes:
 * its CRC would have to be CRC-32C of twelve zero bytes, which is not zero.
 *
 * A file is created as NAME.wal.tmp, its header written and fdatasynced, then
 * renamed to NAME.wal and the directory fsynced, so a .wal file always has a
 * whole header; a bad header is damage, reported as VEX_ECORRUPT.
 *
 * DURABILITY
 *
 * Appends pwritev() under the log's mutex, so file order is LSN order. With
 * SYNC_ALWAYS a caller of vex_wal_sync(lsn) either finds synced_lsn >= lsn, or
 * waits for the fdatasync in progress, or starts one itself covering every
 * record written so far: one fdatasync serves all threads that arrived while
 * the previous one ran (group commit). Rotation fdatasyncs the file it leaves
 * (ALWAYS and EVERYSEC), so a synced LSN never depends on an older file. With
 * SYNC_NONE rotation only starts write-back, so after a power cut an older
 * file may end in a torn tail; replay skips such a tail and goes on with the
 * next file instead of refusing to start.
 *
 * An fdatasync failure is sticky: after Linux reports a write-back error the
 * dirty pages may already be dropped, so retrying could report success for
 * data that is gone. The log then refuses all work until reopened. */
#include "store/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/crc32c.h"
#include "store/fsutil.h"
#include "store/store_int.h"

#define FILE_HDR 32
#define REC_HDR 16
#define NAME_DIGITS 20
#define VERSION 1

static const unsigned char magic[8] = {'V', 'E', 'X', 'W', 'A', 'L', 0, 0};

struct wal_file {
    uint64_t first_lsn;
    uint64_t bytes;
};

struct vex_wal {
    char *dir;
    int lock_fd;
    enum vex_wal_sync policy;
    uint64_t file_max;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* the sync state changed (synced_lsn, syncing, err) */

    /* Everything below is guarded by mu. */
    struct wal_file *files; /* sorted by first_lsn; the last one is current */
    size_t nfiles, capfiles;
    int fd; /* current file, open for writing; -1 before replay */
    uint64_t next_lsn;
    uint64_t synced_lsn;
    int ready;
    int err;         /* sticky error, 0 if none */
    int syncing;     /* a thread is inside fdatasync of fd with mu released */
    int want_rotate; /* appenders waiting to rotate: no new sync may start */
    uint64_t syncs;
    uint64_t discarded;

    /* The EVERYSEC flusher thread. */
    pthread_t flusher;
    int has_flusher;
    int stop;
    pthread_cond_t stop_cv;
};

static size_t pad8(size_t n)
{
    return (8 - (n & 7)) & 7;
}

static char *file_path(const struct vex_wal *w, uint64_t first_lsn, const char *suffix)
{
    size_t n = strlen(w->dir) + 1 + NAME_DIGITS + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%020" PRIu64 "%s", w->dir, first_lsn, suffix);
    return p;
}

/* parse_name accepts exactly 20 digits followed by `suffix` and nothing else. */
static int parse_name(const char *name, const char *suffix, uint64_t *lsn)
{
    uint64_t v = 0;
    for (int i = 0; i < NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (strcmp(name + NAME_DIGITS, suffix) != 0)
        return 0;
    *lsn = v;
    return 1;
}

static int cmp_files(const void *a, const void *b)
{
    uint64_t x = ((const struct wal_file *)a)->first_lsn;
    uint64_t y = ((const struct wal_file *)b)->first_lsn;
    return x < y ? -1 : x > y;
}

static int push_file(struct vex_wal *w, uint64_t first_lsn, uint64_t bytes)
{
    if (w->nfiles == w->capfiles) {
        size_t cap = w->capfiles ? w->capfiles * 2 : 16;
        struct wal_file *f = realloc(w->files, cap * sizeof(*f));
        if (!f)
            return VEX_ENOMEM;
        w->files = f;
        w->capfiles = cap;
    }
    w->files[w->nfiles].first_lsn = first_lsn;
    w->files[w->nfiles].bytes = bytes;
    w->nfiles++;
    return 0;
}

static void encode_file_header(unsigned char *h, uint64_t first_lsn)
{
    memcpy(h, magic, 8);
    vex_put_le32(h + 8, VERSION);
    vex_put_le32(h + 12, FILE_HDR);
    vex_put_le64(h + 16, first_lsn);
    vex_put_le32(h + 24, 0);
    vex_put_le32(h + 28, vex_crc32c_of(h, 28));
}

static int check_file_header(const unsigned char *h, uint64_t first_lsn)
{
    return memcmp(h, magic, 8) == 0 && vex_get_le32(h + 8) == VERSION &&
           vex_get_le32(h + 12) == FILE_HDR && vex_get_le64(h + 16) == first_lsn &&
           vex_get_le32(h + 24) == 0 && vex_get_le32(h + 28) == vex_crc32c_of(h, 28);
}

/* create_file makes a new, durable, empty log file starting at first_lsn and
 * returns its descriptor (open for writing) in *fd_out. */
static int create_file(struct vex_wal *w, uint64_t first_lsn, int *fd_out)
{
    int rc = VEX_ENOMEM;
    int fd = -1;
    char *tmp = file_path(w, first_lsn, ".wal.tmp");
    char *final = file_path(w, first_lsn, ".wal");
    if (!tmp || !final)
        goto fail;
    rc = VEX_EIO;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = errno == ENOSPC || errno == EDQUOT ? VEX_EFULL : VEX_EIO;
        goto fail;
    }
    unsigned char h[FILE_HDR];
    encode_file_header(h, first_lsn);
    rc = vex_fsutil_write_all(fd, h, sizeof(h));
    if (rc)
        goto fail;
    rc = VEX_EIO;
    if (fdatasync(fd) != 0 || rename(tmp, final) != 0)
        goto fail;
    rc = vex_fsutil_sync_dir(w->dir);
    if (rc)
        goto fail;
    free(tmp);
    free(final);
    *fd_out = fd;
    return 0;
fail:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    free(final);
    return rc;
}

static struct wal_file *current(struct vex_wal *w)
{
    return &w->files[w->nfiles - 1];
}

/* rotate closes the current file and starts a new one at next_lsn. Called
 * with mu held and no sync in progress (so nobody else uses the old fd). */
static int rotate(struct vex_wal *w)
{
    int fd;
    int rc = push_file(w, w->next_lsn, FILE_HDR); /* reserve room first */
    if (rc)
        return rc;
    w->nfiles--;
    rc = create_file(w, w->next_lsn, &fd);
    if (rc)
        return rc;
    if (w->policy != VEX_WAL_SYNC_NONE) {
        w->syncs++;
        if (fdatasync(w->fd) != 0) {
            close(fd);
            w->err = VEX_EIO;
            pthread_cond_broadcast(&w->cv);
            return VEX_EIO;
        }
        w->synced_lsn = w->next_lsn - 1;
        pthread_cond_broadcast(&w->cv);
    } else {
#ifdef SYNC_FILE_RANGE_WRITE
        /* Start write-back now rather than when the kernel gets to it, to
         * narrow the window in which a power cut tears this file. */
        sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    }
    close(w->fd);
    w->fd = fd;
    w->nfiles++; /* room was reserved above */
    return 0;
}

/* rotate_when_idle rotates, unless an fdatasync is in flight on the current
 * fd: then it waits for that to end, holding back new syncs meanwhile, and
 * returns 1 so that the caller checks again whether rotation is still due
 * (another thread may have rotated in the meantime). Called and returns with
 * mu held. */
static int rotate_when_idle(struct vex_wal *w)
{
    if (w->syncing) {
        w->want_rotate++;
        while (w->syncing && !w->err)
            pthread_cond_wait(&w->cv, &w->mu);
        w->want_rotate--;
        pthread_cond_broadcast(&w->cv); /* syncers held back by want_rotate */
        return w->err ? w->err : 1;
    }
    int rc = rotate(w);
    pthread_cond_broadcast(&w->cv);
    return rc;
}

/* sync_round fdatasyncs every record written so far. Called with mu held and
 * no sync in progress; releases mu during the fdatasync. */
static void sync_round(struct vex_wal *w)
{
    uint64_t target = w->next_lsn - 1;
    int fd = w->fd;
    w->syncing = 1;
    w->syncs++;
    pthread_mutex_unlock(&w->mu);
    int r = fdatasync(fd);
    pthread_mutex_lock(&w->mu);
    w->syncing = 0;
    if (r != 0)
        w->err = VEX_EIO;
    else if (target > w->synced_lsn)
        w->synced_lsn = target;
    pthread_cond_broadcast(&w->cv);
}

static void *flusher_main(void *arg)
{
    struct vex_wal *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        while (!w->stop && pthread_cond_timedwait(&w->stop_cv, &w->mu, &ts) != ETIMEDOUT)
            ;
        if (w->stop)
            break;
        if (!w->err && !w->syncing && !w->want_rotate && w->synced_lsn + 1 < w->next_lsn)
            sync_round(w);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int start_flusher(struct vex_wal *w)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return VEX_ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int r = pthread_cond_init(&w->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0)
        return VEX_ENOMEM;
    if (pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
        pthread_cond_destroy(&w->stop_cv);
        return VEX_ENOMEM;
    }
    w->has_flusher = 1;
    return 0;
}

/* remove_tmp_files deletes leftovers of file creations a crash interrupted. */
static void remove_tmp_files(struct vex_wal *w, DIR *d)
{
    struct dirent *e;
    uint64_t lsn;
    rewinddir(d);
    while ((e = readdir(d)) != NULL) {
        if (!parse_name(e->d_name, ".wal.tmp", &lsn))
            continue;
        char *p = file_path(w, lsn, ".wal.tmp");
        if (p)
            unlink(p);
        free(p);
    }
}

static int list_files(struct vex_wal *w)
{
    DIR *d = opendir(w->dir);
    if (!d)
        return VEX_EIO;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        uint64_t lsn;
        if (parse_name(e->d_name, ".wal", &lsn))
            rc = push_file(w, lsn, 0);
    }
    if (rc == 0)
        remove_tmp_files(w, d);
    closedir(d);
    if (rc == 0 && w->nfiles > 1)
        qsort(w->files, w->nfiles, sizeof(*w->files), cmp_files);
    return rc;
}

int vex_wal_open(const char *dir, enum vex_wal_sync policy, struct vex_wal **out)
{
    if (!dir || !*dir || !out || policy < VEX_WAL_SYNC_ALWAYS || policy > VEX_WAL_SYNC_NONE)
        return VEX_EINVAL;
    int rc = vex_fsutil_mkdirs(dir);
    if (rc)
        return rc;
    struct vex_wal *w = calloc(1, sizeof(*w));
    if (!w)
        return VEX_ENOMEM;
    w->fd = -1;
    w->lock_fd = -1;
    w->policy = policy;
    w->file_max = VEX_WAL_DEFAULT_FILE_SIZE;
    rc = VEX_ENOMEM;
    w->dir = strdup(dir);
    if (!w->dir)
        goto fail_early;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail_early;
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        goto fail_early;
    }

    size_t n = strlen(dir) + sizeof("/LOCK");
    char *lock_path = malloc(n);
    if (!lock_path)
        goto fail;
    snprintf(lock_path, n, "%s/LOCK", dir);
    w->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(lock_path);
    rc = VEX_EIO;
    if (w->lock_fd < 0)
        goto fail;
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? VEX_EBUSY : VEX_EIO;
        goto fail;
    }
    rc = list_files(w);
    if (rc)
        goto fail;
    *out = w;
    return 0;
fail:
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
fail_early:
    free(w->files);
    free(w->dir);
    free(w);
    return rc;
}

int vex_wal_set_file_size(struct vex_wal *w, uint64_t bytes)
{
    if (!w || bytes < 64)
        return VEX_EINVAL;
    pthread_mutex_lock(&w->mu);
    w->file_max = bytes;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* scan_file walks the records of one mapped file from its header on. It calls
 * fn for those at or above from_lsn and reports where the intact prefix ends
 * (*end, a byte offset) and the LSN after it (*end_lsn). */
static int scan_file(const unsigned char *map, uint64_t size, uint64_t first_lsn, uint64_t from_lsn,
                     vex_wal_replay_fn fn, void *ctx, uint64_t *end, uint64_t *end_lsn)
{
    uint64_t off = FILE_HDR;
    uint64_t lsn = first_lsn;
    while (size - off >= REC_HDR) {
        const unsigned char *h = map + off;
        uint64_t len = vex_get_le32(h + 8);
        if (vex_get_le64(h) != lsn || len > VEX_WAL_MAX_RECORD)
            break;
        uint64_t rec = REC_HDR + len + pad8(len);
        if (rec > size - off)
            break;
        const unsigned char *payload = h + REC_HDR;
        int pad_ok = 1;
        for (uint64_t i = len; i < len + pad8(len); i++)
            pad_ok &= payload[i] == 0;
        if (!pad_ok)
            break;
        uint32_t crc = vex_crc32c_extend(vex_crc32c_of(payload, len), h, 12);
        if (crc != vex_get_le32(h + 12))
            break;
        if (lsn >= from_lsn) {
            int r = fn(ctx, lsn, payload, len);
            if (r)
                return r;
        }
        off += rec;
        lsn++;
    }
    *end = off;
    *end_lsn = lsn;
    return 0;
}

/* replay_one maps file i, checks its header, replays it, and (for the last
 * file) cuts a damaged tail. The last file's descriptor is kept in w->fd. */
static int replay_one(struct vex_wal *w, size_t i, uint64_t from_lsn, vex_wal_replay_fn fn,
                      void *ctx, uint64_t *end_lsn)
{
    int last = i + 1 == w->nfiles;
    struct wal_file *f = &w->files[i];
    unsigned char *map = NULL;
    uint64_t size = 0, end = 0;
    int rc = VEX_ENOMEM;
    char *path = file_path(w, f->first_lsn, ".wal");
    if (!path)
        return rc;
    rc = VEX_EIO;
    int fd = open(path, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return rc;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto out;
    size = (uint64_t)st.st_size;
    rc = VEX_ECORRUPT;
    if (size < FILE_HDR)
        goto out;
    rc = VEX_EIO;
    map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        map = NULL;
        goto out;
    }
    madvise(map, size, MADV_SEQUENTIAL);
    rc = VEX_ECORRUPT;
    if (!check_file_header(map, f->first_lsn))
        goto out;
    /* The file may hold records a dead process wrote but never synced; they
     * are about to be acted on, so make them durable first. */
    rc = VEX_EIO;
    if (fdatasync(fd) != 0)
        goto out;
    rc = scan_file(map, size, f->first_lsn, from_lsn, fn, ctx, &end, end_lsn);
    if (rc)
        goto out;
    munmap(map, size);
    map = NULL;
    if (end < size) {
        w->discarded += size - end;
        if (last) {
            rc = VEX_EIO;
            if (ftruncate(fd, (off_t)end) != 0 || fdatasync(fd) != 0)
                goto out;
            size = end;
        }
    }
    f->bytes = size;
    rc = 0;
out:
    if (map)
        munmap(map, size);
    if (last && rc == 0)
        w->fd = fd;
    else
        close(fd);
    return rc;
}

/* drop_files_before deletes the files before index k and forgets them. */
static int drop_files_before(struct vex_wal *w, size_t k)
{
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        char *p = file_path(w, w->files[i].first_lsn, ".wal");
        if (!p) {
            rc = VEX_ENOMEM;
            k = i;
            break;
        }
        if (unlink(p) != 0 && errno != ENOENT)
            rc = VEX_EIO;
        free(p);
    }
    memmove(w->files, w->files + k, (w->nfiles - k) * sizeof(*w->files));
    w->nfiles -= k;
    int r = vex_fsutil_sync_dir(w->dir);
    return rc ? rc : r;
}

int vex_wal_replay(struct vex_wal *w, uint64_t from_lsn, vex_wal_replay_fn fn, void *ctx)
{
    if (!w || !fn)
        return VEX_EINVAL;
    if (from_lsn == 0)
        from_lsn = 1;
    pthread_mutex_lock(&w->mu);
    int ready = w->ready;
    pthread_mutex_unlock(&w->mu);
    if (ready)
        return VEX_EINVAL;

    /* Nothing else can use the handle before replay succeeds, so the files
     * are read without the lock (fn may take as long as it likes). */
    int rc = 0;
    uint64_t end_lsn = 1;
    w->discarded = 0;
    if (w->fd >= 0) { /* an earlier replay was stopped by fn */
        close(w->fd);
        w->fd = -1;
    }
    for (size_t i = 0; i < w->nfiles; i++) {
        if (i > 0 && w->files[i].first_lsn < end_lsn)
            return VEX_ECORRUPT; /* overlapping files: not written by us */
        rc = replay_one(w, i, from_lsn, fn, ctx, &end_lsn);
        if (rc) {
            if (w->fd >= 0) {
                close(w->fd);
                w->fd = -1;
            }
            return rc;
        }
    }

    pthread_mutex_lock(&w->mu);
    if (w->nfiles == 0 || end_lsn < from_lsn) {
        /* Resume numbering at from_lsn in a fresh file; what precedes it
         * holds only records the caller said it no longer needs. */
        int fd;
        w->next_lsn = end_lsn < from_lsn ? from_lsn : end_lsn;
        rc = push_file(w, w->next_lsn, FILE_HDR);
        if (rc == 0) {
            w->nfiles--;
            rc = create_file(w, w->next_lsn, &fd);
        }
        if (rc == 0) {
            if (w->fd >= 0)
                close(w->fd);
            w->fd = fd;
            w->nfiles++;
            rc = drop_files_before(w, w->nfiles - 1);
        }
    } else {
        w->next_lsn = end_lsn;
    }
    if (rc == 0) {
        w->synced_lsn = w->next_lsn - 1;
        if (w->policy == VEX_WAL_SYNC_EVERYSEC)
            rc = start_flusher(w);
    }
    if (rc == 0)
        w->ready = 1;
    else if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* pwrite_all writes the iovecs at offset, finishing short writes. */
static int pwrite_all(int fd, struct iovec *iov, int n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pwritev(fd, iov, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOSPC || errno == EDQUOT ? VEX_EFULL : VEX_EIO;
        }
        off += (uint64_t)r;
        size_t done = (size_t)r;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

int vex_wal_append(struct vex_wal *w, const void *payload, size_t len, uint64_t *lsn_out)
{
    static const unsigned char zeros[8];
    if (!w || (!payload && len > 0))
        return VEX_EINVAL;
    if (len > VEX_WAL_MAX_RECORD)
        return VEX_ETOOBIG;
    /* The payload's checksum is the expensive part: take it before the lock
     * so that appenders checksum in parallel. */
    uint32_t crc = vex_crc32c_of(payload, len);
    uint64_t rec = REC_HDR + len + pad8(len);
    unsigned char h[REC_HDR];
    int rc;

    pthread_mutex_lock(&w->mu);
    if (!w->ready) {
        rc = VEX_EINVAL;
        goto out;
    }
    for (;;) {
        rc = w->err;
        if (rc)
            goto out;
        uint64_t used = current(w)->bytes;
        if (used == FILE_HDR || used + rec <= w->file_max)
            break;
        rc = rotate_when_idle(w);
        if (rc < 0)
            goto out;
    }
    struct wal_file *f = current(w); /* after rotation: files may have moved */
    vex_put_le64(h, w->next_lsn);
    vex_put_le32(h + 8, (uint32_t)len);
    vex_put_le32(h + 12, vex_crc32c_extend(crc, h, 12));
    struct iovec iov[3] = {
        {.iov_base = h, .iov_len = REC_HDR},
        {.iov_base = (void *)payload, .iov_len = len},
        {.iov_base = (void *)zeros, .iov_len = pad8(len)},
    };
    rc = pwrite_all(w->fd, iov, 3, f->bytes);
    if (rc) {
        /* Take back whatever part of the record reached the file, or the
         * next record would land behind a torn one and be lost at replay. */
        if (ftruncate(w->fd, (off_t)f->bytes) != 0) {
            w->err = VEX_EIO;
            pthread_cond_broadcast(&w->cv);
        }
        goto out;
    }
    f->bytes += rec;
    if (lsn_out)
        *lsn_out = w->next_lsn;
    w->next_lsn++;
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int vex_wal_sync(struct vex_wal *w, uint64_t lsn)
{
    if (!w)
        return VEX_EINVAL;
    int rc;
    pthread_mutex_lock(&w->mu);
    if (!w->ready) {
        rc = VEX_EINVAL;
    } else if (w->policy != VEX_WAL_SYNC_ALWAYS) {
        rc = w->err;
    } else {
        for (;;) {
            rc = w->err;
            if (rc || lsn <= w->synced_lsn)
                break;
            if (lsn >= w->next_lsn) {
                rc = VEX_EINVAL;
                break;
            }
            if (w->syncing || w->want_rotate)
                pthread_cond_wait(&w->cv, &w->mu);
            else
                sync_round(w);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint64_t vex_wal_next_lsn(struct vex_wal *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t v = w->next_lsn;
    pthread_mutex_unlock(&w->mu);
    return v;
}

int vex_wal_checkpoint(struct vex_wal *w, uint64_t lsn)
{
    if (!w)
        return VEX_EINVAL;
    int rc;
    pthread_mutex_lock(&w->mu);
    if (!w->ready) {
        rc = VEX_EINVAL;
        goto out;
    }
    rc = w->err;
    if (rc)
        goto out;
    if (lsn > w->next_lsn)
        lsn = w->next_lsn;
    /* The current file is never deleted (its name carries the numbering
     * across restarts), so when all of it is obsolete, start a new one. */
    while (lsn == w->next_lsn && current(w)->first_lsn < w->next_lsn) {
        rc = rotate_when_idle(w);
        if (rc < 0)
            goto out;
        rc = 0;
    }
    /* File i holds [first_lsn(i), first_lsn(i + 1)): obsolete when the next
     * file starts at or below lsn. */
    size_t k = 0;
    while (k + 1 < w->nfiles && w->files[k + 1].first_lsn <= lsn)
        k++;
    if (k > 0)
        rc = drop_files_before(w, k);
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int vex_wal_stats(struct vex_wal *w, struct vex_wal_stats *st)
{
    if (!w || !st)
        return VEX_EINVAL;
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&w->mu);
    st->files = w->nfiles;
    for (size_t i = 0; i < w->nfiles; i++)
        st->bytes += w->files[i].bytes;
    st->next_lsn = w->next_lsn;
    st->synced_lsn = w->synced_lsn;
    st->syncs = w->syncs;
    st->discarded = w->discarded;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void vex_wal_close(struct vex_wal *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->has_flusher) {
        w->stop = 1;
        pthread_cond_signal(&w->stop_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->flusher, NULL);
        pthread_mutex_lock(&w->mu);
        pthread_cond_destroy(&w->stop_cv);
    }
    while (w->syncing)
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->fd >= 0) {
        if (w->ready && !w->err)
            fdatasync(w->fd);
        close(w->fd);
    }
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    free(w->files);
    free(w->dir);
    free(w);
}
