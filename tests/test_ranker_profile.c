/* test_ranker_profile.c — profile weighting and decay against hand-computed
 * values, exclude-seen, MMR, explanations and leave-one-out eval on crafted data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt2rank.h"
#include "ranker/profile_internal.h"
#include "tests/harness.h"

#define DAY 86400.0

/* A dim-4 catalog:  P = e0, Q = e2, X1/X2 nearly equal, X3 off to the side, R between e0 and e2. */
static const char *crafted_ids[] = {"P", "Q", "X1", "X2", "X3", "R", "Z"};
static const float crafted_vecs[][4] = {
    {1, 0, 0, 0}, {0, 0, 1, 0}, {0.9f, 0.43589f, 0, 0}, {0.89f, 0.45596f, 0, 0}, {0.8f, -0.6f, 0, 0},
    {0.6f, 0, 0.8f, 0}, {0, 0, 0, 1},
};
#define N_CRAFTED 7

static g2r_index *crafted_index(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/crafted.g2ri", t_tmpdir());
    g2r_item items[N_CRAFTED];
    for (int i = 0; i < N_CRAFTED; i++)
        items[i] = (g2r_item){crafted_ids[i], strlen(crafted_ids[i]), "", 0, 0};
    g2r_index_spec spec = {4, G2R_VEC_F32, G2R_POOL_MEAN, 77, NULL, 0, NULL};
    g2r_error err = {0};
    g2r_index *ix = NULL;
    if (g2r_index_write(path, &spec, N_CRAFTED, items, &crafted_vecs[0][0], &err) ||
        g2r_index_open(path, &(g2r_index_options){1, 77}, &ix, &err))
        t_fail(__FILE__, __LINE__, "%s", err.msg);
    return ix;
}

static g2r_event ev(const char *type, const char *item, double ts, double weight) {
    return (g2r_event){"", item ? item : "", item ? strlen(item) : 0, type, item, ts, weight};
}

