/* test_ranker_index.c — .g2ri round trip, rejection of corrupted, truncated and
 * foreign files, post-processing, XXH64 reference values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "gpt2rank.h"
#include "ranker/hash.h"
#include "ranker/postproc.h"
#include "tests/harness.h"

TEST(xxh64_matches_reference_values) {
    CHECK(g2r_xxh64("", 0, 0) == 0xef46db3751d8e999ull);
    CHECK(g2r_xxh64("a", 1, 0) == 0xd24ec4f1a98c6e5bull);
    CHECK(g2r_xxh64("Nobody inspects the spammish repetition", 39, 0) == 0xfbcea83c8a378bf1ull);
}

#define N_ITEMS 50
#define DIM 37

static char ids[N_ITEMS][16], metas[N_ITEMS][32];
static g2r_item items[N_ITEMS];
static float vecs[N_ITEMS * DIM];

static void make_items(void) {
    g2r_rng r = {99};
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(ids[i], sizeof ids[i], "item-%d", i);
        snprintf(metas[i], sizeof metas[i], "{\"price\":%d}", i * 3);
        items[i] = (g2r_item){ids[i], strlen(ids[i]), metas[i], i % 7 ? strlen(metas[i]) : 0, g2r_text_hash(ids[i], 3)};
        for (int d = 0; d < DIM; d++) vecs[i * DIM + d] = g2r_rng_normal(&r);
        g2r_l2_normalize(vecs + i * DIM, DIM);
    }
}

static const char *write_index(g2r_vec_dtype t, uint64_t fp, const char *name) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", t_tmpdir(), name);
    make_items();
    float mean[DIM], pcs[2 * DIM];
    g2r_error err = {0};
    if (g2r_postproc_fit(vecs, N_ITEMS, DIM, 1, 2, mean, pcs, &err)) return NULL;
    g2r_index_spec spec = {DIM, t, G2R_POOL_LAST, fp, mean, 2, pcs};
    if (g2r_index_write(path, &spec, N_ITEMS, items, vecs, &err)) {
        t_fail(__FILE__, __LINE__, "write: %s", err.msg);
        return NULL;
    }
    return path;
}

TEST(index_round_trips_every_dtype) {
    for (int t = 0; t < 3; t++) {
        const char *path = write_index((g2r_vec_dtype)t, 0x1234, "rt.g2ri");
        REQUIRE(path);
        g2r_index *ix;
        g2r_error err = {0};
        g2r_index_options o = {1, 0x1234};
        REQUIRE(g2r_index_open(path, &o, &ix, &err) == G2R_OK);
        g2r_index_info info;
        g2r_index_info_get(ix, &info);
        CHECK_EQ_INT(info.count, N_ITEMS);
        CHECK_EQ_INT(info.dim, DIM);
        CHECK_EQ_INT(info.dtype, t);
        CHECK_EQ_INT(info.pooling, G2R_POOL_LAST);
        CHECK_EQ_INT(info.n_pc, 2);
        CHECK(info.centered);
        CHECK(info.fingerprint == 0x1234);
        const g2r_vectors *v = g2r_index_vectors(ix);
        CHECK(((uintptr_t)v->data & 63) == 0);
        double tol = t == G2R_VEC_F32 ? 1e-6 : 1e-3; /* q8 rows read back from their f16 copies */
        for (int i = 0; i < N_ITEMS; i++) {
            g2r_item it = g2r_index_item(ix, (size_t)i);
            CHECK(it.id_len == strlen(ids[i]) && !memcmp(it.id, ids[i], it.id_len));
            CHECK_EQ_INT(it.meta_len, items[i].meta_len);
            CHECK(!memcmp(it.meta, metas[i], it.meta_len));
            CHECK(it.text_hash == items[i].text_hash);
            CHECK_EQ_INT(g2r_index_find(ix, ids[i], strlen(ids[i])), i);
            float row[DIM];
            g2r_index_vector(ix, (size_t)i, row);
            double ss = 0;
            for (int d = 0; d < DIM; d++) {
                CHECK_NEAR(row[d], vecs[i * DIM + d], tol);
                ss += row[d] * row[d];
            }
            CHECK_NEAR(ss, 1.0, t == G2R_VEC_F32 ? 1e-5 : 2e-3);
        }
        CHECK_EQ_INT(g2r_index_find(ix, "nope", 4), -1);
        /* the scan finds each item as its own best match */
        g2r_hit h[2];
        int n;
        REQUIRE(g2r_index_topk(ix, vecs + 17 * DIM, 1, 2, NULL, 0, h, &n, &err) == G2R_OK);
        CHECK_EQ_INT(h[0].index, 17);
        CHECK_NEAR(h[0].score, 1.0, 1e-2);
        g2r_index_close(ix);
    }
}

