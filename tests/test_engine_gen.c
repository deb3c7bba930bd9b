/* test_engine_gen.c — sampling and generation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/sample.h"
#include "tests/harness.h"
#include "tests/test_engine_util.h"

TEST(sample_greedy_takes_the_first_maximum) {
    g2r_sample_buf b;
    REQUIRE(g2r_sample_buf_init(&b, 5, NULL) == G2R_OK);
    float logits[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
    g2r_sampler smp = {.temperature = 0.0f};
    g2r_rng rng = {1};
    CHECK_EQ_INT(g2r_sample(logits, 5, &smp, &rng, &b), 1);
    g2r_sample_buf_free(&b);
}

/* logits log(1..4): probabilities 0.1, 0.2, 0.3, 0.4 at temperature 1 */
static void draw(const g2r_sampler *smp, int n_draws, int counts[4]) {
    float logits[4] = {0.0f, logf(2.0f), logf(3.0f), logf(4.0f)};
    g2r_sample_buf b;
    g2r_sample_buf_init(&b, 4, NULL);
    g2r_rng rng = {smp->seed};
    memset(counts, 0, 4 * sizeof *counts);
    for (int i = 0; i < n_draws; i++) counts[g2r_sample(logits, 4, smp, &rng, &b)]++;
    g2r_sample_buf_free(&b);
}

TEST(sample_temperature_top_k_top_p_follow_the_distribution) {
    int c[4];
    const int N = 20000;
    g2r_sampler smp = {.temperature = 1.0f, .top_p = 1.0f, .seed = 42};
    draw(&smp, N, c);
    for (int i = 0; i < 4; i++) CHECK_NEAR((double)c[i] / N, 0.1 * (i + 1), 0.015);

    smp.top_k = 2; /* ids 3 and 2 only, 4:3 */
    draw(&smp, N, c);
    CHECK(c[0] == 0 && c[1] == 0);
    CHECK_NEAR((double)c[3] / N, 4.0 / 7.0, 0.015);

    smp.top_k = 0;
    smp.top_p = 0.5f; /* 0.4 then 0.3 reaches 0.5: ids 3 and 2 */
    draw(&smp, N, c);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] > 0);
    CHECK_NEAR((double)c[3] / N, 4.0 / 7.0, 0.015);

    smp.top_p = 0.35f; /* 0.4 alone reaches it */
    draw(&smp, N, c);
    CHECK_EQ_INT(c[3], N);

    smp.top_p = 1.0f; /* a low temperature sharpens toward the maximum */
    smp.temperature = 0.05f;
    draw(&smp, N, c);
    CHECK(c[3] > N * 99 / 100);
}

/* A hand-made model whose greedy text is 5, 5, 5 and then <|endoftext|>:
 * ln_f(x) points along wpe[p], which turns from dimension 0 (favouring id 5)
 * to dimension 1 (favouring id 50256) at position 3.  Blocks are all zero. */
enum { EOT_C = 4, EOT_V = 50257, EOT_CTX = 16 };

