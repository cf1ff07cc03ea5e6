/* local.h - how CLI commands reach a data dir: directly (holding its lock)
 * or, when `vex serve` holds it, through the running server with the data
 * dir's local secret. */
#ifndef VEX_CLI_LOCAL_H
#define VEX_CLI_LOCAL_H

#include <stddef.h>

struct vex_local {
    int lock_fd;        /* >= 0: we hold the data dir; work on it directly */
    char base_url[300]; /* otherwise: the running server */
    char secret[65];
};

/* vex_local_acquire takes the data dir's lock when free, or finds the
 * server that holds it. 0, VEX_EBUSY (held, but no server address to use),
 * VEX_EIO. */
int vex_local_acquire(const char *data_dir, struct vex_local *l);
void vex_local_release(struct vex_local *l);

/* vex_local_lock takes the data dir lock for `vex serve`: VEX_EBUSY when
 * another process has it. */
int vex_local_lock(const char *data_dir, int *fd_out);

/* vex_local_secret reads (creating it when missing) the data dir's secret. */
int vex_local_secret(const char *data_dir, char out[65]);

/* The store and session timeout a data dir's server last ran with, kept in
 * <data>/store.conf (mode 0600: a ClickHouse URL may hold a password), so
 * that `vex query` without a running server answers as the server would. */
struct vex_local_store {
    char store[1100];    /* the `store` option: "embedded" or "clickhouse=URL" */
    long long timeout_ms; /* the server's session timeout */
};

/* vex_local_store_save writes the file (atomically). 0 or VEX_EIO. */
int vex_local_store_save(const char *data_dir, const struct vex_local_store *st);
/* vex_local_store_load reads it: 0, VEX_ENOENT (no server ran yet: the
 * embedded store with default settings), VEX_ECORRUPT. */
int vex_local_store_load(const char *data_dir, struct vex_local_store *st);

/* vex_local_http sends a request to the running server with the local
 * secret and the given extra headers (NULL-terminated list of "Name: v").
 * *status gets the HTTP status and *body_out the malloc'd body. */
int vex_local_http(const struct vex_local *l, const char *method, const char *path_and_query,
                   const char *const *headers, const char *body, size_t body_len, long *status,
                   char **body_out);

#endif
