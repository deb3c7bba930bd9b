/* test_engine_cli.c — `gpt2rank info | cache | forward | generate` end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/harness.h"
#include "tests/test_cli_util.h"
#include "tests/test_engine_util.h"

static void ids_arg(char *dst, size_t cap, const int *ids, int n) {
    size_t k = (size_t)snprintf(dst, cap, "--ids ");
    for (int i = 0; i < n && k < cap; i++) k += (size_t)snprintf(dst + k, cap - k, i ? ",%d" : "%d", ids[i]);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

TEST(cli_forward_writes_the_golden_logits_hidden_and_embeddings) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    const char *dir = t_tmpdir();
    char out[600], args[8192], a0[2048], a1[2048];
    snprintf(out, sizeof out, "%s/out.f32", dir);
    ids_arg(a0, sizeof a0, c->ids[0], c->lens[0]);
    ids_arg(a1, sizeof a1, c->ids[1], c->lens[1]);
    const char *dumps[] = {"logits", "hidden"};
    for (int d = 0; d < 2; d++) {
        /* two sequences in one forward, outputs concatenated */
        snprintf(args, sizeof args, "forward -m '%s' %s %s --dump %s -o '%s' -t 3", c->model, a0, a1, dumps[d], out);
        REQUIRE(t_run(args, NULL, NULL) == 0);
        size_t n_got, n_ref;
        float *got = read_f32(out, &n_got), *ref = read_f32(d ? c->hidden : c->logits, &n_ref);
        REQUIRE(got && ref);
        size_t row = (size_t)(d ? c->n_embd : c->n_vocab), want = (size_t)(c->lens[0] + c->lens[1]) * row;
        CHECK_EQ_INT(n_got, want);
        if (n_got == want) CHECK(rel_diff(got, ref, want) <= 1e-4);
        free(got);
        free(ref);
    }
    /* embed: one unit vector per sequence, to stdout */
    snprintf(args, sizeof args, "forward -m '%s' %s %s --dump embed", c->model, a0, a1);
    REQUIRE(t_run(args, out, NULL) == 0);
    size_t n_got;
    float *e = read_f32(out, &n_got);
    REQUIRE(e);
    CHECK_EQ_INT(n_got, 2 * (size_t)c->n_embd);
    double norm = 0;
    for (int i = 0; i < c->n_embd; i++) norm += (double)e[i] * e[i];
    CHECK_NEAR(norm, 1.0, 1e-5);
    free(e);
    golden_free(cases, n);
}

TEST(cli_forward_errors_exit_1_or_2_and_leave_no_file) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    const char *dir = t_tmpdir();
    char out[600], err[600], args[2048];
    snprintf(out, sizeof out, "%s/out.f32", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    /* token id past the vocabulary: bad input, message, no output file */
    snprintf(args, sizeof args, "forward -m '%s' --ids 1,2,515 -o '%s'", c->model, out);
    CHECK_EQ_INT(t_run(args, NULL, err), 1);
    CHECK_CONTAINS(t_slurp(err), "token id 515");
    CHECK(!exists(out));
    /* 65 tokens: past the context */
    char many[1024] = "--ids 0";
    for (int i = 1; i < 65; i++) strcat(many, ",1");
    snprintf(args, sizeof args, "forward -m '%s' %s -o '%s'", c->model, many, out);
    CHECK_EQ_INT(t_run(args, NULL, err), 1);
    CHECK_CONTAINS(t_slurp(err), "context of 64");
    CHECK(!exists(out));
    /* usage errors */
    snprintf(args, sizeof args, "forward -m '%s' --ids 1,x", c->model);
    CHECK_EQ_INT(t_run(args, NULL, err), 2);
    CHECK_CONTAINS(t_slurp(err), "--ids expects");
    snprintf(args, sizeof args, "forward -m '%s'", c->model);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 2);
    snprintf(args, sizeof args, "forward -m '%s' --ids 1 --dump everything", c->model);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 2);
    CHECK_EQ_INT(t_run("forward --ids 1", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("forward -m /nonexistent.safetensors --ids 1", NULL, err), 1);
    CHECK_CONTAINS(t_slurp(err), "/nonexistent.safetensors");
    CHECK_EQ_INT(t_run("forward --help", out, NULL), 0);
    CHECK_CONTAINS(t_slurp(out), "usage: gpt2rank forward");
    golden_free(cases, n);
}