static g2r_model *eot_model(float **store) {
    const int C = EOT_C, V = EOT_V, N = EOT_CTX;
    size_t mats = (size_t)C * 3 * C + C * C + C * 4 * C + 4 * C * C;
    float *f = calloc((size_t)V * C + (size_t)N * C + 16 * (size_t)C + mats, sizeof *f);
    *store = f;
    g2r_gpt2_weights w;
    memset(&w, 0, sizeof w);
    w.cfg = (g2r_config){.n_layer = 1, .n_head = 1, .n_embd = C, .n_vocab = V, .n_ctx = N};
    w.dtype = G2R_DT_F32;
    float *wte = f, *wpe = wte + (size_t)V * C, *vec = wpe + (size_t)N * C, *mat = vec + 16 * C;
    wte[5 * C + 0] = 2.0f;
    wte[(size_t)50256 * C + 1] = 2.0f;
    for (int p = 0; p < N; p++) wpe[p * C + (p < 3 ? 0 : 1)] = 20.0f;
    w.wte = (g2r_matrix){.dtype = G2R_DT_F32, .rows = V, .cols = C, .data = wte};
    w.wpe = wpe;
    float *ones = vec, *zeros = vec + 8 * C; /* zeros spans 4C for the fc bias */
    for (int i = 0; i < C; i++) ones[i] = 1.0f;
    w.ln_f_w = ones;
    w.ln_f_b = zeros;
    w.layers = calloc(1, sizeof *w.layers);
    g2r_layer_weights *l = w.layers;
    l->ln_1_w = l->ln_1_b = l->ln_2_w = l->ln_2_b = zeros;
    l->c_attn_b = l->attn_proj_b = l->fc_b = l->mlp_proj_b = zeros;
    l->c_attn = (g2r_matrix){.dtype = G2R_DT_F32, .rows = C, .cols = 3 * C, .data = mat};
    l->attn_proj = (g2r_matrix){.dtype = G2R_DT_F32, .rows = C, .cols = C, .data = mat};
    l->fc = (g2r_matrix){.dtype = G2R_DT_F32, .rows = C, .cols = 4 * C, .data = mat};
    l->mlp_proj = (g2r_matrix){.dtype = G2R_DT_F32, .rows = 4 * C, .cols = C, .data = mat};
    g2r_model *m = NULL;
    g2r_options opt = {.n_threads = 2};
    g2r_error err = {0};
    if (g2r_model_from_weights(&w, &opt, &m, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
    return m;
}

TEST(generate_stops_at_endoftext_without_returning_it) {
    float *store;
    g2r_model *m = eot_model(&store);
    REQUIRE(m);
    CHECK_EQ_INT(g2r_model_eot(m), 50256);
    int prompt[] = {1}, out[16], n_out = -1;
    g2r_sampler smp = {.temperature = 0.0f, .max_new = 10};
    g2r_error err = {0};
    CHECK(g2r_generate(m, prompt, 1, &smp, out, 16, &n_out, NULL, NULL, &err) == G2R_OK);
    CHECK_EQ_INT(n_out, 3);
    CHECK(out[0] == 5 && out[1] == 5 && out[2] == 5);
    g2r_model_free(m);
    free(store);
}

/* Greedy generation over the KV cache picks, at every step, the arg max of a
 * forward pass recomputed from scratch over prompt + tokens so far. */
TEST(generate_kv_cached_equals_full_recomputation) {
    golden_case cases[8];
    int n;
    const golden_case *c = golden_tiny(cases, &n);
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 2, G2R_KERNELS_AUTO);
    REQUIRE(m);
    enum { P = 5, G = 20 };
    int seq[P + G], gen[G], n_out = 0;
    memcpy(seq, c->ids[0], P * sizeof(int));
    g2r_sampler smp = {.temperature = 0.0f, .max_new = G};
    g2r_error err = {0};
    REQUIRE(g2r_generate(m, seq, P, &smp, gen, G, &n_out, NULL, NULL, &err) == G2R_OK);
    REQUIRE(n_out == G);
    memcpy(seq + P, gen, sizeof gen);
    int V = c->n_vocab;
    float *logits = malloc((size_t)(P + G) * V * sizeof *logits);
    for (int i = 0; i < G; i++) {
        int len = P + i, *ids = seq;
        REQUIRE(forward_all(m, 1, &ids, &len, G2R_OUT_LOGITS, logits) == G2R_OK);
        const float *last = logits + (size_t)(len - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (last[v] > last[best]) best = v;
        if (best != gen[i]) t_fail(__FILE__, __LINE__, "step %d: cached %d, recomputed %d", i, gen[i], best);
    }
    free(logits);
    g2r_model_free(m);
    golden_free(cases, n);
}

static int stop_after_three(int id, void *user) {
    (void)id;
    return ++*(int *)user == 3;
}

TEST(generate_limits_seeds_callbacks_and_errors) {
    golden_case cases[8];
    int n;
    const golden_case *c = golden_tiny(cases, &n);
    REQUIRE(c);
    g2r_model *m = load_model(c->model, 1, G2R_KERNELS_AUTO);
    REQUIRE(m);
    const int *long_ids = c->ids[3]; /* 64 tokens = n_ctx */
    int out[64], n_out;
    g2r_error err = {0};
    g2r_sampler smp = {.temperature = 0.0f, .max_new = 0};
    /* prompt + generated stop at n_ctx */
    CHECK(g2r_generate(m, long_ids, 60, &smp, out, 64, &n_out, NULL, NULL, &err) == G2R_OK);
    CHECK_EQ_INT(n_out, 4);
    CHECK(g2r_generate(m, long_ids, 64, &smp, out, 64, &n_out, NULL, NULL, &err) == G2R_OK);
    CHECK_EQ_INT(n_out, 0);
    /* cap below the count: the first cap ids are written, all are counted */
    smp.max_new = 6;
    out[2] = -7;
    CHECK(g2r_generate(m, long_ids, 10, &smp, out, 2, &n_out, NULL, NULL, &err) == G2R_OK);
    CHECK_EQ_INT(n_out, 6);
    CHECK_EQ_INT(out[2], -7);
    /* the callback may stop early */
    int calls = 0;
    CHECK(g2r_generate(m, long_ids, 10, &smp, out, 64, &n_out, stop_after_three, &calls, &err) == G2R_OK);
    CHECK_EQ_INT(n_out, 3);
    /* the same seed, the same tokens; top_k 1 is greedy */
    int a[16], b[16], g[16], na, nb, ng;
    g2r_sampler hot = {.temperature = 1.5f, .top_k = 40, .top_p = 0.95f, .seed = 9, .max_new = 16};
    CHECK(g2r_generate(m, long_ids, 4, &hot, a, 16, &na, NULL, NULL, &err) == G2R_OK);
    CHECK(g2r_generate(m, long_ids, 4, &hot, b, 16, &nb, NULL, NULL, &err) == G2R_OK);
    CHECK(na == 16 && nb == 16 && !memcmp(a, b, sizeof a));
    hot.top_k = 1;
    smp.max_new = 16;
    CHECK(g2r_generate(m, long_ids, 4, &hot, a, 16, &na, NULL, NULL, &err) == G2R_OK);
    CHECK(g2r_generate(m, long_ids, 4, &smp, g, 16, &ng, NULL, NULL, &err) == G2R_OK);
    CHECK(na == ng && !memcmp(a, g, sizeof a));
    /* errors */
    CHECK(g2r_generate(m, long_ids, 0, &smp, out, 64, &n_out, NULL, NULL, &err) == G2R_EARG);
    int big[65] = {0};
    CHECK(g2r_generate(m, big, 65, &smp, out, 64, &n_out, NULL, NULL, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "context of 64");
    int bad[] = {1, 9999};
    CHECK(g2r_generate(m, bad, 2, &smp, out, 64, &n_out, NULL, NULL, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "9999");
    g2r_model_free(m);
    golden_free(cases, n);
}
