/* accounts.c - the accounts database (SQLite) and the lookup cache in front
 * of it.
 *
 * File: <data_dir>/accounts.db, WAL journal, synchronous=FULL (an account
 * change the CLI reported done survives a power cut). Schema version in
 * PRAGMA user_version; version 1:
 *
 *   customers(id TEXT PK, plan INTEGER, created INTEGER)
 *   ingest_keys(digest BLOB PK, customer TEXT -> customers ON DELETE CASCADE,
 *               created INTEGER, revoked INTEGER 0/1)
 *   users(name TEXT PK, sub TEXT UNIQUE, pwhash TEXT, admin INTEGER 0/1,
 *         created INTEGER)
 *   user_customers(user TEXT -> users ON DELETE CASCADE, customer TEXT)
 *   api_keys(digest BLOB PK, user TEXT -> users ON DELETE CASCADE,
 *            created INTEGER, revoked INTEGER 0/1)
 *   refresh_tokens(digest BLOB PK, user TEXT -> users ON DELETE CASCADE,
 *                  family TEXT, scope TEXT, expires INTEGER, used INTEGER 0/1)
 *
 * `digest` is SHA-256 of the secret; `pwhash` an Argon2id PHC string; times
 * are seconds since the epoch. user_customers.customer is not a foreign key:
 * a user may be given a customer before it exists.
 *
 * Two connections: `db` for writes and the slower reads, and `hot` for the
 * per-request lookups (ingest key, API key, customer plan), which are served
 * from an in-memory cache. `hot` never writes, so its PRAGMA data_version
 * changes exactly when another connection (ours, or another process such as
 * the CLI) committed; the cache is rebuilt then, so a revoked key stops
 * working with the next request. */
#include "auth/accounts.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "auth/password.h"
#include "auth/secret.h"
#include "core/err.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000
#define KEY_ID_LEN 12
#define INGEST_KEY_PREFIX "vik_"
#define API_KEY_PREFIX "vak_"
#define REFRESH_PREFIX "vrt_"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS customers("
    " id TEXT PRIMARY KEY, plan INTEGER NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS ingest_keys("
    " digest BLOB PRIMARY KEY,"
    " customer TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS ingest_keys_customer ON ingest_keys(customer);"
    "CREATE TABLE IF NOT EXISTS users("
    " name TEXT PRIMARY KEY, sub TEXT NOT NULL UNIQUE, pwhash TEXT NOT NULL,"
    " admin INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS user_customers("
    " user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    " customer TEXT NOT NULL, PRIMARY KEY(user, customer)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS user_customers_customer ON user_customers(customer);"
    "CREATE TABLE IF NOT EXISTS api_keys("
    " digest BLOB PRIMARY KEY,"
    " user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    " created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys(user);"
    "CREATE TABLE IF NOT EXISTS refresh_tokens("
    " digest BLOB PRIMARY KEY,"
    " user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    " family TEXT NOT NULL, scope TEXT NOT NULL, expires INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens(family);"
    "CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens(user);";

/* ---- the cache ---- */

struct ccust {
    char id[VEX_CUSTOMER_ID_MAX + 1];
    int64_t plan;
};

struct cuser {
    char *name;
    int admin;
    size_t first, n; /* its customers: ucust[first .. first + n), sorted */
};

/* A slot of an open-addressing table keyed by a secret's digest; `idx`
 * indexes cust (ingest keys) or users (API keys). */
struct slot {
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    uint32_t idx;
};
#define SLOT_FREE UINT32_MAX

struct table {
    struct slot *slots; /* NULL when empty */
    size_t mask;
};

struct cache {
    int valid;
    int64_t version; /* PRAGMA data_version of `hot` it was built at */
    struct ccust *cust;
    size_t ncust;
    struct cuser *users;
    size_t nusers;
    char (*ucust)[VEX_CUSTOMER_ID_MAX + 1];
    size_t nucust;
    struct table ingest, apikeys;
};

struct vex_accounts {
    pthread_mutex_t db_lock; /* guards db */
    sqlite3 *db;
    pthread_mutex_t hot_lock; /* guards hot, version_stmt and cache */
    sqlite3 *hot;
    sqlite3_stmt *version_stmt;
    struct cache cache;
};

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return VEX_EBUSY;
    case SQLITE_NOMEM:
        return VEX_ENOMEM;
    case SQLITE_CONSTRAINT:
        return VEX_EEXIST;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return VEX_ECORRUPT;
    default:
        return VEX_EIO;
    }
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

int vex_accounts_valid_customer_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= VEX_CUSTOMER_ID_MAX;
}

int vex_accounts_valid_user_name(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '@' || c == '+'))
            return 0;
    }
    return n >= 1 && n <= VEX_USER_NAME_MAX;
}

static void table_free(struct table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->mask = 0;
}

/* table_build indexes n (digest, idx) pairs at a load factor of at most 1/2,
 * so that a probe always ends at a free slot. */
