/* cmd_gen.c - `vex gen`: prints a realistic workload as NDJSON on stdout.
 *
 * The generator lives in src/gen/; this file parses the options and moves the
 * generator's output to stdout in large writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/err.h"
#include "gen/gen.h"

#define USAGE "usage: vex gen --sessions N [--days D] [--seed S] [--end EPOCH] [--customer ID]"
/* Output is handed to write(2) in chunks of this size. */
#define OUT_CAP (1u << 20)

/* write_all writes the whole buffer, retrying short writes and interruptions. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* option_value returns the value of option `name` at argv[*i], given as "--name V" or
 * "--name=V" (advancing *i past V); NULL when argv[*i] is not that option. `*missing`
 * is set when the option is there without a value. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n))
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n])
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int vex_cmd_gen(int argc, char **argv, const char *data_dir)
{
    (void)data_dir; /* gen writes to stdout only */
    struct vex_gen_opts o;
    vex_gen_opts_default(&o);
    int have_sessions = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            puts(USAGE);
            return VEX_EXIT_OK;
        }
        static const char *const names[] = {"--sessions", "--days", "--seed", "--end",
                                            "--customer"};
        const char *v = NULL;
        int which = -1, missing = 0;
        for (int k = 0; k < 5 && which < 0; k++) {
            v = option_value(argc, argv, &i, names[k], &missing);
            if (v || missing)
                which = k;
        }
        if (which < 0)
            return vex_cli_fail(VEX_EXIT_USAGE, "gen: unknown argument '%s' (%s)", a, USAGE);
        if (missing)
            return vex_cli_fail(VEX_EXIT_USAGE, "gen: %s needs a value", names[which]);
        if (which == 4) {
            o.customer = v;
            continue;
        }
        int64_t x;
        if (vex_cli_parse_i64(v, &x) < 0 || x < 0)
            return vex_cli_fail(VEX_EXIT_USAGE, "gen: %s needs a non-negative integer, not '%s'",
                                names[which], v);
        switch (which) {
        case 0:
            o.sessions = (uint64_t)x;
            have_sessions = 1;
            break;
        case 1:
            o.days = x > VEX_GEN_DAYS_MAX ? 0 : (uint32_t)x; /* 0 is refused below */
            break;
        case 2:
            o.seed = (uint64_t)x;
            break;
        default:
            o.end = x;
            break;
        }
    }
    if (!have_sessions)
        return vex_cli_fail(VEX_EXIT_USAGE, "gen: --sessions N is required (%s)", USAGE);
    const char *why = vex_gen_check(&o);
    if (why)
        return vex_cli_fail(VEX_EXIT_USAGE, "gen: %s", why);

    struct vex_gen *g = NULL;
    char *buf = malloc(OUT_CAP);
    int rc = buf ? vex_gen_create(&o, &g) : VEX_ENOMEM;
    if (rc < 0) {
        free(buf);
        return vex_cli_fail(VEX_EXIT_FAIL, "gen: %s", vex_strerror(rc));
    }
    int status = VEX_EXIT_OK;
    for (;;) {
        size_t len;
        rc = vex_gen_next(g, buf, OUT_CAP, 0, &len, NULL);
        if (rc < 0) {
            status = vex_cli_fail(VEX_EXIT_FAIL, "gen: %s", vex_strerror(rc));
            break;
        }
        if (!len)
            break;
        if (write_all(STDOUT_FILENO, buf, len) < 0) {
            status = vex_cli_fail(VEX_EXIT_FAIL, "gen: writing stdout: %s", strerror(errno));
            break;
        }
    }
    vex_gen_destroy(g);
    free(buf);
    return status;
}
