/* common.c - helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
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
