/* wal.h - the write-ahead log: numbered records appended to a directory of
 * log files, made durable by group commit, replayed after a restart.
 *
 * Every record gets a log sequence number (LSN): 1, 2, 3 ... in append order,
 * never reused, continuing across restarts. The log does not know what the
 * payloads mean; the embedded engine stores one ingest batch per record, so a
 * batch is in the log entirely or not at all (a torn record fails its checksum
 * and is discarded at replay). The byte format is in FORMAT.md and wal.c.
 *
 * Life cycle: vex_wal_open, then exactly one successful vex_wal_replay, then
 * any number of vex_wal_append / vex_wal_sync / vex_wal_checkpoint from any
 * threads, then vex_wal_close once no other thread uses the handle. */
#ifndef VEX_STORE_WAL_H
#define VEX_STORE_WAL_H

#include <stddef.h>
#include <stdint.h>

/* When an appended record reaches the disk. */
enum vex_wal_sync {
    /* vex_wal_sync waits for fdatasync: acknowledged means durable. Threads
     * waiting at the same time share one fdatasync (group commit). */
    VEX_WAL_SYNC_ALWAYS = 0,
    /* A background thread fdatasyncs every second; vex_wal_sync returns at
     * once. A power cut loses up to about a second of records. */
    VEX_WAL_SYNC_EVERYSEC = 1,
    /* Only close and file rotation flush; the kernel writes back when it
     * likes. A process crash loses nothing, a power cut may lose a lot. */
    VEX_WAL_SYNC_NONE = 2
};

/* The largest payload of one record: 256 MiB. */
#define VEX_WAL_MAX_RECORD (256u << 20)

/* Log files rotate when the next record would take them past this size. */
#define VEX_WAL_DEFAULT_FILE_SIZE (64u << 20)

struct vex_wal;

/* vex_wal_open opens the log in directory `dir`, creating it (and its parents)
 * if missing, takes an exclusive lock on it (dir/LOCK) and lists its log
 * files. It reads no records: call vex_wal_replay next. *out is the caller's
 * until vex_wal_close. Returns 0, VEX_EINVAL, VEX_ENOMEM, VEX_EIO, or
 * VEX_EBUSY when another handle (in any process) has the directory open. */
int vex_wal_open(const char *dir, enum vex_wal_sync policy, struct vex_wal **out);

/* vex_wal_set_file_size sets the rotation size in bytes (at least 64; default
 * VEX_WAL_DEFAULT_FILE_SIZE). A record larger than that gets a file of its
 * own. Returns 0 or VEX_EINVAL. */
int vex_wal_set_file_size(struct vex_wal *w, uint64_t bytes);

/* Called by vex_wal_replay with one record. `payload` points into a read-only
 * mapping of the log file, 8-byte aligned, valid only during the call. A
 * nonzero return stops the replay, which then returns that value. */
typedef int (*vex_wal_replay_fn)(void *ctx, uint64_t lsn, const void *payload, size_t len);

/* vex_wal_replay calls fn for every intact record with lsn >= from_lsn, in
 * append (LSN) order, and then makes the log ready for appends.
 *
 * A torn or corrupt tail of the last file (partial record, bad checksum) is
 * discarded and truncated away, so that new appends follow the last good
 * record. Damage inside an older file ends that file: its remaining records
 * are skipped (they were never acknowledged unless the disk itself rotted),
 * and replay goes on with the next file. Files are fdatasynced as they are
 * read, so what the caller rebuilds from them cannot be lost afterwards.
 *
 * Records below from_lsn are, by the caller's word, no longer needed: when the
 * log ends before from_lsn (an empty directory, or a snapshot newer than the
 * log's surviving tail), numbering resumes at from_lsn and the older files
 * are deleted, so that an LSN the caller has seen is never handed out again.
 *
 * Returns 0; fn's nonzero return (the handle then stays unready and replay
 * may be called again); VEX_ECORRUPT for a log file with a bad header;
 * VEX_EINVAL when called again after a successful replay; VEX_EIO, VEX_ENOMEM. */
int vex_wal_replay(struct vex_wal *w, uint64_t from_lsn, vex_wal_replay_fn fn, void *ctx);

/* vex_wal_append writes one record (len bytes at payload; copied before the
 * call returns) into the current log file and stores its LSN in *lsn_out
 * (may be NULL). Thread-safe: concurrent calls get increasing LSNs in the
 * order they take the log's lock, and the file holds the records in that
 * order. It does not wait for the disk: call vex_wal_sync for that.
 * Returns 0, VEX_EINVAL (before replay, or payload NULL with len > 0),
 * VEX_ETOOBIG (len > VEX_WAL_MAX_RECORD), VEX_EFULL (disk full: nothing of
 * the record stays in the file) or VEX_EIO. After an fdatasync failure the
 * log refuses everything with VEX_EIO: what the kernel dropped cannot be
 * known, so the process must restart and replay. */
int vex_wal_append(struct vex_wal *w, const void *payload, size_t len, uint64_t *lsn_out);

/* vex_wal_sync returns once record `lsn` (and every record before it) is
 * durable per the policy. With VEX_WAL_SYNC_ALWAYS it blocks until an
 * fdatasync that started after the record was written has finished; threads
 * that wait at the same time are served by the same fdatasync. With EVERYSEC
 * and NONE it returns at once. Returns 0, VEX_EINVAL (lsn not appended yet)
 * or VEX_EIO. */
int vex_wal_sync(struct vex_wal *w, uint64_t lsn);

/* vex_wal_next_lsn returns the LSN the next append will get. */
uint64_t vex_wal_next_lsn(struct vex_wal *w);

/* vex_wal_checkpoint declares records with LSN < lsn no longer needed (their
 * effect is stored elsewhere) and deletes the log files that hold only such
 * records. When that covers the whole current file, the log first rotates to
 * a new empty file, which keeps the numbering. Replay after a checkpoint may
 * still call fn for some records below lsn (those sharing a file with newer
 * ones), which is why replay takes from_lsn. Returns 0, VEX_EINVAL (before
 * replay) or VEX_EIO. */
int vex_wal_checkpoint(struct vex_wal *w, uint64_t lsn);

struct vex_wal_stats {
    uint64_t files;      /* log files in the directory */
    uint64_t bytes;      /* their total size */
    uint64_t next_lsn;   /* LSN of the next append */
    uint64_t synced_lsn; /* every record up to this one is durable */
    uint64_t syncs;      /* fdatasync calls for records since open */
    uint64_t discarded;  /* bytes of damaged tails dropped by replay */
};

/* vex_wal_stats fills *st. Returns 0 or VEX_EINVAL. */
int vex_wal_stats(struct vex_wal *w, struct vex_wal_stats *st);

/* vex_wal_close fdatasyncs the current file (all policies), stops the
 * background thread and frees the handle. NULL is fine. */
void vex_wal_close(struct vex_wal *w);

#endif
