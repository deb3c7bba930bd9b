/* cmd_convert.c — `gpt2rank convert`: rewrite a model's weights in another dtype. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "weights/gpt2_convert.h"

static void help(void) {
    printf("usage: gpt2rank convert -m IN -o OUT --dtype f32|f16|bf16|q8 [--group G] [--q8-layout cols|rows]\n"
           "                        [--heads H]\n"
           "Rewrites a GPT-2 safetensors file (F32, F16, BF16 or q8) with its weight matrices and wte\n"
           "in the chosen dtype; every other tensor is written as f32.  q8: symmetric int8 with one\n"
           "f32 scale per G values (default 64, must divide n_embd) along the reduction dimension;\n"
           "layer matrices stored [out, in] (cols, the default: faster batch-1 decode) or [in, out]\n"
           "as Hugging Face stores them (rows, older gpt2rank's layout); both give the same outputs.\n"
           "--heads: n_head for files that do not record it.  OUT appears only when complete.\n");
}

int cmd_convert(int argc, char **argv) {
    const char *cmd = "convert", *in = NULL, *out = NULL, *dt = NULL, *layout = "cols";
    long group = 64, heads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            help();
            return EXIT_OK;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(in = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--dtype")) {
            if (!(dt = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--group")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_int(cmd, a, v, 1, 65536, &group)) return EXIT_USAGE;
        } else if (!strcmp(a, "--q8-layout")) {
            if (!(layout = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
            if (strcmp(layout, "cols") && strcmp(layout, "rows"))
                return cli_usage_error(cmd, "--q8-layout expects cols or rows, got '%s'", layout);
        } else if (!strcmp(a, "--heads")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_int(cmd, a, v, 1, 65536, &heads)) return EXIT_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!in || !out || !dt) return cli_usage_error(cmd, "-m IN, -o OUT and --dtype are required");
    g2r_dtype dtype;
    if (!strcasecmp(dt, "f32")) dtype = G2R_DT_F32;
    else if (!strcasecmp(dt, "f16")) dtype = G2R_DT_F16;
    else if (!strcasecmp(dt, "bf16")) dtype = G2R_DT_BF16;
    else if (!strcasecmp(dt, "q8")) dtype = G2R_DT_Q8;
    else return cli_usage_error(cmd, "--dtype expects f32, f16, bf16 or q8, got '%s'", dt);

    g2r_error err = {0};
    if (g2r_gpt2_convert(in, out, dtype, (int)group, strcmp(layout, "rows") ? G2R_Q8_GROUP_COLS : G2R_Q8_GROUP_ROWS,
                         (int)heads, &err)) return cli_error(&err);
    return EXIT_OK;
}
