/* router.c - the route table: {method, path pattern, handler}. In a pattern
 * `{}` matches one non-empty path segment; a known path with another method
 * is 405. */
#include <openssl/crypto.h>
#include <string.h>

#include "api/dashboard.h"
#include "api/routes.h"
#include "api/tokens.h"

struct route {
    const char *method;
    const char *pattern;
    vex_handler_fn fn;
};

/* `{}` stands for one path segment (e.g. the realm). */
static const struct route routes[] = {
    {"GET", "/", vex_api_dashboard},
    {"GET", "/dashboard/{}", vex_api_dashboard},
    {"GET", "/healthz", vex_api_health},
    {"GET", "/metrics", vex_api_prometheus},
    {"POST", "/v1/events", vex_api_events},
    {"OPTIONS", "/v1/events", vex_api_events_preflight},
    {"GET", "/mm-apis/session/{}", vex_api_metrics},
    {"GET", "/mm-apis/qbrData/vod/{}", vex_api_metrics},
    {"GET", "/mm-apis/qbrData/live/{}", vex_api_metrics},
    {"GET", "/mm-apis/metricquery/{}", vex_api_metrics},
    {"GET", "/mm-apis/listsessions/{}", vex_api_metrics},
    {"POST", "/realms/{}/protocol/openid-connect/token", vex_api_token},
    {"GET", "/realms/{}/protocol/openid-connect/certs", vex_api_certs},
    {"POST", "/generateOAuthToken", vex_api_legacy_token},
    {"GET", "/planLevelByCustId/{}", vex_api_planlevel},
};

/* match compares a path with a pattern whose `{}` match one non-empty
 * segment. */
static int match(const char *pat, const char *path)
{
    while (*pat) {
        if (pat[0] == '{' && pat[1] == '}') {
            const char *slash = strchr(path, '/');
            size_t seg = slash ? (size_t)(slash - path) : strlen(path);
            if (seg == 0)
                return 0;
            path += seg;
            pat += 2;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    return *path == '\0';
}

int vex_api_is_local(const struct vex_app *app, const struct vex_http_request *req)
{
    const char *h = vex_http_header(req, "X-Vex-Local");
    size_t n = strlen(app->local_secret);
    return h && n && strlen(h) == n && CRYPTO_memcmp(h, app->local_secret, n) == 0;
}

void vex_api_dispatch(void *ctx, const struct vex_http_request *req,
                      struct vex_http_response *resp)
{
    struct vex_app *app = ctx;
    int path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, req->path))
            continue;
        path_known = 1;
        if (!strcmp(routes[i].method, req->method) ||
            (!strcmp(req->method, "HEAD") && !strcmp(routes[i].method, "GET"))) {
            routes[i].fn(app, req, resp);
            return;
        }
    }
    if (path_known)
        vex_http_reply_error(resp, 405, "method_not_allowed", "%s is not allowed on %s",
                             req->method, req->path);
    else
        vex_http_reply_error(resp, 404, "not_found", "no such endpoint: %s", req->path);
}
