/* rank_internal.h — the steps of g2r_rank after the scan, shared with the
 * serve loop (ranker/serve_catalog.c), whose live catalog is not one index,
 * and the JSON writer shared with the re-ranker (ranker/rerank.c). */
#ifndef G2R_RANK_INTERNAL_H
#define G2R_RANK_INTERNAL_H

#include <stdio.h>

#include "gpt2rank.h"

/* Maximal marginal relevance: picks k of the n_cand candidates (best first,
 * their unit vectors in vec, n_cand x dim) into pick; maxsim and taken are
 * n_cand scratch entries. */
void g2r_rank_mmr_select(const g2r_hit *cand, int n_cand, const float *vec, int dim, double lambda, int k, int *pick,
                         float *maxsim, char *taken);
/* Fills r->because from the profile events that contributed most to the
 * score of item vector x; contrib: g2r_profile_kept_max(p) + 1 scratch floats. */
void g2r_rank_explain(const g2r_profile *p, const float *x, g2r_result *r, float *contrib);

/* Writes row `row` of the source as a unit vector of dim floats into out. */
typedef void (*g2r_row_vector_fn)(const void *src, int64_t row, float *out);
/* The last step of ranking: from the n scored candidates (best first), picks
 * the top o->k (by MMR when o->mmr is in (0, 1)), fills out with them (and
 * their explanations when o->explain) and returns how many. vec holds
 * (n_cand + 1) x dim floats; pick, maxsim, taken n_cand entries; contrib as for
 * g2r_rank_explain. */
int g2r_rank_pick(const g2r_profile *p, const g2r_rank_options *o, const g2r_hit *cand, int n,
                  g2r_row_vector_fn row_vector, const void *src, int dim, float *vec, size_t n_cand, int *pick,
                  float *maxsim, char *taken, float *contrib, g2r_result *out);
/* Writes the entries of r's "because" JSON array (without the brackets). */
void g2r_rank_write_because(FILE *f, const g2r_result *r);

/* Whether the sorted list rows (n entries) holds row (ranker/topk.c). */
int g2r_rows_contain(const int64_t *rows, size_t n, int64_t row);

#endif
