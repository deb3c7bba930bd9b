/* cli.h — the gpt2rank command line: argument parsing and printing only.
 *
 * Each subcommand lives in cli/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`
 * (argv[0] is the subcommand) and is listed in main.c's table.
 * Exit codes: 0 success, 1 bad input (one line on stderr), 2 usage error. */
#ifndef G2R_CLI_H
#define G2R_CLI_H

#include <stdint.h>

#include "gpt2rank.h"

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2 };

/* Prints "gpt2rank CMD: message" on stderr and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "gpt2rank: err->msg" on stderr and returns EXIT_INPUT. */
int cli_error(const g2r_error *err);

/* Strict number parsing of a flag's value; on failure print a usage error and return -1. */
int cli_int(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out);
int cli_u64(const char *cmd, const char *flag, const char *val, uint64_t *out);
int cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out);
/* The value after argv[*i] (advancing *i), or NULL after printing a usage error. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* "--kernels" value to a kind; -1 (after a usage error) if unknown. */
int cli_kernels(const char *cmd, const char *val, g2r_kernels_kind *out);
/* Is argv[i] -h or --help? */
int cli_is_help(const char *arg);

int cmd_version(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_topk(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_rank(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* ranker options shared by rank and eval (cmd_rank.c, cmd_index.c) */
int cli_duration(const char *cmd, const char *flag, const char *val, double *out_s);
int cli_profile_option(const char *cmd, int argc, char **argv, int *i, g2r_profile_params *pp, int *handled);
int cli_pooling(const char *cmd, const char *val, g2r_pooling *out);
int cmd_bench(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif
