/* test_accounts.c - the accounts database: customers, ingest keys, users,
 * API keys, refresh-token rotation, what is stored on disk, and that a
 * second handle (as a CLI process would hold) sees changes at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "auth/accounts.h"
#include "core/err.h"
#include "unit/auth/test_util.h"

struct fixture {
    char *dir;
    struct vex_accounts *a; /* the "server" */
    struct vex_accounts *b; /* another handle on the same file, "the CLI" */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    char sub[600];
    /* A data dir that does not exist yet, two levels deep. */
    snprintf(sub, sizeof sub, "%s/data/x", f->dir);
    if (vex_accounts_open(sub, &f->a) || vex_accounts_open(sub, &f->b))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    vex_accounts_close(f->a);
    vex_accounts_close(f->b);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* db_text runs a one-value query on the file with plain SQLite. */
static char *db_text(const struct fixture *f, const char *sql)
{
    char path[600];
    snprintf(path, sizeof path, "%s/data/x/accounts.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void file_is_private_wal(void **state)
{
    struct fixture *f = *state;
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/data/x/accounts.db", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *mode = db_text(f, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    char *v = db_text(f, "PRAGMA user_version");
    assert_string_equal(v, "1");
    free(v);
}

static void customers(void **state)
{
    struct fixture *f = *state;
    char *key = NULL;
    int64_t plan = 0;
    assert_int_equal(vex_accounts_customer_add(f->a, "acme", 3, NULL, &key), 0);
    /* vik_ + 43 base64url characters (256 random bits). */
    assert_int_equal(strlen(key), 47);
    assert_memory_equal(key, "vik_", 4);
    assert_int_equal(vex_accounts_customer_get(f->a, "acme", &plan), 0);
    assert_int_equal(plan, 3);
    assert_int_equal(vex_accounts_customer_get(f->a, "nope", &plan), VEX_ENOENT);
    assert_int_equal(vex_accounts_customer_add(f->a, "acme", 1, NULL, NULL), VEX_EEXIST);
    assert_int_equal(vex_accounts_customer_add(f->a, "bad id", 1, NULL, NULL), VEX_EINVAL);
    assert_int_equal(vex_accounts_customer_add(f->a, "", 1, NULL, NULL), VEX_EINVAL);
    char long_id[66];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    assert_int_equal(vex_accounts_customer_add(f->a, long_id, 1, NULL, NULL), VEX_EINVAL);
    long_id[64] = '\0';
    assert_int_equal(vex_accounts_customer_add(f->a, long_id, 1, "k64", NULL), 0);
    assert_int_equal(vex_accounts_customer_add(f->a, "A_b-9", 0, "k-ab9", NULL), 0);

    /* The key works, is stored only as its SHA-256 (hand-checked with
     * `printf %s KEY | sha256sum` for the supplied key below). */
    char id[VEX_CUSTOMER_ID_MAX + 1];
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, key, id), 0);
    assert_string_equal(id, "acme");
    assert_int_equal(vex_accounts_customer_add(f->a, "beta", 2, "beta-key-1", NULL), 0);
    char *hex = db_text(f, "SELECT lower(hex(digest)) FROM ingest_keys WHERE customer='beta'");
    assert_string_equal(hex, "2aedacb92834d250f5b1462089b78dc8169fe3b41b3146142a6d081cf0457d05");
    free(hex);
    char *clear = db_text(f, "SELECT count(*) FROM ingest_keys WHERE digest = 'beta-key-1'"
                             " OR CAST(digest AS TEXT) LIKE '%beta-key%'");
    assert_string_equal(clear, "0");
    free(clear);
    /* A key is one customer's. */
    assert_int_equal(vex_accounts_customer_add(f->a, "gamma", 2, "beta-key-1", NULL),
                     VEX_EEXIST);
    assert_int_equal(vex_accounts_customer_get(f->a, "gamma", NULL), VEX_ENOENT);
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "beta-key-1", id), 0);
    assert_string_equal(id, "beta");
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "beta-key-2", id), VEX_EAUTH);
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "", id), VEX_EAUTH);
    free(key);
}