static int table_build(struct table *t, const struct slot *items, size_t n)
{
    t->slots = NULL;
    t->mask = 0;
    if (n == 0)
        return 0;
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots)
        return VEX_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        t->slots[i].idx = SLOT_FREE;
    t->mask = cap - 1;
    for (size_t k = 0; k < n; k++) {
        uint64_t h;
        memcpy(&h, items[k].digest, sizeof h);
        size_t i = (size_t)h & t->mask;
        while (t->slots[i].idx != SLOT_FREE)
            i = (i + 1) & t->mask;
        t->slots[i] = items[k];
    }
    return 0;
}

/* table_find compares whole digests with CRYPTO_memcmp: how long a lookup
 * takes reveals at most where a digest's first bytes point, never how much of
 * a stored secret matched. */
static const struct slot *table_find(const struct table *t,
                                     const uint8_t digest[VEX_SECRET_DIGEST_LEN])
{
    if (!t->slots)
        return NULL;
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        const struct slot *s = &t->slots[i];
        if (s->idx == SLOT_FREE)
            return NULL;
        if (vex_secret_equal(s->digest, digest))
            return s;
    }
}

static void cache_free(struct cache *c)
{
    for (size_t i = 0; i < c->nusers; i++)
        free(c->users[i].name);
    free(c->cust);
    free(c->users);
    free(c->ucust);
    table_free(&c->ingest);
    table_free(&c->apikeys);
    memset(c, 0, sizeof *c);
}

static int cmp_cust(const void *key, const void *elem)
{
    return strcmp(key, ((const struct ccust *)elem)->id);
}

static int cmp_user(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cuser *)elem)->name);
}

static int cmp_ucust(const void *key, const void *elem)
{
    return strcmp(key, (const char *)elem);
}

static const struct ccust *cache_customer(const struct cache *c, const char *id)
{
    return c->ncust ? bsearch(id, c->cust, c->ncust, sizeof *c->cust, cmp_cust) : NULL;
}

static int cache_user_may_read(const struct cache *c, const struct cuser *u, const char *id)
{
    return u->n && bsearch(id, c->ucust[u->first], u->n, sizeof *c->ucust, cmp_ucust) != NULL;
}

/* grow makes room for one more element in a realloc'd array. */
static int grow(void *arrp, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*(void **)arrp, ncap * elem);
    if (!p)
        return VEX_ENOMEM;
    *(void **)arrp = p;
    *cap = ncap;
    return 0;
}

/* load_digests reads (digest, owner) rows and maps each owner to its index
 * with `find`; rows whose owner is missing are skipped. */
static int load_digests(sqlite3 *db, const char *sql, struct table *t,
                        long (*find)(const struct cache *c, const char *owner),
                        const struct cache *c)
{
    sqlite3_stmt *st = NULL;
    struct slot *items = NULL;
    size_t n = 0, cap = 0;
    int rc = map_sqlite(sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    if (rc)
        goto out;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const void *d = sqlite3_column_blob(st, 0);
        const char *owner = (const char *)sqlite3_column_text(st, 1);
        if (!d || sqlite3_column_bytes(st, 0) != VEX_SECRET_DIGEST_LEN || !owner)
            continue;
        long idx = find(c, owner);
        if (idx < 0)
            continue;
        if ((rc = grow(&items, n, &cap, sizeof *items)) != 0)
            goto out;
        memcpy(items[n].digest, d, VEX_SECRET_DIGEST_LEN);
        items[n].idx = (uint32_t)idx;
        n++;
    }
    if (s != SQLITE_DONE) {
        rc = map_sqlite(s);
        goto out;
    }
    rc = table_build(t, items, n);
out:
    free(items);
    sqlite3_finalize(st);
    return rc;
}

static long find_cust_idx(const struct cache *c, const char *id)
{
    const struct ccust *p = cache_customer(c, id);
    return p ? (long)(p - c->cust) : -1;
}

static long find_user_idx(const struct cache *c, const char *name)
{
    const struct cuser *p =
        c->nusers ? bsearch(name, c->users, c->nusers, sizeof *c->users, cmp_user) : NULL;
    return p ? (long)(p - c->users) : -1;
}

