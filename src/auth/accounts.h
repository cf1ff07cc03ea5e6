/* accounts.h - customers, ingest keys, users, API keys and refresh tokens,
 * kept in SQLite at <data_dir>/accounts.db (SPEC section 5).
 *
 * The server and the `vex customer` / `vex user` commands open the same file
 * at the same time: every read sees what any process committed before it
 * (the lookups used per request are served from a cache that is rebuilt when
 * SQLite's data_version says another connection changed the file). Secrets
 * (ingest keys, API keys, refresh tokens) are stored as SHA-256 digests and
 * passwords as Argon2id hashes; what a caller gets back in clear is only what
 * it just generated. All functions are thread-safe. */
#ifndef VEX_AUTH_ACCOUNTS_H
#define VEX_AUTH_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#define VEX_CUSTOMER_ID_MAX 64
#define VEX_USER_NAME_MAX 128

struct vex_accounts;

/* vex_accounts_open creates data_dir (and its parents) and accounts.db in it
 * when missing (mode 0600, WAL journal, busy timeout), upgrades its schema,
 * and opens it. VEX_EIO when the directory or file cannot be made or read,
 * VEX_ECORRUPT when the file is not an accounts database. */
int vex_accounts_open(const char *data_dir, struct vex_accounts **out);

void vex_accounts_close(struct vex_accounts *a);

/* vex_accounts_valid_customer_id: 1 when id matches [A-Za-z0-9_-]{1,64}. */
int vex_accounts_valid_customer_id(const char *id);

/* vex_accounts_valid_user_name: 1 when name is 1..128 characters of
 * [A-Za-z0-9._@+-] (user names are often e-mail addresses). */
int vex_accounts_valid_user_name(const char *name);

/* ---- customers ---- */

/* vex_accounts_customer_add creates customer id with plan level `plan` and
 * one ingest key: `key` when not NULL (VEX_EINVAL unless vex_secret_valid),
 * else a generated one. The key in clear goes to *key_out (malloc'd, caller
 * frees) when key_out is not NULL. VEX_EINVAL bad id, VEX_EEXIST when the
 * customer or the key exists. */
int vex_accounts_customer_add(struct vex_accounts *a, const char *id, int64_t plan,
                              const char *key, char **key_out);

/* vex_accounts_customer_get gives the plan level of customer id (plan_out may
 * be NULL). VEX_ENOENT when there is no such customer. */
int vex_accounts_customer_get(struct vex_accounts *a, const char *id, int64_t *plan_out);

/* vex_accounts_customer_set_plan changes the plan level. VEX_ENOENT. */
int vex_accounts_customer_set_plan(struct vex_accounts *a, const char *id, int64_t plan);

/* vex_accounts_customer_remove deletes a customer, its ingest keys and every
 * user's right to read it (a customer created later under the same id is a
 * new tenant). Its stored events are not touched. VEX_ENOENT. */
int vex_accounts_customer_remove(struct vex_accounts *a, const char *id);

struct vex_customer_info {
    const char *id;
    int64_t plan;
    int64_t active_keys; /* ingest keys not revoked */
};

/* vex_accounts_customer_list calls fn for each customer in id order; a
 * nonzero return from fn stops the walk and is returned. */
int vex_accounts_customer_list(struct vex_accounts *a,
                               int (*fn)(const struct vex_customer_info *c, void *ctx),
                               void *ctx);

/* ---- ingest keys ---- */

/* vex_accounts_ingest_key_add adds an ingest key to customer id, like
 * vex_accounts_customer_add does. VEX_ENOENT, VEX_EINVAL, VEX_EEXIST. */
int vex_accounts_ingest_key_add(struct vex_accounts *a, const char *id, const char *key,
                                char **key_out);

/* vex_accounts_ingest_key_revoke revokes a key given in clear, or by the key
 * id that vex_accounts_ingest_key_list shows. The customer's other keys keep
 * working. VEX_ENOENT when no active key matches. */
int vex_accounts_ingest_key_revoke(struct vex_accounts *a, const char *key);

struct vex_key_info {
    const char *key_id; /* first 12 hex digits of the key's SHA-256: names it
                         * without revealing it */
    const char *owner;  /* customer id or user name */
    int64_t created;    /* seconds since the epoch */
    int revoked;
};

/* vex_accounts_ingest_key_list calls fn for each key of customer id (all
 * customers when id is NULL). VEX_ENOENT when id names no customer. */
int vex_accounts_ingest_key_list(struct vex_accounts *a, const char *id,
                                 int (*fn)(const struct vex_key_info *k, void *ctx), void *ctx);

/* vex_accounts_customer_by_ingest_key names the customer of an ingest key
 * (id_out gets a NUL-terminated id). Served from the cache, without a lock
 * held for longer than a hash lookup. VEX_EAUTH for an unknown or revoked key,
 * VEX_EIO when the database cannot be read. */
int vex_accounts_customer_by_ingest_key(struct vex_accounts *a, const char *key,
                                        char id_out[VEX_CUSTOMER_ID_MAX + 1]);

