/* test_engine.c — the forward pass against the PyTorch reference, and the
 * properties batching, caching and threading must keep.
 *
 * Golden tolerance: max|gpt2rank - reference| / max|reference| <= 1e-4 over all
 * logits (and over all hidden states) of a case.  The reference
 * (tests/ref/gpt2_ref.py) computes in float64; F16/BF16 cases are compared with
 * the reference run on the same rounded weights. */
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"
#include "kernels/kernels.h"
#include "tests/harness.h"
#include "tests/test_engine_util.h"
#include "weights/gpt2_convert.h"

#define GOLDEN_TOL 1e-4

/* Every kernel table this machine can run (scalar, and each SIMD variant the CPU has). */
static int kernel_kinds(g2r_kernels_kind *out) {
    const g2r_kernels_kind all[] = {G2R_KERNELS_SCALAR, G2R_KERNELS_AVX2, G2R_KERNELS_AVX512, G2R_KERNELS_NEON};
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (g2r_kernels_get(all[i])) out[n++] = all[i];
    return n;
}

static void check_golden(const golden_case *c, g2r_kernels_kind kind, g2r_output what) {
    int T = golden_total_tokens(c);
    size_t row = (size_t)(what == G2R_OUT_LOGITS ? c->n_vocab : c->n_embd), n_ref;
    float *ref = read_f32(what == G2R_OUT_LOGITS ? c->logits : c->hidden, &n_ref);
    g2r_model *m = load_model(c->model, 2, kind);
    float *out = malloc((size_t)T * row * sizeof *out);
    if (ref && m && out) {
        CHECK_EQ_INT(n_ref, (size_t)T * row);
        /* all sequences of the case in one batched forward */
        if (n_ref == (size_t)T * row && forward_all(m, c->n_seqs, c->ids, c->lens, what, out) == G2R_OK) {
            double d = rel_diff(out, ref, n_ref);
            if (!(d <= GOLDEN_TOL))
                t_fail(__FILE__, __LINE__, "%s (%s kernels) %s: relative difference %.3g > %g", c->name,
                       g2r_kernels_get(kind)->name, what == G2R_OUT_LOGITS ? "logits" : "hidden", d, GOLDEN_TOL);
        }
    }
    free(out);
    free(ref);
    g2r_model_free(m);
}

TEST(engine_golden_logits_and_hidden_match_pytorch) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 4);
    g2r_kernels_kind kinds[4];
    int nk = kernel_kinds(kinds);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nk; k++) {
            check_golden(&cases[i], kinds[k], G2R_OUT_LOGITS);
            check_golden(&cases[i], kinds[k], G2R_OUT_HIDDEN);
        }
    golden_free(cases, n);
}

/* F16 and BF16 copies of tiny against the F32 reference: only the rounding of
 * the weights separates them.  Measured when written: 1.6e-3 (F16), 1.7e-2 (BF16). */
TEST(engine_f16_bf16_models_match_f32_within_dtype_tolerance) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 3);
    const golden_case *f32 = golden_find(cases, n, "tiny");
    REQUIRE(f32);
    size_t n_ref;
    float *ref = read_f32(f32->logits, &n_ref);
    REQUIRE(ref);
    const char *names[] = {"tiny_f16", "tiny_bf16"};
    const double tol[] = {5e-3, 5e-2};
    for (int i = 0; i < 2; i++) {
        const golden_case *c = golden_find(cases, n, names[i]);
        if (!c) continue;
        g2r_model *m = load_model(c->model, 1, G2R_KERNELS_AUTO);
        float *out = malloc(n_ref * sizeof *out);
        if (m && forward_all(m, c->n_seqs, c->ids, c->lens, G2R_OUT_LOGITS, out) == G2R_OK) {
            double d = rel_diff(out, ref, n_ref);
            if (!(d <= tol[i])) t_fail(__FILE__, __LINE__, "%s vs F32: %.3g > %g", c->name, d, tol[i]);
            if (!(d > 0)) t_fail(__FILE__, __LINE__, "%s equals F32 exactly: was it rounded?", c->name);
        }
        free(out);
        g2r_model_free(m);
    }
    free(ref);
    golden_free(cases, n);
}

