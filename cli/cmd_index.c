/* cmd_index.c — `gpt2rank index`: embed a JSON Lines catalog into a .g2ri index. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/model_args.h"

static const char *usage_text =
    "usage: gpt2rank index -m MODEL -i ITEMS.jsonl -o ITEMS.g2ri [--dtype f32|f16|q8] [-t N]\n"
    "                      [--center] [--drop-pc D] [--pool mean|last] [--append] [--max-line BYTES]\n"
    "  Items are JSON Lines {\"id\": \"...\", \"text\": \"...\", ...}; other fields are kept as metadata.\n"
    "  --center / --drop-pc D: subtract the catalog mean / remove its top D principal directions\n"
    "  (fitted here, stored in the index, applied to queries too).  --append: keep the items of\n"
    "  the existing ITEMS.g2ri (and its dtype, pooling, post-processing), re-embed only new or\n"
    "  changed texts.  The file is written atomically.  Default: f32, mean pooling.\n";

int cli_pooling(const char *cmd, const char *val, g2r_pooling *out) {
    if (!strcmp(val, "mean")) *out = G2R_POOL_MEAN;
    else if (!strcmp(val, "last")) *out = G2R_POOL_LAST;
    else return cli_usage_error(cmd, "--pool expects mean|last, got '%s'", val), -1;
    return 0;
}

int cmd_index(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *v;
    long drop = 0, max_line = 0;
    cli_model_opts mo = {0};
    g2r_build_options o = {G2R_VEC_F32, G2R_POOL_MEAN, 0, 0, 0, isatty(2) ? 2 : 1, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int got = cli_model_arg("index", argc, argv, &i, &mo);
        if (got < 0) return EXIT_USAGE;
        if (got) continue;
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            fputs(CLI_MODEL_HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "-i")) {
            if (!(in = cli_value("index", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "-o")) {
            if (!(out = cli_value("index", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value("index", argc, argv, &i))) return EXIT_USAGE;
            if (!strcmp(v, "f32")) o.dtype = G2R_VEC_F32;
            else if (!strcmp(v, "f16")) o.dtype = G2R_VEC_F16;
            else if (!strcmp(v, "q8")) o.dtype = G2R_VEC_Q8;
            else return cli_usage_error("index", "--dtype expects f32|f16|q8, got '%s'", v);
        } else if (!strcmp(a, "--pool")) {
            if (!(v = cli_value("index", argc, argv, &i)) || cli_pooling("index", v, &o.pooling)) return EXIT_USAGE;
        } else if (!strcmp(a, "--drop-pc")) {
            if (!(v = cli_value("index", argc, argv, &i)) || cli_int("index", a, v, 0, 4096, &drop)) return EXIT_USAGE;
        } else if (!strcmp(a, "--max-line")) {
            if (!(v = cli_value("index", argc, argv, &i)) || cli_int("index", a, v, 16, 1L << 30, &max_line))
                return EXIT_USAGE;
        } else if (!strcmp(a, "--center")) {
            o.center = 1;
        } else if (!strcmp(a, "--append")) {
            o.append = 1;
        } else {
            return cli_usage_error("index", "unknown option '%s'", a);
        }
    }
    if (!mo.path || !in || !out) return cli_usage_error("index", "-m, -i and -o are required");
    o.drop_pc = (int)drop;
    o.max_line = (size_t)max_line;

    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_tokenizer *tok = NULL;
    int rc = EXIT_OK;
    if (g2r_model_load(mo.path, &mo.opt, &m, &err) || g2r_tokenizer_load(NULL, &tok, &err) ||
        g2r_index_build(m, tok, in, out, &o, &err))
        rc = cli_error(&err);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
    return rc;
}
