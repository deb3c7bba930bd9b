/* cmd_forward.c — `gpt2rank forward`: one batched forward pass, raw float32 out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/model_args.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"

static void help(void) {
    printf("usage: gpt2rank forward -m MODEL --ids LIST [--ids LIST ...] [--dump logits|hidden|embed]\n"
           "                        [--pool mean|last] [-o FILE] [--timing] [-t N] [--kernels K] [--heads H]\n"
           "Runs the sequences given by --ids (comma-separated token ids; repeat for several\n"
           "sequences, all run in one batched forward) and writes raw little-endian float32,\n"
           "sequence after sequence:\n"
           "  logits  [T x n_vocab] per sequence (default)\n"
           "  hidden  [T x n_embd]  the output of ln_f\n"
           "  embed   [n_embd]      ln_f outputs pooled over positions (--pool, default mean),\n"
           "                        L2-normalised\n"
           "  -o FILE   write to FILE (atomically: no partial file on error); default stdout\n"
           "  --timing  print the forward time on stderr\n" CLI_MODEL_HELP);
}

/* Writes n floats as little-endian bytes. */
static g2r_status write_floats(g2r_atomic *a, FILE *f, float *x, size_t n, g2r_error *err) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&x[i], &u, 4);
    }
#endif
    if (a) return g2r_atomic_write(a, x, n * sizeof *x, err);
    if (fwrite(x, sizeof *x, n, f) != n || fflush(f))
        return g2r_fail(err, G2R_EIO, "forward: writing to stdout failed");
    return G2R_OK;
}

typedef struct {
    int n, cap;
    int **ids;
    int *lens;
} id_lists;

static void free_lists(id_lists *l) {
    for (int i = 0; i < l->n; i++) free(l->ids[i]);
    free(l->ids);
    free(l->lens);
}

static int add_list(const char *cmd, const char *flag, const char *val, id_lists *l) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        int **ids = realloc(l->ids, (size_t)cap * sizeof *ids);
        if (ids) l->ids = ids;
        int *lens = realloc(l->lens, (size_t)cap * sizeof *lens);
        if (lens) l->lens = lens;
        if (!ids || !lens) return cli_usage_error(cmd, "out of memory"), -1;
        l->cap = cap;
    }
    if (cli_ids(cmd, flag, val, &l->ids[l->n], &l->lens[l->n])) return -1;
    l->n++;
    return 0;
}

/* Runs the model and fills *out / *n_out with the requested floats. */
static g2r_status run(g2r_model *m, const id_lists *l, const char *dump, g2r_pooling pool, float **out,
                      size_t *n_out, g2r_error *err) {
    g2r_config cfg = g2r_model_config(m);
    size_t total = 0;
    int max_len = 0;
    for (int i = 0; i < l->n; i++) {
        total += (size_t)l->lens[i];
        if (l->lens[i] > max_len) max_len = l->lens[i];
    }
    if (!strcmp(dump, "embed")) {
        *n_out = (size_t)l->n * cfg.n_embd;
        if (!(*out = malloc(*n_out * sizeof **out))) return g2r_fail(err, G2R_ENOMEM, "forward: out of memory");
        return g2r_embed(m, l->n, (const int *const *)l->ids, l->lens, pool, *out, err);
    }
    int hidden = !strcmp(dump, "hidden");
    *n_out = total * (size_t)(hidden ? cfg.n_embd : cfg.n_vocab);
    if (!(*out = malloc(*n_out * sizeof **out))) return g2r_fail(err, G2R_ENOMEM, "forward: out of memory");
    g2r_session *s;
    /* longer than the context: let g2r_forward say so */
    g2r_status st = g2r_session_new(m, l->n, max_len < cfg.n_ctx ? max_len : cfg.n_ctx, &s, err);
    if (st != G2R_OK) return st;
    st = g2r_forward(s, l->n, (const int *const *)l->ids, l->lens, hidden ? G2R_OUT_HIDDEN : G2R_OUT_LOGITS, *out,
                     err);
    g2r_session_free(s);
    return st;
}

int cmd_forward(int argc, char **argv) {
    const char *cmd = "forward", *dump = "logits", *path = NULL, *v;
    cli_model_opts mo = {0};
    id_lists l = {0};
    g2r_pooling pool = G2R_POOL_MEAN;
    int timing = 0, rc = EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (cli_is_help(a)) {
            help();
            free_lists(&l);
            return EXIT_OK;
        } else if ((r = cli_model_arg(cmd, argc, argv, &i, &mo)) != 0) {
            if (r < 0) goto out;
        } else if (!strcmp(a, "--ids")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || add_list(cmd, a, v, &l)) goto out;
        } else if (!strcmp(a, "--dump")) {
            if (!(dump = cli_value(cmd, argc, argv, &i))) goto out;
            if (strcmp(dump, "logits") && strcmp(dump, "hidden") && strcmp(dump, "embed")) {
                cli_usage_error(cmd, "--dump expects logits, hidden or embed, got '%s'", dump);
                goto out;
            }
        } else if (!strcmp(a, "--pool")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) goto out;
            if (strcmp(v, "mean") && strcmp(v, "last")) {
                cli_usage_error(cmd, "--pool expects mean or last, got '%s'", v);
                goto out;
            }
            pool = strcmp(v, "mean") ? G2R_POOL_LAST : G2R_POOL_MEAN;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(path = cli_value(cmd, argc, argv, &i))) goto out;
        } else if (!strcmp(a, "--timing")) {
            timing = 1;
        } else {
            cli_usage_error(cmd, "unknown option '%s'", a);
            goto out;
        }
    }
    if (!mo.path) {
        cli_usage_error(cmd, "-m MODEL is required");
        goto out;
    }
    if (l.n == 0) {
        cli_usage_error(cmd, "--ids LIST is required");
        goto out;
    }

    g2r_error err = {0};
    g2r_model *m = NULL;
    float *vals = NULL;
    size_t n_vals = 0;
    rc = EXIT_INPUT;
    if (g2r_model_load(mo.path, &mo.opt, &m, &err)) {
        cli_error(&err);
        goto out;
    }
    double t0 = g2r_now_ms();
    g2r_status st = run(m, &l, dump, pool, &vals, &n_vals, &err);
    double t1 = g2r_now_ms();
    if (st == G2R_OK && timing) {
        int tokens = 0;
        for (int i = 0; i < l.n; i++) tokens += l.lens[i];
        fprintf(stderr, "forward: %d sequences, %d tokens, %.1f ms (%.1f tokens/s)\n", l.n, tokens, t1 - t0,
                tokens / ((t1 - t0) / 1e3));
    }
    if (st == G2R_OK) {
        if (path) {
            g2r_atomic a;
            st = g2r_atomic_open(&a, path, &err);
            if (st == G2R_OK) st = write_floats(&a, NULL, vals, n_vals, &err);
            if (st == G2R_OK) st = g2r_atomic_commit(&a, &err);
            else g2r_atomic_abort(&a);
        } else {
            st = write_floats(NULL, stdout, vals, n_vals, &err);
        }
    }
    if (st != G2R_OK) cli_error(&err);
    else rc = EXIT_OK;
    free(vals);
    g2r_model_free(m);
out:
    free_lists(&l);
    return rc;
}
