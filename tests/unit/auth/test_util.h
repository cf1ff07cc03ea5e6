/* test_util.h - helpers shared by the auth unit tests: temporary data dirs,
 * a fake HTTP request, and hand-made JWTs. */
#ifndef VEX_TEST_AUTH_UTIL_H
#define VEX_TEST_AUTH_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/b64url.h"
#include "http/http.h"

static inline char *tu_mkdtemp(void)
{
    char *dir = strdup("/tmp/vex-auth-test-XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    return dir;
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static inline void tu_rmtree(char *dir)
{
    nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* A request with at most a few headers, looked up case-insensitively. */
struct tu_request {
    struct vex_http_request req;
    const char *names[4];
    const char *values[4];
};

static inline const char *tu_header(const struct vex_http_request *req, const char *name)
{
    const struct tu_request *r = req->impl;
    for (int i = 0; i < 4 && r->names[i]; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

/* tu_request_init makes a request with one header (name may be NULL). */
static inline void tu_request_init(struct tu_request *r, const char *method, const char *path,
                                   const char *body, const char *name, const char *value)
{
    memset(r, 0, sizeof *r);
    r->req.method = method;
    r->req.path = path;
    r->req.query = "";
    r->req.body = body ? body : "";
    r->req.body_len = strlen(r->req.body);
    r->req.client_ip = "127.0.0.1";
    r->req.header = tu_header;
    r->req.impl = r;
    r->names[0] = name;
    r->values[0] = value;
}

/* tu_b64 encodes a string with base64url (malloc'd). */
static inline char *tu_b64(const char *s)
{
    return vex_b64url_encode_alloc((const uint8_t *)s, strlen(s));
}

/* tu_join makes "a.b.c" (malloc'd). */
static inline char *tu_join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    snprintf(s, n, "%s.%s.%s", a, b, c);
    return s;
}

#endif
