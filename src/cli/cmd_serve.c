/* cmd_serve.c - `vex serve`: the API server over the embedded store, or, with
 * `--store clickhouse=URL` (also `store clickhouse=URL` in the config file),
 * over ClickHouse for scale-out (docs/scale-out.md): the engine keeps the log
 * and the sessionizer and pushes every changed session to ClickHouse, and
 * queries read ClickHouse, which holds the sessions of every node. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/app.h"
#include "api/routes.h"
#include "auth/accounts.h"
#include "auth/auth.h"
#include "backend/clickhouse.h"
#include "backend/embedded.h"
#include "cli/cli.h"
#include "cli/local.h"
#include "core/err.h"
#include "http/server.h"

static void serve_usage(void)
{
    fprintf(stderr, "usage: vex serve [--data DIR] [--listen HOST:PORT] [--config FILE] "
                    "[--<option> VALUE]...\noptions:\n");
    vex_config_help(stderr);
}

/* The store a node runs on, from the `store` option. */
struct store_choice {
    int clickhouse;
    struct vex_clickhouse_config ch;
};

static int set_store(struct store_choice *sc, const char *value, char *err, size_t errlen)
{
    if (!strcmp(value, "embedded")) {
        sc->clickhouse = 0;
        return 0;
    }
    if (strncmp(value, "clickhouse=", 11)) {
        snprintf(err, errlen, "store wants embedded or clickhouse=http://HOST:8123/DB, got '%s'",
                 value);
        return VEX_EINVAL;
    }
    if (vex_clickhouse_parse_url(value + 11, &sc->ch, err, errlen))
        return VEX_EINVAL;
    sc->clickhouse = 1;
    return 0;
}