/* cache_build reads everything the cache holds in one read transaction. */
static int cache_build(sqlite3 *db, struct cache *c)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int s, rc = map_sqlite(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL));
    if (rc)
        return rc;

    rc = map_sqlite(sqlite3_prepare_v2(db, "SELECT id, plan FROM customers ORDER BY id", -1,
                                       &st, NULL));
    if (rc)
        goto out;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (!id || strlen(id) > VEX_CUSTOMER_ID_MAX)
            continue;
        if ((rc = grow(&c->cust, c->ncust, &cap, sizeof *c->cust)) != 0)
            goto out;
        strcpy(c->cust[c->ncust].id, id);
        c->cust[c->ncust].plan = sqlite3_column_int64(st, 1);
        c->ncust++;
    }
    if ((rc = map_sqlite(s)) != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    cap = 0;
    rc = map_sqlite(sqlite3_prepare_v2(db, "SELECT name, admin FROM users ORDER BY name", -1,
                                       &st, NULL));
    if (rc)
        goto out;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name)
            continue;
        if ((rc = grow(&c->users, c->nusers, &cap, sizeof *c->users)) != 0)
            goto out;
        struct cuser *u = &c->users[c->nusers];
        memset(u, 0, sizeof *u);
        if (!(u->name = strdup(name))) {
            rc = VEX_ENOMEM;
            goto out;
        }
        u->admin = sqlite3_column_int(st, 1) != 0;
        c->nusers++;
    }
    if ((rc = map_sqlite(s)) != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    /* Ordered like users, so that each user's customers are contiguous and
     * sorted for bsearch. */
    cap = 0;
    rc = map_sqlite(sqlite3_prepare_v2(
        db, "SELECT user, customer FROM user_customers ORDER BY user, customer", -1, &st, NULL));
    if (rc)
        goto out;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *id = (const char *)sqlite3_column_text(st, 1);
        long ui = name ? find_user_idx(c, name) : -1;
        if (ui < 0 || !id || strlen(id) > VEX_CUSTOMER_ID_MAX)
            continue;
        if ((rc = grow(&c->ucust, c->nucust, &cap, sizeof *c->ucust)) != 0)
            goto out;
        strcpy(c->ucust[c->nucust], id);
        if (c->users[ui].n == 0)
            c->users[ui].first = c->nucust;
        c->users[ui].n++;
        c->nucust++;
    }
    if ((rc = map_sqlite(s)) != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    rc = load_digests(db, "SELECT digest, customer FROM ingest_keys WHERE revoked = 0",
                      &c->ingest, find_cust_idx, c);
    if (rc)
        goto out;
    rc = load_digests(db, "SELECT digest, user FROM api_keys WHERE revoked = 0", &c->apikeys,
                      find_user_idx, c);
out:
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* cache_fresh brings the cache up to date with the file. Called with
 * hot_lock held. A failure leaves no cache behind: answering from a stale one
 * could let a revoked key through. */
static int cache_fresh(struct vex_accounts *a)
{
    int s = sqlite3_step(a->version_stmt);
    int64_t version = s == SQLITE_ROW ? sqlite3_column_int64(a->version_stmt, 0) : -1;
    sqlite3_reset(a->version_stmt);
    if (s != SQLITE_ROW) {
        cache_free(&a->cache);
        return map_sqlite(s) ? map_sqlite(s) : VEX_EIO;
    }
    if (a->cache.valid && a->cache.version == version)
        return 0;
    struct cache fresh;
    memset(&fresh, 0, sizeof fresh);
    int rc = cache_build(a->hot, &fresh);
    cache_free(&a->cache);
    if (rc) {
        cache_free(&fresh);
        return rc;
    }
    fresh.valid = 1;
    fresh.version = version;
    a->cache = fresh;
    return 0;
}

/* ---- opening ---- */

static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return VEX_EINVAL;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return VEX_EIO;
        path[i] = saved;
    }
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : VEX_EIO;
}

static int open_conn(const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc = map_sqlite(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL));
    if (rc == 0)
        rc = map_sqlite(sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS));
    if (rc == 0)
        rc = map_sqlite(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL));
    if (rc) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st;
    int rc = map_sqlite(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL));
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    else
        rc = map_sqlite(s) ? map_sqlite(s) : VEX_EIO;
    sqlite3_finalize(st);
    return rc;
}

/* init_schema makes the file an accounts database of SCHEMA_VERSION, once,
 * whichever process gets there first. */
