/* topk.c — exact top-K: rows scanned in shards over threads, query blocks,
 * one bounded min-heap per (thread, query), merged at the end.
 *
 * The heap root is the worst hit kept, so almost every row costs one
 * comparison against it.  "Better" is a total order (higher score, then
 * lower row), which makes the merged result independent of how rows were
 * split over threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "engine/pool.h"
#include "kernels/dot.h"
#include "ranker/rank_internal.h"

#define CHUNK 64           /* rows per kernel call: scores stay in L1 */
#define MIN_SHARD 4096     /* rows per task, at least */

struct g2r_scanner {
    g2r_pool *pool;
    int n_threads;
    const g2r_dot_kernels *kern;
    int cap_k;             /* heaps hold up to cap_k hits per (thread, query) */
    g2r_hit *heaps;        /* [thread][G2R_DOT_MAX_Q][cap_k] */
    int *heap_n;           /* [thread][G2R_DOT_MAX_Q] */
    float *scores;         /* [thread][CHUNK * G2R_DOT_MAX_Q] */
    g2r_hit *merge;        /* [n_threads * cap_k] */
    int cap_dim;
    int8_t *qi8;           /* [G2R_DOT_MAX_Q][cap_dim]: the block's queries for q8 rows */
    float qi8_scale[G2R_DOT_MAX_Q];
};

const char *g2r_vec_dtype_name(g2r_vec_dtype t) {
    switch (t) {
    case G2R_VEC_F32: return "f32";
    case G2R_VEC_F16: return "f16";
    case G2R_VEC_Q8: return "q8";
    }
    return "?";
}

size_t g2r_vec_dtype_size(g2r_vec_dtype t) { return t == G2R_VEC_F32 ? 4 : t == G2R_VEC_F16 ? 2 : 1; }

static int better(g2r_hit a, g2r_hit b) { return a.score > b.score || (a.score == b.score && a.index < b.index); }

