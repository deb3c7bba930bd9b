/* test_common.c — JSON parser, half-precision conversion, atomic files, thread pool. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/half.h"
#include "common/json.h"
#include "engine/pool.h"
#include "tests/harness.h"

static g2r_status parse(const char *s, g2r_json_doc **doc, const g2r_json **root, g2r_error *err) {
    return g2r_json_parse(s, strlen(s), "t.json", doc, root, err);
}

TEST(json_parses_nested_values) {
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    REQUIRE(parse(" {\"a\": [1, -2.5e1, true, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\", \"big\": 12345678901234} ",
                  &doc, &root, &err) == G2R_OK);
    CHECK(root->type == G2R_JSON_OBJECT);
    CHECK_EQ_INT(root->n, 3);
    const g2r_json *a = g2r_json_get(root, "a");
    REQUIRE(a && a->type == G2R_JSON_ARRAY && a->n == 4);
    CHECK(a->child->is_int && a->child->i == 1);
    CHECK(!a->child->next->is_int);
    CHECK_NEAR(a->child->next->num, -25.0, 0);
    CHECK(a->child->next->next->type == G2R_JSON_BOOL && a->child->next->next->boolean);
    const g2r_json *s = g2r_json_get(root, "s");
    REQUIRE(s && s->type == G2R_JSON_STRING);
    CHECK_EQ_INT(s->len, 1 + 2 + 4 + 1);
    CHECK(!memcmp(s->str, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8));
    CHECK(g2r_json_get(root, "big")->i == 12345678901234LL);
    CHECK(g2r_json_get(root, "missing") == NULL);
    g2r_json_free(doc);
}

TEST(json_rejects_malformed_input_with_position) {
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"\\ud800\"", "\"\xff\"", "01", "1.", "tru",
                         "{} {}", "\"a\nb\"", "[\"\\x\"]", "-", "{1:2}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g2r_json_doc *doc = NULL;
        const g2r_json *root = NULL;
        g2r_error err = {0};
        g2r_status st = parse(bad[i], &doc, &root, &err);
        if (st != G2R_EFORMAT) t_fail(__FILE__, __LINE__, "accepted bad JSON #%zu", i);
        CHECK_CONTAINS(err.msg, "t.json: at byte");
        CHECK(doc == NULL);
    }
}

TEST(json_limits_nesting_depth) {
    char buf[200];
    memset(buf, '[', 100);
    memset(buf + 100, ']', 100);
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    CHECK(g2r_json_parse(buf, 200, "deep", &doc, &root, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "nesting too deep");
}

TEST(half_conversions_round_to_nearest_even) {
    CHECK_EQ_INT(g2r_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(g2r_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(g2r_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(g2r_f32_to_f16(70000.0f), 0x7c00);
    CHECK_EQ_INT(g2r_f32_to_f16(5.9604645e-8f), 0x0001); /* smallest subnormal */
    CHECK_EQ_INT(g2r_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie -> even */
    CHECK_EQ_INT(g2r_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);
    CHECK_NEAR(g2r_f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(g2r_f16_to_f32(0x0001), 5.9604644775390625e-8, 0);
    CHECK_EQ_INT(g2r_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(g2r_f32_to_bf16(1.00390625f), 0x3f80); /* tie -> even */
    CHECK_NEAR(g2r_bf16_to_f32(0x4049), 3.140625, 0);
    /* every finite f16 round-trips */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (g2r_f32_to_f16(g2r_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(atomic_write_replaces_or_keeps_old_file) {
    char path[600];
    snprintf(path, sizeof path, "%s/out.bin", t_tmpdir());
    g2r_atomic a;
    g2r_error err = {0};
    REQUIRE(g2r_atomic_open(&a, path, &err) == G2R_OK);
    REQUIRE(g2r_atomic_write(&a, "old", 3, &err) == G2R_OK);
    REQUIRE(g2r_atomic_commit(&a, &err) == G2R_OK);
    REQUIRE(g2r_atomic_open(&a, path, &err) == G2R_OK);
    REQUIRE(g2r_atomic_write(&a, "new!", 4, &err) == G2R_OK);
    g2r_atomic_abort(&a);
    char *buf;
    size_t n;
    REQUIRE(g2r_read_file(path, 100, &buf, &n, &err) == G2R_OK);
    CHECK(n == 3 && !memcmp(buf, "old", 3));
    free(buf);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    struct stat st;
    CHECK(stat(tmp, &st) != 0); /* no temporary left */
}

TEST(map_file_refuses_directories_and_missing_files) {
    g2r_map m;
    g2r_error err = {0};
    CHECK(g2r_map_file(t_tmpdir(), &m, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "is a directory");
    CHECK(g2r_map_file("/nonexistent/x.safetensors", &m, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "/nonexistent/x.safetensors: cannot open");
}

typedef struct {
    atomic_int hits[1000];
} pool_ctx;

static void mark(void *ctx, int task, int thread) {
    (void)thread;
    atomic_fetch_add(&((pool_ctx *)ctx)->hits[task], 1);
}

TEST(pool_runs_every_task_exactly_once) {
    for (int nt = 1; nt <= 4; nt++) {
        g2r_pool *p;
        g2r_error err = {0};
        REQUIRE(g2r_pool_new(nt, &p, &err) == G2R_OK);
        CHECK_EQ_INT(g2r_pool_size(p), nt);
        pool_ctx *c = calloc(1, sizeof *c);
        for (int round = 0; round < 200; round++) g2r_pool_run(p, 1 + (round * 7) % 999, mark, c);
        int expect_total = 0, total = 0;
        for (int round = 0; round < 200; round++) expect_total += 1 + (round * 7) % 999;
        for (int i = 0; i < 1000; i++) total += atomic_load(&c->hits[i]);
        CHECK_EQ_INT(total, expect_total);
        free(c);
        g2r_pool_free(p);
    }
}
