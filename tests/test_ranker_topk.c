/* test_ranker_topk.c — dot kernels against the scalar reference, and top-K
 * against a brute-force full sort (ties, k > N, N = 0, odd dims, all dtypes). */
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "common/rng.h"
#include "gpt2rank.h"
#include "kernels/dot.h"
#include "tests/harness.h"


/* count x stride random rows in dtype t, with per-row scales for q8. */
static void *random_rows(g2r_rng *r, g2r_vec_dtype t, size_t count, size_t stride, float **scale) {
    void *x = calloc(count * stride + 1, g2r_vec_dtype_size(t));
    *scale = NULL;
    if (t == G2R_VEC_Q8) *scale = malloc(sizeof(float) * (count + 1));
    for (size_t i = 0; i < count; i++) {
        for (size_t d = 0; d < stride; d++) {
            float v = g2r_rng_normal(r);
            if (t == G2R_VEC_F32) ((float *)x)[i * stride + d] = v;
            else if (t == G2R_VEC_F16) ((uint16_t *)x)[i * stride + d] = g2r_f32_to_f16(v);
            else ((int8_t *)x)[i * stride + d] = (int8_t)(g2r_rng_u64(r) % 255 - 127);
        }
        if (*scale) (*scale)[i] = 0.01f + g2r_rng_f32(r);
    }
    return x;
}

static double ref_dot(g2r_vec_dtype t, const float *q, const int8_t *q8, float q8_scale, const void *x, size_t row,
                      size_t stride, const float *scale, int dim) {
    double s = 0;
    for (int d = 0; d < dim; d++) {
        size_t i = row * stride + (size_t)d;
        if (t == G2R_VEC_Q8) s += (double)q8[d] * ((const int8_t *)x)[i];
        else s += q[d] * (t == G2R_VEC_F32 ? ((const float *)x)[i] : g2r_f16_to_f32(((const uint16_t *)x)[i]));
    }
    if (t == G2R_VEC_Q8) s *= q8_scale;
    return s * (scale ? scale[row] : 1.0);
}

/* A query block with its int8 copy. */
typedef struct {
    g2r_dot_queries q;
    int8_t *i8;
    float scale[G2R_DOT_MAX_Q * 2];
} qblock;

static void make_block(qblock *b, const float *f, int nq, int dim) {
    b->i8 = malloc((size_t)nq * dim + 1);
    for (int j = 0; j < nq; j++) g2r_dot_quantize(f + (size_t)j * dim, dim, b->i8 + (size_t)j * dim, &b->scale[j]);
    b->q = (g2r_dot_queries){nq, dim, f, b->i8, b->scale};
}

TEST(dot_quantize_rounds_to_127_steps) {
    float q[4] = {0.5f, -1.0f, 0.25f, 0}, s;
    int8_t o[4];
    g2r_dot_quantize(q, 4, o, &s);
    CHECK_NEAR(s, 1.0 / 127, 1e-9);
    CHECK_EQ_INT(o[0], 64); /* 63.5 rounds to even */
    CHECK_EQ_INT(o[1], -127);
    CHECK_EQ_INT(o[2], 32);
    CHECK_EQ_INT(o[3], 0);
    float z[3] = {0, 0, 0};
    g2r_dot_quantize(z, 3, o, &s);
    CHECK(s == 0 && o[0] == 0);
}