int vex_cmd_serve(int argc, char **argv, const char *data_dir)
{
    struct vex_app app;
    memset(&app, 0, sizeof app);
    vex_config_defaults(&app.cfg);
    snprintf(app.cfg.data_dir, sizeof app.cfg.data_dir, "%s", data_dir);
    char err[1024];
    struct store_choice store;
    memset(&store, 0, sizeof store);

    /* The config file first, so that flags override it wherever they stand. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc)
                return vex_cli_fail(VEX_EXIT_USAGE, "--config needs a file");
            if (vex_config_load_file(&app.cfg, argv[i + 1], err, sizeof err))
                return vex_cli_fail(VEX_EXIT_USAGE, "%s", err);
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            serve_usage();
            return VEX_EXIT_OK;
        }
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--", 2) || i + 1 >= argc) {
            serve_usage();
            return vex_cli_fail(VEX_EXIT_USAGE, "unexpected argument '%s'", argv[i]);
        }
        int rc = vex_config_set(&app.cfg, argv[i] + 2, argv[i + 1], err, sizeof err);
        if (rc)
            return vex_cli_fail(VEX_EXIT_USAGE, "%s", err);
        i++;
    }
    if (set_store(&store, app.cfg.store, err, sizeof err))
        return vex_cli_fail(VEX_EXIT_USAGE, "%s", err);
    if (!app.cfg.issuer_base[0])
        snprintf(app.cfg.issuer_base, sizeof app.cfg.issuer_base, "http://%s:%d",
                 app.cfg.listen_host, app.cfg.listen_port);

    int lock_fd = -1, rc = vex_local_lock(data_dir, &lock_fd);
    if (rc == VEX_EBUSY)
        return vex_cli_fail(VEX_EXIT_FAIL, "data dir %s is in use by another vex process",
                            data_dir);
    if (rc)
        return vex_cli_fail(VEX_EXIT_FAIL, "cannot create data dir %s", data_dir);
    if (vex_local_secret(data_dir, app.local_secret)) {
        close(lock_fd);
        return vex_cli_fail(VEX_EXIT_FAIL, "cannot write %s/local.secret", data_dir);
    }

    /* Signals are taken synchronously by this thread; every other thread
     * (HTTP, checkpoints) inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct vex_server *srv = NULL;
    struct vex_clickhouse *ch = NULL;
    struct vex_replica replica; /* outlives the engine, which borrows it */
    int status = VEX_EXIT_FAIL;
    struct vex_engine_options eo = {
        .data_dir = data_dir,
        .fsync_policy = app.cfg.fsync_policy,
        .session_timeout_ms = app.cfg.session_timeout_ms,
        .checkpoint_interval_ms = 60000,
        .checkpoint_wal_bytes = 256u << 20,
    };
    if ((rc = vex_accounts_open(data_dir, &app.accounts))) {
        vex_cli_fail(1, "cannot open accounts in %s: %s", data_dir, vex_strerror(rc));
        goto out;
    }
    if ((rc = vex_auth_create(&app.cfg, app.accounts, &app.auth))) {
        vex_cli_fail(1, "cannot set up token signing: %s", vex_strerror(rc));
        goto out;
    }
    if (store.clickhouse) {
        if ((rc = vex_clickhouse_create(&store.ch, app.cfg.session_timeout_ms, &ch))) {
            vex_cli_fail(1, "cannot set up the ClickHouse backend: %s", vex_strerror(rc));
            goto out;
        }
        rc = vex_clickhouse_prepare(ch, err, sizeof err);
        if (rc == VEX_EUNAVAIL) {
            /* Ingest does not need ClickHouse: events wait in the log. */
            fprintf(stderr, "vex: warning: %s; serving anyway: events wait in the log and the "
                            "schema is checked once ClickHouse answers\n", err);
        } else if (rc) {
            vex_cli_fail(1, "%s", err);
            goto out;
        }
        replica = vex_clickhouse_replica(ch);
        eo.replica = &replica;
        eo.replica_interval_ms = store.ch.push_interval_ms;
        eo.replica_backlog_bytes = store.ch.max_backlog_bytes;
    }
    if ((rc = vex_engine_open(&eo, &app.engine))) {
        vex_cli_fail(1, "cannot open the store in %s: %s", data_dir, vex_strerror(rc));
        goto out;
    }
    app.source = ch ? vex_clickhouse_source(ch) : vex_engine_source(app.engine);
    /* `vex query` without a running server answers from the same store. */
    struct vex_local_store ls;
    memset(&ls, 0, sizeof ls);
    snprintf(ls.store, sizeof ls.store, "%s", app.cfg.store);
    ls.timeout_ms = app.cfg.session_timeout_ms;
    if (vex_local_store_save(data_dir, &ls))
        fprintf(stderr, "vex: warning: cannot write %s/store.conf: `vex query` without a "
                        "running server will read the local store\n", data_dir);
    struct vex_server_options so = {
        .host = app.cfg.listen_host,
        .port = app.cfg.listen_port,
        .body_limit = app.cfg.body_limit,
    };
    if ((rc = vex_server_start(&so, vex_api_dispatch, &app, &srv))) {
        vex_cli_fail(1, "cannot listen on %s:%d: %s", app.cfg.listen_host, app.cfg.listen_port,
                     rc == VEX_EINVAL ? "not a numeric address" : "address in use?");
        goto out;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/serve.addr", data_dir);
    FILE *f = fopen(path, "w");
    if (f) {
        if (strchr(app.cfg.listen_host, ':'))
            fprintf(f, "[%s]:%d\n", app.cfg.listen_host, vex_server_port(srv));
        else
            fprintf(f, "%s:%d\n", app.cfg.listen_host, vex_server_port(srv));
        fclose(f);
    }
    fprintf(stderr, "vex: serving on http://%s:%d (data %s)\n", app.cfg.listen_host,
            vex_server_port(srv), data_dir);
    if (ch) {
        /* Where, without the user:password a URL may carry. */
        const char *host = strstr(store.ch.base, "://") + 3, *at = strchr(host, '@');
        fprintf(stderr, "vex: sessions in ClickHouse at %s, database %s%s%s\n",
                at ? at + 1 : host, store.ch.db, store.ch.cluster[0] ? ", cluster " : "",
                store.ch.cluster);
    }

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "vex: signal %d, shutting down\n", sig);
    unlink(path);
    status = VEX_EXIT_OK;
out:
    vex_server_stop(srv);
    vex_engine_close(app.engine); /* checkpoints: everything acknowledged stays */
    vex_clickhouse_destroy(ch);    /* after the engine's last push */
    vex_auth_destroy(app.auth);
    vex_accounts_close(app.accounts);
    curl_global_cleanup();
    close(lock_fd);
    return status;
}
