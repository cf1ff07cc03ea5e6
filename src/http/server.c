/* server.c - libmicrohttpd glue: raw request URIs, capped bodies, JSON
 * errors for what never reaches a handler. */
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/err.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

struct vex_server {
    struct MHD_Daemon *d;
    vex_dispatch_fn dispatch;
    void *ctx;
    size_t body_limit;
    int port;
};

/* Per-request state, created by the URI log callback (the first thing MHD
 * tells about a request) so that the raw, undecoded URI is kept. */
struct req_ctx {
    char *uri;
    char *body;
    size_t len, cap;
    int started;
    int too_big;
};

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct req_ctx *rc = calloc(1, sizeof *rc);
    if (rc)
        rc->uri = strdup(uri ? uri : "/");
    return rc;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req_ctx *rc = *con_cls;
    if (rc) {
        free(rc->uri);
        free(rc->body);
        free(rc);
    }
    *con_cls = NULL;
}

static const char *lookup_header(const struct vex_http_request *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->impl, MHD_HEADER_KIND, name);
}

static mhd_result send_response(struct MHD_Connection *conn, struct vex_http_response *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->body_len, r->body ? r->body : (char *)"", r->body ? MHD_RESPMEM_MUST_FREE
                                                             : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    r->body = NULL;
    MHD_add_response_header(resp, "Content-Type",
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->retry_after[0])
        MHD_add_response_header(resp, "Retry-After", r->retry_after);
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    mhd_result ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static mhd_result reply_error(struct MHD_Connection *conn, int status, const char *code,
                              const char *msg)
{
    struct vex_http_response r = {0};
    vex_http_reply_error(&r, status, code, "%s", msg);
    return send_response(conn, &r);
}

static mhd_result handle(void *cls, struct MHD_Connection *conn, const char *url,
                         const char *method, const char *version, const char *upload_data,
                         size_t *upload_data_size, void **con_cls)
{
    (void)url;
    (void)version;
    struct vex_server *s = cls;
    struct req_ctx *rc = *con_cls;
    if (!rc)
        return MHD_NO;
    if (!rc->started) {
        rc->started = 1;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->body_limit) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes",
                     s->body_limit);
            return reply_error(conn, 413, "payload_too_large", msg);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rc->too_big || rc->len + n > s->body_limit) {
            rc->too_big = 1;
            free(rc->body);
            rc->body = NULL;
            rc->len = rc->cap = 0;
            return MHD_YES;
        }
        if (rc->len + n + 1 > rc->cap) {
            size_t cap = rc->cap ? rc->cap : 4096;
            while (cap < rc->len + n + 1)
                cap *= 2;
            char *b = realloc(rc->body, cap);
            if (!b)
                return reply_error(conn, 500, "internal", "out of memory");
            rc->body = b;
            rc->cap = cap;
        }
        memcpy(rc->body + rc->len, upload_data, n);
        rc->len += n;
        rc->body[rc->len] = '\0';
        return MHD_YES;
    }
    if (rc->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes",
                 s->body_limit);
        return reply_error(conn, 413, "payload_too_large", msg);
    }

    char ipbuf[INET6_ADDRSTRLEN] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ipbuf, sizeof ipbuf);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ipbuf,
                      sizeof ipbuf);
    }

    /* Split the raw URI into path and query string; neither is decoded here:
     * the metrics API must see a filter's `%2C` as part of a value. */
    char *q = strchr(rc->uri, '?');
    if (q)
        *q++ = '\0';
    struct vex_http_request req = {
        .method = method,
        .path = rc->uri,
        .query = q ? q : "",
        .body = rc->body ? rc->body : "",
        .body_len = rc->len,
        .client_ip = ipbuf,
        .header = lookup_header,
        .impl = conn,
    };
    struct vex_http_response resp = {.status = 500};
    s->dispatch(s->ctx, &req, &resp);
    if (!resp.body && resp.status != 204)
        vex_http_reply_error(&resp, resp.status ? resp.status : 500, "internal",
                             "the handler produced no answer");
    return send_response(conn, &resp);
}

int vex_server_start(const struct vex_server_options *opt, vex_dispatch_fn dispatch, void *ctx,
                     struct vex_server **out)
{
    struct vex_server *s = calloc(1, sizeof *s);
    if (!s)
        return VEX_ENOMEM;
    s->dispatch = dispatch;
    s->ctx = ctx;
    s->body_limit = opt->body_limit ? opt->body_limit : 16u << 20;

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_POLL;
    if (inet_pton(AF_INET, opt->host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)opt->port);
    } else if (inet_pton(AF_INET6, opt->host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)opt->port);
        flags |= MHD_USE_IPv6;
    } else {
        free(s);
        return VEX_EINVAL;
    }
    s->d = MHD_start_daemon(
        flags, (uint16_t)opt->port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_URI_LOG_CALLBACK, uri_logger, s, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)(opt->connection_limit > 0 ? opt->connection_limit : 512),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return VEX_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : opt->port;
    *out = s;
    return 0;
}

int vex_server_port(const struct vex_server *s)
{
    return s->port;
}

void vex_server_stop(struct vex_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
