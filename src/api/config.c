/* config.c - the server configuration: one table drives the config file,
 * the `vex serve --<name>` flags and the help text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "core/err.h"
#include "store/wal.h"

void vex_config_defaults(struct vex_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "./vex-data");
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    cfg->body_limit = 16u << 20;
    cfg->session_timeout_ms = 120000;
    cfg->fsync_policy = VEX_WAL_SYNC_ALWAYS;
    cfg->threads = 0;
    snprintf(cfg->realm_default, sizeof cfg->realm_default, "vex");
    snprintf(cfg->client_id, sizeof cfg->client_id, "smartsight-backend");
    cfg->access_ttl_s = 900;
    cfg->refresh_ttl_s = 1800;
    snprintf(cfg->external_claim, sizeof cfg->external_claim, "customers");
    snprintf(cfg->store, sizeof cfg->store, "embedded");
}

enum kind { K_LISTEN, K_STR, K_I64, K_SIZE, K_FSYNC, K_SECONDS_MS };

struct option {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size;
    const char *defval;
    const char *help;
};

#define OFF(f) offsetof(struct vex_config, f), sizeof(((struct vex_config *)0)->f)

static const struct option options[] = {
    {"listen", K_LISTEN, OFF(listen_host), "127.0.0.1:8080", "address and port to serve on"},
    {"body-limit", K_SIZE, OFF(body_limit), "16777216", "largest request body in bytes (413 past it)"},
    {"session-timeout", K_SECONDS_MS, OFF(session_timeout_ms), "120",
     "seconds without events after which a session is closed"},
    {"fsync", K_FSYNC, OFF(fsync_policy), "always",
     "always (acknowledged = fsynced, group commit), everysec, or none"},
    {"realm", K_STR, OFF(realm_default), "vex", "default token realm"},
    {"client-id", K_STR, OFF(client_id), "smartsight-backend", "client_id the token endpoint accepts"},
    {"access-ttl", K_I64, OFF(access_ttl_s), "900", "access token lifetime in seconds"},
    {"refresh-ttl", K_I64, OFF(refresh_ttl_s), "1800", "refresh token lifetime in seconds"},
    {"issuer", K_STR, OFF(issuer_base), "http://<listen>", "base URL put in the tokens' iss"},
    {"external-issuer", K_STR, OFF(external_issuer), "", "trusted external OIDC issuer"},
    {"external-jwks", K_STR, OFF(external_jwks), "", "JWKS file of the external issuer"},
    {"external-claim", K_STR, OFF(external_claim), "customers",
     "claim of external tokens that lists the customers"},
    {"store", K_STR, OFF(store), "embedded",
     "embedded, or clickhouse=http://HOST:8123/DB[?cluster=NAME] (docs/scale-out.md)"},
};

static int parse_i64(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return VEX_EINVAL;
    *out = x;
    return 0;
}

int vex_config_set(struct vex_config *cfg, const char *name, const char *value, char *err,
                   size_t errlen)
{
    const struct option *o = NULL;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (!strcmp(options[i].name, name))
            o = &options[i];
    if (!o) {
        snprintf(err, errlen, "unknown option '%s'", name);
        return VEX_ENOENT;
    }
    char *field = (char *)cfg + o->offset;
    int64_t x;
    switch (o->kind) {
    case K_LISTEN: {
        const char *colon = strrchr(value, ':');
        if (!colon || colon == value || parse_i64(colon + 1, &x) || x < 0 || x > 65535 ||
            (size_t)(colon - value) >= sizeof cfg->listen_host) {
            snprintf(err, errlen, "--listen wants HOST:PORT, got '%s'", value);
            return VEX_EINVAL;
        }
        const char *h = value;
        size_t hl = (size_t)(colon - value);
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        memcpy(cfg->listen_host, h, hl);
        cfg->listen_host[hl] = '\0';
        cfg->listen_port = (int)x;
        return 0;
    }
    case K_STR:
        if (strlen(value) >= o->size) {
            snprintf(err, errlen, "value of '%s' is too long", name);
            return VEX_EINVAL;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case K_I64:
        if (parse_i64(value, &x) || x <= 0) {
            snprintf(err, errlen, "'%s' wants a positive integer, got '%s'", name, value);
            return VEX_EINVAL;
        }
        memcpy(field, &x, sizeof x);
        return 0;
    case K_SECONDS_MS:
        if (parse_i64(value, &x) || x <= 0 || x > 86400 * 365) {
            snprintf(err, errlen, "'%s' wants a number of seconds, got '%s'", name, value);
            return VEX_EINVAL;
        }
        x *= 1000;
        memcpy(field, &x, sizeof x);
        return 0;
    case K_SIZE: {
        if (parse_i64(value, &x) || x <= 0) {
            snprintf(err, errlen, "'%s' wants a positive number of bytes, got '%s'", name, value);
            return VEX_EINVAL;
        }
        size_t sz = (size_t)x;
        memcpy(field, &sz, sizeof sz);
        return 0;
    }
    case K_FSYNC: {
        int p;
        if (!strcmp(value, "always"))
            p = VEX_WAL_SYNC_ALWAYS;
        else if (!strcmp(value, "everysec"))
            p = VEX_WAL_SYNC_EVERYSEC;
        else if (!strcmp(value, "none"))
            p = VEX_WAL_SYNC_NONE;
        else {
            snprintf(err, errlen, "'fsync' wants always, everysec or none, got '%s'", value);
            return VEX_EINVAL;
        }
        memcpy(field, &p, sizeof p);
        return 0;
    }
    }
    return VEX_EINVAL;
}

int vex_config_load_file(struct vex_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file '%s'", path);
        return VEX_EIO;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = p + strlen(p);
        while (end > p && strchr(" \t\r\n", end[-1]))
            *--end = '\0';
        if (!*p)
            continue;
        char *name = p;
        while (*p && !strchr(" \t=", *p))
            p++;
        if (*p)
            *p++ = '\0';
        while (*p == ' ' || *p == '\t' || *p == '=')
            p++;
        char msg[256];
        rc = vex_config_set(cfg, name, p, msg, sizeof msg);
        if (rc)
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
    }
    fclose(f);
    return rc;
}

void vex_config_help(FILE *out)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        fprintf(out, "  --%-16s %s (default %s)\n", options[i].name, options[i].help,
                options[i].defval);
}