static void expect_refused(const char *path, uint64_t fp, const char *msg) {
    g2r_index *ix = NULL;
    g2r_error err = {0};
    g2r_index_options o = {1, fp};
    CHECK(g2r_index_open(path, &o, &ix, &err) == G2R_EFORMAT);
    CHECK(ix == NULL);
    CHECK_CONTAINS(err.msg, msg);
    CHECK_CONTAINS(err.msg, path);
}

static void rewrite(const char *path, const char *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
}

TEST(index_refuses_corrupted_truncated_and_foreign_files) {
    const char *path = write_index(G2R_VEC_Q8, 0xabc, "bad.g2ri");
    REQUIRE(path);
    char *buf;
    size_t n;
    g2r_error err;
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n);
    REQUIRE(fread(buf, 1, n, f) == n);
    fclose(f);
    (void)err;

    expect_refused(path, 0xdef, "built by a different model");
    /* a flipped bit anywhere: header, ids, vectors, scales */
    size_t spots[] = {20, 200, n / 2, n - 3};
    for (int i = 0; i < 4; i++) {
        buf[spots[i]] ^= 0x10;
        rewrite(path, buf, n);
        expect_refused(path, 0, "corrupted");
        buf[spots[i]] ^= 0x10;
    }
    rewrite(path, buf, n - 100);
    expect_refused(path, 0, "truncated");
    rewrite(path, buf, 60);
    expect_refused(path, 0, "truncated header");
    rewrite(path, "hello world, this is not an index at all, really not, no no no no no no no no no no no no no no no "
                  "no no no no no no no",
            120);
    expect_refused(path, 0, "not a .g2ri file");
    buf[8] = 9; /* version */
    rewrite(path, buf, n);
    expect_refused(path, 0, "index version 9");
    free(buf);
}

TEST(index_write_refuses_duplicate_ids_and_leaves_no_file) {
    make_items();
    char path[600];
    snprintf(path, sizeof path, "%s/dup.g2ri", t_tmpdir());
    g2r_item two[2] = {items[3], items[3]};
    g2r_index_spec spec = {DIM, G2R_VEC_F32, G2R_POOL_MEAN, 0, NULL, 0, NULL};
    g2r_error err = {0};
    CHECK(g2r_index_write(path, &spec, 2, two, vecs, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "duplicate item id 'item-3'");
    FILE *f = fopen(path, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);
}

TEST(index_empty_catalog_opens_with_no_rows) {
    char path[600];
    snprintf(path, sizeof path, "%s/empty.g2ri", t_tmpdir());
    g2r_index_spec spec = {8, G2R_VEC_F16, G2R_POOL_MEAN, 0, NULL, 0, NULL};
    g2r_error err = {0};
    REQUIRE(g2r_index_write(path, &spec, 0, NULL, NULL, &err) == G2R_OK);
    g2r_index *ix;
    REQUIRE(g2r_index_open(path, NULL, &ix, &err) == G2R_OK);
    float q[8] = {1};
    g2r_hit h[1];
    int n = -1;
    CHECK(g2r_index_topk(ix, q, 1, 1, NULL, 0, h, &n, &err) == G2R_OK);
    CHECK_EQ_INT(n, 0);
    g2r_index_close(ix);
}

TEST(postprocess_removes_the_mean_and_the_top_direction) {
    /* rows = big shared offset + strong variance along e0 + small noise */
    enum { N = 400, D = 6 };
    static float x[N * D];
    g2r_rng r = {5};
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++)
            x[i * D + d] = (d == 1 ? 10.0f : 0) + (d == 0 ? 5.0f : 0.1f) * g2r_rng_normal(&r);
    float mean[D], pc[D];
    g2r_error err;
    REQUIRE(g2r_postproc_fit(x, N, D, 1, 1, mean, pc, &err) == G2R_OK);
    CHECK_NEAR(mean[1], 10.0, 0.05);
    CHECK_NEAR(fabs(pc[0]), 1.0, 1e-3);
    float v[D] = {3, 10, 0, 1, 0, 0};
    g2r_postproc_apply(v, D, mean, pc, 1);
    CHECK_NEAR(v[0], 0, 1e-2);
    CHECK_NEAR(v[3], 1.0, 1e-2); /* what is left is the e3 part */
}
