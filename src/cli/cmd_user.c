/* cmd_user.c - `vex user`: users who read the metrics API, their passwords
 * and API keys (SPEC sections 5 and 7).
 *
 *   vex user add NAME --password-stdin (--customers ID[,ID...] | --admin)
 *   vex user list [--json]
 *   vex user passwd NAME --password-stdin
 *   vex user remove NAME
 *   vex user apikey NAME                  prints a new API key
 *   vex user apikey revoke KEY|KEY-ID
 *   vex user apikey list [NAME]
 *
 * Passwords come from stdin only (one line, its newline dropped): an
 * argument would show in `ps` and in shell history. Works while `vex serve`
 * runs on the same data dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "auth/accounts.h"
#include "auth/password.h"
#include "cli/cli.h"
#include "core/err.h"

static const char usage_text[] =
    "usage: vex user add NAME --password-stdin (--customers ID[,ID...] | --admin)\n"
    "       vex user list [--json]\n"
    "       vex user passwd NAME --password-stdin\n"
    "       vex user remove NAME\n"
    "       vex user apikey NAME\n"
    "       vex user apikey revoke KEY|KEY-ID\n"
    "       vex user apikey list [NAME]\n";

enum { OPT_PASSWORD_STDIN, OPT_CUSTOMERS, OPT_ADMIN, OPT_JSON, OPT_COUNT };

/* read_password reads one line from stdin and drops its line ending. The
 * caller wipes and frees *out. VEX_EXIT_USAGE when it is empty or too long. */
static int read_password(char **out, size_t *len_out)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    size_t len = n > 0 ? (size_t)n : 0;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    int rc = 0;
    if (len == 0)
        rc = vex_cli_fail(VEX_EXIT_USAGE, "no password on stdin (one line is read)");
    else if (len > VEX_PASSWORD_MAX)
        rc = vex_cli_fail(VEX_EXIT_USAGE, "the password is longer than %d bytes", VEX_PASSWORD_MAX);
    else if (memchr(line, '\0', len))
        rc = vex_cli_fail(VEX_EXIT_USAGE, "the password contains a NUL byte");
    if (rc) {
        if (line)
            OPENSSL_clear_free(line, cap);
        return rc;
    }
    line[len] = '\0';
    *out = line;
    *len_out = cap;
    return 0;
}

static int fail_rc(int rc, const char *what, const char *name)
{
    if (rc == VEX_ENOENT)
        return vex_cli_fail(VEX_EXIT_FAIL, "no user '%s'", name);
    return vex_cli_fail(VEX_EXIT_FAIL, "cannot %s: %s", what, vex_strerror(rc));
}

/* split_customers turns "a,b,c" into ids in a copy of the text (ids[] point
 * into *buf_out, which the caller frees). */
static int split_customers(const char *list, char **buf_out, const char ***ids_out, size_t *n)
{
    char *buf = strdup(list);
    const char **ids = calloc(strlen(list) / 2 + 1, sizeof *ids);
    *n = 0;
    if (!buf || !ids) {
        free(buf);
        free(ids);
        return vex_cli_fail(VEX_EXIT_FAIL, "out of memory");
    }
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!vex_accounts_valid_customer_id(t)) {
            int rc = vex_cli_fail(VEX_EXIT_USAGE,
                                  "invalid customer id '%s': use 1 to 64 characters of "
                                  "A-Z a-z 0-9 _ -",
                                  t);
            free(buf);
            free(ids);
            return rc;
        }
        ids[(*n)++] = t;
    }
    if (*n == 0) {
        free(buf);
        free(ids);
        return vex_cli_fail(VEX_EXIT_USAGE, "--customers needs at least one customer id");
    }
    *buf_out = buf;
    *ids_out = ids;
    return 0;
}

