/* fsutil.c - directory creation and syncing shared by the log and segments.
 *
 * POSIX makes a new directory entry durable only once the directory itself is
 * fsynced; fsyncing the file is not enough. Every create, rename and unlink
 * the store relies on after a crash goes through vex_fsutil_sync_dir. */
#include "store/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

int vex_fsutil_mkdirs(const char *path)
{
    struct stat st;
    if (!path || !*path)
        return VEX_EINVAL;
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : VEX_EINVAL;

    size_t n = strlen(path);
    char *tmp = malloc(n + 1);
    if (!tmp)
        return VEX_ENOMEM;
    memcpy(tmp, path, n + 1);
    int rc = 0;
    /* Create each prefix that ends before a slash, then the whole path. */
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            rc = errno == ENOTDIR ? VEX_EINVAL : VEX_EIO;
        else if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = VEX_EINVAL;
        tmp[i] = saved;
    }
    free(tmp);
    return rc;
}

int vex_fsutil_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return VEX_EIO;
    int rc = fsync(fd) == 0 ? 0 : VEX_EIO;
    close(fd);
    return rc;
}

int vex_fsutil_sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return vex_fsutil_sync_dir(".");
    if (slash == path)
        return vex_fsutil_sync_dir("/");
    size_t n = (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (!dir)
        return VEX_ENOMEM;
    memcpy(dir, path, n);
    dir[n] = '\0';
    int rc = vex_fsutil_sync_dir(dir);
    free(dir);
    return rc;
}

int vex_fsutil_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOSPC || errno == EDQUOT ? VEX_EFULL : VEX_EIO;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}