static void other_handle_changes_seen(void **state)
{
    struct fixture *f = *state;
    char id[VEX_CUSTOMER_ID_MAX + 1];
    int64_t plan = 0;
    assert_int_equal(vex_accounts_customer_add(f->a, "acme", 3, "acme-1", NULL), 0);
    /* Warm the server's cache. */
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "acme-1", id), 0);
    assert_int_equal(vex_accounts_customer_get(f->a, "acme", &plan), 0);
    /* "The CLI" changes things through its own connection. */
    assert_int_equal(vex_accounts_customer_set_plan(f->b, "acme", 5), 0);
    assert_int_equal(vex_accounts_ingest_key_add(f->b, "acme", "acme-2", NULL), 0);
    assert_int_equal(vex_accounts_ingest_key_revoke(f->b, "acme-1"), 0);
    assert_int_equal(vex_accounts_customer_get(f->a, "acme", &plan), 0);
    assert_int_equal(plan, 5);
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "acme-1", id), VEX_EAUTH);
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "acme-2", id), 0);
    assert_string_equal(id, "acme");
    /* Revoking twice: nothing active matches. */
    assert_int_equal(vex_accounts_ingest_key_revoke(f->b, "acme-1"), VEX_ENOENT);
    /* A revoked key cannot come back under another customer. */
    assert_int_equal(vex_accounts_customer_add(f->b, "other", 1, "acme-1", NULL), VEX_EEXIST);
    assert_int_equal(vex_accounts_customer_set_plan(f->b, "ghost", 1), VEX_ENOENT);
    assert_int_equal(vex_accounts_ingest_key_add(f->b, "ghost", NULL, NULL), VEX_ENOENT);
    /* Removing the customer ends its keys. */
    assert_int_equal(vex_accounts_customer_remove(f->b, "acme"), 0);
    assert_int_equal(vex_accounts_customer_get(f->a, "acme", &plan), VEX_ENOENT);
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "acme-2", id), VEX_EAUTH);
    assert_int_equal(vex_accounts_customer_remove(f->b, "acme"), VEX_ENOENT);
}

struct seen {
    int n;
    char ids[4][16];
    int revoked[4];
};

static int collect_key(const struct vex_key_info *k, void *ctx)
{
    struct seen *s = ctx;
    if (s->n < 4) {
        snprintf(s->ids[s->n], sizeof s->ids[0], "%s", k->key_id);
        s->revoked[s->n] = k->revoked;
    }
    s->n++;
    return 0;
}

static int collect_customer(const struct vex_customer_info *c, void *ctx)
{
    struct seen *s = ctx;
    if (s->n < 4)
        snprintf(s->ids[s->n], sizeof s->ids[0], "%s:%lld:%lld", c->id, (long long)c->plan,
                 (long long)c->active_keys);
    s->n++;
    return 0;
}

