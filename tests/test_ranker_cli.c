/* test_ranker_cli.c — `gpt2rank topk | rank | eval | index` end to end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gpt2rank.h"
#include "tests/harness.h"

static int run(const char *args, const char *out_path, const char *err_path) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", t_bin(), args, out_path ? out_path : "/dev/null",
             err_path ? err_path : "/dev/null");
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *path) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "rb");
    if (!f) return strcpy(buf, "");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void write_f32(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(x, sizeof(float), n, f);
    fclose(f);
}

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(s, f);
    fclose(f);
}

TEST(cli_topk_prints_cosine_pairs_best_first) {
    const char *dir = t_tmpdir();
    char items[600], queries[600], out[600], err[600], args[2048];
    snprintf(items, sizeof items, "%s/items.f32", dir);
    snprintf(queries, sizeof queries, "%s/q.f32", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    /* dim 3: rows 0 and 2 point the same way (a tie, lower index first), row 1 is orthogonal */
    float x[] = {2, 0, 0, 0, 5, 0, 1, 0, 0, 3, 4, 0};
    float q[] = {1, 0, 0, 0, 0, -1};
    write_f32(items, x, 12);
    write_f32(queries, q, 6);
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 3 -k 3 -t 2 --stats", items, queries);
    REQUIRE(run(args, out, err) == 0);
    CHECK(!strcmp(slurp(out), "[[0,1],[2,1],[3,0.6]]\n[[0,0],[1,0],[2,0]]\n"));
    CHECK_CONTAINS(slurp(err), "{\"items\":4,\"queries\":2,\"load_ms\":");
    CHECK_CONTAINS(slurp(err), "\"scan_ms\":");
    /* k > N: all rows */
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 3 -k 10", items, queries);
    REQUIRE(run(args, out, NULL) == 0);
    CHECK(!strcmp(slurp(out), "[[0,1],[2,1],[3,0.6],[1,0]]\n[[0,0],[1,0],[2,0],[3,0]]\n"));
}

