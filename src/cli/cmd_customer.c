/* cmd_customer.c - `vex customer`: customers, their plan levels and ingest
 * keys (SPEC sections 5 and 7).
 *
 *   vex customer add ID --plan N [--key KEY]   prints the ingest key
 *   vex customer list [--json]
 *   vex customer set-plan ID N
 *   vex customer remove ID
 *   vex customer key add ID [--key KEY]        prints the new ingest key
 *   vex customer key revoke KEY|KEY-ID
 *   vex customer key list [ID]
 *
 * It writes the accounts database directly, also while `vex serve` runs on
 * the same data dir: the server sees the change with its next request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "auth/accounts.h"
#include "auth/secret.h"
#include "cli/cli.h"
#include "core/err.h"

static const char usage_text[] = "usage: vex customer add ID --plan N [--key KEY]\n"
                                 "       vex customer list [--json]\n"
                                 "       vex customer set-plan ID N\n"
                                 "       vex customer remove ID\n"
                                 "       vex customer key add ID [--key KEY]\n"
                                 "       vex customer key revoke KEY|KEY-ID\n"
                                 "       vex customer key list [ID]\n";

enum { OPT_PLAN, OPT_KEY, OPT_JSON, OPT_COUNT };

static int bad_id(const char *id)
{
    return vex_cli_fail(VEX_EXIT_USAGE,
                        "invalid customer id '%s': use 1 to 64 characters of A-Z a-z 0-9 _ -", id);
}

static int parse_plan(const char *s, int64_t *plan)
{
    if (vex_cli_parse_i64(s, plan) != 0 || *plan < 0)
        return vex_cli_fail(VEX_EXIT_USAGE, "plan level must be an integer >= 0, not '%s'", s);
    return 0;
}

/* print_key hands a new key to the user and wipes it from memory. */
static int print_key(char *key)
{
    int ok = printf("%s\n", key) > 0 && fflush(stdout) == 0;
    OPENSSL_clear_free(key, strlen(key));
    return ok ? VEX_EXIT_OK : vex_cli_fail(VEX_EXIT_FAIL, "cannot write to stdout");
}

static int fail_rc(int rc, const char *what, const char *id)
{
    if (rc == VEX_ENOENT)
        return vex_cli_fail(VEX_EXIT_FAIL, "no customer '%s'", id);
    return vex_cli_fail(VEX_EXIT_FAIL, "cannot %s: %s", what, vex_strerror(rc));
}

static int print_customer(const struct vex_customer_info *c, void *ctx)
{
    json_t *arr = ctx;
    if (arr)
        return json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "id", c->id, "plan",
                                                    (json_int_t)c->plan, "ingest_keys",
                                                    (json_int_t)c->active_keys))
                   ? VEX_ENOMEM
                   : 0;
    printf("%s\t%lld\t%lld\n", c->id, (long long)c->plan, (long long)c->active_keys);
    return 0;
}

static int cmd_add(struct vex_accounts *a, const char *id, const struct vex_cli_opt *opts)
{
    int64_t plan;
    if (!opts[OPT_PLAN].value)
        return vex_cli_fail(VEX_EXIT_USAGE, "customer add needs --plan N");
    if (parse_plan(opts[OPT_PLAN].value, &plan))
        return VEX_EXIT_USAGE;
    char *key = NULL;
    int rc = vex_accounts_customer_add(a, id, plan, opts[OPT_KEY].value, &key);
    if (rc == VEX_EEXIST) {
        if (vex_accounts_customer_get(a, id, NULL) == 0)
            return vex_cli_fail(VEX_EXIT_FAIL, "customer '%s' already exists", id);
        return vex_cli_fail(VEX_EXIT_FAIL, "that ingest key is already in use");
    }
    if (rc)
        return fail_rc(rc, "add the customer", id);
    return print_key(key);
}

static int cmd_key(struct vex_accounts *a, const char **pos, int npos,
                   const struct vex_cli_opt *opts)
{
    const char *verb = npos > 1 ? pos[1] : "";
    if (!strcmp(verb, "add") && npos == 3) {
        char *key = NULL;
        int rc = vex_accounts_ingest_key_add(a, pos[2], opts[OPT_KEY].value, &key);
        if (rc == VEX_EEXIST)
            return vex_cli_fail(VEX_EXIT_FAIL, "that ingest key is already in use");
        return rc ? fail_rc(rc, "add the key", pos[2]) : print_key(key);
    }
    if (opts[OPT_KEY].value)
        return vex_cli_fail(VEX_EXIT_USAGE, "--key only goes with 'add'");
    if (!strcmp(verb, "revoke") && npos == 3) {
        int rc = vex_accounts_ingest_key_revoke(a, pos[2]);
        if (rc == VEX_ENOENT)
            return vex_cli_fail(VEX_EXIT_FAIL, "no active ingest key matches");
        if (rc == VEX_EINVAL)
            return vex_cli_fail(VEX_EXIT_FAIL, "several keys have that key id: give the key");
        return rc ? fail_rc(rc, "revoke the key", "") : VEX_EXIT_OK;
    }
    if (!strcmp(verb, "list") && npos <= 3) {
        int rc = vex_accounts_ingest_key_list(a, npos == 3 ? pos[2] : NULL, vex_cli_print_key_info, NULL);
        return rc ? fail_rc(rc, "list the keys", npos == 3 ? pos[2] : "") : VEX_EXIT_OK;
    }
    return vex_cli_fail(VEX_EXIT_USAGE, "customer key: expected add ID, revoke KEY or list [ID]");
}

