/* main.c - the `vex` binary: finds the subcommand and hands it its argv. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;
    vex_cmd_fn fn;
    const char *usage;
};

static const struct command commands[] = {
    {"serve", vex_cmd_serve, "serve [--listen HOST:PORT] [--config FILE]"},
    {"load", vex_cmd_load, "load --customer ID FILE.ndjson|-"},
    {"query", vex_cmd_query, "query CUSTOMER 'planlevel=..&period=..&metrics=..'"},
    {"customer", vex_cmd_customer, "customer add|list|set-plan|remove|key ..."},
    {"user", vex_cmd_user, "user add|list|passwd|remove|apikey ..."},
    {"gen", vex_cmd_gen, "gen --sessions N [--days D] [--seed S] [--end EPOCH]"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vex <command> [--data DIR] ...\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  vex %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return VEX_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return VEX_EXIT_OK;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "vex: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return VEX_EXIT_USAGE;
    }
    /* --data DIR (or --data=DIR) may stand anywhere after the subcommand;
     * take it out so that subcommands only see their own arguments. */
    const char *data_dir = "./vex-data";
    int n = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return VEX_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data")) {
            if (i + 1 >= argc) {
                free(args);
                return vex_cli_fail(VEX_EXIT_USAGE, "--data needs a directory");
            }
            data_dir = argv[++i];
        } else if (!strncmp(argv[i], "--data=", 7)) {
            data_dir = argv[i] + 7;
        } else {
            args[n++] = argv[i];
        }
    }
    args[n] = NULL;
    int rc = cmd->fn(n, args, data_dir);
    free(args);
    return rc;
}