static int init_schema(sqlite3 *db)
{
    int v = 0;
    int rc = map_sqlite(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL",
                                     NULL, NULL, NULL));
    if (rc)
        return rc;
    if ((rc = map_sqlite(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL))) != 0)
        return rc;
    rc = user_version(db, &v);
    if (rc == 0 && v > SCHEMA_VERSION)
        rc = VEX_ECORRUPT; /* written by a newer vex */
    if (rc == 0 && v < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        rc = map_sqlite(sqlite3_exec(db, schema_sql, NULL, NULL, NULL));
        if (rc == 0)
            rc = map_sqlite(sqlite3_exec(db, sql, NULL, NULL, NULL));
    }
    if (rc == 0)
        rc = map_sqlite(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int vex_accounts_open(const char *data_dir, struct vex_accounts **out)
{
    char path[4096];
    int rc = mkdir_p(data_dir);
    if (rc)
        return rc;
    if (snprintf(path, sizeof path, "%s/accounts.db", data_dir) >= (int)sizeof path)
        return VEX_EINVAL;
    /* Create the file ourselves so that it is private from the start; SQLite
     * gives its -wal and -shm files the same mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return VEX_EIO;
    close(fd);

    struct vex_accounts *a = calloc(1, sizeof *a);
    if (!a)
        return VEX_ENOMEM;
    pthread_mutex_init(&a->db_lock, NULL);
    pthread_mutex_init(&a->hot_lock, NULL);
    rc = open_conn(path, &a->db);
    if (rc == 0)
        rc = init_schema(a->db);
    if (rc == 0)
        rc = open_conn(path, &a->hot);
    if (rc == 0)
        rc = map_sqlite(
            sqlite3_prepare_v2(a->hot, "PRAGMA data_version", -1, &a->version_stmt, NULL));
    if (rc) {
        vex_accounts_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void vex_accounts_close(struct vex_accounts *a)
{
    if (!a)
        return;
    cache_free(&a->cache);
    sqlite3_finalize(a->version_stmt);
    sqlite3_close(a->hot);
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->db_lock);
    pthread_mutex_destroy(&a->hot_lock);
    free(a);
}

/* ---- statement helpers (callers hold db_lock) ---- */

/* run binds the arguments described by `types` ('s' text, 'i' int64, 'b'
 * digest blob) and steps the statement to completion. *changes_out (may be
 * NULL) gets the rows changed. */
static int run(sqlite3 *db, const char *sql, int *changes_out, const char *types, ...)
{
    sqlite3_stmt *st;
    int rc = map_sqlite(sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i] && rc == 0; i++) {
        if (types[i] == 's')
            rc = map_sqlite(sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
                                              SQLITE_TRANSIENT));
        else if (types[i] == 'i')
            rc = map_sqlite(sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)));
        else
            rc = map_sqlite(sqlite3_bind_blob(st, i + 1, va_arg(ap, const uint8_t *),
                                              VEX_SECRET_DIGEST_LEN, SQLITE_TRANSIENT));
    }
    va_end(ap);
    if (rc == 0) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW)
            ;
        rc = map_sqlite(s);
    }
    if (rc == 0 && changes_out)
        *changes_out = sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

static int begin(sqlite3 *db)
{
    return map_sqlite(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
}

/* finish commits when rc is 0, else rolls back; returns rc or the commit's
 * failure. */
static int finish(sqlite3 *db, int rc)
{
    if (rc == 0)
        rc = map_sqlite(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* exists tells whether `sql` with one text parameter returns a row:
 * 1, 0, or a negative error. */
static int exists(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    int rc = map_sqlite(sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : (map_sqlite(s) ? map_sqlite(s) : VEX_EIO);
    sqlite3_finalize(st);
    return rc;
}

/* new_secret takes a supplied secret or generates one, and digests it. */
static int new_secret(const char *given, const char *prefix, char **clear_out,
                      uint8_t digest[VEX_SECRET_DIGEST_LEN])
{
    char *clear;
    if (given) {
        if (!vex_secret_valid(given))
            return VEX_EINVAL;
        if (!(clear = strdup(given)))
            return VEX_ENOMEM;
    } else {
        int rc = vex_secret_generate(prefix, &clear);
        if (rc)
            return rc;
    }
    int rc = vex_secret_digest(clear, strlen(clear), digest);
    if (rc) {
        OPENSSL_clear_free(clear, strlen(clear));
        return rc;
    }
    *clear_out = clear;
    return 0;
}

static void give_secret(char *clear, char **out)
{
    if (out)
        *out = clear;
    else
        OPENSSL_clear_free(clear, strlen(clear));
}

/* ---- customers ---- */

static int insert_ingest_key(sqlite3 *db, const char *id, const uint8_t *digest)
{
    return run(db, "INSERT INTO ingest_keys(digest, customer, created) VALUES (?, ?, ?)", NULL,
               "bsi", digest, id, now_s());
}

int vex_accounts_customer_add(struct vex_accounts *a, const char *id, int64_t plan,
                              const char *key, char **key_out)
{
    if (!vex_accounts_valid_customer_id(id))
        return VEX_EINVAL;
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    char *clear;
    int rc = new_secret(key, INGEST_KEY_PREFIX, &clear, digest);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->db_lock);
    rc = begin(a->db);
    if (rc == 0) {
        rc = run(a->db, "INSERT INTO customers(id, plan, created) VALUES (?, ?, ?)", NULL, "sii",
                 id, plan, now_s());
        if (rc == 0)
            rc = insert_ingest_key(a->db, id, digest);
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    if (rc) {
        OPENSSL_clear_free(clear, strlen(clear));
        return rc;
    }
    give_secret(clear, key_out);
    return 0;
}

int vex_accounts_customer_get(struct vex_accounts *a, const char *id, int64_t *plan_out)
{
    pthread_mutex_lock(&a->hot_lock);
    int rc = cache_fresh(a);
    if (rc == 0) {
        const struct ccust *c = cache_customer(&a->cache, id);
        if (!c)
            rc = VEX_ENOENT;
        else if (plan_out)
            *plan_out = c->plan;
    }
    pthread_mutex_unlock(&a->hot_lock);
    return rc;
}

int vex_accounts_customer_set_plan(struct vex_accounts *a, const char *id, int64_t plan)
{
    int changes = 0;
    pthread_mutex_lock(&a->db_lock);
    int rc = run(a->db, "UPDATE customers SET plan = ? WHERE id = ?", &changes, "is", plan, id);
    pthread_mutex_unlock(&a->db_lock);
    return rc ? rc : changes ? 0 : VEX_ENOENT;
}

int vex_accounts_customer_remove(struct vex_accounts *a, const char *id)
{
    int changes = 0;
    pthread_mutex_lock(&a->db_lock);
    int rc = begin(a->db);
    if (rc == 0) {
        rc = run(a->db, "DELETE FROM customers WHERE id = ?", &changes, "s", id);
        if (rc == 0 && changes == 0)
            rc = VEX_ENOENT;
        if (rc == 0)
            rc = run(a->db, "DELETE FROM user_customers WHERE customer = ?", NULL, "s", id);
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    return rc;
}

int vex_accounts_customer_list(struct vex_accounts *a,
                               int (*fn)(const struct vex_customer_info *c, void *ctx),
                               void *ctx)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&a->db_lock);
    int rc = map_sqlite(sqlite3_prepare_v2(
        a->db,
        "SELECT id, plan, (SELECT count(*) FROM ingest_keys k"
        " WHERE k.customer = c.id AND k.revoked = 0) FROM customers c ORDER BY id",
        -1, &st, NULL));
    if (rc == 0) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            struct vex_customer_info info = {
                .id = (const char *)sqlite3_column_text(st, 0),
                .plan = sqlite3_column_int64(st, 1),
                .active_keys = sqlite3_column_int64(st, 2),
            };
            if (info.id && (rc = fn(&info, ctx)) != 0)
                break;
        }
        if (rc == 0)
            rc = map_sqlite(s);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->db_lock);
    return rc;
}

/* ---- ingest keys and API keys ---- */

int vex_accounts_ingest_key_add(struct vex_accounts *a, const char *id, const char *key,
                                char **key_out)
{
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    char *clear;
    int rc = new_secret(key, INGEST_KEY_PREFIX, &clear, digest);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->db_lock);
    rc = begin(a->db);
    if (rc == 0) {
        rc = exists(a->db, "SELECT 1 FROM customers WHERE id = ?", id);
        rc = rc == 1 ? insert_ingest_key(a->db, id, digest) : rc == 0 ? VEX_ENOENT : rc;
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    if (rc) {
        OPENSSL_clear_free(clear, strlen(clear));
        return rc;
    }
    give_secret(clear, key_out);
    return 0;
}

static int is_key_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
              (s[n] >= 'A' && s[n] <= 'F')))
            return 0;
    return n == KEY_ID_LEN;
}