TEST(cli_topk_refuses_bad_input) {
    const char *dir = t_tmpdir();
    char items[600], queries[600], empty[600], err[600], out[600], args[2048];
    snprintf(items, sizeof items, "%s/items.f32", dir);
    snprintf(queries, sizeof queries, "%s/q.f32", dir);
    snprintf(empty, sizeof empty, "%s/empty.f32", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    float x[] = {1, 2, 3, 4, 5, 6};
    write_f32(items, x, 6);
    write_f32(queries, x, 3);
    write_f32(empty, x, 0);
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 4", items, queries);
    CHECK_EQ_INT(run(args, NULL, err), 1);
    CHECK_CONTAINS(slurp(err), "is not a multiple of dim 4");
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 3 -k 0", items, queries);
    CHECK_EQ_INT(run(args, NULL, err), 2);
    CHECK_CONTAINS(slurp(err), "-k expects an integer");
    x[4] = NAN;
    write_f32(items, x, 6);
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 3", items, queries);
    CHECK_EQ_INT(run(args, NULL, err), 1);
    CHECK_CONTAINS(slurp(err), "row 1, column 1 is NaN");
    x[4] = INFINITY;
    write_f32(queries, x + 3, 3);
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 3", empty, queries);
    CHECK_EQ_INT(run(args, NULL, err), 1);
    CHECK_CONTAINS(slurp(err), "is Inf");
    /* N = 0: an empty list per query */
    x[4] = 5;
    write_f32(queries, x, 6);
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 3", empty, queries);
    CHECK_EQ_INT(run(args, out, NULL), 0);
    CHECK(!strcmp(slurp(out), "[]\n[]\n"));
    snprintf(args, sizeof args, "topk --items '%s' --dim 3", items);
    CHECK_EQ_INT(run(args, NULL, NULL), 2);
}

/* A dim-4 catalog of five items written directly (no model needed). */
static void crafted(const char *path) {
    static const char *ids[] = {"P", "X1", "X2", "X3", "Z"};
    static const float v[] = {1, 0, 0, 0, 0.9f, 0.43589f, 0, 0, 0.89f, 0.45596f, 0, 0, 0.8f, -0.6f, 0, 0, 0, 0, 0, 1};
    g2r_item items[5];
    for (int i = 0; i < 5; i++) items[i] = (g2r_item){ids[i], strlen(ids[i]), "{\"price\":3}", 11, 0};
    g2r_index_spec spec = {4, G2R_VEC_F16, G2R_POOL_MEAN, 5, NULL, 0, NULL};
    g2r_error err = {0};
    if (g2r_index_write(path, &spec, 5, items, v, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
}

TEST(cli_rank_and_eval_on_item_events) {
    const char *dir = t_tmpdir();
    char ix[600], hist[600], out[600], err[600], args[2048];
    snprintf(ix, sizeof ix, "%s/c.g2ri", dir);
    snprintf(hist, sizeof hist, "%s/u.jsonl", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    crafted(ix);
    write_text(hist, "{\"text\":\"apples\",\"event\":\"view\",\"ts\":100,\"item\":\"P\"}\n"
                     "{\"text\":\"pears\",\"event\":\"search\",\"ts\":200}\n");
    snprintf(args, sizeof args, "rank --index '%s' --history '%s' -k 2 --exclude-seen --explain --mmr 0.5", ix, hist);
    REQUIRE(run(args, out, err) == 0);
    const char *o = slurp(out);
    CHECK_CONTAINS(o, "{\"results\":[{\"rank\":1,\"id\":\"X1\",\"score\":0.89");
    CHECK_CONTAINS(o, "{\"rank\":2,\"id\":\"X3\"");
    CHECK_CONTAINS(o, "\"because\":[{\"event\":\"view\",\"text\":\"apples\",\"item\":\"P\",\"contribution\":0.89");
    CHECK_CONTAINS(o, "\"timing_ms\":{\"embed\":");
    CHECK_CONTAINS(slurp(err), "1 event(s) without an indexed item skipped");
    snprintf(args, sizeof args, "rank --index '%s' --history '%s' --half-life 3x", ix, hist);
    CHECK_EQ_INT(run(args, NULL, err), 2);
    CHECK_CONTAINS(slurp(err), "--half-life expects a duration");
    snprintf(args, sizeof args, "rank --index '%s/none.g2ri' --history '%s'", dir, hist);
    CHECK_EQ_INT(run(args, NULL, err), 1);
    CHECK_CONTAINS(slurp(err), "none.g2ri: cannot open");

    /* eval over a multi-user file */
    write_text(hist, "{\"user\":\"a\",\"item\":\"P\",\"ts\":1}\n{\"user\":\"b\",\"item\":\"Z\",\"ts\":1}\n"
                     "{\"user\":\"a\",\"item\":\"X1\",\"ts\":2}\n{\"user\":\"b\",\"item\":\"X3\",\"ts\":2}\n");
    snprintf(args, sizeof args, "eval --index '%s' --histories '%s' -k 1", ix, hist);
    REQUIRE(run(args, out, err) == 0);
    CHECK_CONTAINS(slurp(out), "{\"users\":2,\"evaluated\":2,\"k\":1,\"recall\":0.5000,\"ndcg\":0.5000,");
}

/* Index building needs the tokenizer and a model: a tiny random one. */
TEST(cli_index_build_append_and_rank_with_a_model) {
    g2r_tokenizer *tok = NULL;
    g2r_error e = {0};
    if (g2r_tokenizer_load(NULL, &tok, &e)) {
        t_skip("no tokenizer in this build");
        return;
    }
    g2r_tokenizer_free(tok);
    const char *dir = t_tmpdir();
    char model[600], items[600], ix[600], hist[600], out[600], err[600], args[4096];
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(items, sizeof items, "%s/items.jsonl", dir);
    snprintf(ix, sizeof ix, "%s/items.g2ri", dir);
    snprintf(hist, sizeof hist, "%s/u.jsonl", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 2 --embd 64 --heads 4 --ctx 64 --seed 3", model);
    REQUIRE(run(args, NULL, NULL) == 0);
    write_text(items, "{\"id\":\"a\",\"text\":\"red running shoes\",\"price\":30}\n"
                      "{\"id\":\"b\",\"text\":\"a blue winter coat\"}\n"
                      "{\"id\":\"c\",\"text\":\"green garden hose, 20 metres\"}\n"
                      "{\"id\":\"d\",\"text\":\"red running shoes\"}\n");
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s' --dtype q8 --center --drop-pc 1 -t 1", model, items, ix);
    REQUIRE(run(args, NULL, err) == 0);
    g2r_index *x;
    REQUIRE(g2r_index_open(ix, NULL, &x, &e) == G2R_OK);
    g2r_index_info info;
    g2r_index_info_get(x, &info);
    CHECK_EQ_INT(info.count, 4);
    CHECK_EQ_INT(info.dim, 64);
    CHECK_EQ_INT(info.n_pc, 1);
    CHECK(info.centered);
    g2r_item it = g2r_index_item(x, 0);
    CHECK(it.meta_len == 12 && !memcmp(it.meta, "{\"price\":30}", 12));
    /* identical texts, identical vectors */
    float va[64], vd[64];
    g2r_index_vector(x, 0, va);
    g2r_index_vector(x, 3, vd);
    CHECK(!memcmp(va, vd, sizeof va));
    g2r_index_close(x);

    /* a search for the exact text of "c" ranks c first */
    write_text(hist, "{\"text\":\"green garden hose, 20 metres\",\"event\":\"search\",\"ts\":1}\n");
    snprintf(args, sizeof args, "rank -m '%s' --index '%s' --history '%s' -k 1", model, ix, hist);
    REQUIRE(run(args, out, err) == 0);
    CHECK_CONTAINS(slurp(out), "{\"results\":[{\"rank\":1,\"id\":\"c\",\"score\":");

    /* append: one new item, one changed, the others reused */
    write_text(items, "{\"id\":\"e\",\"text\":\"a yellow umbrella\"}\n{\"id\":\"b\",\"text\":\"a blue summer coat\"}\n");
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s' --append", model, items, ix);
    REQUIRE(run(args, NULL, err) == 0);
    REQUIRE(g2r_index_open(ix, NULL, &x, &e) == G2R_OK);
    g2r_index_info_get(x, &info);
    CHECK_EQ_INT(info.count, 5);
    CHECK_EQ_INT(info.dtype, G2R_VEC_Q8); /* kept from the original */
    CHECK_EQ_INT(g2r_index_find(x, "e", 1), 4);
    CHECK(g2r_index_item(x, 1).text_hash == g2r_text_hash("a blue summer coat", 18));
    g2r_index_vector(x, 0, vd);
    CHECK(!memcmp(va, vd, sizeof va));
    g2r_index_close(x);

    /* embed: one JSON array per text, or raw float32 rows; with --index, post-processed like the items */
    snprintf(args, sizeof args, "embed -m '%s' 'red running shoes' 'a yellow umbrella'", model);
    REQUIRE(run(args, out, err) == 0);
    const char *o = slurp(out);
    int lines = 0, commas = 0;
    for (const char *c = o; *c; c++) lines += *c == '\n', commas += *c == ',';
    CHECK_EQ_INT(lines, 2);
    CHECK_EQ_INT(commas, 2 * 63);
    char raw[700];
    snprintf(raw, sizeof raw, "%s/e.f32", dir);
    snprintf(args, sizeof args, "embed -m '%s' --index '%s' -o '%s' 'red running shoes'", model, ix, raw);
    REQUIRE(run(args, NULL, err) == 0);
    FILE *rf = fopen(raw, "rb");
    REQUIRE(rf);
    float ev[65];
    size_t got = fread(ev, sizeof(float), 65, rf);
    fclose(rf);
    CHECK_EQ_INT(got, 64);
    /* the item "a" has this text: its stored (q8) vector is within quantisation of the embedding */
    REQUIRE(g2r_index_open(ix, NULL, &x, &e) == G2R_OK);
    g2r_index_vector(x, 0, va);
    double dot = 0;
    for (int d = 0; d < 64; d++) dot += (double)ev[d] * va[d];
    CHECK_NEAR(dot, 1.0, 2e-3);
    g2r_index_close(x);

    /* --append onto a missing index builds it */
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s/fresh.g2ri' --append", model, items, dir);
    CHECK_EQ_INT(run(args, NULL, err), 0);

    /* a different model is refused */
    char other[600];
    snprintf(other, sizeof other, "%s/m2.safetensors", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 2 --embd 64 --heads 4 --ctx 64 --seed 4", other);
    REQUIRE(run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "rank -m '%s' --index '%s' --history '%s'", other, ix, hist);
    CHECK_EQ_INT(run(args, NULL, err), 1);
    CHECK_CONTAINS(slurp(err), "built by a different model");
    /* bad items: no partial index left behind */
    write_text(items, "{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\"}\n");
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s/new.g2ri'", model, items, dir);
    CHECK_EQ_INT(run(args, NULL, err), 1);
    CHECK_CONTAINS(slurp(err), "items.jsonl:2: expected {\"id\"");
    char newp[700];
    snprintf(newp, sizeof newp, "%s/new.g2ri", dir);
    struct stat sb;
    CHECK(stat(newp, &sb) != 0);
}
