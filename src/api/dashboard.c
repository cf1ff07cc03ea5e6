/* dashboard.c - serves the web dashboard compiled into the binary (see
 * web/CMakeLists.txt): GET / is the page, GET /dashboard/<file> its script,
 * style sheet and any other embedded file. The page talks only to this
 * server's API, so it needs nothing else at run time. */
#include "api/dashboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DASHBOARD_PREFIX "/dashboard/"

/* The page loads nothing from elsewhere and runs no inline script, so a
 * strict policy costs nothing and keeps a dimension value that slipped into
 * markup from ever running. */
static const char page_policy[] = "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static const struct vex_web_asset *find_asset(const char *name)
{
    size_t n = 0;
    const struct vex_web_asset *a = vex_web_assets(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].path, name) == 0)
            return &a[i];
    return NULL;
}

void vex_api_dashboard(struct vex_app *app, const struct vex_http_request *req,
                       struct vex_http_response *resp)
{
    (void)app;
    const char *name = NULL;
    if (strcmp(req->path, "/") == 0)
        name = "index.html";
    else if (strncmp(req->path, DASHBOARD_PREFIX, strlen(DASHBOARD_PREFIX)) == 0)
        name = req->path + strlen(DASHBOARD_PREFIX);
    /* The lookup is by exact name in the embedded table, so no path can
     * reach anything but the embedded files. */
    const struct vex_web_asset *a = name && *name ? find_asset(name) : NULL;
    if (!a) {
        vex_http_reply_error(resp, 404, "not_found",
                             "no such dashboard file: %s (the dashboard is at /)", req->path);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        vex_http_reply_error(resp, 405, "method_not_allowed", "%s is not allowed on %s",
                             req->method, req->path);
        return;
    }
    /* The server frees the body after sending it, so it gets its own copy. */
    char *body = malloc(a->len ? a->len : 1);
    if (!body) {
        vex_http_reply_error(resp, 500, "internal", "out of memory");
        return;
    }
    memcpy(body, a->data, a->len);
    vex_http_reply_raw(resp, 200, a->content_type, body, a->len);
    if (strncmp(a->content_type, "text/html", 9) == 0) {
        vex_http_add_header(resp, "Content-Security-Policy", page_policy);
    } else {
        vex_http_add_header(resp, "X-Content-Type-Options", "nosniff");
    }
}