/* revoke_key revokes an active key of `table` given in clear or by key id. */
static int revoke_key(struct vex_accounts *a, const char *table, const char *key)
{
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    char sql[160];
    int changes = 0;
    int rc = vex_secret_digest(key, strlen(key), digest);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->db_lock);
    rc = begin(a->db);
    if (rc == 0) {
        snprintf(sql, sizeof sql, "UPDATE %s SET revoked = 1 WHERE digest = ? AND revoked = 0",
                 table);
        rc = run(a->db, sql, &changes, "b", digest);
        if (rc == 0 && changes == 0 && is_key_id(key)) {
            /* Several keys under one id would take a 48-bit collision; refuse
             * rather than revoke more than was meant. */
            snprintf(sql, sizeof sql,
                     "UPDATE %s SET revoked = 1 WHERE substr(hex(digest), 1, %d) = upper(?)"
                     " AND revoked = 0",
                     table, KEY_ID_LEN);
            rc = run(a->db, sql, &changes, "s", key);
            if (rc == 0 && changes > 1)
                rc = VEX_EINVAL;
        }
        if (rc == 0 && changes == 0)
            rc = VEX_ENOENT;
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    return rc;
}

int vex_accounts_ingest_key_revoke(struct vex_accounts *a, const char *key)
{
    return revoke_key(a, "ingest_keys", key);
}

int vex_accounts_apikey_revoke(struct vex_accounts *a, const char *key)
{
    return revoke_key(a, "api_keys", key);
}

/* list_keys walks the keys of `table` owned by `owner` (all when NULL);
 * owner_sql checks that the owner exists. */
static int list_keys(struct vex_accounts *a, const char *table, const char *owner_col,
                     const char *owner_sql, const char *owner,
                     int (*fn)(const struct vex_key_info *k, void *ctx), void *ctx)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&a->db_lock);
    if (owner) {
        rc = exists(a->db, owner_sql, owner);
        rc = rc == 1 ? 0 : rc == 0 ? VEX_ENOENT : rc;
    }
    if (rc == 0) {
        snprintf(sql, sizeof sql,
                 "SELECT lower(substr(hex(digest), 1, %d)), %s, created, revoked FROM %s"
                 " WHERE ?1 IS NULL OR %s = ?1 ORDER BY %s, created, digest",
                 KEY_ID_LEN, owner_col, table, owner_col, owner_col);
        rc = map_sqlite(sqlite3_prepare_v2(a->db, sql, -1, &st, NULL));
    }
    if (rc == 0) {
        if (owner)
            sqlite3_bind_text(st, 1, owner, -1, SQLITE_TRANSIENT);
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            struct vex_key_info k = {
                .key_id = (const char *)sqlite3_column_text(st, 0),
                .owner = (const char *)sqlite3_column_text(st, 1),
                .created = sqlite3_column_int64(st, 2),
                .revoked = sqlite3_column_int(st, 3) != 0,
            };
            if (k.key_id && k.owner && (rc = fn(&k, ctx)) != 0)
                break;
        }
        if (rc == 0)
            rc = map_sqlite(s);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->db_lock);
    return rc;
}