static void listing_and_key_ids(void **state)
{
    struct fixture *f = *state;
    struct seen s = {0};
    assert_int_equal(vex_accounts_customer_add(f->a, "zed", 1, "zed-key", NULL), 0);
    assert_int_equal(vex_accounts_customer_add(f->a, "abc", 7, "abc-key", NULL), 0);
    assert_int_equal(vex_accounts_ingest_key_add(f->a, "abc", "abc-key-2", NULL), 0);
    assert_int_equal(vex_accounts_customer_list(f->a, collect_customer, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "abc:7:2");
    assert_string_equal(s.ids[1], "zed:1:1");
    /* The key id is the first 12 hex digits of SHA-256("zed-key"). */
    memset(&s, 0, sizeof s);
    assert_int_equal(vex_accounts_ingest_key_list(f->a, "zed", collect_key, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.ids[0], "4da27678abe7");
    assert_int_equal(vex_accounts_ingest_key_revoke(f->a, "4da27678abe7"), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(vex_accounts_ingest_key_list(f->a, "zed", collect_key, &s), 0);
    assert_int_equal(s.revoked[0], 1);
    char id[VEX_CUSTOMER_ID_MAX + 1];
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "zed-key", id), VEX_EAUTH);
    assert_int_equal(vex_accounts_ingest_key_list(f->a, "nobody", collect_key, &s), VEX_ENOENT);
}

static void users_and_passwords(void **state)
{
    struct fixture *f = *state;
    const char *ab[] = {"acme", "beta"};
    struct vex_principal p;
    assert_int_equal(vex_accounts_user_add(f->a, "alice@example.com", "s3cret!", 7, 0, ab, 2),
                     0);
    assert_int_equal(vex_accounts_user_add(f->a, "alice@example.com", "x", 1, 0, ab, 2),
                     VEX_EEXIST);
    assert_int_equal(vex_accounts_user_add(f->a, "bad name", "x", 1, 1, NULL, 0), VEX_EINVAL);
    assert_int_equal(vex_accounts_user_add(f->a, "root", "", 0, 1, NULL, 0), VEX_EINVAL);
    const char *bad[] = {"ok", "no way"};
    assert_int_equal(vex_accounts_user_add(f->a, "carol", "x", 1, 0, bad, 2), VEX_EINVAL);
    assert_int_equal(vex_accounts_user_add(f->a, "root", "rootpw", 6, 1, NULL, 0), 0);

    char *h = db_text(f, "SELECT pwhash FROM users WHERE name = 'alice@example.com'");
    assert_true(strncmp(h, "$argon2id$", 10) == 0);
    assert_null(strstr(h, "s3cret"));
    free(h);
    char *n = db_text(f, "SELECT count(*) FROM users WHERE pwhash LIKE '%s3cret%'"
                         " OR pwhash LIKE '%rootpw%'");
    assert_string_equal(n, "0");
    free(n);

    assert_int_equal(vex_accounts_user_login(f->a, "alice@example.com", "s3cret!", 7, &p), 0);
    assert_string_equal(p.name, "alice@example.com");
    assert_int_equal(strlen(p.sub), 36);
    assert_int_equal(p.sub[14], '4'); /* UUID version 4 */
    assert_int_equal(p.admin, 0);
    assert_int_equal(p.ncustomers, 2);
    assert_string_equal(p.customers[0], "acme");
    assert_string_equal(p.customers[1], "beta");
    vex_principal_deinit(&p);
    assert_int_equal(vex_accounts_user_login(f->a, "alice@example.com", "s3cret", 6, &p),
                     VEX_EAUTH);
    assert_int_equal(vex_accounts_user_login(f->a, "mallory", "s3cret!", 7, &p), VEX_EAUTH);
    assert_int_equal(vex_accounts_user_login(f->a, "root", "rootpw", 6, &p), 0);
    assert_int_equal(p.admin, 1);
    assert_int_equal(p.ncustomers, 0);
    vex_principal_deinit(&p);

    assert_int_equal(vex_accounts_user_passwd(f->b, "root", "newpw", 5), 0);
    assert_int_equal(vex_accounts_user_login(f->a, "root", "rootpw", 6, &p), VEX_EAUTH);
    assert_int_equal(vex_accounts_user_login(f->a, "root", "newpw", 5, &p), 0);
    vex_principal_deinit(&p);
    assert_int_equal(vex_accounts_user_passwd(f->b, "nobody", "x", 1), VEX_ENOENT);
    assert_int_equal(vex_accounts_user_remove(f->b, "root"), 0);
    assert_int_equal(vex_accounts_user_login(f->a, "root", "newpw", 5, &p), VEX_EAUTH);
    assert_int_equal(vex_accounts_user_remove(f->b, "root"), VEX_ENOENT);
}

static void api_keys(void **state)
{
    struct fixture *f = *state;
    const char *a_only[] = {"acme", "zeta"}; /* zeta never exists */
    char *ka = NULL, *kr = NULL;
    int64_t plan = 0;
    assert_int_equal(vex_accounts_customer_add(f->a, "acme", 4, NULL, NULL), 0);
    assert_int_equal(vex_accounts_customer_add(f->a, "beta", 2, NULL, NULL), 0);
    assert_int_equal(vex_accounts_user_add(f->a, "alice", "pw", 2, 0, a_only, 2), 0);
    assert_int_equal(vex_accounts_user_add(f->a, "root", "pw", 2, 1, NULL, 0), 0);
    assert_int_equal(vex_accounts_apikey_add(f->b, "alice", &ka), 0);
    assert_int_equal(vex_accounts_apikey_add(f->b, "root", &kr), 0);
    assert_memory_equal(ka, "vak_", 4);
    assert_int_equal(strlen(ka), 47);
    assert_int_equal(vex_accounts_apikey_add(f->b, "nobody", &kr), VEX_ENOENT);

    assert_int_equal(vex_accounts_apikey_access(f->a, ka, "acme", &plan), 0);
    assert_int_equal(plan, 4);
    assert_int_equal(vex_accounts_apikey_access(f->a, ka, "beta", &plan), VEX_EPERM);
    /* May read zeta, but it does not exist: still 403, only admins see 404. */
    assert_int_equal(vex_accounts_apikey_access(f->a, ka, "zeta", &plan), VEX_EPERM);
    assert_int_equal(vex_accounts_apikey_access(f->a, kr, "beta", &plan), 0);
    assert_int_equal(plan, 2);
    assert_int_equal(vex_accounts_apikey_access(f->a, kr, "zeta", &plan), VEX_ENOENT);
    assert_int_equal(vex_accounts_apikey_access(f->a, "vak_nope", "acme", &plan), VEX_EAUTH);
    assert_int_equal(vex_accounts_apikey_access(f->a, "", "acme", &plan), VEX_EAUTH);

    /* Stored hashed. */
    char *n = db_text(f, "SELECT count(*) FROM api_keys WHERE length(digest) = 32");
    assert_string_equal(n, "2");
    free(n);

    /* Revoked from the other handle: refused at once. */
    assert_int_equal(vex_accounts_apikey_revoke(f->b, ka), 0);
    assert_int_equal(vex_accounts_apikey_access(f->a, ka, "acme", &plan), VEX_EAUTH);
    assert_int_equal(vex_accounts_apikey_revoke(f->b, ka), VEX_ENOENT);
    /* Removing the user ends its keys. */
    assert_int_equal(vex_accounts_user_remove(f->b, "root"), 0);
    assert_int_equal(vex_accounts_apikey_access(f->a, kr, "beta", &plan), VEX_EAUTH);
    free(ka);
    free(kr);
}

static void refresh_rotation(void **state)
{
    struct fixture *f = *state;
    const char *acme[] = {"acme"};
    struct vex_principal p;
    char *t1 = NULL, *t2 = NULL, *t3 = NULL, *scope = NULL;
    assert_int_equal(vex_accounts_user_add(f->a, "alice", "pw", 2, 0, acme, 1), 0);
    assert_int_equal(vex_accounts_refresh_issue(f->a, "alice", "openid email", 60, &t1), 0);
    assert_int_equal(vex_accounts_refresh_issue(f->a, "nobody", "x", 60, &t3), VEX_ENOENT);
    assert_memory_equal(t1, "vrt_", 4);

    assert_int_equal(vex_accounts_refresh_rotate(f->a, t1, 60, &p, &scope, &t2), 0);
    assert_string_equal(p.name, "alice");
    assert_int_equal(p.ncustomers, 1);
    assert_string_equal(p.customers[0], "acme");
    assert_string_equal(scope, "openid email");
    assert_string_not_equal(t1, t2);
    vex_principal_deinit(&p);
    free(scope);

    /* t1 is used up. Presenting it again also kills its successor t2. */
    assert_int_equal(vex_accounts_refresh_rotate(f->a, t1, 60, &p, &scope, &t3), VEX_EAUTH);
    assert_int_equal(vex_accounts_refresh_rotate(f->a, t2, 60, &p, &scope, &t3), VEX_EAUTH);
    assert_int_equal(vex_accounts_refresh_rotate(f->a, "vrt_unknown", 60, &p, &scope, &t3),
                     VEX_EAUTH);

    /* A token with no lifetime left is refused. */
    free(t1);
    assert_int_equal(vex_accounts_refresh_issue(f->a, "alice", "openid", 0, &t1), 0);
    assert_int_equal(vex_accounts_refresh_rotate(f->a, t1, 60, &p, &scope, &t3), VEX_EAUTH);

    /* A password change ends every refresh token of the user. */
    free(t1);
    assert_int_equal(vex_accounts_refresh_issue(f->a, "alice", "openid", 60, &t1), 0);
    assert_int_equal(vex_accounts_user_passwd(f->b, "alice", "new", 3), 0);
    assert_int_equal(vex_accounts_refresh_rotate(f->a, t1, 60, &p, &scope, &t3), VEX_EAUTH);

    /* Stored hashed, never in clear. */
    char *n = db_text(f, "SELECT count(*) FROM refresh_tokens WHERE CAST(digest AS TEXT)"
                         " LIKE 'vrt_%'");
    assert_string_equal(n, "0");
    free(n);
    free(t1);
    free(t2);
}

struct lookers {
    struct vex_accounts *a;
    int failures;
};

static void *look_up(void *arg)
{
    struct lookers *l = arg;
    char id[VEX_CUSTOMER_ID_MAX + 1];
    int64_t plan;
    for (int i = 0; i < 3000; i++) {
        if (vex_accounts_customer_by_ingest_key(l->a, "stable-key", id) != 0 ||
            strcmp(id, "stable") != 0 || vex_accounts_customer_get(l->a, "stable", &plan) != 0 ||
            plan != 1)
            __atomic_add_fetch(&l->failures, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Lookups from several threads while another handle keeps changing the
 * file (each change makes the cache rebuild): a key that stays valid is
 * never refused on the way. */
static void concurrent_lookups(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vex_accounts_customer_add(f->a, "stable", 1, "stable-key", NULL), 0);
    struct lookers l = {f->a, 0};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, look_up, &l), 0);
    for (int i = 0; i < 40; i++) {
        char id[16], key[16];
        snprintf(id, sizeof id, "c%d", i);
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(vex_accounts_customer_add(f->b, id, i, key, NULL), 0);
        assert_int_equal(vex_accounts_ingest_key_revoke(f->b, key), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(l.failures, 0);
    char id[VEX_CUSTOMER_ID_MAX + 1];
    assert_int_equal(vex_accounts_customer_by_ingest_key(f->a, "k39", id), VEX_EAUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(file_is_private_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(customers, setup, teardown),
        cmocka_unit_test_setup_teardown(other_handle_changes_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(listing_and_key_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(users_and_passwords, setup, teardown),
        cmocka_unit_test_setup_teardown(api_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_lookups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
