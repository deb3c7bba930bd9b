/* cmd_mkmodel.c — `gpt2rank mkmodel`: write a GPT-2 file of random weights. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "weights/gpt2_random.h"

static void help(void) {
    printf("usage: gpt2rank mkmodel -o FILE [--layers L] [--heads H] [--embd C] [--vocab V] [--ctx N]\n"
           "                        [--dtype F32|F16|BF16] [--seed S]\n"
           "Writes a GPT-2 safetensors file of deterministic random weights (Hugging Face names),\n"
           "for tests and benchmarks.  Defaults: the 124M shape (12 layers, 12 heads, embd 768,\n"
           "vocab 50257, ctx 1024), F32, seed 1.  Without --heads: GPT-2's heads for that embd,\n"
           "else embd/64.  Same arguments, same bytes.\n");
}

/* The dtype named by s (any case), or -1. */
static int parse_dtype(const char *s) {
    if (!strcasecmp(s, "f32")) return G2R_DT_F32;
    if (!strcasecmp(s, "f16")) return G2R_DT_F16;
    if (!strcasecmp(s, "bf16")) return G2R_DT_BF16;
    return -1;
}

static int default_heads(int embd) {
    static const int table[][2] = {{768, 12}, {1024, 16}, {1280, 20}, {1600, 25}};
    for (int i = 0; i < 4; i++)
        if (table[i][0] == embd) return table[i][1];
    return embd % 64 == 0 ? embd / 64 : 0;
}

int cmd_mkmodel(int argc, char **argv) {
    const char *cmd = "mkmodel", *out = NULL;
    long layers = 12, heads = 0, embd = 768, vocab = 50257, ctx = 1024;
    uint64_t seed = 1;
    g2r_dtype dtype = G2R_DT_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            help();
            return EXIT_OK;
        }
        long *target = !strcmp(a, "--layers") ? &layers : !strcmp(a, "--heads") ? &heads : !strcmp(a, "--embd") ? &embd
                       : !strcmp(a, "--vocab") ? &vocab : !strcmp(a, "--ctx") ? &ctx : NULL;
        long hi = target == &layers ? 1024 : target == &embd ? 65536 : target == &vocab ? 1 << 24 : 1 << 20;
        if (target) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_int(cmd, a, v, 1, hi, target)) return EXIT_USAGE;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
            int d = parse_dtype(v);
            if (d < 0) return cli_usage_error(cmd, "--dtype expects F32, F16 or BF16, got '%s'", v);
            dtype = (g2r_dtype)d;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_u64(cmd, a, v, &seed)) return EXIT_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!out) return cli_usage_error(cmd, "-o FILE is required");
    if (!heads) heads = default_heads((int)embd);
    if (!heads) return cli_usage_error(cmd, "--heads is needed for --embd %ld", embd);
    if (embd % heads) return cli_usage_error(cmd, "--heads %ld does not divide --embd %ld", heads, embd);

    g2r_config cfg = {(int)layers, (int)heads, (int)embd, (int)vocab, (int)ctx};
    g2r_error err = {0};
    if (g2r_gpt2_write_random(out, &cfg, dtype, seed, &err)) return cli_error(&err);
    return EXIT_OK;
}