int vex_accounts_ingest_key_list(struct vex_accounts *a, const char *id,
                                 int (*fn)(const struct vex_key_info *k, void *ctx), void *ctx)
{
    return list_keys(a, "ingest_keys", "customer", "SELECT 1 FROM customers WHERE id = ?", id,
                     fn, ctx);
}

int vex_accounts_apikey_list(struct vex_accounts *a, const char *name,
                             int (*fn)(const struct vex_key_info *k, void *ctx), void *ctx)
{
    return list_keys(a, "api_keys", "user", "SELECT 1 FROM users WHERE name = ?", name, fn,
                     ctx);
}

int vex_accounts_customer_by_ingest_key(struct vex_accounts *a, const char *key,
                                        char id_out[VEX_CUSTOMER_ID_MAX + 1])
{
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    if (!key || !*key)
        return VEX_EAUTH;
    int rc = vex_secret_digest(key, strlen(key), digest);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->hot_lock);
    rc = cache_fresh(a);
    if (rc == 0) {
        const struct slot *s = table_find(&a->cache.ingest, digest);
        if (s)
            memcpy(id_out, a->cache.cust[s->idx].id, sizeof a->cache.cust[s->idx].id);
        else
            rc = VEX_EAUTH;
    }
    pthread_mutex_unlock(&a->hot_lock);
    return rc;
}

int vex_accounts_apikey_access(struct vex_accounts *a, const char *key, const char *customer,
                               int64_t *plan_out)
{
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    if (!key || !*key)
        return VEX_EAUTH;
    int rc = vex_secret_digest(key, strlen(key), digest);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->hot_lock);
    rc = cache_fresh(a);
    if (rc == 0) {
        const struct slot *s = table_find(&a->cache.apikeys, digest);
        const struct cuser *u = s ? &a->cache.users[s->idx] : NULL;
        const struct ccust *c = cache_customer(&a->cache, customer);
        if (!u)
            rc = VEX_EAUTH;
        else if (!u->admin && !cache_user_may_read(&a->cache, u, customer))
            rc = VEX_EPERM;
        else if (!c)
            rc = u->admin ? VEX_ENOENT : VEX_EPERM;
        else if (plan_out)
            *plan_out = c->plan;
    }
    pthread_mutex_unlock(&a->hot_lock);
    return rc;
}

/* ---- users ---- */

void vex_principal_deinit(struct vex_principal *p)
{
    for (size_t i = 0; i < p->ncustomers; i++)
        free(p->customers[i]);
    free(p->customers);
    memset(p, 0, sizeof *p);
}

/* user_load fills a principal from the database (db_lock held). */
static int user_load(sqlite3 *db, const char *name, struct vex_principal *out)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    int rc = map_sqlite(
        sqlite3_prepare_v2(db, "SELECT name, sub, admin FROM users WHERE name = ?", -1, &st,
                           NULL));
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(out->sub, sizeof out->sub, "%s", (const char *)sqlite3_column_text(st, 1));
        out->admin = sqlite3_column_int(st, 2) != 0;
    } else {
        rc = s == SQLITE_DONE ? VEX_ENOENT : (map_sqlite(s) ? map_sqlite(s) : VEX_EIO);
    }
    sqlite3_finalize(st);
    if (rc)
        return rc;
    rc = map_sqlite(sqlite3_prepare_v2(
        db, "SELECT customer FROM user_customers WHERE user = ? ORDER BY customer", -1, &st,
        NULL));
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (!id)
            continue;
        if ((rc = grow(&out->customers, out->ncustomers, &cap, sizeof *out->customers)) != 0)
            break;
        if (!(out->customers[out->ncustomers] = strdup(id))) {
            rc = VEX_ENOMEM;
            break;
        }
        out->ncustomers++;
    }
    if (rc == 0)
        rc = map_sqlite(s);
    sqlite3_finalize(st);
    if (rc)
        vex_principal_deinit(out);
    return rc;
}

int vex_accounts_user_get(struct vex_accounts *a, const char *name, struct vex_principal *out)
{
    pthread_mutex_lock(&a->db_lock);
    int rc = user_load(a->db, name, out);
    pthread_mutex_unlock(&a->db_lock);
    return rc;
}

