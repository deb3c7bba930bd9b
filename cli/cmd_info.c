/* cmd_info.c — `gpt2rank info`: what a model file holds and how it will run. */
#include <inttypes.h>
#include <stdio.h>

#include "cli/model_args.h"

static void help(void) {
    printf("usage: gpt2rank info -m MODEL [-t N] [--kernels K] [--heads H]\n"
           "Loads MODEL and prints its configuration, dtype, parameter count, bytes mapped\n"
           "and owned, the kernels and threads in use, its fingerprint, and the share of the\n"
           "file the page cache holds in 2 MB pages (see gpt2rank cache).\n\n" CLI_MODEL_HELP);
}

int cmd_info(int argc, char **argv) {
    const char *cmd = "info";
    cli_model_opts mo = {0};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help();
            return EXIT_OK;
        }
        int r = cli_model_arg(cmd, argc, argv, &i, &mo);
        if (r < 0) return EXIT_USAGE;
        if (r == 0) return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
    }
    if (!mo.path) return cli_usage_error(cmd, "-m MODEL is required");
    g2r_error err = {0};
    g2r_model *m;
    if (g2r_model_load(mo.path, &mo.opt, &m, &err)) return cli_error(&err);
    g2r_model_info in;
    g2r_model_info_get(m, &in);
    printf("model        %s\n", mo.path);
    printf("n_layer      %d\n", in.cfg.n_layer);
    printf("n_head       %d\n", in.cfg.n_head);
    printf("n_embd       %d\n", in.cfg.n_embd);
    printf("n_vocab      %d\n", in.cfg.n_vocab);
    printf("n_ctx        %d\n", in.cfg.n_ctx);
    printf("dtype        %s\n", in.dtype);
    printf("params       %zu (%.1fM)\n", in.n_params, (double)in.n_params / 1e6);
    printf("bytes_mapped %zu\n", in.bytes_mapped);
    printf("bytes_owned  %zu\n", in.bytes_owned);
    printf("kernels      %s\n", in.kernels);
    printf("threads      %d\n", in.n_threads);
    printf("fingerprint  %016" PRIx64 "\n", in.fingerprint);
    g2r_model_free(m);
    double share;
    if (g2r_cache_huge(mo.path, 0, &share, NULL, &err)) return cli_error(&err);
    printf("2mb_pages    %.0f%%%s\n", 100 * share, share < 0.99 ? " (gpt2rank cache re-reads the file into 2 MB pages)" : "");
    return EXIT_OK;
}
