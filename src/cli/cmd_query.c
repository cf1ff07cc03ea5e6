/* cmd_query.c - `vex query CUSTOMER 'QUERY-STRING'`: prints what
 * GET /mm-apis/session/CUSTOMER?QUERY-STRING answers, from the running
 * server or from the data dir directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "auth/accounts.h"
#include "backend/clickhouse.h"
#include "backend/embedded.h"
#include "cli/cli.h"
#include "cli/local.h"
#include "core/err.h"
#include "query/query.h"
#include "store/wal.h"

/* print_result prints the body and turns the status into an exit code. */
static int print_result(long status, const char *body)
{
    fputs(body, stdout);
    fputc('\n', stdout);
    if (status == 200)
        return VEX_EXIT_OK;
    json_t *j = json_loads(body, 0, NULL);
    const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
    vex_cli_fail(VEX_EXIT_FAIL, "query failed (%ld): %s", status, msg ? msg : "error");
    json_decref(j);
    return VEX_EXIT_FAIL;
}

static int run_direct(const char *data_dir, const char *customer, const char *qs)
{
    struct vex_accounts *acc = NULL;
    struct vex_engine *eng = NULL;
    struct vex_clickhouse *ch = NULL;
    struct vex_query *q = NULL;
    char *json = NULL;
    int64_t plan;
    int status = VEX_EXIT_FAIL, rc;
    struct vex_query_error qerr;
    if ((rc = vex_accounts_open(data_dir, &acc))) {
        vex_cli_fail(1, "cannot open accounts: %s", vex_strerror(rc));
        goto out;
    }
    if (vex_accounts_customer_get(acc, customer, &plan)) {
        char *b = NULL;
        json_t *e = json_pack("{s:s,s:s}", "error", "not_found", "message", "unknown customer");
        b = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        status = print_result(404, b ? b : "");
        free(b);
        goto out;
    }
    rc = vex_query_parse(VEX_EP_SESSION, qs, &q, &qerr);
    if (rc == VEX_EINVAL) {
        json_t *e = json_pack("{s:s,s:s}", "error", qerr.code, "message", qerr.message);
        char *b = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        status = print_result(400, b ? b : "");
        free(b);
        goto out;
    }
    if (rc) {
        vex_cli_fail(1, "%s", vex_strerror(rc));
        goto out;
    }
    if (!vex_query_planlevel_ok(q, plan)) {
        status = print_result(403, "{\"error\":\"forbidden\",\"message\":\"planlevel does not "
                                   "match the customer's plan level\"}");
        goto out;
    }
    /* A node that ran on ClickHouse answers from ClickHouse (its local store
     * holds only the sessions it took itself). */
    struct vex_local_store ls;
    struct vex_source src;
    rc = vex_local_store_load(data_dir, &ls);
    if (rc == 0 && strncmp(ls.store, "clickhouse=", 11) == 0) {
        struct vex_clickhouse_config cfg;
        char err[512] = "";
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (vex_clickhouse_parse_url(ls.store + 11, &cfg, err, sizeof err) ||
            (rc = vex_clickhouse_create(&cfg, ls.timeout_ms, &ch))) {
            vex_cli_fail(1, "cannot use the store of %s/store.conf: %s", data_dir,
                         err[0] ? err : vex_strerror(rc));
            goto out;
        }
        src = vex_clickhouse_source(ch);
    } else if (rc == 0 || rc == VEX_ENOENT) {
        struct vex_engine_options eo = {.data_dir = data_dir,
                                        .fsync_policy = VEX_WAL_SYNC_ALWAYS,
                                        .session_timeout_ms = rc == 0 ? ls.timeout_ms : 0};
        if ((rc = vex_engine_open(&eo, &eng))) {
            vex_cli_fail(1, "cannot open the store: %s", vex_strerror(rc));
            goto out;
        }
        src = vex_engine_source(eng);
    } else {
        vex_cli_fail(1, "%s/store.conf is unreadable", data_dir);
        goto out;
    }
    if ((rc = vex_query_run(q, &src, customer, &json))) {
        vex_cli_fail(1, "query failed: %s", vex_strerror(rc));
        goto out;
    }
    status = print_result(200, json);
out:
    free(json);
    vex_query_destroy(q);
    vex_engine_close(eng);
    vex_clickhouse_destroy(ch);
    vex_accounts_close(acc);
    return status;
}

int vex_cmd_query(int argc, char **argv, const char *data_dir)
{
    const char *customer = NULL, *qs = NULL;
    for (int i = 1; i < argc; i++) {
        if (!customer)
            customer = argv[i];
        else if (!qs)
            qs = argv[i];
        else
            return vex_cli_fail(VEX_EXIT_USAGE, "usage: vex query CUSTOMER 'QUERY-STRING'");
    }
    if (!customer || !qs)
        return vex_cli_fail(VEX_EXIT_USAGE, "usage: vex query CUSTOMER 'QUERY-STRING'");
    if (qs[0] == '?')
        qs++;
    struct vex_local loc;
    int rc = vex_local_acquire(data_dir, &loc);
    if (rc)
        return vex_cli_fail(VEX_EXIT_FAIL, "data dir %s is busy and no server address is known",
                            data_dir);
    int status;
    if (loc.lock_fd >= 0) {
        status = run_direct(data_dir, customer, qs);
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        CURL *c = curl_easy_init();
        char *esc = c ? curl_easy_escape(c, customer, 0) : NULL;
        char *path = esc ? malloc(strlen(esc) + strlen(qs) + 32) : NULL;
        long st = 0;
        char *body = NULL;
        status = VEX_EXIT_FAIL;
        if (path) {
            sprintf(path, "/mm-apis/session/%s?%s", esc, qs);
            if (vex_local_http(&loc, "GET", path, NULL, NULL, 0, &st, &body) == 0)
                status = print_result(st, body);
            else
                vex_cli_fail(1, "cannot reach the server at %s", loc.base_url);
        }
        free(body);
        free(path);
        curl_free(esc);
        curl_easy_cleanup(c);
        curl_global_cleanup();
    }
    vex_local_release(&loc);
    return status;
}