/* Min-heap on "better": h[0] is the worst kept hit. */
static void sift_down(g2r_hit *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(h[w], h[l])) w = l;
        if (r < n && better(h[w], h[r])) w = r;
        if (w == i) return;
        g2r_hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_push(g2r_hit *h, int *n, int k, g2r_hit x) {
    if (*n < k) {
        int i = (*n)++;
        h[i] = x;
        while (i > 0 && better(h[(i - 1) / 2], h[i])) { /* parent better: move the worse one up */
            g2r_hit t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (better(x, h[0])) {
        h[0] = x;
        sift_down(h, k, 0);
    }
}

static int cmp_best_first(const void *a, const void *b) {
    g2r_hit x = *(const g2r_hit *)a, y = *(const g2r_hit *)b;
    return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

g2r_status g2r_scanner_new(int n_threads, g2r_scanner **out, g2r_error *err) {
    *out = NULL;
    g2r_scanner *s = calloc(1, sizeof *s);
    if (!s) return g2r_fail(err, G2R_ENOMEM, "scanner: out of memory");
    g2r_status st = g2r_pool_new(n_threads, &s->pool, err);
    if (st) {
        free(s);
        return st;
    }
    s->n_threads = g2r_pool_size(s->pool);
    s->kern = g2r_dot_kernels_get(G2R_KERNELS_AUTO);
    s->scores = malloc(sizeof(float) * CHUNK * G2R_DOT_MAX_Q * (size_t)s->n_threads);
    s->heap_n = malloc(sizeof(int) * G2R_DOT_MAX_Q * (size_t)s->n_threads);
    if (!s->scores || !s->heap_n) {
        g2r_scanner_free(s);
        return g2r_fail(err, G2R_ENOMEM, "scanner: out of memory");
    }
    *out = s;
    return G2R_OK;
}

void g2r_scanner_free(g2r_scanner *s) {
    if (!s) return;
    if (s->pool) g2r_pool_free(s->pool);
    free(s->heaps);
    free(s->heap_n);
    free(s->scores);
    free(s->merge);
    free(s->qi8);
    free(s);
}

int g2r_scanner_threads(const g2r_scanner *s) { return s->n_threads; }

/* Grows the heaps for k and the int8 queries for dim (outside the scan: the
 * scan itself never allocates). */
static g2r_status reserve(g2r_scanner *s, int k, int dim, g2r_error *err) {
    if (dim > s->cap_dim) {
        int8_t *q = malloc((size_t)G2R_DOT_MAX_Q * (size_t)dim);
        if (!q) return g2r_fail(err, G2R_ENOMEM, "topk: out of memory for dim %d", dim);
        free(s->qi8);
        s->qi8 = q;
        s->cap_dim = dim;
    }
    if (k <= s->cap_k) return G2R_OK;
    g2r_hit *h = malloc(sizeof(g2r_hit) * (size_t)k * G2R_DOT_MAX_Q * (size_t)s->n_threads);
    g2r_hit *m = malloc(sizeof(g2r_hit) * (size_t)k * (size_t)s->n_threads);
    if (!h || !m) {
        free(h);
        free(m);
        return g2r_fail(err, G2R_ENOMEM, "topk: cannot allocate heaps for k = %d", k);
    }
    free(s->heaps);
    free(s->merge);
    s->heaps = h;
    s->merge = m;
    s->cap_k = k;
    return G2R_OK;
}

typedef struct {
    g2r_scanner *s;
    const g2r_vectors *items;
    g2r_dot_queries q;
    int nq, k;
    size_t shard;
    const int64_t *exclude;
    size_t n_exclude;
} scan_job;

int g2r_rows_contain(const int64_t *rows, size_t n, int64_t row) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rows[mid] < row) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && rows[lo] == row;
}

static void scan_shard(void *ctx, int task, int thread) {
    const scan_job *j = ctx;
    g2r_scanner *s = j->s;
    const g2r_vectors *v = j->items;
    const size_t es = g2r_vec_dtype_size(v->dtype);
    float *scores = s->scores + (size_t)thread * CHUNK * G2R_DOT_MAX_Q;
    g2r_hit *heaps = s->heaps + (size_t)thread * G2R_DOT_MAX_Q * s->cap_k;
    int *heap_n = s->heap_n + (size_t)thread * G2R_DOT_MAX_Q;
    const int nq = j->nq, k = j->k;
    size_t r0 = (size_t)task * j->shard, r1 = r0 + j->shard < v->count ? r0 + j->shard : v->count;
    for (size_t r = r0; r < r1; r += CHUNK) {
        int n = r1 - r < CHUNK ? (int)(r1 - r) : CHUNK;
        s->kern->dots[v->dtype](scores, &j->q, (const char *)v->data + r * v->stride * es, v->stride,
                                v->scale ? v->scale + r : NULL, n);
        for (int qi = 0; qi < nq; qi++) {
            g2r_hit *h = heaps + (size_t)qi * s->cap_k;
            int *hn = &heap_n[qi];
            /* a row scoring below the worst kept hit cannot enter: one compare, in a register */
            float worst = *hn == k ? h[0].score : -INFINITY;
            const float *sc = scores + qi;
            for (int i = 0; i < n; i++, sc += nq) {
                if (*sc < worst) continue;
                g2r_hit x = {(int64_t)(r + (size_t)i), *sc};
                if (*hn == k && !better(x, h[0])) continue;
                if (j->n_exclude && g2r_rows_contain(j->exclude, j->n_exclude, x.index)) continue;
                heap_push(h, hn, k, x);
                if (*hn == k) worst = h[0].score;
            }
        }
    }
}

/* Scores candidates again against the more precise copies of their rows. */
static void rescore(g2r_scanner *s, const g2r_vectors *r, const float *q, g2r_hit *h, int n) {
    const size_t es = g2r_vec_dtype_size(r->dtype);
    const g2r_dot_queries one = {1, r->dim, q, NULL, NULL};
    for (int i = 0; i < n; i++) {
        size_t row = (size_t)h[i].index;
        s->kern->dots[r->dtype](&h[i].score, &one, (const char *)r->data + row * r->stride * es, r->stride,
                                r->scale ? r->scale + row : NULL, 1);
    }
}

static g2r_status check_args(const g2r_vectors *items, int nq, int k, g2r_error *err) {
    if (k < 1) return g2r_fail(err, G2R_EARG, "topk: k must be at least 1, got %d", k);
    if (nq < 0) return g2r_fail(err, G2R_EARG, "topk: negative number of queries");
    if ((unsigned)items->dtype > G2R_VEC_Q8) return g2r_fail(err, G2R_EARG, "topk: unknown vector dtype");
    if (items->count && (items->dim < 1 || items->stride < (size_t)items->dim || !items->data))
        return g2r_fail(err, G2R_EARG, "topk: bad vector layout (dim %d, stride %zu)", items->dim, items->stride);
    return G2R_OK;
}

g2r_status g2r_topk(g2r_scanner *s, const g2r_vectors *items, const float *q, int nq, int k,
                    const int64_t *exclude, size_t n_exclude, g2r_hit *out, int *n_out, g2r_error *err) {
    *n_out = 0;
    g2r_status st = check_args(items, nq, k, err);
    if (st) return st;
    if (items->count == 0 || nq == 0) return G2R_OK;
    size_t n_ex = 0; /* distinct excluded rows that exist */
    for (size_t i = 0; i < n_exclude; i++) {
        if (i && exclude[i] <= exclude[i - 1]) return g2r_fail(err, G2R_EARG, "topk: exclude list not sorted and unique");
        if (exclude[i] >= 0 && (size_t)exclude[i] < items->count) n_ex++;
    }
    const int stride_k = k;
    if ((size_t)k > items->count - n_ex) k = (int)(items->count - n_ex);
    if (k == 0) return G2R_OK;
    /* with refine vectors, scan for more candidates and re-score them */
    int k_scan = k;
    if (items->refine) {
        if (items->refine->count != items->count || items->refine->dim != items->dim || items->refine->refine ||
            items->refine->dtype == G2R_VEC_Q8)
            return g2r_fail(err, G2R_EARG, "topk: refine vectors do not match the scanned ones");
        size_t want = (size_t)k * G2R_REFINE_FACTOR;
        k_scan = want < items->count - n_ex ? (int)want : (int)(items->count - n_ex);
    }
    if ((st = reserve(s, k_scan, items->dim, err))) return st;

    /* shards: a few per thread so a slow thread does not hold up the rest */
    size_t shard = (items->count + (size_t)s->n_threads * 4 - 1) / ((size_t)s->n_threads * 4);
    if (shard < MIN_SHARD) shard = MIN_SHARD;
    shard = (shard + CHUNK - 1) / CHUNK * CHUNK;
    int n_shards = (int)((items->count + shard - 1) / shard);

    for (int q0 = 0; q0 < nq; q0 += G2R_DOT_MAX_Q) {
        int bq = nq - q0 < G2R_DOT_MAX_Q ? nq - q0 : G2R_DOT_MAX_Q;
        memset(s->heap_n, 0, sizeof(int) * G2R_DOT_MAX_Q * (size_t)s->n_threads);
        const float *qf = q + (size_t)q0 * items->dim;
        if (items->dtype == G2R_VEC_Q8) /* int8 rows are scored against int8 queries */
            for (int qi = 0; qi < bq; qi++)
                g2r_dot_quantize(qf + (size_t)qi * items->dim, items->dim, s->qi8 + (size_t)qi * items->dim,
                                 &s->qi8_scale[qi]);
        scan_job job = {s, items, {bq, items->dim, qf, s->qi8, s->qi8_scale}, bq, k_scan, shard, exclude, n_exclude};
        g2r_pool_run(s->pool, n_shards, scan_shard, &job);
        for (int qi = 0; qi < bq; qi++) {
            int m = 0;
            for (int t = 0; t < s->n_threads; t++) {
                const g2r_hit *h = s->heaps + ((size_t)t * G2R_DOT_MAX_Q + qi) * s->cap_k;
                int hn = s->heap_n[t * G2R_DOT_MAX_Q + qi];
                memcpy(s->merge + m, h, sizeof(g2r_hit) * (size_t)hn);
                m += hn;
            }
            qsort(s->merge, (size_t)m, sizeof(g2r_hit), cmp_best_first);
            if (items->refine) {
                m = m < k_scan ? m : k_scan;
                rescore(s, items->refine, q + (size_t)(q0 + qi) * items->dim, s->merge, m);
                qsort(s->merge, (size_t)m, sizeof(g2r_hit), cmp_best_first);
            }
            memcpy(out + (size_t)(q0 + qi) * stride_k, s->merge, sizeof(g2r_hit) * (size_t)k);
        }
    }
    *n_out = k;
    return G2R_OK;
}
