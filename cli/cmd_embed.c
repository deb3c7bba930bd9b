/* cmd_embed.c — `gpt2rank embed`: texts to pooled, normalised GPT-2 embeddings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/model_args.h"

static const char *usage_text =
    "usage: gpt2rank embed -m MODEL [--pool mean|last] [--index ITEMS.g2ri] [-o OUT.f32] [-t N] TEXT...\n"
    "  Embeds each TEXT (or each line of stdin when none is given): pooled, L2-normalised, and\n"
    "  post-processed like ITEMS.g2ri's items when --index is given (its pooling too).  Prints one\n"
    "  JSON array per text, or with -o writes raw little-endian float32 rows (topk's format).\n";


static int read_stdin_lines(char ***lines, int *n) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int cap_n = 0;
    *lines = NULL;
    *n = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (*n == cap_n) {
            cap_n = cap_n ? 2 * cap_n : 16;
            char **p = realloc(*lines, sizeof(char *) * (size_t)cap_n);
            if (!p) break;
            *lines = p;
        }
        (*lines)[(*n)++] = strdup(line);
    }
    free(line);
    return 0;
}

int cmd_embed(int argc, char **argv) {
    cli_model_opts mo = {0};
    const char *index = NULL, *out = NULL, *v;
    g2r_pooling pool = G2R_POOL_MEAN;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int got = cli_model_arg("embed", argc, argv, &i, &mo);
        if (got < 0) return EXIT_USAGE;
        if (got) continue;
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            fputs(CLI_MODEL_HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--index")) {
            if (!(index = cli_value("embed", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "-o")) {
            if (!(out = cli_value("embed", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--pool")) {
            if (!(v = cli_value("embed", argc, argv, &i)) || cli_pooling("embed", v, &pool)) return EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("embed", "unknown option '%s'", a);
        } else {
            first_text = i;
            break;
        }
    }
    if (!mo.path) return cli_usage_error("embed", "-m MODEL is required");
    char **owned = NULL, **texts = argv + first_text;
    int n = argc - first_text;
    if (n == 0) {
        read_stdin_lines(&owned, &n);
        texts = owned;
    }
    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_tokenizer *tok = NULL;
    g2r_index *ix = NULL;
    float *vec = NULL;
    size_t *lens = malloc(sizeof(size_t) * (size_t)(n + 1));
    int rc = EXIT_OK;
    if (!lens) goto done;
    for (int i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    if (g2r_model_load(mo.path, &mo.opt, &m, &err) || g2r_tokenizer_load(NULL, &tok, &err)) goto fail;
    g2r_model_info mi;
    g2r_model_info_get(m, &mi);
    if (index) {
        g2r_index_options io = {1, mi.fingerprint};
        g2r_index_info info;
        if (g2r_index_open(index, &io, &ix, &err)) goto fail;
        g2r_index_info_get(ix, &info);
        pool = info.pooling;
    }
    int dim = mi.cfg.n_embd;
    vec = malloc(sizeof(float) * (size_t)(n + 1) * (size_t)dim);
    if (!vec) goto done;
    if (g2r_embed_texts(m, tok, pool, ix, n, (const char *const *)texts, lens, vec, &err)) goto fail;
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(vec, sizeof(float) * (size_t)dim, (size_t)n, f) != (size_t)n || fclose(f)) {
            fprintf(stderr, "gpt2rank: %s: cannot write\n", out);
            rc = EXIT_INPUT;
        }
    } else {
        for (int i = 0; i < n; i++) {
            for (int d = 0; d < dim; d++) printf("%c%.6g", d ? ',' : '[', vec[(size_t)i * dim + d]);
            fputs("]\n", stdout);
        }
    }
    goto done;
fail:
    rc = cli_error(&err);
done:
    free(vec);
    free(lens);
    for (int i = 0; owned && i < n; i++) free(owned[i]);
    free(owned);
    g2r_index_close(ix);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
    return rc;
}
