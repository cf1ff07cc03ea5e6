/* segment.h - immutable columnar files: N rows of named, typed columns plus a
 * small key/value header, written once, checksummed, zstd-compressed.
 *
 * The embedded engine keeps session records in segments partitioned by
 * customer and day, and snapshots of sessionizer state. A writer collects
 * whole columns (every column has exactly nrows values) and writes the file
 * atomically. A reader maps the file and verifies every checksum at open;
 * each column is decompressed and decoded into a plain array the first time
 * it is asked for, so a query pays only for the columns it reads. The byte
 * format is in FORMAT.md and segment.c.
 *
 * A writer is used by one thread. An open segment may be read by any number
 * of threads at once (first-access decoding is serialised inside). */
#ifndef VEX_STORE_SEGMENT_H
#define VEX_STORE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

enum vex_segment_type {
    VEX_SEGMENT_I64 = 1,
    VEX_SEGMENT_F64 = 2,
    VEX_SEGMENT_STR = 3,
    VEX_SEGMENT_BLOB = 4
};

/* Limits: column names and meta keys are 1..255 bytes, meta values up to
 * 1 MiB, at most 65535 columns. */
#define VEX_SEGMENT_MAX_NAME 255

struct vex_segment_writer;

/* vex_segment_writer_create starts a segment of nrows rows (0 is fine).
 * Returns 0 or VEX_ENOMEM; *out is the caller's until _destroy. */
int vex_segment_writer_create(size_t nrows, struct vex_segment_writer **out);

/* The _add_ functions copy a column of nrows values (the caller's arrays are
 * not used after the call). Names are NUL-terminated and unique. Each returns
 * 0, VEX_EINVAL (bad name, NULL values when nrows > 0, NULL string),
 * VEX_EEXIST (name taken), VEX_ETOOBIG or VEX_ENOMEM.
 *
 * i64 columns are stored as frame of reference, delta, or the difference
 * from an earlier i64 column (whichever looks cheapest on a sample), in 0..8
 * byte planes, then zstd. The writer keeps a copy of up to 16 i64 columns and
 * the codes of up to 16 str columns until finish, for later columns to be
 * coded against. */
int vex_segment_writer_add_i64(struct vex_segment_writer *w, const char *name, const int64_t *vals);
/* f64 columns keep every bit (NaN payloads, -0.0); columns of whole numbers
 * are stored as integers. */
int vex_segment_writer_add_f64(struct vex_segment_writer *w, const char *name, const double *vals);
/* str columns take NUL-terminated strings and are dictionary-encoded: the
 * dictionary holds each distinct string once, sorted by byte value (strcmp),
 * so comparing codes compares strings. When an earlier str column determines
 * this one row by row, the codes are stored once per value of that column. */
int vex_segment_writer_add_str(struct vex_segment_writer *w, const char *name,
                               const char *const *vals);
/* blob columns take nrows byte strings (ptrs[i] may be NULL when lens[i] is 0). */
int vex_segment_writer_add_blob(struct vex_segment_writer *w, const char *name,
                                const void *const *ptrs, const size_t *lens);

/* vex_segment_writer_set_meta sets (or replaces) a key/value pair of the
 * header: customer, day, version ... Both strings are copied. Returns 0,
 * VEX_EINVAL, VEX_ETOOBIG or VEX_ENOMEM. */
int vex_segment_writer_set_meta(struct vex_segment_writer *w, const char *key, const char *value);

/* vex_segment_writer_finish writes the segment to `path`: it writes
 * "<path>.tmp", fsyncs it, renames it over `path` and fsyncs the directory, so
 * that a crash leaves either the old state or the complete new file. The
 * writer stays valid (finish may be called again, for another path).
 * Returns 0, VEX_EIO, VEX_EFULL or VEX_ENOMEM; on failure `path` is
 * untouched and the temporary file removed. */
int vex_segment_writer_finish(struct vex_segment_writer *w, const char *path);

/* vex_segment_writer_destroy frees the writer. NULL is fine. */
void vex_segment_writer_destroy(struct vex_segment_writer *w);

struct vex_segment;

/* vex_segment_open maps the file at `path` and verifies its structure and
 * every checksum, so damage anywhere in the file is reported here. Columns
 * are decoded on first access. *out is the caller's until _close. Returns 0,
 * VEX_ENOENT (no such file), VEX_ECORRUPT (not a segment, a checksum
 * mismatch, or an inconsistent index), VEX_ENOMEM or VEX_EIO. */
int vex_segment_open(const char *path, struct vex_segment **out);

/* vex_segment_verify decodes every column now. A file whose checksums match
 * but whose column contents are inconsistent (a writer bug or a forged file)
 * is reported here, or by the accessors as they decode. Returns 0,
 * VEX_ECORRUPT or VEX_ENOMEM. */
int vex_segment_verify(const struct vex_segment *s);

/* vex_segment_rows returns the number of rows. */
size_t vex_segment_rows(const struct vex_segment *s);

/* vex_segment_meta returns the value stored under `key`, or NULL. Borrowed
 * until vex_segment_close. */
const char *vex_segment_meta(const struct vex_segment *s, const char *key);

/* vex_segment_ncols and vex_segment_column enumerate the columns in the
 * order they were added: name (borrowed) and type of column i. The latter
 * returns 0 or VEX_EINVAL (i out of range). */
size_t vex_segment_ncols(const struct vex_segment *s);
int vex_segment_column(const struct vex_segment *s, size_t i, const char **name,
                       enum vex_segment_type *type);

/* vex_segment_i64 / _f64 return the column's nrows values (8-byte aligned,
 * borrowed until close; not NULL for an existing column even with 0 rows),
 * or NULL when there is no column of that name and type, or when it cannot
 * be decoded (see vex_segment_verify). */
const int64_t *vex_segment_i64(const struct vex_segment *s, const char *name);
const double *vex_segment_f64(const struct vex_segment *s, const char *name);

/* vex_segment_str gives a dictionary column: codes[i] (i < nrows) indexes
 * dict[0..dict_size), which is sorted by strcmp and has no duplicates. All
 * borrowed until close. Returns 0, VEX_ENOENT (no such str column),
 * VEX_ECORRUPT or VEX_ENOMEM (decoding failed). */
int vex_segment_str(const struct vex_segment *s, const char *name, const uint32_t **codes,
                    const char *const **dict, size_t *dict_size);

/* vex_segment_blob gives the bytes of one row of a blob column (borrowed until
 * close; ptr is not NULL even for an empty blob). Returns 0, VEX_ENOENT (no
 * such blob column), VEX_EINVAL (row >= nrows), VEX_ECORRUPT or VEX_ENOMEM. */
int vex_segment_blob(const struct vex_segment *s, const char *name, size_t row, const void **ptr,
                     size_t *len);

/* vex_segment_close frees everything the segment handed out. NULL is fine. */
void vex_segment_close(struct vex_segment *s);

#endif