TEST(cli_info_and_generate) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    const char *dir = t_tmpdir();
    char out[600], err[600], args[2048];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    snprintf(args, sizeof args, "info -m '%s' -t 1 --kernels scalar", c->model);
    REQUIRE(t_run(args, out, NULL) == 0);
    const char *text = t_slurp(out);
    CHECK_CONTAINS(text, "n_layer      2");
    CHECK_CONTAINS(text, "n_vocab      515");
    CHECK_CONTAINS(text, "kernels      scalar");
    CHECK_CONTAINS(text, "threads      1");
    CHECK_CONTAINS(text, "2mb_pages    100%"); /* a file under 2 MB has no block to hold otherwise */

    /* greedy: the same ids as the library gives */
    int want[8], n_want = 0;
    g2r_model *m = load_model(c->model, 1, G2R_KERNELS_AUTO);
    REQUIRE(m);
    g2r_sampler smp = {.temperature = 0, .max_new = 8};
    REQUIRE(g2r_generate(m, c->ids[0], 5, &smp, want, 8, &n_want, NULL, NULL, NULL) == G2R_OK);
    g2r_model_free(m);
    char expect[256];
    size_t k = 0;
    for (int i = 0; i < n_want; i++) k += (size_t)snprintf(expect + k, sizeof expect - k, i ? ",%d" : "%d", want[i]);
    char ids[256];
    ids_arg(ids, sizeof ids, c->ids[0], 5);
    snprintf(args, sizeof args, "generate -m '%s' %s -n 8 --timing", c->model, ids);
    REQUIRE(t_run(args, out, err) == 0);
    CHECK(!strncmp(t_slurp(out), expect, strlen(expect)));
    CHECK_CONTAINS(t_slurp(err), "ms/token");
    snprintf(args, sizeof args, "generate -m '%s' %s -n 8 --temp 0.8 --top-k 5 --top-p 0.9 --seed 4", c->model, ids);
    CHECK_EQ_INT(t_run(args, out, NULL), 0);
    snprintf(args, sizeof args, "generate -m '%s' %s --top-p 1.5", c->model, ids);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 2);
    snprintf(args, sizeof args, "generate -m '%s' --ids 9999", c->model);
    CHECK_EQ_INT(t_run(args, NULL, err), 1);
    CHECK_CONTAINS(t_slurp(err), "9999");
    CHECK_EQ_INT(t_run("generate --help", out, NULL), 0);
    CHECK_EQ_INT(t_run("info --help", out, NULL), 0);
    CHECK_EQ_INT(t_run("info", NULL, NULL), 2);
    golden_free(cases, n);
}

TEST(cli_cache_reports_each_file_and_refuses_bad_ones) {
    const char *dir = t_tmpdir();
    char out[600], err[600], big[600], args[2048];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    snprintf(big, sizeof big, "%s/big.bin", dir);
    FILE *f = fopen(big, "wb");
    REQUIRE(f);
    for (int i = 0; i < (5 << 20); i++) fputc(i & 0xff, f);
    fclose(f);
    snprintf(args, sizeof args, "cache '%s'", big);
    REQUIRE(t_run(args, out, NULL) == 0);
    double after = -1, before = -1, again = -1;
    char name[700];
    snprintf(name, sizeof name, "%s: %%lf%%%% in 2 MB pages (was %%lf%%%%)", big);
    CHECK(sscanf(t_slurp(out), name, &after, &before) == 2);
    CHECK(after >= before && after <= 100 && before >= 0);
    snprintf(args, sizeof args, "cache --check '%s'", big);
    REQUIRE(t_run(args, out, NULL) == 0);
    snprintf(name, sizeof name, "%s: %%lf%%%% in 2 MB pages", big);
    CHECK(sscanf(t_slurp(out), name, &again) == 1);
    CHECK_NEAR(again, after, 1e-9);
    /* a bad file stops the command with its name; usage errors exit 2 */
    snprintf(args, sizeof args, "cache '%s' '%s/missing.safetensors'", big, dir);
    CHECK_EQ_INT(t_run(args, NULL, err), 1);
    CHECK_CONTAINS(t_slurp(err), "missing.safetensors: cannot open");
    CHECK_EQ_INT(t_run("cache", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("cache --bogus x", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("cache --help", out, NULL), 0);
    CHECK_CONTAINS(t_slurp(out), "2 MB");
}

/* generate -p TEXT = tokenize TEXT, generate --ids, detokenize the result. */
TEST(cli_generate_prompt_text_equals_the_id_path) {
    const char *dir = t_tmpdir();
    char model[600], out[600], args[2048];
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 1 --heads 2 --embd 32 --ctx 64 --seed 5", model);
    REQUIRE(t_run(args, NULL, NULL) == 0);
    /* "The quick brown fox" in GPT-2's vocabulary */
    snprintf(args, sizeof args, "generate -m '%s' --ids 464,2068,7586,21831 -n 6", model);
    REQUIRE(t_run(args, out, NULL) == 0);
    char *ids = strdup(t_slurp(out));
    REQUIRE(ids);
    ids[strcspn(ids, "\n")] = 0;
    for (char *p = ids; *p; p++)
        if (*p == ',') *p = ' ';
    snprintf(args, sizeof args, "detokenize %s", ids);
    free(ids);
    REQUIRE(t_run(args, out, NULL) == 0);
    char *want = strdup(t_slurp(out)); /* the text, no newline */
    REQUIRE(want);
    snprintf(args, sizeof args, "generate -m '%s' -p 'The quick brown fox' -n 6", model);
    int rc = t_run(args, out, NULL);
    const char *got = t_slurp(out);
    CHECK_EQ_INT(rc, 0);
    CHECK(strlen(want) > 0 && strncmp(got, want, strlen(want)) == 0 && !strcmp(got + strlen(want), "\n"));
    free(want);
    snprintf(args, sizeof args, "generate -m '%s' -p 'x' --ids 1", model);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 2);
}