/* ---- users ---- */

/* Who a user is, for issuing tokens. */
struct vex_principal {
    char name[VEX_USER_NAME_MAX + 1];
    char sub[40]; /* stable user id (a UUID), the JWT `sub` */
    int admin;
    size_t ncustomers;
    char **customers; /* malloc'd array of malloc'd ids, in id order */
};

void vex_principal_deinit(struct vex_principal *p);

/* vex_accounts_user_add creates user `name` with an Argon2id hash of
 * password[0..len), either admin or allowed to read the customers in
 * customers[0..ncustomers) (which need not exist yet). VEX_EINVAL bad name,
 * customer id or password (empty or over VEX_PASSWORD_MAX bytes), VEX_EEXIST. */
int vex_accounts_user_add(struct vex_accounts *a, const char *name, const char *password,
                          size_t len, int admin, const char *const *customers,
                          size_t ncustomers);

/* vex_accounts_user_passwd sets a new password and revokes the user's refresh
 * tokens (sessions opened with the old password end). VEX_ENOENT, VEX_EINVAL. */
int vex_accounts_user_passwd(struct vex_accounts *a, const char *name, const char *password,
                             size_t len);

/* vex_accounts_user_remove deletes a user with its API keys and refresh
 * tokens. Access tokens already issued stay valid until they expire.
 * VEX_ENOENT. */
int vex_accounts_user_remove(struct vex_accounts *a, const char *name);

struct vex_user_info {
    const char *name;
    int admin;
    const char *customers; /* comma-separated, "" when none */
    int64_t active_apikeys;
};

/* vex_accounts_user_list calls fn for each user in name order. */
int vex_accounts_user_list(struct vex_accounts *a,
                           int (*fn)(const struct vex_user_info *u, void *ctx), void *ctx);

/* vex_accounts_user_get fills *out (caller calls vex_principal_deinit).
 * VEX_ENOENT. */
int vex_accounts_user_get(struct vex_accounts *a, const char *name, struct vex_principal *out);

/* vex_accounts_user_login checks a password and fills *out on success
 * (caller calls vex_principal_deinit). VEX_EAUTH for an unknown user or a
 * wrong password, taking as long in both cases. */
int vex_accounts_user_login(struct vex_accounts *a, const char *name, const char *password,
                            size_t len, struct vex_principal *out);

/* ---- API keys ---- */

/* vex_accounts_apikey_add makes a new API key for user `name` and returns it
 * in clear (malloc'd, caller frees): the only time it is visible. VEX_ENOENT. */
int vex_accounts_apikey_add(struct vex_accounts *a, const char *name, char **key_out);

/* vex_accounts_apikey_revoke revokes a key given in clear or by its key id.
 * VEX_ENOENT when no active key matches. */
int vex_accounts_apikey_revoke(struct vex_accounts *a, const char *key);

/* vex_accounts_apikey_list calls fn for each API key of user `name` (all
 * users when NULL). VEX_ENOENT when name names no user. */
int vex_accounts_apikey_list(struct vex_accounts *a, const char *name,
                             int (*fn)(const struct vex_key_info *k, void *ctx), void *ctx);

/* vex_accounts_apikey_access decides, from the cache, whether API key `key`
 * may read customer `customer`, in the order of SPEC 4.6: VEX_EAUTH unknown
 * or revoked key; VEX_EPERM the user may not read it (also when it does not
 * exist, unless admin); VEX_ENOENT no such customer (admin); 0 allowed, with
 * the customer's plan level in *plan_out (may be NULL). VEX_EIO. */
int vex_accounts_apikey_access(struct vex_accounts *a, const char *key, const char *customer,
                               int64_t *plan_out);

/* ---- refresh tokens ---- */

/* vex_accounts_refresh_issue starts a login's chain of refresh tokens: it
 * stores a new token for user `name` with the scope the login asked for,
 * valid for ttl_s seconds, and returns it in clear (malloc'd, caller frees).
 * Expired tokens of every user are purged on the way. VEX_ENOENT unknown user. */
int vex_accounts_refresh_issue(struct vex_accounts *a, const char *name, const char *scope,
                               int64_t ttl_s, char **token_out);

/* vex_accounts_refresh_rotate redeems a refresh token and, in the same
 * transaction, issues its successor (valid ttl_s seconds, same scope, same
 * chain): the redeemed token never works again. *out gets the token's user
 * as it is now (caller calls vex_principal_deinit), *scope_out its scope and
 * *token_out the successor (both malloc'd). VEX_EAUTH when the token is
 * unknown, expired or already used, or its user is gone. Presenting a used
 * token again also revokes its whole chain, because it means that two
 * parties hold it and one of them stole it (RFC 6819 section 5.2.2.3). */
int vex_accounts_refresh_rotate(struct vex_accounts *a, const char *token, int64_t ttl_s,
                                struct vex_principal *out, char **scope_out, char **token_out);

#endif
