/* cli.h - the subcommands of the `vex` binary and what they share.
 *
 * Each subcommand lives in cmd_<name>.c and has the signature of
 * vex_cmd_fn: argv[0] is the subcommand's name. Exit status: 0 success,
 * 1 failure, 2 bad usage, with a one-line message on stderr (SPEC 7). */
#ifndef VEX_CLI_CLI_H
#define VEX_CLI_CLI_H

#include <stdint.h>

enum { VEX_EXIT_OK = 0, VEX_EXIT_FAIL = 1, VEX_EXIT_USAGE = 2 };

typedef int (*vex_cmd_fn)(int argc, char **argv, const char *data_dir);

/* Subcommands. `data_dir` is the value of --data (taken out of argv by main,
 * wherever it stood after the subcommand name), default "./vex-data". */
int vex_cmd_serve(int argc, char **argv, const char *data_dir);
int vex_cmd_load(int argc, char **argv, const char *data_dir);
int vex_cmd_query(int argc, char **argv, const char *data_dir);
int vex_cmd_customer(int argc, char **argv, const char *data_dir);
int vex_cmd_user(int argc, char **argv, const char *data_dir);
int vex_cmd_gen(int argc, char **argv, const char *data_dir);

/* vex_cli_fail prints "vex: <message>" on stderr and returns `status`. */
int vex_cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An option of vex_cli_parse_args: `value` is NULL when not given, "" for a
 * flag that was given, else the option's value. */
struct vex_cli_opt {
    const char *name;
    int takes_value;
    const char *value;
};

#define VEX_CLI_MAX_POS 4

/* vex_cli_parse_args separates options (anywhere, "--name VALUE" or
 * "--name=VALUE") from at most VEX_CLI_MAX_POS positional arguments, from
 * argv[1] on; "--" ends the options, so that an id starting with "--" can be
 * named. Prints the error and returns VEX_EXIT_USAGE on a mistake, -1 for
 * --help, else 0. */
int vex_cli_parse_args(int argc, char **argv, struct vex_cli_opt *opts, size_t nopts,
                       const char **pos, int *npos);

struct vex_key_info;

/* vex_cli_print_key_info prints one key (id, owner, state, creation time)
 * as a tab-separated line: the listing of `customer key list` and
 * `user apikey list`. */
int vex_cli_print_key_info(const struct vex_key_info *k, void *ctx);

/* vex_cli_parse_i64 parses a whole decimal integer; 0 or VEX_EINVAL. */
int vex_cli_parse_i64(const char *s, int64_t *out);

#endif
