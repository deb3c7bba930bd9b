/* rank.c — a profile against the index: exact top-K, optional MMR re-ranking
 * for diversity, optional explanations, and the JSON result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "ranker/profile_internal.h"
#include "ranker/rank_internal.h"

#define MMR_POOL_MIN 50 /* candidates MMR chooses from: max(4k, 50) */

static float dot(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Maximal marginal relevance (Carbonell & Goldstein, 1998): repeatedly take
 * the candidate maximising  lambda * rel(c) - (1 - lambda) * max_{s chosen} sim(c, s).
 * cand is best first; ties go to the earlier (more relevant) candidate. */
void g2r_rank_mmr_select(const g2r_hit *cand, int n_cand, const float *vec, int dim, double lambda, int k, int *pick,
                       float *maxsim, char *taken) {
    for (int c = 0; c < n_cand; c++) maxsim[c] = 0, taken[c] = 0;
    for (int s = 0; s < k; s++) {
        int best = -1;
        double best_v = 0;
        for (int c = 0; c < n_cand; c++) {
            if (taken[c]) continue;
            double v = lambda * cand[c].score - (s ? (1 - lambda) * maxsim[c] : 0);
            if (best < 0 || v > best_v) best = c, best_v = v;
        }
        if (best < 0) break; /* k <= n_cand: not reached */
        pick[s] = best;
        taken[best] = 1;
        for (int c = 0; c < n_cand; c++) {
            float sim = dot(vec + (size_t)c * dim, vec + (size_t)best * dim, dim);
            if (s == 0 || sim > maxsim[c]) maxsim[c] = sim;
        }
    }
}

void g2r_rank_explain(const g2r_profile *p, const float *x, g2r_result *r, float *contrib) {
    int n = g2r_profile_contributions(p, x, contrib);
    r->n_because = 0;
    for (int b = 0; b < G2R_MAX_BECAUSE; b++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (contrib[i] > 0 && (best < 0 || contrib[i] > contrib[best])) best = i;
        if (best < 0) break;
        g2r_profile_kept(p, best, &r->because[b].event, &r->because[b].text, &r->because[b].item);
        r->because[b].contribution = contrib[best];
        contrib[best] = -INFINITY;
        r->n_because++;
    }
}

int g2r_rank_pick(const g2r_profile *p, const g2r_rank_options *o, const g2r_hit *cand, int n,
                  g2r_row_vector_fn row_vector, const void *src, int dim, float *vec, size_t n_cand, int *pick,
                  float *maxsim, char *taken, float *contrib, g2r_result *out) {
    int k = n < o->k ? n : o->k;
    if (o->mmr > 0 && o->mmr < 1) {
        for (int c = 0; c < n; c++) row_vector(src, cand[c].index, vec + (size_t)c * dim);
        g2r_rank_mmr_select(cand, n, vec, dim, o->mmr, k, pick, maxsim, taken);
    } else {
        for (int i = 0; i < k; i++) pick[i] = i;
    }
    for (int i = 0; i < k; i++) {
        g2r_result *r = &out[i];
        memset(r, 0, sizeof *r);
        r->row = cand[pick[i]].index;
        r->score = cand[pick[i]].score;
        if (o->explain) {
            row_vector(src, r->row, vec + n_cand * dim);
            g2r_rank_explain(p, vec + n_cand * dim, r, contrib);
        }
    }
    return k;
}

static void index_row_vector(const void *ix, int64_t row, float *out) { g2r_index_vector(ix, (size_t)row, out); }

g2r_status g2r_rank(g2r_index *ix, const g2r_profile *p, const g2r_rank_options *o, g2r_result *out, int *n_out,
                    g2r_error *err) {
    *n_out = 0;
    g2r_index_info info;
    g2r_index_info_get(ix, &info);
    const int dim = info.dim;
    if (g2r_profile_dim(p) != dim)
        return g2r_fail(err, G2R_EARG, "rank: profile dim %d differs from index dim %d", g2r_profile_dim(p), dim);
    if (o->k < 1) return g2r_fail(err, G2R_EARG, "rank: k must be at least 1, got %d", o->k);
    if (o->mmr < 0 || o->mmr > 1) return g2r_fail(err, G2R_EARG, "rank: MMR lambda must be in (0, 1], got %g", o->mmr);
    float *q = malloc(sizeof(float) * (size_t)dim);
    if (!q) return g2r_fail(err, G2R_ENOMEM, "rank: out of memory");
    if (!g2r_profile_vector(p, q)) {
        free(q);
        return g2r_fail(err, G2R_EARG, "rank: the profile is empty (no usable events)");
    }
    size_t n_seen = 0;
    const int64_t *seen = o->exclude_seen ? g2r_profile_seen(p, &n_seen) : NULL;
    size_t n_cand = (size_t)o->k;
    if (o->mmr > 0 && o->mmr < 1) n_cand = 4 * n_cand > MMR_POOL_MIN ? 4 * n_cand : MMR_POOL_MIN;
    if (n_cand > info.count) n_cand = info.count ? info.count : 1;
    if (n_cand > (size_t)o->k && n_cand > (1u << 20)) n_cand = 1u << 20;
    g2r_hit *cand = malloc(sizeof(g2r_hit) * n_cand);
    float *vec = malloc(sizeof(float) * (n_cand + 1) * (size_t)dim);
    int *pick = malloc(sizeof(int) * n_cand);
    float *maxsim = malloc(sizeof(float) * n_cand);
    char *taken = malloc(n_cand);
    float *contrib = malloc(sizeof(float) * ((size_t)g2r_profile_kept_max(p) + 1));
    g2r_status st = G2R_OK;
    if (!cand || !vec || !pick || !maxsim || !taken || !contrib) {
        st = g2r_fail(err, G2R_ENOMEM, "rank: out of memory");
        goto done;
    }
    int n;
    st = o->scanner ? g2r_topk(o->scanner, g2r_index_vectors(ix), q, 1, (int)n_cand, seen, n_seen, cand, &n, err)
                    : g2r_index_topk(ix, q, 1, (int)n_cand, seen, n_seen, cand, &n, err);
    if (st) goto done;
    *n_out = g2r_rank_pick(p, o, cand, n, index_row_vector, ix, dim, vec, n_cand, pick, maxsim, taken, contrib, out);
done:
    free(q);
    free(cand);
    free(vec);
    free(pick);
    free(maxsim);
    free(taken);
    free(contrib);
    return st;
}

void g2r_rank_write_because(FILE *f, const g2r_result *r) {
    for (int b = 0; b < r->n_because; b++) {
        fprintf(f, "%s{\"event\":", b ? "," : "");
        g2r_json_write_string(f, r->because[b].event, strlen(r->because[b].event));
        fputs(",\"text\":", f);
        g2r_json_write_string(f, r->because[b].text, strlen(r->because[b].text));
        if (r->because[b].item) {
            fputs(",\"item\":", f);
            g2r_json_write_string(f, r->because[b].item, strlen(r->because[b].item));
        }
        fprintf(f, ",\"contribution\":%.4g}", r->because[b].contribution);
    }
}

void g2r_rank_write_json(FILE *f, const g2r_index *ix, const g2r_result *r, int n, double embed_ms, double rank_ms) {
    fputs("{\"results\":[", f);
    for (int i = 0; i < n; i++) {
        g2r_item it = g2r_index_item(ix, (size_t)r[i].row);
        fprintf(f, "%s{\"rank\":%d,\"id\":", i ? "," : "", i + 1);
        g2r_json_write_string(f, it.id, it.id_len);
        fprintf(f, ",\"score\":%.6g,\"because\":[", r[i].score);
        g2r_rank_write_because(f, &r[i]);
        fputs("]}", f);
    }
    fprintf(f, "],\"timing_ms\":{\"embed\":%.3f,\"rank\":%.3f}}\n", embed_ms, rank_ms);
}