TEST(dot_kernels_match_reference_for_every_dtype_and_shape) {
    const g2r_kernels_kind kinds[] = {G2R_KERNELS_SCALAR, G2R_KERNELS_AVX2, G2R_KERNELS_AVX512};
    const int dims[] = {1, 7, 15, 16, 17, 33, 63, 64, 65, 100, 768};
    const int n_dims = sizeof dims / sizeof dims[0];
    g2r_rng r = {42};
    int tested = 0;
    for (size_t ki = 0; ki < 4; ki++) {
        /* the fourth: AVX-512 q8 without VNNI, when the CPU runs AVX-512 at all */
        const g2r_dot_kernels *k = ki < 3 ? g2r_dot_kernels_get(kinds[ki])
                                          : g2r_dot_kernels_get(G2R_KERNELS_AVX512) ? g2r_dot_avx512_bw() : NULL;
        if (!k) continue;
        tested++;
        for (int t = 0; t < 3; t++) {
            for (int di = 0; di < n_dims; di++) {
                int dim = dims[di], n_rows = 11, nq = 1 + di % G2R_DOT_MAX_Q;
                size_t stride = (size_t)dim + (di & 1) * 5;
                float *scale;
                void *x = random_rows(&r, (g2r_vec_dtype)t, (size_t)n_rows, stride, &scale);
                float *q = malloc(sizeof(float) * (size_t)nq * dim), scores[11 * G2R_DOT_MAX_Q];
                for (int i = 0; i < nq * dim; i++) q[i] = g2r_rng_normal(&r);
                qblock b;
                make_block(&b, q, nq, dim);
                k->dots[t](scores, &b.q, x, stride, scale, n_rows);
                for (int row = 0; row < n_rows; row++)
                    for (int j = 0; j < nq; j++) {
                        double want = ref_dot((g2r_vec_dtype)t, q + (size_t)j * dim, b.i8 + (size_t)j * dim, b.scale[j],
                                              x, (size_t)row, stride, scale, dim);
                        /* q8: exact int32 sums, only the final float products round */
                        double tol = t == G2R_VEC_Q8 ? 1e-6 * fabs(want) : 1e-4 * (1 + dim);
                        if (!(fabs(scores[row * nq + j] - want) <= tol))
                            t_fail(__FILE__, __LINE__, "%s %s dim %d row %d q %d: %g vs %g", k->name,
                                   g2r_vec_dtype_name((g2r_vec_dtype)t), dim, row, j, scores[row * nq + j], want);
                    }
                /* one (query, row) pair scored alone gives the same bits as in a block */
                float one;
                qblock b1;
                make_block(&b1, q + (size_t)(nq - 1) * dim, 1, dim);
                k->dots[t](&one, &b1.q, (const char *)x + 3 * stride * g2r_vec_dtype_size((g2r_vec_dtype)t), stride,
                           scale ? scale + 3 : NULL, 1);
                CHECK(one == scores[3 * nq + nq - 1]);
                free(b.i8);
                free(b1.i8);
                free(q);
                free(x);
                free(scale);
            }
        }
    }
    CHECK(tested >= 1);
}

TEST(dot_q8_extreme_bytes_match_reference) {
    /* rows and queries of +-127 (the int8 range kernels/dot.h allows): the
     * largest int32 sums, and the VNNI path's +128 offset at both ends */
    enum { DIM = 771, ROWS = 6, NQ = 5 };
    int8_t *x = malloc(ROWS * DIM), q8[NQ * DIM];
    float q8_scale[NQ] = {1, 0.5f, 2, 1, 1}, scores[ROWS * NQ];
    for (int r = 0; r < ROWS; r++)
        for (int d = 0; d < DIM; d++) x[r * DIM + d] = (int8_t)(r == 0 ? -127 : r == 1 ? 127 : d % r ? 127 : -127);
    for (int j = 0; j < NQ; j++)
        for (int d = 0; d < DIM; d++) q8[j * DIM + d] = (int8_t)(j == 0 ? 127 : j == 1 ? -127 : (d + j) % 3 ? 127 : -127);
    const g2r_dot_queries qb = {NQ, DIM, NULL, q8, q8_scale};
    const g2r_dot_kernels *ks[] = {g2r_dot_scalar(), g2r_dot_kernels_get(G2R_KERNELS_AVX2),
                                   g2r_dot_kernels_get(G2R_KERNELS_AVX512),
                                   g2r_dot_kernels_get(G2R_KERNELS_AVX512) ? g2r_dot_avx512_bw() : NULL};
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        if (!ks[ki]) continue;
        ks[ki]->dots[G2R_VEC_Q8](scores, &qb, x, DIM, NULL, ROWS);
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < NQ; j++) {
                int64_t want = 0;
                for (int d = 0; d < DIM; d++) want += (int64_t)q8[j * DIM + d] * x[r * DIM + d];
                if (scores[r * NQ + j] != (float)want * q8_scale[j])
                    t_fail(__FILE__, __LINE__, "%s row %d q %d: %g vs %lld", ks[ki]->name, r, j, scores[r * NQ + j],
                           (long long)want);
            }
    }
    CHECK_NEAR(scores[0], -127.0 * 127 * DIM, 0); /* the last table's row 0, query 0 */
    free(x);
}

