/* test_engine_embed.c — pooled embeddings and continuation scoring. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "tests/harness.h"
#include "tests/test_engine_util.h"
#include "weights/gpt2_random.h"

/* g2r_embed equals the reference's hidden states, pooled and normalised here. */
TEST(embed_pools_and_normalises_the_reference_hidden_states) {
    golden_case cases[8];
    int n;
    const golden_case *c = golden_tiny(cases, &n);
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 2, G2R_KERNELS_AUTO);
    REQUIRE(m);
    int C = c->n_embd;
    size_t n_ref;
    float *hidden = read_f32(c->hidden, &n_ref);
    REQUIRE(hidden);
    float *got = malloc((size_t)c->n_seqs * C * sizeof *got), *want = malloc((size_t)c->n_seqs * C * sizeof *want);
    for (int pool = 0; pool < 2; pool++) {
        g2r_error err = {0};
        REQUIRE(g2r_embed(m, c->n_seqs, (const int *const *)c->ids, c->lens, (g2r_pooling)pool, got, &err) == G2R_OK);
        const float *h = hidden;
        for (int k = 0; k < c->n_seqs; h += (size_t)c->lens[k] * C, k++) {
            double norm = 0;
            for (int i = 0; i < C; i++) {
                double v = 0;
                if (pool == G2R_POOL_MEAN) {
                    for (int t = 0; t < c->lens[k]; t++) v += h[(size_t)t * C + i];
                    v /= c->lens[k];
                } else {
                    v = h[(size_t)(c->lens[k] - 1) * C + i];
                }
                want[k * C + i] = (float)v;
                norm += v * v;
            }
            double got_norm = 0;
            for (int i = 0; i < C; i++) {
                want[k * C + i] = (float)(want[k * C + i] / sqrt(norm));
                got_norm += (double)got[k * C + i] * got[k * C + i];
            }
            CHECK_NEAR(got_norm, 1.0, 1e-5);
        }
        double d = rel_diff(got, want, (size_t)c->n_seqs * C);
        if (!(d <= 1e-4)) t_fail(__FILE__, __LINE__, "pool %d: relative difference %.3g", pool, d);
    }
    free(got);
    free(want);
    free(hidden);
    g2r_model_free(m);
    golden_free(cases, n);
}

/* 60 sequences of 1..64 tokens (several packed forwards) equal each alone. */
TEST(embed_packed_batches_equal_one_by_one) {
    golden_case cases[8];
    int n;
    const golden_case *c = golden_tiny(cases, &n);
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 2, G2R_KERNELS_AUTO);
    REQUIRE(m);
    enum { N = 60 };
    int C = c->n_embd, lens[N], *ids[N];
    g2r_rng rng = {5};
    for (int i = 0; i < N; i++) {
        lens[i] = 1 + (int)(g2r_rng_u64(&rng) % 64);
        ids[i] = malloc((size_t)lens[i] * sizeof(int));
        for (int t = 0; t < lens[i]; t++) ids[i][t] = (int)(g2r_rng_u64(&rng) % (uint64_t)c->n_vocab);
    }
    float *all = malloc((size_t)N * C * sizeof *all), *one = malloc((size_t)C * sizeof *one);
    g2r_error err = {0};
    REQUIRE(g2r_embed(m, N, (const int *const *)ids, lens, G2R_POOL_MEAN, all, &err) == G2R_OK);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        REQUIRE(g2r_embed(m, 1, (const int *const *)&ids[i], &lens[i], G2R_POOL_MEAN, one, &err) == G2R_OK);
        double d = rel_diff(all + (size_t)i * C, one, (size_t)C);
        if (d > worst) worst = d;
    }
    CHECK(worst <= 1e-6);
    /* out of range lengths name the sequence */
    int zero = 0, big = 65;
    CHECK(g2r_embed(m, 1, (const int *const *)ids, &zero, G2R_POOL_MEAN, one, &err) == G2R_ERANGE);
    CHECK(g2r_embed(m, 1, (const int *const *)ids, &big, G2R_POOL_MEAN, one, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "sequence 0 has 65 tokens");
    CHECK(g2r_embed(m, 0, NULL, NULL, G2R_POOL_MEAN, NULL, &err) == G2R_OK);
    for (int i = 0; i < N; i++) free(ids[i]);
    free(all);
    free(one);
    g2r_model_free(m);
    golden_free(cases, n);
}

