/* metrics.c - the SmartSight-compatible metrics endpoints (SPEC section 4),
 * checked in the order of SPEC 4.6. */
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "auth/accounts.h"
#include "auth/auth.h"
#include "core/err.h"
#include "query/query.h"

static const struct {
    const char *prefix;
    enum vex_endpoint ep;
} endpoints[] = {
    {"/mm-apis/session/", VEX_EP_SESSION},
    {"/mm-apis/qbrData/vod/", VEX_EP_VOD},
    {"/mm-apis/qbrData/live/", VEX_EP_LIVE},
    {"/mm-apis/metricquery/", VEX_EP_METRICQUERY},
    {"/mm-apis/listsessions/", VEX_EP_LISTSESSIONS},
};

void vex_api_metrics(struct vex_app *app, const struct vex_http_request *req,
                     struct vex_http_response *resp)
{
    enum vex_endpoint ep = VEX_EP_SESSION;
    const char *raw = NULL;
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        size_t n = strlen(endpoints[i].prefix);
        if (!strncmp(req->path, endpoints[i].prefix, n)) {
            ep = endpoints[i].ep;
            raw = req->path + n;
        }
    }
    size_t idlen = 0;
    char *customer = raw ? vex_http_url_decode(raw, strlen(raw), 0, &idlen) : NULL;
    if (!customer || idlen != strlen(customer)) {
        free(customer);
        vex_http_reply_error(resp, 404, "not_found", "malformed customer id in the path");
        return;
    }

    int64_t plan = 0;
    if (vex_api_is_local(app, req)) {
        if (vex_accounts_customer_get(app->accounts, customer, &plan)) {
            vex_http_reply_error(resp, 404, "not_found", "unknown customer '%s'", customer);
            free(customer);
            return;
        }
    } else if (vex_auth_check_customer(app->auth, req, customer, &plan, resp)) {
        free(customer);
        return;
    }

    struct vex_query *q = NULL;
    struct vex_query_error qerr;
    int rc = vex_query_parse(ep, req->query, &q, &qerr);
    if (rc == VEX_EINVAL) {
        vex_http_reply_error(resp, 400, qerr.code, "%s", qerr.message);
        free(customer);
        return;
    }
    if (rc) {
        vex_http_reply_error(resp, 500, "internal", "%s", vex_strerror(rc));
        free(customer);
        return;
    }
    if (!vex_query_planlevel_ok(q, plan)) {
        vex_http_reply_error(resp, 403, "forbidden",
                             "planlevel does not match the plan level of customer '%s'",
                             customer);
        vex_query_destroy(q);
        free(customer);
        return;
    }
    char *json = NULL;
    rc = vex_query_run(q, &app->source, customer, &json);
    vex_query_destroy(q);
    free(customer);
    if (rc == VEX_EUNAVAIL) {
        /* The ClickHouse backend could not reach ClickHouse: a retry may work. */
        vex_http_reply_error(resp, 503, "unavailable",
                             "the session store is unreachable; retry in a few seconds");
        return;
    }
    if (rc) {
        vex_http_reply_error(resp, 500, "internal", "query failed: %s", vex_strerror(rc));
        return;
    }
    vex_http_reply_raw(resp, 200, "application/json", json, strlen(json));
}
