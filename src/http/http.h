/* http.h - the request and response that handlers see, independent of
 * libmicrohttpd, and helpers for JSON replies. */
#ifndef VEX_HTTP_HTTP_H
#define VEX_HTTP_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct vex_http_request {
    const char *method;    /* "GET", "POST", ... */
    const char *path;      /* raw path, without the query string */
    const char *query;     /* raw query string without '?', "" when none */
    const char *body;      /* request body (NUL-terminated), "" when none */
    size_t body_len;
    const char *client_ip; /* textual peer address, "" when unknown */
    /* Header lookup, case-insensitive; returns NULL when absent. */
    const char *(*header)(const struct vex_http_request *req, const char *name);
    void *impl; /* for the server's header lookup */
};

static inline const char *vex_http_header(const struct vex_http_request *req, const char *name)
{
    return req->header ? req->header(req, name) : NULL;
}

#define VEX_HTTP_MAX_HEADERS 6

struct vex_http_response {
    int status;
    char *body; /* malloc'd; the server frees it after sending */
    size_t body_len;
    const char *content_type; /* static string; default application/json */
    char retry_after[16];     /* Retry-After header value when non-empty */
    /* Further headers, added with vex_http_add_header(). */
    struct {
        char name[40];
        char value[256];
    } headers[VEX_HTTP_MAX_HEADERS];
    int nheaders;
};

/* vex_http_add_header adds a response header (silently dropped past
 * VEX_HTTP_MAX_HEADERS; names and values are static protocol strings). */
void vex_http_add_header(struct vex_http_response *resp, const char *name, const char *value);

/* vex_http_reply_json sets status and the serialisation of `obj` (the
 * reference is stolen). */
void vex_http_reply_json(struct vex_http_response *resp, int status, json_t *obj);

/* vex_http_reply_error answers {"error": code, "message": ...}. */
void vex_http_reply_error(struct vex_http_response *resp, int status, const char *code,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* vex_http_reply_raw takes ownership of a malloc'd body. */
void vex_http_reply_raw(struct vex_http_response *resp, int status, const char *content_type,
                        char *body, size_t len);

/* vex_http_form_get finds a field of an application/x-www-form-urlencoded body
 * (or query string) and returns its decoded value (malloc'd) or NULL. */
char *vex_http_form_get(const char *form, size_t len, const char *name);

/* vex_http_url_decode percent-decodes src[0..len) ('+' is a space when
 * plus_is_space) into a new malloc'd string; *out_len gets its length. NULL
 * on a malformed escape. */
char *vex_http_url_decode(const char *src, size_t len, int plus_is_space, size_t *out_len);

#endif