static int cmd_add(struct vex_accounts *a, const char *name, const struct vex_cli_opt *opts)
{
    int admin = opts[OPT_ADMIN].value != NULL;
    if (admin == (opts[OPT_CUSTOMERS].value != NULL))
        return vex_cli_fail(VEX_EXIT_USAGE, "user add needs either --customers ID[,ID...] "
                                            "or --admin");
    if (!opts[OPT_PASSWORD_STDIN].value)
        return vex_cli_fail(VEX_EXIT_USAGE, "user add needs --password-stdin (passwords are "
                                            "never taken from the command line)");
    char *buf = NULL;
    const char **ids = NULL;
    size_t nids = 0;
    int rc;
    if (!admin && (rc = split_customers(opts[OPT_CUSTOMERS].value, &buf, &ids, &nids)) != 0)
        return rc;
    char *pwd = NULL;
    size_t cap = 0;
    if ((rc = read_password(&pwd, &cap)) == 0) {
        rc = vex_accounts_user_add(a, name, pwd, strlen(pwd), admin, ids, nids);
        OPENSSL_clear_free(pwd, cap);
        if (rc == VEX_EEXIST)
            rc = vex_cli_fail(VEX_EXIT_FAIL, "user '%s' already exists", name);
        else if (rc)
            rc = fail_rc(rc, "add the user", name);
    }
    /* Allowed (a customer may be added later), but usually a typo. */
    for (size_t i = 0; rc == 0 && i < nids; i++)
        if (vex_accounts_customer_get(a, ids[i], NULL) == VEX_ENOENT)
            fprintf(stderr, "vex: note: customer '%s' does not exist yet\n", ids[i]);
    free(buf);
    free(ids);
    return rc;
}

static int print_user(const struct vex_user_info *u, void *ctx)
{
    json_t *arr = ctx;
    if (arr)
        return json_array_append_new(arr, json_pack("{s:s,s:b,s:s,s:I}", "name", u->name, "admin",
                                                    u->admin, "customers", u->customers, "api_keys",
                                                    (json_int_t)u->active_apikeys))
                   ? VEX_ENOMEM
                   : 0;
    printf("%s\t%s\t%lld\n", u->name, u->admin ? "admin" : u->customers,
           (long long)u->active_apikeys);
    return 0;
}

static int cmd_apikey(struct vex_accounts *a, const char **pos, int npos)
{
    int rc;
    /* "apikey NAME" makes a key; with a second word, the first is a verb
     * (so a user may well be called "list"). */
    if (npos == 2) {
        char *key = NULL;
        if ((rc = vex_accounts_apikey_add(a, pos[1], &key)) != 0)
            return fail_rc(rc, "make an API key", pos[1]);
        int ok = printf("%s\n", key) > 0 && fflush(stdout) == 0;
        OPENSSL_clear_free(key, strlen(key));
        return ok ? VEX_EXIT_OK : vex_cli_fail(VEX_EXIT_FAIL, "cannot write to stdout");
    }
    if (npos == 3 && !strcmp(pos[1], "revoke")) {
        rc = vex_accounts_apikey_revoke(a, pos[2]);
        if (rc == VEX_ENOENT)
            return vex_cli_fail(VEX_EXIT_FAIL, "no active API key matches");
        if (rc == VEX_EINVAL)
            return vex_cli_fail(VEX_EXIT_FAIL, "several keys have that key id: give the key");
        return rc ? fail_rc(rc, "revoke the key", "") : VEX_EXIT_OK;
    }
    if (npos == 3 && !strcmp(pos[1], "list")) {
        rc = vex_accounts_apikey_list(a, pos[2], vex_cli_print_key_info, NULL);
        return rc ? fail_rc(rc, "list the keys", pos[2]) : VEX_EXIT_OK;
    }
    return vex_cli_fail(VEX_EXIT_USAGE, "user apikey: expected NAME, revoke KEY or list NAME");
}

