/* local.c - data dir lock, local secret and the CLI's HTTP client. */
#include "cli/local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "core/err.h"

int vex_local_lock(const char *data_dir, int *fd_out)
{
    char path[1200];
    if (mkdir(data_dir, 0755) && errno != EEXIST)
        return VEX_EIO;
    snprintf(path, sizeof path, "%s/LOCK", data_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return VEX_EIO;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        return VEX_EBUSY;
    }
    *fd_out = fd;
    return 0;
}

int vex_local_secret(const char *data_dir, char out[65])
{
    char path[1200];
    snprintf(path, sizeof path, "%s/local.secret", data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        int ok = fgets(out, 65, f) != NULL;
        fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        if (ok && strlen(out) == 64)
            return 0;
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return VEX_EIO;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return VEX_EIO;
    int rc = (write(fd, out, 64) == 64 && fsync(fd) == 0) ? 0 : VEX_EIO;
    close(fd);
    if (!rc && rename(tmp, path))
        rc = VEX_EIO;
    return rc;
}

int vex_local_store_save(const char *data_dir, const struct vex_local_store *st)
{
    char path[1200], tmp[1210];
    snprintf(path, sizeof path, "%s/store.conf", data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char text[1200];
    int n = snprintf(text, sizeof text, "%s\n%lld\n", st->store, st->timeout_ms);
    if (n < 0 || (size_t)n >= sizeof text)
        return VEX_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return VEX_EIO;
    int rc = (write(fd, text, (size_t)n) == n && fsync(fd) == 0) ? 0 : VEX_EIO;
    close(fd);
    if (!rc && rename(tmp, path))
        rc = VEX_EIO;
    return rc;
}

int vex_local_store_load(const char *data_dir, struct vex_local_store *st)
{
    char path[1200], num[32] = "";
    snprintf(path, sizeof path, "%s/store.conf", data_dir);
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "r");
    if (!f)
        return VEX_ENOENT;
    int ok = fgets(st->store, sizeof st->store, f) != NULL && fgets(num, sizeof num, f) != NULL;
    fclose(f);
    st->store[strcspn(st->store, "\n")] = '\0';
    char *end = NULL;
    st->timeout_ms = ok ? strtoll(num, &end, 10) : 0;
    if (!ok || !end || (*end != '\n' && *end != '\0') || st->timeout_ms <= 0 || !st->store[0])
        return VEX_ECORRUPT;
    return 0;
}

int vex_local_acquire(const char *data_dir, struct vex_local *l)
{
    memset(l, 0, sizeof *l);
    l->lock_fd = -1;
    int rc = vex_local_lock(data_dir, &l->lock_fd);
    if (rc != VEX_EBUSY)
        return rc;
    char path[1200], addr[256] = "";
    snprintf(path, sizeof path, "%s/serve.addr", data_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return VEX_EBUSY;
    int ok = fgets(addr, sizeof addr, f) != NULL;
    fclose(f);
    addr[strcspn(addr, "\r\n")] = '\0';
    if (!ok || !*addr)
        return VEX_EBUSY;
    snprintf(l->base_url, sizeof l->base_url, "http://%s", addr);
    return vex_local_secret(data_dir, l->secret) ? VEX_EBUSY : 0;
}

void vex_local_release(struct vex_local *l)
{
    if (l->lock_fd >= 0) {
        close(l->lock_fd);
        l->lock_fd = -1;
    }
}

struct sink {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    char *p = realloc(s->p, s->n + n + 1);
    if (!p)
        return 0;
    memcpy(p + s->n, ptr, n);
    s->p = p;
    s->n += n;
    p[s->n] = '\0';
    return n;
}

int vex_local_http(const struct vex_local *l, const char *method, const char *path_and_query,
                   const char *const *headers, const char *body, size_t body_len, long *status,
                   char **body_out)
{
    CURL *c = curl_easy_init();
    if (!c)
        return VEX_ENOMEM;
    char url[8192], secret_h[128];
    snprintf(url, sizeof url, "%s%s", l->base_url, path_and_query);
    snprintf(secret_h, sizeof secret_h, "X-Vex-Local: %s", l->secret);
    struct curl_slist *hl = curl_slist_append(NULL, secret_h);
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    struct sink s = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = VEX_EIO;
        free(s.p);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        *body_out = s.p ? s.p : strdup("");
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc;
}
