/* test_rerank.c — the re-rank stage: prompt templates, shared-prefix scores
 * against from-scratch scoring, batch against one by one, truncation, the
 * blend with the cosine and the JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/json.h"
#include "ranker/rerank.h"
#include "tests/harness.h"
#include "tests/test_serve_util.h"
#include "weights/gpt2_random.h"

/* A tiny model with GPT-2's vocabulary (the tokenizer's ids must fit). */
static g2r_model *tiny_model(int n_ctx) {
    char path[600];
    snprintf(path, sizeof path, "%s/rr.safetensors", t_tmpdir());
    g2r_config cfg = {2, 2, 32, 50257, n_ctx};
    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_options o = {.n_threads = 1};
    if (g2r_gpt2_write_random(path, &cfg, G2R_DT_F32, 7, &err) || g2r_model_load(path, &o, &m, &err)) {
        t_fail(__FILE__, __LINE__, "tiny model: %s", err.msg);
        return NULL;
    }
    return m;
}

static g2r_event ev(const char *type, const char *text) {
    return (g2r_event){"", text, strlen(text), type, NULL, 0, 1};
}

TEST(rerank_prompt_fills_the_template_from_recent_events) {
    g2r_event e[] = {ev("view", "red shoes"), ev("search", "running"), ev("view", "blue socks"),
                     ev("purchase", "laces"), ev("view", "trail shoes"), ev("view", "hat")};
    g2r_error err = {0};
    char *p = NULL;
    REQUIRE(g2r_rerank_prompt(NULL, e, 6, &p, &err) == G2R_OK);
    CHECK(!strcmp(p, "A user recently viewed: hat, trail shoes, blue socks; searched: running; bought: laces. "
                     "Next they chose:"));
    free(p);
    REQUIRE(g2r_rerank_prompt("{cart}|{recent}|{{x}", e, 3, &p, &err) == G2R_OK);
    CHECK(!strcmp(p, "nothing|view blue socks; search running; view red shoes|{x}"));
    free(p);
    g2r_event with_item[2] = {ev("view", "kettle"), ev("view", "")}; /* an item event without text */
    REQUIRE(g2r_rerank_prompt("{view}|{recent}", with_item, 2, &p, &err) == G2R_OK);
    CHECK(!strcmp(p, "kettle|view kettle"));
    free(p);
    REQUIRE(g2r_rerank_prompt("{recent}", e, 0, &p, &err) == G2R_OK);
    CHECK(!strcmp(p, "nothing"));
    free(p);
    CHECK(g2r_rerank_prompt("bad {view", e, 6, &p, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "template");
    CHECK(g2r_rerank_prompt("", e, 6, &p, &err) == G2R_EARG);
    CHECK(p == NULL);
}

/* Mean log-probability of cand after prefix, by one plain forward pass over
 * prefix + cand (no shared cache): the reference for the shared-prefix path. */
static double from_scratch(g2r_model *m, const int *prefix, int np, const int *cand, int nc) {
    g2r_config cfg = g2r_model_config(m);
    if (nc > cfg.n_ctx - np) nc = cfg.n_ctx - np;
    int n = np + nc, V = cfg.n_vocab;
    int *ids = malloc(sizeof(int) * (size_t)n);
    float *logits = malloc(sizeof(float) * (size_t)n * V);
    memcpy(ids, prefix, sizeof(int) * (size_t)np);
    memcpy(ids + np, cand, sizeof(int) * (size_t)nc);
    g2r_session *s = NULL;
    g2r_error err = {0};
    double sum = NAN;
    const int *p[1] = {ids};
    if (!g2r_session_new(m, 1, n, &s, &err) && !g2r_forward(s, 1, p, &n, G2R_OUT_LOGITS, logits, &err)) {
        sum = 0;
        for (int j = np; j < n; j++) {
            const float *row = logits + (size_t)(j - 1) * V;
            double mx = row[0], z = 0;
            for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < V; v++) z += exp(row[v] - mx);
            sum += row[ids[j]] - mx - log(z);
        }
        sum /= nc;
    }
    g2r_session_free(s);
    free(ids);
    free(logits);
    return sum;
}

static const char *cand_text[] = {"trail running shoes", "a cast iron pan", "wool socks for hiking",
                                  "noise cancelling headphones with a long battery life", "x"};
#define NCAND 5