/* Packing sequences into one forward must not change any of them. */
TEST(engine_batch_of_sequences_equals_each_alone) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 2, G2R_KERNELS_AUTO);
    REQUIRE(m);
    size_t V = (size_t)c->n_vocab, T = (size_t)golden_total_tokens(c);
    float *batch = malloc(T * V * sizeof *batch), *alone = malloc(T * V * sizeof *alone);
    REQUIRE(forward_all(m, c->n_seqs, c->ids, c->lens, G2R_OUT_LOGITS, batch) == G2R_OK);
    size_t row = 0;
    for (int k = 0; k < c->n_seqs; k++) {
        REQUIRE(forward_all(m, 1, &c->ids[k], &c->lens[k], G2R_OUT_LOGITS, alone + row * V) == G2R_OK);
        row += (size_t)c->lens[k];
    }
    CHECK(rel_diff(batch, alone, T * V) <= 1e-6);
    free(batch);
    free(alone);
    g2r_model_free(m);
    golden_free(cases, n);
}

/* Identical bits for 1, 2 and 3 threads, and for chunks of 7 tokens, under every kernel table. */
static void bit_identical_for_threads_and_chunks(g2r_kernels_kind kind) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    size_t V = (size_t)c->n_vocab, T = (size_t)golden_total_tokens(c);
    float *out[4];
    for (int t = 0; t < 4; t++) {
        out[t] = calloc(T * V, sizeof(float));
        g2r_model *m = load_model(c->model, t < 3 ? t + 1 : 2, kind);
        REQUIRE(m);
        if (t < 3) {
            CHECK(forward_all(m, c->n_seqs, c->ids, c->lens, G2R_OUT_LOGITS, out[t]) == G2R_OK);
        } else {
            /* small chunks: sequences split across passes through the layers */
            g2r_session *s;
            g2r_error err = {0};
            REQUIRE(g2r_session_create(m, c->n_seqs, c->n_seqs * 64, 7, &s, &err) == G2R_OK);
            for (int k = 0; k < c->n_seqs; k++) CHECK(g2r_session_place(s, k, k * 64, 64, -1, 0, &err) == G2R_OK);
            CHECK(g2r_forward(s, c->n_seqs, (const int *const *)c->ids, c->lens, G2R_OUT_LOGITS, out[t], &err) ==
                  G2R_OK);
            g2r_session_free(s);
        }
        g2r_model_free(m);
    }
    CHECK(memcmp(out[0], out[1], T * V * sizeof(float)) == 0);
    CHECK(memcmp(out[0], out[2], T * V * sizeof(float)) == 0);
    CHECK(memcmp(out[0], out[3], T * V * sizeof(float)) == 0);
    for (int t = 0; t < 4; t++) free(out[t]);
    golden_free(cases, n);
}

TEST(engine_output_is_bit_identical_for_any_thread_count_and_chunk) {
    g2r_kernels_kind kinds[4];
    int nk = kernel_kinds(kinds);
    for (int k = 0; k < nk; k++) bit_identical_for_threads_and_chunks(kinds[k]);
}

/* A Q8 file's layer matrices stored transposed (cols layout, matmul_nt) give
 * the bits of the rows layout (K slices, then sums): the same integer sums,
 * scales and additions in the same order.  Batched prefill and decode in
 * pieces of 1-3 tokens (the K-split path for rows), every kernel table,
 * 1-3 threads, groups 64 and 32 (each SIMD table's fast path or fallback). */
static float *q8_logits(const char *path, g2r_kernels_kind kind, int threads, const golden_case *c, size_t T) {
    size_t V = (size_t)c->n_vocab;
    float *out = calloc((T + 64) * V, sizeof(float));
    g2r_model *m = load_model(path, threads, kind);
    if (!m || !out) {
        g2r_model_free(m);
        free(out);
        return NULL;
    }
    CHECK(forward_all(m, c->n_seqs, c->ids, c->lens, G2R_OUT_LOGITS, out) == G2R_OK);
    /* sequence 3 (64 tokens) again in decode-sized pieces, after the batch's rows */
    g2r_session *s;
    g2r_error err = {0};
    if (g2r_session_new(m, 1, 64, &s, &err) == G2R_OK) {
        const int pieces[] = {1, 2, 3, 1, 20, 1, 3, 33};
        int at = 0;
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0] && at < c->lens[3]; p++) {
            const int *chunk = c->ids[3] + at;
            CHECK(g2r_forward(s, 1, &chunk, &pieces[p], G2R_OUT_LOGITS, out + (T + (size_t)at) * V, &err) == G2R_OK);
            at += pieces[p];
        }
        CHECK_EQ_INT(at, 64);
        g2r_session_free(s);
    } else {
        t_fail(__FILE__, __LINE__, "%s", err.msg);
    }
    g2r_model_free(m);
    return out;
}