static int run(struct vex_accounts *a, const char **pos, int npos, const struct vex_cli_opt *opts)
{
    const char *verb = pos[0];
    int rc;
    if (!strcmp(verb, "add") && npos == 2)
        return cmd_add(a, pos[1], opts);
    if (!strcmp(verb, "list") && npos == 1) {
        json_t *arr = opts[OPT_JSON].value ? json_array() : NULL;
        rc = vex_accounts_user_list(a, print_user, arr);
        if (rc == 0 && arr) {
            char *s = json_dumps(arr, JSON_COMPACT);
            rc = s ? 0 : VEX_ENOMEM;
            if (s)
                printf("%s\n", s);
            free(s);
        }
        json_decref(arr);
        return rc ? fail_rc(rc, "list users", "") : VEX_EXIT_OK;
    }
    if (!strcmp(verb, "passwd") && npos == 2) {
        char *pwd = NULL;
        size_t cap = 0;
        if (!opts[OPT_PASSWORD_STDIN].value)
            return vex_cli_fail(VEX_EXIT_USAGE, "user passwd needs --password-stdin");
        if ((rc = read_password(&pwd, &cap)) != 0)
            return rc;
        rc = vex_accounts_user_passwd(a, pos[1], pwd, strlen(pwd));
        OPENSSL_clear_free(pwd, cap);
        return rc ? fail_rc(rc, "change the password", pos[1]) : VEX_EXIT_OK;
    }
    if (!strcmp(verb, "remove") && npos == 2) {
        rc = vex_accounts_user_remove(a, pos[1]);
        return rc ? fail_rc(rc, "remove the user", pos[1]) : VEX_EXIT_OK;
    }
    if (!strcmp(verb, "apikey"))
        return cmd_apikey(a, pos, npos);
    return vex_cli_fail(VEX_EXIT_USAGE,
                        "user: unknown or incomplete command (see vex user --help)");
}

/* check_options refuses options that do not go with the command, so that a
 * mistyped command line is not half obeyed. */
static int check_options(const char *verb, const struct vex_cli_opt *opts)
{
    int add = !strcmp(verb, "add"), passwd = !strcmp(verb, "passwd");
    if (opts[OPT_PASSWORD_STDIN].value && !add && !passwd)
        return vex_cli_fail(VEX_EXIT_USAGE, "--password-stdin only goes with add and passwd");
    if ((opts[OPT_CUSTOMERS].value || opts[OPT_ADMIN].value) && !add)
        return vex_cli_fail(VEX_EXIT_USAGE, "--customers and --admin only go with add");
    if (opts[OPT_JSON].value && strcmp(verb, "list") != 0)
        return vex_cli_fail(VEX_EXIT_USAGE, "--json only goes with list");
    return 0;
}

int vex_cmd_user(int argc, char **argv, const char *data_dir)
{
    struct vex_cli_opt opts[OPT_COUNT] = {
        [OPT_PASSWORD_STDIN] = {"password-stdin", 0, NULL},
        [OPT_CUSTOMERS] = {"customers", 1, NULL},
        [OPT_ADMIN] = {"admin", 0, NULL},
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
        return vex_cli_fail(VEX_EXIT_USAGE, "user: missing command (see vex user --help)");
    if ((rc = check_options(pos[0], opts)) != 0)
        return rc;
    if ((!strcmp(pos[0], "add") || !strcmp(pos[0], "passwd")) && npos == 2 &&
        !vex_accounts_valid_user_name(pos[1]))
        return vex_cli_fail(VEX_EXIT_USAGE,
                            "invalid user name '%s': use 1 to 128 characters of "
                            "A-Z a-z 0-9 . _ @ + -",
                            pos[1]);

    struct vex_accounts *a;
    if ((rc = vex_accounts_open(data_dir, &a)) != 0)
        return vex_cli_fail(VEX_EXIT_FAIL, "cannot open the accounts in %s: %s", data_dir,
                            vex_strerror(rc));
    rc = run(a, pos, npos, opts);
    vex_accounts_close(a);
    return rc;
}