static int run(struct vex_accounts *a, const char **pos, int npos, const struct vex_cli_opt *opts)
{
    const char *verb = pos[0];
    if (!strcmp(verb, "key"))
        return cmd_key(a, pos, npos, opts);
    if (opts[OPT_KEY].value && strcmp(verb, "add") != 0)
        return vex_cli_fail(VEX_EXIT_USAGE, "--key only goes with 'add'");
    if (!strcmp(verb, "add") && npos == 2)
        return cmd_add(a, pos[1], opts);
    if (opts[OPT_PLAN].value)
        return vex_cli_fail(VEX_EXIT_USAGE, "--plan only goes with 'add'");
    if (!strcmp(verb, "list") && npos == 1) {
        json_t *arr = opts[OPT_JSON].value ? json_array() : NULL;
        int rc = vex_accounts_customer_list(a, print_customer, arr);
        if (rc == 0 && arr) {
            char *s = json_dumps(arr, JSON_COMPACT);
            rc = s ? 0 : VEX_ENOMEM;
            if (s)
                printf("%s\n", s);
            free(s);
        }
        json_decref(arr);
        return rc ? fail_rc(rc, "list customers", "") : VEX_EXIT_OK;
    }
    if (opts[OPT_JSON].value)
        return vex_cli_fail(VEX_EXIT_USAGE, "--json only goes with 'list'");
    if (!strcmp(verb, "set-plan") && npos == 3) {
        int64_t plan;
        if (parse_plan(pos[2], &plan))
            return VEX_EXIT_USAGE;
        int rc = vex_accounts_customer_set_plan(a, pos[1], plan);
        return rc ? fail_rc(rc, "set the plan", pos[1]) : VEX_EXIT_OK;
    }
    if (!strcmp(verb, "remove") && npos == 2) {
        int rc = vex_accounts_customer_remove(a, pos[1]);
        return rc ? fail_rc(rc, "remove the customer", pos[1]) : VEX_EXIT_OK;
    }
    return vex_cli_fail(VEX_EXIT_USAGE,
                        "customer: unknown or incomplete command (see vex customer --help)");
}

int vex_cmd_customer(int argc, char **argv, const char *data_dir)
{
    struct vex_cli_opt opts[OPT_COUNT] = {
        [OPT_PLAN] = {"plan", 1, NULL},
        [OPT_KEY] = {"key", 1, NULL},
        [OPT_JSON] = {"json", 0, NULL},
    };
    const char *pos[VEX_CLI_MAX_POS];
    int npos;
    int rc = vex_cli_parse_args(argc, argv, opts, OPT_COUNT, pos, &npos);
    if (rc < 0) {
        fputs(usage_text, stdout);
        return VEX_EXIT_OK;
    }
    if (rc)
        return rc;
    if (npos == 0)
        return vex_cli_fail(VEX_EXIT_USAGE, "customer: missing command (see vex customer --help)");
    /* Mistakes in what was typed are usage errors (2), found before the
     * database is opened. */
    int adds =
        !strcmp(pos[0], "add") || (!strcmp(pos[0], "key") && npos > 1 && !strcmp(pos[1], "add"));
    const char *id = !strcmp(pos[0], "key") ? (npos > 2 && strcmp(pos[1], "revoke") ? pos[2] : NULL)
                                            : (npos > 1 ? pos[1] : NULL);
    if (id && !vex_accounts_valid_customer_id(id))
        return bad_id(id);
    if (adds && opts[OPT_KEY].value && !vex_secret_valid(opts[OPT_KEY].value))
        return vex_cli_fail(VEX_EXIT_USAGE,
                            "an ingest key is 1 to 256 printable characters without spaces");

    struct vex_accounts *a;
    if ((rc = vex_accounts_open(data_dir, &a)) != 0)
        return vex_cli_fail(VEX_EXIT_FAIL, "cannot open the accounts in %s: %s", data_dir,
                            vex_strerror(rc));
    rc = run(a, pos, npos, opts);
    vex_accounts_close(a);
    return rc;
}
