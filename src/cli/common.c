/* common.c - helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "auth/accounts.h"
#include "core/err.h"

int vex_cli_fail(int status, const char *fmt, ...)
{
    va_list ap;
    fputs("vex: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

int vex_cli_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return VEX_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return VEX_EINVAL;
    *out = v;
    return 0;
}

int vex_cli_parse_args(int argc, char **argv, struct vex_cli_opt *opts, size_t nopts,
                       const char **pos, int *npos)
{
    int only_pos = 0;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || strncmp(a, "--", 2) != 0) {
            if (*npos >= VEX_CLI_MAX_POS)
                return vex_cli_fail(VEX_EXIT_USAGE, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!strcmp(a, "--help"))
            return -1;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        struct vex_cli_opt *o = NULL;
        for (size_t k = 0; k < nopts; k++)
            if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, a + 2, nlen))
                o = &opts[k];
        if (!o)
            return vex_cli_fail(VEX_EXIT_USAGE, "unknown option '%s'", a);
        if (o->value)
            return vex_cli_fail(VEX_EXIT_USAGE, "--%s given twice", o->name);
        if (!o->takes_value) {
            if (eq)
                return vex_cli_fail(VEX_EXIT_USAGE, "--%s takes no value", o->name);
            o->value = "";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            return vex_cli_fail(VEX_EXIT_USAGE, "--%s needs a value", o->name);
        }
    }
    return 0;
}

int vex_cli_print_key_info(const struct vex_key_info *k, void *ctx)
{
    (void)ctx;
    char when[32];
    time_t t = (time_t)k->created;
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    printf("%s\t%s\t%s\t%s\n", k->key_id, k->owner, k->revoked ? "revoked" : "active", when);
    return 0;
}