/* new_sub makes a random (version 4) UUID, the user's id in tokens: unlike
 * the name, it is never reused by a later user of the same name. */
static int new_sub(char out[40])
{
    uint8_t b[16];
    int rc = vex_secret_random(b, sizeof b);
    if (rc)
        return rc;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

int vex_accounts_user_add(struct vex_accounts *a, const char *name, const char *password,
                          size_t len, int admin, const char *const *customers,
                          size_t ncustomers)
{
    if (!vex_accounts_valid_user_name(name))
        return VEX_EINVAL;
    for (size_t i = 0; i < ncustomers; i++)
        if (!vex_accounts_valid_customer_id(customers[i]))
            return VEX_EINVAL;
    char sub[40];
    char *hash = NULL;
    int rc = new_sub(sub);
    if (rc == 0)
        rc = vex_password_hash(password, len, &hash);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->db_lock);
    rc = begin(a->db);
    if (rc == 0) {
        rc = run(a->db,
                 "INSERT INTO users(name, sub, pwhash, admin, created) VALUES (?, ?, ?, ?, ?)",
                 NULL, "sssii", name, sub, hash, (int64_t)(admin != 0), now_s());
        for (size_t i = 0; rc == 0 && i < ncustomers; i++)
            rc = run(a->db, "INSERT OR IGNORE INTO user_customers(user, customer) VALUES (?, ?)",
                     NULL, "ss", name, customers[i]);
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    free(hash);
    return rc;
}

int vex_accounts_user_passwd(struct vex_accounts *a, const char *name, const char *password,
                             size_t len)
{
    char *hash = NULL;
    int changes = 0;
    int rc = vex_password_hash(password, len, &hash);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->db_lock);
    rc = begin(a->db);
    if (rc == 0) {
        rc = run(a->db, "UPDATE users SET pwhash = ? WHERE name = ?", &changes, "ss", hash,
                 name);
        if (rc == 0 && changes == 0)
            rc = VEX_ENOENT;
        if (rc == 0)
            rc = run(a->db, "DELETE FROM refresh_tokens WHERE user = ?", NULL, "s", name);
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    free(hash);
    return rc;
}

int vex_accounts_user_remove(struct vex_accounts *a, const char *name)
{
    int changes = 0;
    pthread_mutex_lock(&a->db_lock);
    int rc = run(a->db, "DELETE FROM users WHERE name = ?", &changes, "s", name);
    pthread_mutex_unlock(&a->db_lock);
    return rc ? rc : changes ? 0 : VEX_ENOENT;
}

int vex_accounts_user_list(struct vex_accounts *a,
                           int (*fn)(const struct vex_user_info *u, void *ctx), void *ctx)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&a->db_lock);
    int rc = map_sqlite(sqlite3_prepare_v2(
        a->db,
        "SELECT name, admin,"
        " (SELECT group_concat(customer, ',') FROM"
        "   (SELECT customer FROM user_customers WHERE user = u.name ORDER BY customer)),"
        " (SELECT count(*) FROM api_keys k WHERE k.user = u.name AND k.revoked = 0)"
        " FROM users u ORDER BY name",
        -1, &st, NULL));
    if (rc == 0) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            const char *cust = (const char *)sqlite3_column_text(st, 2);
            struct vex_user_info info = {
                .name = (const char *)sqlite3_column_text(st, 0),
                .admin = sqlite3_column_int(st, 1) != 0,
                .customers = cust ? cust : "",
                .active_apikeys = sqlite3_column_int64(st, 3),
            };
            if (info.name && (rc = fn(&info, ctx)) != 0)
                break;
        }
        if (rc == 0)
            rc = map_sqlite(s);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->db_lock);
    return rc;
}

int vex_accounts_user_login(struct vex_accounts *a, const char *name, const char *password,
                            size_t len, struct vex_principal *out)
{
    char *hash = NULL;
    sqlite3_stmt *st;
    pthread_mutex_lock(&a->db_lock);
    int rc = map_sqlite(
        sqlite3_prepare_v2(a->db, "SELECT pwhash FROM users WHERE name = ?", -1, &st, NULL));
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            if (!(hash = strdup((const char *)sqlite3_column_text(st, 0))))
                rc = VEX_ENOMEM;
        } else if (s != SQLITE_DONE && s != SQLITE_ROW) {
            rc = map_sqlite(s) ? map_sqlite(s) : VEX_EIO;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->db_lock);
    if (rc)
        return rc;
    /* The Argon2id work happens outside the lock: it takes milliseconds and
     * other requests need the database meanwhile. */
    if (!hash) {
        vex_password_burn(password, len);
        return VEX_EAUTH;
    }
    rc = vex_password_verify(hash, password, len);
    free(hash);
    if (rc)
        return rc;
    rc = vex_accounts_user_get(a, name, out);
    /* Removed between the two reads: as if it never existed. */
    return rc == VEX_ENOENT ? VEX_EAUTH : rc;
}

/* ---- API keys ---- */

