/* test_kernels_bench.c — `gpt2rank bench` end to end on a tiny model (--quick,
 * no PyTorch), and its argument errors.  Checks what it writes, never how fast. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/json.h"
#include "tests/harness.h"
#include "tests/test_cli_util.h"

static char *slurp(const char *path, size_t *n) {
    char *text = NULL;
    g2r_error err = {0};
    if (g2r_read_file(path, 1 << 20, &text, n, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
    return text;
}

static double num(const g2r_json *o, const char *k) {
    const g2r_json *v = g2r_json_get(o, k);
    return v && v->type == G2R_JSON_NUMBER ? v->num : NAN;
}

TEST(bench_cli_runs_on_a_tiny_model_and_writes_json) {
    const char *dir = t_tmpdir();
    char f32[512], q8[512], json[512], out[512], args[2048];
    snprintf(f32, sizeof f32, "%s/m.safetensors", dir);
    snprintf(q8, sizeof q8, "%s/m-q8.safetensors", dir);
    snprintf(json, sizeof json, "%s/bench.json", dir);
    snprintf(out, sizeof out, "%s/stdout.txt", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 1 --embd 64 --heads 2 --vocab 300 --ctx 1024 --seed 3", f32);
    REQUIRE(t_run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "convert -m '%s' -o '%s' --dtype q8", f32, q8);
    REQUIRE(t_run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "bench -m '%s' --q8 '%s' -t 2 --quick --new 4 --no-torch --json '%s'", f32, q8, json);
    REQUIRE(t_run(args, out, NULL) == 0);
    size_t n;
    char *text = slurp(out, &n);
    REQUIRE(text);
    CHECK_CONTAINS(text, "prefill 16x64");
    CHECK_CONTAINS(text, "of FMA ceiling");
    CHECK_CONTAINS(text, "top-1 agreement");
    CHECK_CONTAINS(text, "of decode-order reads");
    CHECK_CONTAINS(text, "windows steady");
    free(text);

    text = slurp(json, &n);
    REQUIRE(text);
    g2r_json_doc *doc;
    const g2r_json *root;
    REQUIRE(g2r_json_parse(text, n, "bench.json", &doc, &root, NULL) == G2R_OK);
    const g2r_json *c = g2r_json_get(root, "ceilings"), *runs = g2r_json_get(root, "runs");
    CHECK(num(c, "fma_gflops_1") > 0 && num(c, "read_gbs_1") > 0);
    REQUIRE(runs && runs->type == G2R_JSON_ARRAY && runs->n == 2);
    for (const g2r_json *r = runs->child; r; r = r->next) {
        CHECK(num(r, "prefill_16x64_tok_s") > 0 && num(r, "prefill_1x512_tok_s") > 0);
        CHECK(num(r, "decode_tok_s") > 0 && num(r, "ttft_ms") > 0 && num(r, "load_ms") >= 0);
        CHECK(num(r, "decode_tokens") >= 1 && num(r, "decode_tokens") <= 4);
        CHECK(num(r, "decode_order_read_gbs") > 0);
        /* same-state windows: each steady one lands in exactly one state */
        double windows = num(r, "decode_windows"), steady = num(r, "decode_windows_steady"), grouped = 0;
        CHECK(windows == 2 && steady >= 0 && steady <= windows);
        const g2r_json *ss = g2r_json_get(r, "decode_same_state");
        REQUIRE(ss && ss->type == G2R_JSON_ARRAY);
        for (const g2r_json *g = ss->child; g; g = g->next) {
            CHECK(num(g, "windows") >= 1 && num(g, "read_gbs") > 0 && num(g, "fraction") > 0);
            grouped += num(g, "windows");
        }
        CHECK(grouped == steady);
    }
    const g2r_json *acc = g2r_json_get(root, "accuracy");
    REQUIRE(acc && acc->n == 1);
    const g2r_json *q = acc->child;
    CHECK(!strcmp(g2r_json_get(q, "dtype")->str, "Q8"));
    /* q8 is lossy, but not wildly so */
    CHECK(num(q, "max_rel_logit_err") > 0 && num(q, "max_rel_logit_err") < 0.2);
    CHECK(num(q, "top1_agreement_pct") >= 50 && num(q, "top1_agreement_pct") <= 100);
    CHECK(g2r_json_get(root, "pytorch")->type == G2R_JSON_NULL);
    g2r_json_free(doc);
    free(text);
}

TEST(bench_cli_rejects_bad_arguments) {
    const char *dir = t_tmpdir();
    char err[512], args[1024];
    snprintf(err, sizeof err, "%s/err.txt", dir);
    CHECK_EQ_INT(t_run("bench --help", NULL, NULL), 0);
    CHECK_EQ_INT(t_run("bench", NULL, err), 2);
    CHECK_EQ_INT(t_run("bench -m x --reps 0", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("bench -m x --bogus", NULL, NULL), 2);
    snprintf(args, sizeof args, "bench -m '%s/missing.safetensors' --quick --no-torch", dir);
    CHECK_EQ_INT(t_run(args, NULL, err), 1);
    size_t n;
    char *text = slurp(err, &n);
    CHECK_CONTAINS(text, "missing.safetensors");
    free(text);
}