TEST(engine_q8_cols_layout_gives_the_rows_layout_bits) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c && c->n_seqs >= 4 && c->lens[3] == 64);
    size_t V = (size_t)c->n_vocab, T = (size_t)golden_total_tokens(c), nout = (T + 64) * V;
    size_t n_ref;
    float *ref = read_f32(c->logits, &n_ref);
    REQUIRE(ref && n_ref == T * V);
    g2r_kernels_kind kinds[4];
    int nk = kernel_kinds(kinds);
    const int groups[] = {64, 32};
    for (int g = 0; g < 2; g++) {
        char rows[600], cols[600];
        snprintf(rows, sizeof rows, "%s/q8rows-%d", t_tmpdir(), groups[g]);
        snprintf(cols, sizeof cols, "%s/q8cols-%d", t_tmpdir(), groups[g]);
        g2r_error err = {0};
        REQUIRE(g2r_gpt2_convert(c->model, rows, G2R_DT_Q8, groups[g], G2R_Q8_GROUP_ROWS, 0, &err) == G2R_OK);
        REQUIRE(g2r_gpt2_convert(c->model, cols, G2R_DT_Q8, groups[g], G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
        for (int k = 0; k < nk; k++) {
            float *base = q8_logits(rows, kinds[k], 1, c, T);
            REQUIRE(base);
            for (int threads = 1; threads <= 3; threads++) {
                float *a = threads == 1 ? NULL : q8_logits(rows, kinds[k], threads, c, T);
                float *b = q8_logits(cols, kinds[k], threads, c, T);
                int rows_differ = a && memcmp(a, base, nout * sizeof(float));
                int cols_differ = !b || memcmp(b, base, nout * sizeof(float));
                if (rows_differ || cols_differ)
                    t_fail(__FILE__, __LINE__, "group %d, %s kernels, %d threads: the %s file's logits differ from rows, 1 thread",
                           groups[g], g2r_kernels_get(kinds[k])->name, threads, rows_differ ? "rows" : "cols");
                free(a);
                free(b);
            }
            /* and q8 is near F32: the batch against the PyTorch reference */
            double d = rel_diff(base, ref, T * V);
            if (!(d > 0 && d < 0.05))
                t_fail(__FILE__, __LINE__, "group %d, %s kernels: q8 vs F32 reference %.3g", groups[g],
                       g2r_kernels_get(kinds[k])->name, d);
            if (k == 0) printf("  q8 group %d: max relative logit error vs F32 reference %.3g\n", groups[g], d);
            free(base);
        }
    }
    free(ref);
    golden_free(cases, n);
}

/* Feeding a sequence in pieces over its KV cache equals feeding it whole. */
TEST(engine_kv_cache_incremental_equals_full_recomputation) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 2, G2R_KERNELS_AUTO);
    REQUIRE(m);
    const int *ids = c->ids[3];
    int len = c->lens[3]; /* the 64-token case: fills the context */
    size_t V = (size_t)c->n_vocab;
    float *full = malloc((size_t)len * V * sizeof *full), *inc = malloc((size_t)len * V * sizeof *inc);
    REQUIRE(forward_all(m, 1, (int *const *)&ids, &len, G2R_OUT_LOGITS, full) == G2R_OK);
    g2r_session *s;
    g2r_error err = {0};
    REQUIRE(g2r_session_new(m, 1, len, &s, &err) == G2R_OK);
    const int pieces[] = {1, 1, 5, 13, 2, 40, 2};
    int at = 0;
    for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
        const int *chunk = ids + at;
        CHECK(g2r_forward(s, 1, &chunk, &pieces[p], G2R_OUT_LOGITS, inc + (size_t)at * V, &err) == G2R_OK);
        at += pieces[p];
        CHECK_EQ_INT(g2r_session_len(s, 0), at);
    }
    REQUIRE(at == len);
    CHECK(rel_diff(inc, full, (size_t)len * V) <= 1e-6);

    /* the context is full: one more token is refused, and changes nothing */
    int one = 1, tok = 3;
    const int *p1 = &tok;
    CHECK(g2r_forward(s, 1, &p1, &one, G2R_OUT_LOGITS, inc, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "context of 64");
    CHECK_EQ_INT(g2r_session_len(s, 0), len);
    g2r_session_reset(s);
    CHECK_EQ_INT(g2r_session_len(s, 0), 0);
    g2r_session_free(s);
    g2r_model_free(m);
    free(full);
    free(inc);
    golden_free(cases, n);
}