int vex_accounts_apikey_add(struct vex_accounts *a, const char *name, char **key_out)
{
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    char *clear;
    int rc = new_secret(NULL, API_KEY_PREFIX, &clear, digest);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->db_lock);
    rc = begin(a->db);
    if (rc == 0) {
        rc = exists(a->db, "SELECT 1 FROM users WHERE name = ?", name);
        if (rc == 1)
            rc = run(a->db, "INSERT INTO api_keys(digest, user, created) VALUES (?, ?, ?)", NULL,
                     "bsi", digest, name, now_s());
        else if (rc == 0)
            rc = VEX_ENOENT;
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    if (rc) {
        OPENSSL_clear_free(clear, strlen(clear));
        return rc;
    }
    *key_out = clear;
    return 0;
}

/* ---- refresh tokens ---- */

/* insert_refresh stores a new refresh token of `family` (db_lock held, in a
 * transaction). */
static int insert_refresh(sqlite3 *db, const char *name, const char *scope, const char *family,
                          int64_t ttl_s, char **token_out)
{
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    char *clear;
    int rc = new_secret(NULL, REFRESH_PREFIX, &clear, digest);
    if (rc)
        return rc;
    rc = run(db,
             "INSERT INTO refresh_tokens(digest, user, family, scope, expires)"
             " VALUES (?, ?, ?, ?, ?)",
             NULL, "bsssi", digest, name, family, scope, now_s() + ttl_s);
    if (rc) {
        OPENSSL_clear_free(clear, strlen(clear));
        return rc;
    }
    *token_out = clear;
    return 0;
}

int vex_accounts_refresh_issue(struct vex_accounts *a, const char *name, const char *scope,
                               int64_t ttl_s, char **token_out)
{
    char family[33];
    int rc = vex_secret_random_hex(family, 16);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->db_lock);
    rc = begin(a->db);
    if (rc == 0) {
        rc = run(a->db, "DELETE FROM refresh_tokens WHERE expires <= ?", NULL, "i", now_s());
        if (rc == 0) {
            rc = exists(a->db, "SELECT 1 FROM users WHERE name = ?", name);
            rc = rc == 1 ? insert_refresh(a->db, name, scope, family, ttl_s, token_out)
                 : rc == 0 ? VEX_ENOENT
                           : rc;
        }
        rc = finish(a->db, rc);
    }
    pthread_mutex_unlock(&a->db_lock);
    return rc;
}

int vex_accounts_refresh_rotate(struct vex_accounts *a, const char *token, int64_t ttl_s,
                                struct vex_principal *out, char **scope_out, char **token_out)
{
    uint8_t digest[VEX_SECRET_DIGEST_LEN];
    char *user = NULL, *family = NULL, *scope = NULL, *next = NULL;
    int64_t expires = 0;
    int used = 0;
    sqlite3_stmt *st = NULL;
    int rc = vex_secret_digest(token, strlen(token), digest);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&a->db_lock);
    if ((rc = begin(a->db)) != 0)
        goto unlock;
    rc = map_sqlite(sqlite3_prepare_v2(
        a->db, "SELECT user, family, scope, expires, used FROM refresh_tokens WHERE digest = ?",
        -1, &st, NULL));
    if (rc)
        goto done;
    sqlite3_bind_blob(st, 1, digest, sizeof digest, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        user = strdup((const char *)sqlite3_column_text(st, 0));
        family = strdup((const char *)sqlite3_column_text(st, 1));
        scope = strdup((const char *)sqlite3_column_text(st, 2));
        expires = sqlite3_column_int64(st, 3);
        used = sqlite3_column_int(st, 4) != 0;
        if (!user || !family || !scope)
            rc = VEX_ENOMEM;
    } else {
        rc = s == SQLITE_DONE ? VEX_EAUTH : (map_sqlite(s) ? map_sqlite(s) : VEX_EIO);
    }
    sqlite3_finalize(st);
    if (rc)
        goto done;
    if (used) {
        /* Committed, not rolled back: the revocation is the point. */
        (void)finish(a->db,
                     run(a->db, "DELETE FROM refresh_tokens WHERE family = ?", NULL, "s", family));
        rc = VEX_EAUTH;
        goto unlock;
    }
    if (expires <= now_s()) {
        rc = VEX_EAUTH;
        goto done;
    }
    rc = run(a->db, "UPDATE refresh_tokens SET used = 1 WHERE digest = ?", NULL, "b", digest);
    if (rc == 0)
        rc = user_load(a->db, user, out);
    if (rc == VEX_ENOENT)
        rc = VEX_EAUTH;
    if (rc == 0)
        rc = insert_refresh(a->db, user, scope, family, ttl_s, &next);
done:
    rc = finish(a->db, rc);
unlock:
    pthread_mutex_unlock(&a->db_lock);
    free(user);
    free(family);
    if (rc) {
        vex_principal_deinit(out);
        free(scope);
        if (next)
            OPENSSL_clear_free(next, strlen(next));
        return rc;
    }
    *scope_out = scope;
    *token_out = next;
    return 0;
}
