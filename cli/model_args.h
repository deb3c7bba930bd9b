/* model_args.h — shared parsing for subcommands that load and run a model. */
#ifndef G2R_CLI_MODEL_ARGS_H
#define G2R_CLI_MODEL_ARGS_H

#include "cli/cli.h"

typedef struct {
    const char *path; /* -m */
    g2r_options opt;  /* -t, --heads, --kernels, --device */
} cli_model_opts;

#define CLI_MODEL_HELP                                                                              \
    "  -m, --model FILE   GPT-2 safetensors file (required)\n"                                       \
    "  -t, --threads N    threads (default 0: all cores)\n"                                          \
    "  --kernels K        auto|scalar|avx2|avx512|neon (default auto)\n"                             \
    "  --heads H          number of attention heads, when the file does not say\n"                    \
    "  --device D         cpu|cuda (default cpu; cuda needs a build with make CUDA=1)\n"       \
    "  --prefault         map the whole model into memory at load (faster first token)\n"

/* If argv[*i] is one of the shared options, consumes it (and its value) and
 * returns 1; 0 if it is not one; -1 after printing a usage error. */
int cli_model_arg(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o);

/* Parses "464,2068,7586" into a malloc'd array; -1 after a usage error. */
int cli_ids(const char *cmd, const char *flag, const char *val, int **ids, int *n);

#endif