TEST(engine_rejects_bad_ids_sessions_and_options) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 1, G2R_KERNELS_SCALAR);
    REQUIRE(m);
    g2r_error err = {0};
    g2r_session *s = NULL;
    CHECK(g2r_session_new(m, 1, 65, &s, &err) == G2R_EARG);
    CHECK(s == NULL);
    CHECK(g2r_session_new(m, 0, 8, &s, &err) == G2R_EARG);
    REQUIRE(g2r_session_new(m, 2, 8, &s, &err) == G2R_OK);
    int bad[] = {1, 515, 2}, good[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, nb = 3, n9 = 9;
    const int *pb = bad, *pg = good;
    CHECK(g2r_forward(s, 1, &pb, &nb, G2R_OUT_LOGITS, NULL, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "token id 515");
    CHECK(g2r_forward(s, 1, &pg, &n9, G2R_OUT_LOGITS, NULL, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "session's 8 positions");
    CHECK(g2r_forward(s, 3, &pg, &n9, G2R_OUT_LOGITS, NULL, &err) == G2R_EARG);
    CHECK_EQ_INT(g2r_session_len(s, 0), 0);
    g2r_session_free(s);
    g2r_model_free(m);

    g2r_options cuda = {.device = G2R_DEVICE_CUDA};
    g2r_status cst = g2r_model_load(c->model, &cuda, &m, &err);
#ifdef G2R_CUDA
    /* built with CUDA it loads wherever there is a device (tests/test_cuda.c runs it) */
    if (cst == G2R_OK) g2r_model_free(m), m = NULL;
    else CHECK(cst == G2R_EDEVICE);
#else
    CHECK(cst == G2R_EDEVICE);
    CHECK_CONTAINS(err.msg, "built without CUDA");
#endif
    CHECK(m == NULL);
    g2r_options neon = {.kernels = G2R_KERNELS_NEON};
#if !defined(__aarch64__)
    CHECK(g2r_model_load(c->model, &neon, &m, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "neon kernels are not available");
#else
    (void)neon;
#endif
    CHECK(g2r_model_load("/nonexistent/model.safetensors", NULL, &m, &err) != G2R_OK);
    CHECK_CONTAINS(err.msg, "/nonexistent/model.safetensors");
    golden_free(cases, n);
}

TEST(engine_model_info_describes_the_file) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 4);
    const golden_case *c = golden_find(cases, n, "small");
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 3, G2R_KERNELS_SCALAR);
    REQUIRE(m);
    g2r_model_info in;
    g2r_model_info_get(m, &in);
    CHECK_EQ_INT(in.cfg.n_layer, 3);
    CHECK_EQ_INT(in.cfg.n_head, 2);
    CHECK_EQ_INT(in.cfg.n_embd, 48);
    CHECK_EQ_INT(in.cfg.n_vocab, 300);
    CHECK_EQ_INT(in.cfg.n_ctx, 40);
    CHECK_EQ_INT(in.n_threads, 3);
    CHECK(!strcmp(in.dtype, "F32"));
    CHECK(!strcmp(in.kernels, "scalar"));
    /* wte + wpe + 3 blocks + ln_f (the attn.bias buffers are not parameters) */
    size_t C = 48, per_layer = 12 * C * C + 13 * C;
    CHECK_EQ_INT(in.n_params, 300 * C + 40 * C + 3 * per_layer + 2 * C);
    CHECK(in.bytes_mapped > in.n_params * 4);
    CHECK(in.fingerprint != 0);
    g2r_config cfg = g2r_model_config(m);
    CHECK_EQ_INT(cfg.n_layer, 3);
    g2r_model_free(m);
    golden_free(cases, n);
}

/* --prefault only fills page tables: the logits are the same bits. */
TEST(prefault_changes_nothing_but_timing) {
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    const golden_case *c = golden_find(cases, n, "tiny");
    REQUIRE(c);
    float *out[2] = {NULL, NULL};
    size_t rows = (size_t)c->lens[0] * (size_t)c->n_vocab;
    for (int pf = 0; pf < 2; pf++) {
        g2r_options o = {.n_threads = 2, .prefault = pf};
        g2r_model *m;
        g2r_error err = {0};
        REQUIRE(g2r_model_load(c->model, &o, &m, &err) == G2R_OK);
        out[pf] = malloc(rows * sizeof(float));
        REQUIRE(out[pf]);
        CHECK(forward_all(m, 1, c->ids, c->lens, G2R_OUT_LOGITS, out[pf]) == G2R_OK);
        g2r_model_free(m);
    }
    CHECK(memcmp(out[0], out[1], rows * sizeof(float)) == 0);
    free(out[0]);
    free(out[1]);
    golden_free(cases, n);
}