static void add_item_event(g2r_profile *p, g2r_index *ix, g2r_event e) {
    g2r_error err = {0};
    if (g2r_profile_add_events(p, ix, NULL, NULL, &e, 1, NULL, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
}

TEST(profile_weights_and_decay_match_hand_computed_values) {
    g2r_index *ix = crafted_index();
    REQUIRE(ix);
    g2r_profile_params pp;
    g2r_profile_params_default(&pp);
    g2r_profile *p;
    g2r_error err = {0};
    REQUIRE(g2r_profile_new(4, &pp, &p, &err) == G2R_OK);
    /* view P a week before purchase Q: 1 * 0.5 against 3 * 1 */
    add_item_event(p, ix, ev("view", "P", 0, 1));
    add_item_event(p, ix, ev("purchase", "Q", 7 * DAY, 1));
    float v[4];
    REQUIRE(g2r_profile_vector(p, v));
    double n = sqrt(0.5 * 0.5 + 3.0 * 3.0);
    CHECK_NEAR(v[0], 0.5 / n, 1e-6);
    CHECK_NEAR(v[2], 3.0 / n, 1e-6);
    CHECK_NEAR(v[1], 0, 0);
    /* events out of order, with their own weight: search (1.5) x 2 at 14 days, after the others */
    g2r_profile *p2;
    REQUIRE(g2r_profile_new(4, &pp, &p2, &err) == G2R_OK);
    add_item_event(p2, ix, ev("search", "Z", 14 * DAY, 2));
    add_item_event(p2, ix, ev("purchase", "Q", 7 * DAY, 1));
    add_item_event(p2, ix, ev("view", "P", 0, 1));
    REQUIRE(g2r_profile_vector(p2, v));
    /* at t_ref = 14 days: P 1*0.25, Q 3*0.5, Z 1.5*2*1 */
    n = sqrt(0.25 * 0.25 + 1.5 * 1.5 + 3.0 * 3.0);
    CHECK_NEAR(v[0], 0.25 / n, 1e-6);
    CHECK_NEAR(v[2], 1.5 / n, 1e-6);
    CHECK_NEAR(v[3], 3.0 / n, 1e-6);
    CHECK_EQ_INT(g2r_profile_n_events(p2), 3);
    g2r_profile_free(p);
    g2r_profile_free(p2);
    g2r_index_close(ix);
}

TEST(profile_params_parse_weights_and_unknown_types_use_other) {
    g2r_profile_params pp;
    g2r_profile_params_default(&pp);
    g2r_error err = {0};
    REQUIRE(g2r_profile_params_weights(&pp, "view=2,like=4.5", &err) == G2R_OK);
    CHECK_NEAR(g2r_event_type_weight(&pp, "view"), 2, 0);
    CHECK_NEAR(g2r_event_type_weight(&pp, "like"), 4.5, 0);
    CHECK_NEAR(g2r_event_type_weight(&pp, "cart"), 2, 0);
    CHECK_NEAR(g2r_event_type_weight(&pp, "share"), 1, 0);
    CHECK(g2r_profile_params_weights(&pp, "view", &err) == G2R_EARG);
    CHECK(g2r_profile_params_weights(&pp, "view=-1", &err) == G2R_EARG);
    CHECK(g2r_profile_params_weights(&pp, "=3", &err) == G2R_EARG);
}

static g2r_profile *profile_of(g2r_index *ix, const g2r_event *e, int n) {
    g2r_profile *p;
    g2r_error err = {0};
    if (g2r_profile_new(4, NULL, &p, &err)) return NULL;
    for (int i = 0; i < n; i++) add_item_event(p, ix, e[i]);
    return p;
}

static const char *id_of(g2r_index *ix, const g2r_result *r) {
    static char buf[4][32];
    static int slot;
    g2r_item it = g2r_index_item(ix, (size_t)r->row);
    char *b = buf[slot++ % 4];
    snprintf(b, 32, "%.*s", (int)it.id_len, it.id);
    return b;
}

TEST(rank_excludes_seen_items_and_mmr_diversifies) {
    g2r_index *ix = crafted_index();
    REQUIRE(ix);
    g2r_event e = ev("view", "P", 0, 1);
    g2r_profile *p = profile_of(ix, &e, 1);
    REQUIRE(p);
    g2r_result r[4];
    int n;
    g2r_error err = {0};
    g2r_rank_options o = {3, 0, 0, 0, NULL};
    REQUIRE(g2r_rank(ix, p, &o, r, &n, &err) == G2R_OK);
    REQUIRE(n == 3);
    CHECK(!strcmp(id_of(ix, &r[0]), "P"));
    CHECK(!strcmp(id_of(ix, &r[1]), "X1"));
    CHECK(!strcmp(id_of(ix, &r[2]), "X2"));
    CHECK_NEAR(r[0].score, 1.0, 1e-6);
    o.exclude_seen = 1;
    REQUIRE(g2r_rank(ix, p, &o, r, &n, &err) == G2R_OK);
    REQUIRE(n == 3);
    CHECK(!strcmp(id_of(ix, &r[0]), "X1"));
    CHECK(!strcmp(id_of(ix, &r[1]), "X2"));
    CHECK(!strcmp(id_of(ix, &r[2]), "X3"));
    /* MMR 0.5: after X1, X2 (similarity ~1 to X1) scores 0.445 - 0.5 < X3's 0.4 - 0.23 */
    o.mmr = 0.5;
    REQUIRE(g2r_rank(ix, p, &o, r, &n, &err) == G2R_OK);
    REQUIRE(n == 3);
    CHECK(!strcmp(id_of(ix, &r[0]), "X1"));
    CHECK(!strcmp(id_of(ix, &r[1]), "X3"));
    CHECK_NEAR(r[1].score, 0.8, 1e-6); /* the score stays the cosine */
    o.mmr = 1.5;
    CHECK(g2r_rank(ix, p, &o, r, &n, &err) == G2R_EARG);
    g2r_profile_free(p);
    g2r_index_close(ix);
}

TEST(rank_returns_all_unseen_items_when_k_exceeds_them) {
    g2r_index *ix = crafted_index();
    REQUIRE(ix);
    g2r_event e[2] = {ev("view", "P", 0, 1), ev("view", "Q", 0, 1)};
    g2r_profile *p = profile_of(ix, e, 2);
    REQUIRE(p);
    g2r_result r[10];
    int n;
    g2r_error err = {0};
    g2r_rank_options o = {10, 1, 0.7, 0, NULL};
    REQUIRE(g2r_rank(ix, p, &o, r, &n, &err) == G2R_OK);
    CHECK_EQ_INT(n, N_CRAFTED - 2);
    for (int i = 0; i < n; i++) CHECK(strcmp(id_of(ix, &r[i]), "P") && strcmp(id_of(ix, &r[i]), "Q"));
    g2r_profile_free(p);
    g2r_index_close(ix);
}

TEST(rank_explains_with_the_events_that_contributed_most) {
    g2r_index *ix = crafted_index();
    REQUIRE(ix);
    g2r_event e[3] = {ev("view", "P", 0, 1), ev("view", "Q", 0, 1), ev("view", "Z", 0, 0.01)};
    g2r_profile *p = profile_of(ix, e, 3);
    REQUIRE(p);
    g2r_result r[1];
    int n;
    g2r_error err = {0};
    g2r_rank_options o = {1, 1, 0, 1, NULL};
    REQUIRE(g2r_rank(ix, p, &o, r, &n, &err) == G2R_OK);
    REQUIRE(n == 1);
    CHECK(!strcmp(id_of(ix, &r[0]), "R"));
    /* sum = e0 + e2 + 0.01 e3; R = 0.6 e0 + 0.8 e2: Q gives 0.8/|sum|, P 0.6/|sum|, Z nothing */
    double norm = sqrt(2 + 1e-4);
    CHECK_EQ_INT(r[0].n_because, 2);
    CHECK(!strcmp(r[0].because[0].item, "Q"));
    CHECK(!strcmp(r[0].because[0].event, "view"));
    CHECK_NEAR(r[0].because[0].contribution, 0.8 / norm, 1e-6);
    CHECK(!strcmp(r[0].because[1].item, "P"));
    CHECK_NEAR(r[0].because[1].contribution, 0.6 / norm, 1e-6);
    CHECK_NEAR(r[0].score, r[0].because[0].contribution + r[0].because[1].contribution, 1e-6);
    /* the JSON printer */
    char path[600];
    snprintf(path, sizeof path, "%s/out.json", t_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    g2r_rank_write_json(f, ix, r, n, 1.5, 0.25);
    fclose(f);
    char buf[1024] = {0};
    f = fopen(path, "r");
    REQUIRE(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    CHECK(got > 0);
    CHECK_CONTAINS(buf, "{\"results\":[{\"rank\":1,\"id\":\"R\",\"score\":0.989925,\"because\":[{\"event\":\"view\",\"text\":\"Q\",\"item\":\"Q\",\"contribution\":0.5657}");
    CHECK_CONTAINS(buf, "\"timing_ms\":{\"embed\":1.500,\"rank\":0.250}}");
    g2r_profile_free(p);
    g2r_index_close(ix);
}

TEST(rank_refuses_an_empty_profile) {
    g2r_index *ix = crafted_index();
    REQUIRE(ix);
    g2r_profile *p = profile_of(ix, NULL, 0);
    REQUIRE(p);
    g2r_result r[1];
    int n;
    g2r_error err = {0};
    g2r_rank_options o = {1, 0, 0, 0, NULL};
    CHECK(g2r_rank(ix, p, &o, r, &n, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "profile is empty");
    g2r_profile_free(p);
    g2r_index_close(ix);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(history_loads_events_and_refuses_bad_lines) {
    char path[600];
    snprintf(path, sizeof path, "%s/h.jsonl", t_tmpdir());
    write_text(path, "{\"text\":\"red shoes\",\"event\":\"search\",\"ts\":5}\n\n"
                     "{\"item\":\"X1\",\"ts\":6.5,\"weight\":2,\"user\":\"u\"}\n");
    g2r_history *h;
    g2r_error err = {0};
    REQUIRE(g2r_history_load(path, 0, &h, &err) == G2R_OK);
    REQUIRE(g2r_history_len(h) == 2);
    const g2r_event *e = g2r_history_events(h);
    CHECK(!strcmp(e[0].text, "red shoes") && !strcmp(e[0].type, "search") && e[0].item == NULL);
    CHECK_NEAR(e[0].ts, 5, 0);
    CHECK_NEAR(e[0].weight, 1, 0);
    CHECK(!strcmp(e[1].type, "view") && !strcmp(e[1].item, "X1") && !strcmp(e[1].user, "u"));
    CHECK_NEAR(e[1].weight, 2, 0);
    g2r_history_free(h);

    const char *bad[][2] = {
        {"{\"text\":1}\n", ":1: \"text\""},
        {"{\"ts\":1}\n", "needs \"text\" or \"item\""},
        {"{\"text\":\"a\"}\n{\"text\":\"b\",\"weight\":-1}\n", ":2: \"weight\""},
        {"[1]\n", "expected a JSON object"},
        {"{\"text\":\"a\"\n", ":1: at byte"},
    };
    for (int i = 0; i < 5; i++) {
        write_text(path, bad[i][0]);
        h = NULL;
        CHECK(g2r_history_load(path, 0, &h, &err) == G2R_EFORMAT);
        CHECK(h == NULL);
        CHECK_CONTAINS(err.msg, bad[i][1]);
    }
    write_text(path, "{\"text\":\"0123456789012345678901234567890123456789\"}\n");
    CHECK(g2r_history_load(path, 20, &h, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "line longer than 20 bytes");
}

TEST(eval_leave_one_out_on_crafted_users) {
    g2r_index *ix = crafted_index();
    REQUIRE(ix);
    const char *dir = t_tmpdir();
    char path[700];
    /* u1: P then X1 (held out): profile e0 ranks X1 first among unseen */
    snprintf(path, sizeof path, "%s/u1.jsonl", dir);
    write_text(path, "{\"item\":\"P\",\"ts\":1}\n{\"item\":\"X1\",\"ts\":2}\n");
    /* u2: Q then X3 (held out): profile e2 ranks R, then X3 at most third */
    snprintf(path, sizeof path, "%s/u2.jsonl", dir);
    write_text(path, "{\"item\":\"X3\",\"ts\":9}\n{\"item\":\"Q\",\"ts\":3}\n");
    /* u3: only one event: nothing to learn from */
    snprintf(path, sizeof path, "%s/u3.jsonl", dir);
    write_text(path, "{\"item\":\"Z\",\"ts\":1}\n");
    g2r_profile_params pp;
    g2r_profile_params_default(&pp);
    g2r_eval_options o = {1, 1};
    g2r_eval_result res;
    g2r_error err = {0};
    REQUIRE(g2r_eval(ix, NULL, NULL, dir, &pp, &o, &res, &err) == G2R_OK);
    CHECK_EQ_INT(res.users, 3);
    CHECK_EQ_INT(res.evaluated, 2);
    CHECK_NEAR(res.recall, 0.5, 1e-9);  /* u1 hit at 1, u2 missed at k = 1 */
    CHECK_NEAR(res.ndcg, 0.5, 1e-9);
    CHECK_NEAR(res.coverage, 2.0 / N_CRAFTED, 1e-9); /* X1 and R */
    o.k = 3;
    REQUIRE(g2r_eval(ix, NULL, NULL, dir, &pp, &o, &res, &err) == G2R_OK);
    /* u2's list: R (0.8), then P/X1/X2/X3/Z all 0 — ties by row: P, X1 */
    CHECK_NEAR(res.recall, 0.5, 1e-9);
    g2r_index_close(ix);
}

TEST(profile_keeps_the_most_recent_events_for_explanations) {
    g2r_index *ix = crafted_index();
    REQUIRE(ix);
    g2r_profile_params pp;
    g2r_profile_params_default(&pp);
    pp.keep_events = 5;
    g2r_profile *p;
    g2r_error err = {0};
    REQUIRE(g2r_profile_new(4, &pp, &p, &err) == G2R_OK);
    for (int i = 0; i < N_CRAFTED; i++) add_item_event(p, ix, ev("view", crafted_ids[i], i, 1));
    int seen[N_CRAFTED] = {0};
    float x[4] = {1, 0, 0, 0}, c[8];
    REQUIRE(g2r_profile_contributions(p, x, c) == 5);
    for (int i = 0; i < 5; i++) {
        const char *type, *text, *item;
        g2r_profile_kept(p, i, &type, &text, &item);
        for (int j = 0; j < N_CRAFTED; j++) seen[j] += item && !strcmp(item, crafted_ids[j]);
    }
    for (int j = 0; j < N_CRAFTED; j++) CHECK_EQ_INT(seen[j], j >= N_CRAFTED - 5); /* the last five */
    CHECK_EQ_INT(g2r_profile_n_events(p), N_CRAFTED);
    g2r_profile_free(p);
    g2r_index_close(ix);
}