/* Brute force: every score from the kernel one row at a time, full sort. */
static int cmp_hit(const void *a, const void *b) {
    const g2r_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void check_topk(g2r_scanner *s, const g2r_vectors *v, const float *q, int nq, int k, const int64_t *ex,
                       size_t n_ex, const char *what) {
    const g2r_dot_kernels *kern = g2r_dot_kernels_get(G2R_KERNELS_AUTO);
    g2r_hit *got = malloc(sizeof(g2r_hit) * (size_t)(nq * k + 1));
    g2r_hit *all = malloc(sizeof(g2r_hit) * (v->count + 1));
    int n_out = -1;
    g2r_error err = {0};
    if (g2r_topk(s, v, q, nq, k, ex, n_ex, got, &n_out, &err) != G2R_OK) {
        t_fail(__FILE__, __LINE__, "%s: %s", what, err.msg);
        goto done;
    }
    for (int j = 0; j < nq; j++) {
        size_t m = 0;
        for (size_t r = 0; r < v->count; r++) {
            int skip = 0;
            for (size_t e = 0; e < n_ex; e++) skip |= ex[e] == (int64_t)r;
            if (skip) continue;
            float sc;
            qblock b;
            make_block(&b, q + (size_t)j * v->dim, 1, v->dim);
            kern->dots[v->dtype](&sc, &b.q, (const char *)v->data + r * v->stride * g2r_vec_dtype_size(v->dtype), v->stride,
                                 v->scale ? v->scale + r : NULL, 1);
            free(b.i8);
            all[m++] = (g2r_hit){(int64_t)r, sc};
        }
        qsort(all, m, sizeof *all, cmp_hit);
        int want_n = (size_t)k < m ? k : (int)m;
        if (n_out != want_n) {
            t_fail(__FILE__, __LINE__, "%s: n_out %d, expected %d", what, n_out, want_n);
            break;
        }
        for (int i = 0; i < want_n; i++) {
            g2r_hit g = got[(size_t)j * k + i];
            if (g.index != all[i].index || g.score != all[i].score) {
                t_fail(__FILE__, __LINE__, "%s: query %d rank %d: got row %lld (%g), expected row %lld (%g)", what, j,
                       i, (long long)g.index, g.score, (long long)all[i].index, all[i].score);
                goto done;
            }
        }
    }
done:
    free(got);
    free(all);
}

TEST(topk_matches_full_sort_on_random_data) {
    g2r_rng r = {7};
    g2r_scanner *s1, *s3;
    g2r_error err;
    REQUIRE(g2r_scanner_new(1, &s1, &err) == G2R_OK);
    REQUIRE(g2r_scanner_new(3, &s3, &err) == G2R_OK);
    const int dims[] = {5, 16, 37};
    const size_t counts[] = {1, 10, 1000, 9000};
    for (int t = 0; t < 3; t++)
        for (int di = 0; di < 3; di++)
            for (int ci = 0; ci < 4; ci++) {
                int dim = dims[di];
                size_t n = counts[ci];
                float *scale;
                void *x = random_rows(&r, (g2r_vec_dtype)t, n, (size_t)dim, &scale);
                g2r_vectors v = {(g2r_vec_dtype)t, dim, n, (size_t)dim, x, scale, NULL};
                int nq = G2R_DOT_MAX_Q + 3; /* two query blocks, the second partial */
                float *q = malloc(sizeof(float) * (size_t)nq * dim);
                for (int i = 0; i < nq * dim; i++) q[i] = g2r_rng_normal(&r);
                char what[96];
                snprintf(what, sizeof what, "%s dim %d n %zu", g2r_vec_dtype_name((g2r_vec_dtype)t), dim, n);
                check_topk(s1, &v, q, nq, 10, NULL, 0, what);
                check_topk(s3, &v, q, nq, 10, NULL, 0, what);
                check_topk(s3, &v, q, 2, 1, NULL, 0, what);
                check_topk(s3, &v, q, 1, (int)n + 5, NULL, 0, what); /* k > N: all N */
                int64_t ex[] = {0, 2, 3, 500};
                check_topk(s3, &v, q, 3, 7, ex, 4, what);
                free(q);
                free(x);
                free(scale);
            }
    g2r_scanner_free(s1);
    g2r_scanner_free(s3);
}

TEST(topk_breaks_ties_by_lower_index) {
    /* 5000 identical rows and a few better ones: ties must come lowest row first */
    int dim = 19;
    size_t n = 5000;
    float *x = malloc(sizeof(float) * n * dim);
    for (size_t i = 0; i < n * (size_t)dim; i++) x[i] = 1.0f;
    for (int d = 0; d < dim; d++) x[4321 * dim + d] = 2.0f;
    float q[19];
    for (int d = 0; d < dim; d++) q[d] = 1.0f;
    g2r_vectors v = {G2R_VEC_F32, dim, n, (size_t)dim, x, NULL, NULL};
    g2r_scanner *s;
    g2r_error err;
    REQUIRE(g2r_scanner_new(2, &s, &err) == G2R_OK);
    g2r_hit hits[4];
    int n_out;
    REQUIRE(g2r_topk(s, &v, q, 1, 4, NULL, 0, hits, &n_out, &err) == G2R_OK);
    CHECK_EQ_INT(n_out, 4);
    CHECK_EQ_INT(hits[0].index, 4321);
    CHECK_EQ_INT(hits[1].index, 0);
    CHECK_EQ_INT(hits[2].index, 1);
    CHECK_EQ_INT(hits[3].index, 2);
    CHECK_NEAR(hits[0].score, 38.0, 0);
    g2r_scanner_free(s);
    free(x);
}

TEST(topk_empty_matrix_returns_no_hits_and_bad_k_is_refused) {
    g2r_scanner *s;
    g2r_error err = {0};
    REQUIRE(g2r_scanner_new(1, &s, &err) == G2R_OK);
    g2r_vectors v = {G2R_VEC_F32, 4, 0, 4, NULL, NULL, NULL};
    float q[4] = {1, 0, 0, 0};
    g2r_hit h[3];
    int n_out = -1;
    CHECK(g2r_topk(s, &v, q, 1, 3, NULL, 0, h, &n_out, &err) == G2R_OK);
    CHECK_EQ_INT(n_out, 0);
    CHECK(g2r_topk(s, &v, q, 1, 0, NULL, 0, h, &n_out, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "k must be at least 1");
    g2r_scanner_free(s);
}

TEST(topk_q8_with_f16_refine_matches_the_f16_ranking) {
    enum { N = 3000, D = 64, K = 10, NQ = 20 };
    g2r_rng r = {11};
    float *x = malloc(sizeof(float) * N * D), q[NQ * D];
    for (int i = 0; i < N * D; i++) x[i] = g2r_rng_normal(&r);
    for (int i = 0; i < NQ * D; i++) q[i] = g2r_rng_normal(&r);
    int8_t *x8 = malloc(N * D);
    uint16_t *x16 = malloc(sizeof(uint16_t) * N * D);
    float *scale = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        float amax = 0;
        for (int d = 0; d < D; d++) amax = fmaxf(amax, fabsf(x[i * D + d]));
        for (int d = 0; d < D; d++) {
            x8[i * D + d] = (int8_t)lrintf(x[i * D + d] / amax * 127);
            x16[i * D + d] = g2r_f32_to_f16(x[i * D + d]);
        }
        scale[i] = amax / 127;
    }
    g2r_vectors fine = {G2R_VEC_F16, D, N, D, x16, NULL, NULL};
    g2r_vectors coarse = {G2R_VEC_Q8, D, N, D, x8, scale, &fine};
    g2r_scanner *s;
    g2r_error err;
    REQUIRE(g2r_scanner_new(2, &s, &err) == G2R_OK);
    g2r_hit a[NQ * K], b[NQ * K];
    int na, nb;
    REQUIRE(g2r_topk(s, &coarse, q, NQ, K, NULL, 0, a, &na, &err) == G2R_OK);
    REQUIRE(g2r_topk(s, &fine, q, NQ, K, NULL, 0, b, &nb, &err) == G2R_OK);
    CHECK_EQ_INT(na, K);
    for (int i = 0; i < NQ * K; i++) {
        CHECK_EQ_INT(a[i].index, b[i].index);
        CHECK(a[i].score == b[i].score); /* re-scored with the f16 rows */
    }
    /* without refine, int8 rounding reorders some near-ties: that is what refine is for */
    coarse.refine = NULL;
    REQUIRE(g2r_topk(s, &coarse, q, NQ, K, NULL, 0, a, &na, &err) == G2R_OK);
    int same = 0;
    for (int i = 0; i < NQ * K; i++) same += a[i].index == b[i].index;
    CHECK(same > NQ * K / 2);
    g2r_scanner_free(s);
    free(x), free(x8), free(x16), free(scale);
}
