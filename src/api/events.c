/* events.c - POST /v1/events: the collector (SPEC section 2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "auth/accounts.h"
#include "backend/embedded.h"
#include "core/err.h"
#include "ingest/event.h"

/* Players run in pages of other origins: the collector allows any origin
 * (an ingest key is not a browser credential, and nothing is read back). */
static void allow_cors(struct vex_http_response *resp)
{
    vex_http_add_header(resp, "Access-Control-Allow-Origin", "*");
}

void vex_api_events_preflight(struct vex_app *app, const struct vex_http_request *req,
                              struct vex_http_response *resp)
{
    (void)app;
    (void)req;
    vex_http_reply_raw(resp, 204, "text/plain", NULL, 0);
    allow_cors(resp);
    vex_http_add_header(resp, "Access-Control-Allow-Methods", "POST, OPTIONS");
    vex_http_add_header(resp, "Access-Control-Allow-Headers", "Content-Type, X-Vex-Key");
    vex_http_add_header(resp, "Access-Control-Max-Age", "86400");
}

void vex_api_events(struct vex_app *app, const struct vex_http_request *req,
                    struct vex_http_response *resp)
{
    allow_cors(resp);
    char customer[65] = "";
    const char *ip = req->client_ip;

    if (vex_api_is_local(app, req)) {
        /* vex load through a running server: the customer is named, and a
         * bulk load has no client address. */
        const char *c = vex_http_header(req, "X-Vex-Customer");
        int64_t plan;
        if (!c || strlen(c) >= sizeof customer ||
            vex_accounts_customer_get(app->accounts, c, &plan)) {
            vex_http_reply_error(resp, 404, "not_found", "unknown customer");
            return;
        }
        snprintf(customer, sizeof customer, "%s", c);
        if (vex_http_header(req, "X-Vex-Load"))
            ip = "";
    } else {
        const char *key = vex_http_header(req, "X-Vex-Key");
        char *qkey = NULL;
        if (!key || !*key) {
            qkey = vex_http_form_get(req->query, strlen(req->query), "key");
            key = qkey;
        }
        if (!key || !*key) {
            free(qkey);
            vex_http_reply_error(resp, 401, "unauthorized",
                                 "missing ingest key: send it in the X-Vex-Key header or ?key=");
            return;
        }
        int rc = vex_accounts_customer_by_ingest_key(app->accounts, key, customer);
        free(qkey);
        if (rc) {
            vex_http_reply_error(resp, 401, "unauthorized",
                                 "unknown or revoked ingest key");
            return;
        }
    }

    const char *ctype = vex_http_header(req, "Content-Type");
    enum vex_body_format fmt = VEX_BODY_AUTO;
    if (ctype && strstr(ctype, "ndjson"))
        fmt = VEX_BODY_NDJSON;
    size_t i = 0;
    while (i < req->body_len && strchr(" \t\r\n", req->body[i]))
        i++;
    if (i == req->body_len) {
        vex_http_reply_error(resp, 400, "bad_json",
                             "the body is empty: send a JSON array of events or NDJSON lines");
        return;
    }
    if (fmt == VEX_BODY_NDJSON && req->body[i] == '[')
        fmt = VEX_BODY_JSON_ARRAY; /* a JSON array sent with an NDJSON type */

    struct vex_event_batch batch;
    struct vex_event_error err;
    int rc = vex_event_batch_parse(req->body, req->body_len, fmt, &batch, &err);
    if (rc == VEX_EINVAL) {
        json_t *o = json_pack("{s:s,s:s}", "error", err.code, "message", err.message);
        if (o && err.index >= 0) {
            json_object_set_new(o, "index", json_integer(err.index));
            json_object_set_new(o, "field", json_string(err.field));
        }
        vex_http_reply_json(resp, 400, o);
        return;
    }
    if (rc) {
        vex_http_reply_error(resp, 500, "internal", "could not decode the body: %s",
                             vex_strerror(rc));
        return;
    }
    if (batch.count)
        rc = vex_engine_ingest(app->engine, customer, batch.events, batch.count, ip);
    size_t n = batch.count;
    vex_event_batch_destroy(&batch);
    if (rc) {
        vex_http_reply_error(resp, 503, "unavailable",
                             "the events could not be stored (%s); nothing was acknowledged, "
                             "retry later",
                             vex_strerror(rc));
        return;
    }
    vex_http_reply_json(resp, 202, json_pack("{s:I}", "accepted", (json_int_t)n));
}