TEST(rerank_shared_prefix_equals_from_scratch_and_batch_equals_one_by_one) {
    g2r_model *m = tiny_model(128);
    g2r_tokenizer *tok = NULL;
    g2r_error err = {0};
    REQUIRE(m && g2r_tokenizer_load(NULL, &tok, &err) == G2R_OK);
    const char *prompt = "A user recently viewed: hiking boots; searched: trail. Next they chose:";
    size_t lens[NCAND];
    g2r_result res[NCAND];
    g2r_rerank_score parts[NCAND];
    for (int i = 0; i < NCAND; i++) {
        lens[i] = strlen(cand_text[i]);
        res[i] = (g2r_result){.row = i, .score = 0.5f - 0.1f * i};
    }
    int np = 0;
    REQUIRE(g2r_rerank(m, tok, prompt, 0.5, NCAND, res, NCAND, cand_text, lens, parts, &np, &err) == G2R_OK);
    int *pids, n_p, *cids, n_c;
    REQUIRE(g2r_rerank_encode_prompt(tok, prompt, 64, &pids, &n_p, &err) == G2R_OK);
    CHECK_EQ_INT(np, n_p);
    for (int i = 0; i < NCAND; i++) {
        int c = (int)res[i].row; /* results come back re-ordered */
        REQUIRE(g2r_rerank_encode_candidate(tok, cand_text[c], lens[c], &cids, &n_c, &err) == G2R_OK);
        CHECK_NEAR(parts[i].llm, from_scratch(m, pids, n_p, cids, n_c), 1e-4);
        free(cids);
        /* one by one */
        g2r_result one = {.row = c, .score = 0.5f - 0.1f * c};
        g2r_rerank_score op;
        REQUIRE(g2r_rerank(m, tok, prompt, 0.5, 1, &one, 1, &cand_text[c], &lens[c], &op, NULL, &err) == G2R_OK);
        CHECK_NEAR(op.llm, parts[i].llm, 1e-5);
        CHECK_NEAR(parts[i].cosine, 0.5f - 0.1f * c, 1e-7);
    }
    free(pids);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
}

TEST(rerank_blends_normalised_llm_scores_with_the_cosine) {
    g2r_model *m = tiny_model(128);
    g2r_tokenizer *tok = NULL;
    g2r_error err = {0};
    REQUIRE(m && g2r_tokenizer_load(NULL, &tok, &err) == G2R_OK);
    size_t lens[NCAND];
    g2r_result res[NCAND];
    g2r_rerank_score parts[NCAND];
    for (int i = 0; i < NCAND; i++) lens[i] = strlen(cand_text[i]), res[i] = (g2r_result){.row = i, .score = 0.9f - 0.01f * i};
    /* re-rank only the top 3: the other two keep llm_norm 0 and stay last */
    REQUIRE(g2r_rerank(m, tok, "Next they chose:", 0.25, 3, res, NCAND, cand_text, lens, parts, NULL, &err) == G2R_OK);
    float lo = 2, hi = -1;
    for (int i = 0; i < NCAND; i++) {
        CHECK_NEAR(parts[i].final, 0.25 * parts[i].cosine + 0.75 * parts[i].llm_norm, 1e-6);
        CHECK_NEAR(res[i].score, parts[i].final, 0);
        if (i) CHECK(res[i - 1].score >= res[i].score);
        CHECK_EQ_INT(parts[i].scored, res[i].row < 3);
        if (parts[i].scored) lo = fminf(lo, parts[i].llm_norm), hi = fmaxf(hi, parts[i].llm_norm);
    }
    CHECK_NEAR(lo, 0, 0);
    CHECK_NEAR(hi, 1, 0);
    CHECK_EQ_INT(res[3].row, 3);
    CHECK_EQ_INT(res[4].row, 4);
    /* alpha 1: the cosine order is kept */
    for (int i = 0; i < NCAND; i++) res[i] = (g2r_result){.row = i, .score = 0.9f - 0.01f * i};
    REQUIRE(g2r_rerank(m, tok, "Next they chose:", 1, NCAND, res, NCAND, cand_text, lens, parts, NULL, &err) == G2R_OK);
    for (int i = 0; i < NCAND; i++) CHECK_EQ_INT(res[i].row, i);
    CHECK(g2r_rerank(m, tok, "x", 1.5, 1, res, 1, cand_text, lens, parts, NULL, &err) == G2R_EARG);
    float same[3] = {-2, -2, -2}, out[3];
    g2r_rerank_normalise(same, 3, out);
    CHECK_NEAR(out[1], 1, 0);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
}

