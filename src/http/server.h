/* server.h - the HTTP server on libmicrohttpd.
 *
 * One thread per connection (keep-alive), so that a handler may block on the
 * write-ahead log's group commit without holding up other connections.
 * Bodies are capped: past `body_limit` the request is answered 413 and its
 * body is never handed to a handler. */
#ifndef VEX_HTTP_SERVER_H
#define VEX_HTTP_SERVER_H

#include <stddef.h>

#include "http/http.h"

typedef void (*vex_dispatch_fn)(void *ctx, const struct vex_http_request *req,
                                struct vex_http_response *resp);

struct vex_server_options {
    const char *host; /* numeric IPv4 or IPv6 address */
    int port;         /* 0: any free port */
    size_t body_limit;
    int connection_limit;
};

struct vex_server;

/* vex_server_start binds and starts serving; dispatch is called for every
 * complete request, from the connection's thread. VEX_EIO when the address
 * cannot be bound, VEX_EINVAL for a bad host. */
int vex_server_start(const struct vex_server_options *opt, vex_dispatch_fn dispatch, void *ctx,
                     struct vex_server **out);

/* vex_server_port returns the bound port. */
int vex_server_port(const struct vex_server *s);

/* vex_server_stop stops accepting, finishes the requests in progress and
 * frees the server. */
void vex_server_stop(struct vex_server *s);

#endif