/* Mean log-probability of cand after prefix, from one forward over prefix + cand. */
static double score_from_scratch(g2r_model *m, const int *prefix, int np, const int *cand, int nc) {
    g2r_config cfg = g2r_model_config(m);
    int len = np + nc, V = cfg.n_vocab;
    int *seq = malloc((size_t)len * sizeof *seq);
    memcpy(seq, prefix, (size_t)np * sizeof *seq);
    memcpy(seq + np, cand, (size_t)nc * sizeof *seq);
    float *logits = malloc((size_t)len * V * sizeof *logits);
    double sum = 0;
    if (forward_all(m, 1, &seq, &len, G2R_OUT_LOGITS, logits) == G2R_OK) {
        for (int j = 0; j < nc; j++) {
            const float *row = logits + (size_t)(np + j - 1) * V;
            double mx = row[0], z = 0;
            for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < V; v++) z += exp(row[v] - mx);
            sum += row[cand[j]] - mx - log(z);
        }
    }
    free(seq);
    free(logits);
    return sum / nc;
}

TEST(score_shared_prefix_equals_from_scratch_and_batch_equals_one_by_one) {
    golden_case cases[8];
    int n;
    const golden_case *c = golden_tiny(cases, &n);
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 2, G2R_KERNELS_AUTO);
    REQUIRE(m);
    const int *src = c->ids[3];
    const int *prefix = src; /* 20 tokens */
    enum { NC = 6 };
    const int *cand[NC] = {src + 20, src + 25, src + 30, src + 40, c->ids[0], c->ids[1]};
    int lens[NC] = {1, 3, 7, 12, 17, 2};
    float batch[NC], one;
    g2r_error err = {0};
    REQUIRE(g2r_score_continuations(m, prefix, 20, NC, cand, lens, batch, &err) == G2R_OK);
    for (int k = 0; k < NC; k++) {
        CHECK(g2r_score_continuations(m, prefix, 20, 1, &cand[k], &lens[k], &one, &err) == G2R_OK);
        CHECK_NEAR(batch[k], one, 1e-6);
        CHECK_NEAR(batch[k], score_from_scratch(m, prefix, 20, cand[k], lens[k]), 1e-4);
        CHECK(batch[k] < 0);
    }
    /* the candidate that continues the prefix's own text is not special to a
     * random model, but the scores must differ between candidates */
    CHECK(batch[0] != batch[1]);

    /* truncation: 60 + 10 > 64 keeps the first 4 tokens */
    int ten = 10, four = 4;
    const int *tail = src + 50;
    float t10, t4;
    CHECK(g2r_score_continuations(m, src, 60, 1, &tail, &ten, &t10, &err) == G2R_OK);
    CHECK(g2r_score_continuations(m, src, 60, 1, &tail, &four, &t4, &err) == G2R_OK);
    CHECK(t10 == t4);
    CHECK_NEAR(t4, score_from_scratch(m, src, 60, tail, 4), 1e-4);
    /* errors */
    CHECK(g2r_score_continuations(m, src, 64, 1, &tail, &four, &t4, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "leaves no room");
    int zero = 0;
    CHECK(g2r_score_continuations(m, src, 10, 1, &tail, &zero, &t4, &err) == G2R_EARG);
    int bad[] = {3, 600};
    const int *pbad = bad;
    int two = 2;
    CHECK(g2r_score_continuations(m, src, 10, 1, &pbad, &two, &t4, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "600");
    g2r_model_free(m);
    golden_free(cases, n);
}

/* More candidate tokens than one forward takes: several groups, and one
 * candidate longer than a whole group fed in pieces. */
TEST(score_many_and_long_candidates_over_the_token_budget) {
    char path[600];
    snprintf(path, sizeof path, "%s/long.safetensors", t_tmpdir());
    g2r_config cfg = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_vocab = 64, .n_ctx = 320};
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_write_random(path, &cfg, G2R_DT_F32, 3, &err) == G2R_OK);
    g2r_model *m = load_model(path, 2, G2R_KERNELS_AUTO);
    REQUIRE(m);
    enum { NC = 41 };
    int toks[320], lens[NC];
    const int *cand[NC];
    g2r_rng rng = {11};
    for (int i = 0; i < 320; i++) toks[i] = (int)(g2r_rng_u64(&rng) % 64);
    for (int k = 0; k < NC - 1; k++) {
        cand[k] = toks + 12 + k;
        lens[k] = 9;
    }
    cand[NC - 1] = toks + 12;
    lens[NC - 1] = 300; /* 299 positions to run: more than the budget of 256 */
    float batch[NC], one;
    REQUIRE(g2r_score_continuations(m, toks, 12, NC, cand, lens, batch, &err) == G2R_OK);
    for (int k = 0; k < NC; k += 8) {
        CHECK(g2r_score_continuations(m, toks, 12, 1, &cand[k], &lens[k], &one, &err) == G2R_OK);
        CHECK_NEAR(batch[k], one, 1e-6);
    }
    CHECK_NEAR(batch[NC - 1], score_from_scratch(m, toks, 12, cand[NC - 1], 300), 1e-4);
    CHECK_NEAR(batch[3], score_from_scratch(m, toks, 12, cand[3], 9), 1e-4);
    g2r_model_free(m);
}
