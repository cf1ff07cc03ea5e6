/* fsutil.h - the few file-system steps that make store files crash-safe:
 * creating a directory path, writing a whole buffer, and fsyncing a directory
 * so that a create, rename or unlink inside it survives a power cut. */
#ifndef VEX_STORE_FSUTIL_H
#define VEX_STORE_FSUTIL_H

#include <stddef.h>

/* vex_fsutil_mkdirs creates `path` and any missing parents (mode 0755). An
 * existing directory is fine. Returns 0, VEX_EINVAL (a part is not a
 * directory), VEX_ENOMEM or VEX_EIO. */
int vex_fsutil_mkdirs(const char *path);

/* vex_fsutil_sync_dir fsyncs the directory `path`. Returns 0 or VEX_EIO. */
int vex_fsutil_sync_dir(const char *path);

/* vex_fsutil_sync_parent fsyncs the directory that holds the file `path`
 * ("." when the path has no slash). Returns 0, VEX_ENOMEM or VEX_EIO. */
int vex_fsutil_sync_parent(const char *path);

/* vex_fsutil_write_all writes len bytes at the file position of fd, retrying
 * short writes and EINTR. Returns 0, VEX_EFULL (disk full) or VEX_EIO. */
int vex_fsutil_write_all(int fd, const void *buf, size_t len);

#endif
