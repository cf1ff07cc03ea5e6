/* app.h - what every API handler can reach: the server's configuration and
 * its long-lived parts. One per `vex serve`. */
#ifndef VEX_API_APP_H
#define VEX_API_APP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend/backend.h"
#include "http/http.h"

struct vex_accounts;
struct vex_auth;
struct vex_engine;

struct vex_config {
    char data_dir[1024];
    char listen_host[256];
    int listen_port;
    size_t body_limit;          /* bytes; default 16 MiB */
    int64_t session_timeout_ms; /* default 120 s */
    int fsync_policy;           /* enum vex_wal_sync */
    int threads;                /* HTTP worker threads */
    /* Accounts and tokens (SPEC section 5). */
    char realm_default[64];
    char client_id[128];        /* default "smartsight-backend" */
    int64_t access_ttl_s;       /* default 900 */
    int64_t refresh_ttl_s;      /* default 1800 */
    char issuer_base[256];      /* base URL for `iss`; default http://<listen> */
    char external_issuer[512];  /* trusted external OIDC issuer, "" when none */
    char external_jwks[1024];   /* its JWKS file */
    char external_claim[64];    /* claim naming customers, default "customers" */
    char store[1100];           /* "embedded" or "clickhouse=URL" (docs/scale-out.md) */
};

/* vex_config_defaults fills every field with its default. */
void vex_config_defaults(struct vex_config *cfg);

/* vex_config_set sets one option by name (the names of the config file and
 * of `vex serve --<name> VALUE`, see docs/operations.md). Returns 0,
 * VEX_ENOENT for an unknown name or VEX_EINVAL for a bad value, with a
 * message in err. */
int vex_config_set(struct vex_config *cfg, const char *name, const char *value, char *err,
                   size_t errlen);

/* vex_config_load_file reads `name value` (or `name = value`) lines; `#`
 * starts a comment. VEX_EIO, or what vex_config_set returns. */
int vex_config_load_file(struct vex_config *cfg, const char *path, char *err, size_t errlen);

/* vex_config_help prints the option table (name, default, meaning). */
void vex_config_help(FILE *out);

struct vex_app {
    struct vex_config cfg;
    /* Secret in <data_dir>/local.secret that lets CLI processes on this machine
     * (vex load, vex query) act as administrator through the running server. */
    char local_secret[65];
    struct vex_accounts *accounts;
    struct vex_auth *auth;
    struct vex_engine *engine; /* ingest: log, sessionizer, replica pushes */
    /* What queries scan: the engine's own tables, or ClickHouse when the
     * node runs with `--store clickhouse=...` (docs/scale-out.md). */
    struct vex_source source;
};

typedef void (*vex_handler_fn)(struct vex_app *app, const struct vex_http_request *req,
                               struct vex_http_response *resp);

#endif