TEST(rerank_truncates_long_prompts_at_the_front_and_long_candidates_at_the_end) {
    g2r_model *m = tiny_model(32); /* prompt cap 16 */
    g2r_tokenizer *tok = NULL;
    g2r_error err = {0};
    REQUIRE(m && g2r_tokenizer_load(NULL, &tok, &err) == G2R_OK);
    CHECK_EQ_INT(g2r_rerank_prompt_cap(32), 16);
    char prompt[400] = "", item[400] = "";
    for (int i = 0; i < 40; i++) strcat(prompt, " one"), strcat(item, " two");
    strcat(prompt, " Next they chose:");
    const char *texts[1] = {item};
    size_t lens[1] = {strlen(item)};
    g2r_result res = {.row = 0, .score = 0.3f};
    g2r_rerank_score part;
    int np = 0;
    REQUIRE(g2r_rerank(m, tok, prompt, 0, 1, &res, 1, texts, lens, &part, &np, &err) == G2R_OK);
    CHECK_EQ_INT(np, 16);
    int *pids, n_p, *cids, n_c, *full, n_full;
    REQUIRE(g2r_rerank_encode_prompt(tok, prompt, 16, &pids, &n_p, &err) == G2R_OK);
    REQUIRE(g2r_rerank_encode_prompt(tok, prompt, 1000, &full, &n_full, &err) == G2R_OK);
    CHECK(n_full > 16);
    CHECK(!memcmp(pids, full + n_full - 16, 16 * sizeof(int))); /* the last 16 tokens */
    REQUIRE(g2r_rerank_encode_candidate(tok, item, lens[0], &cids, &n_c, &err) == G2R_OK);
    CHECK(n_c > 16);
    /* from_scratch keeps the first 32 - 16 candidate tokens, the documented rule */
    CHECK_NEAR(part.llm, from_scratch(m, pids, n_p, cids, n_c), 1e-4);
    free(pids), free(full), free(cids);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
}

TEST(rerank_json_carries_both_parts) {
    g2r_result r[2] = {{.row = 4, .score = 0.7f}, {.row = 1, .score = 0.2f}};
    g2r_rerank_score p[2] = {{0.6f, -3.5f, 1, 0.7f, 1}, {0.4f, 0, 0, 0.2f, 0}};
    const char *ids[2] = {"b\"4", "a1"};
    size_t id_lens[2] = {3, 2};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    g2r_results_write_json(f, r, 2, ids, id_lens, p, 1, 2, 3);
    fclose(f);
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    REQUIRE(g2r_json_parse(buf, len, "json", &doc, &root, &err) == G2R_OK);
    const g2r_json *res = g2r_json_get(root, "results");
    REQUIRE(res && res->n == 2);
    CHECK(!strcmp(g2r_json_get(res->child, "id")->str, "b\"4"));
    CHECK_NEAR(g2r_json_get(res->child, "cosine")->num, 0.6, 1e-6);
    CHECK_NEAR(g2r_json_get(res->child, "llm")->num, -3.5, 1e-6);
    CHECK_NEAR(g2r_json_get(res->child, "score")->num, 0.7, 1e-6);
    CHECK(g2r_json_get(res->child->next, "llm")->type == G2R_JSON_NULL);
    CHECK_NEAR(g2r_json_get(g2r_json_get(root, "timing_ms"), "rerank")->num, 3, 1e-9);
    g2r_json_free(doc);
    free(buf);
}

TEST(rerank_cli_rank_rerank_prints_both_parts) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    char hist[600], cmd[3000];
    snprintf(hist, sizeof hist, "%s/h.jsonl", f.dir);
    FILE *h = fopen(hist, "w");
    REQUIRE(h);
    fputs("{\"text\":\"running shoes\",\"event\":\"view\",\"ts\":1}\n{\"item\":\"sock\",\"event\":\"purchase\",\"ts\":2}\n", h);
    fclose(h);
    snprintf(cmd, sizeof cmd, "%s rank -m %s --index %s --history %s -k 2 --rerank 5 --alpha 0.4 --items %s -t 1",
             t_bin(), f.model, f.index, hist, f.items);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    char out[8192] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    CHECK_EQ_INT(pclose(p), 0);
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    REQUIRE(g2r_json_parse(out, n, "rank output", &doc, &root, &err) == G2R_OK);
    const g2r_json *res = g2r_json_get(root, "results");
    REQUIRE(res && res->n == 2);
    for (const g2r_json *r = res->child; r; r = r->next) {
        double cos = g2r_json_get(r, "cosine")->num, norm = g2r_json_get(r, "llm_norm")->num;
        CHECK_NEAR(g2r_json_get(r, "score")->num, 0.4 * cos + 0.6 * norm, 1e-5);
        CHECK(g2r_json_get(r, "llm")->num < 0);
    }
    CHECK(g2r_json_get(g2r_json_get(root, "timing_ms"), "rerank") != NULL);
    g2r_json_free(doc);
    snprintf(cmd, sizeof cmd, "%s rank -m %s --index %s --history %s --rerank 5 2>/dev/null", t_bin(), f.model, f.index, hist);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 2); /* no --items */
}
