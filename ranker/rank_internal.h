/* rank_internal.h — the steps of g2r_rank after the scan, shared with the
 * serve loop (ranker/serve_catalog.c), whose live catalog is not one index. */
#ifndef G2R_RANK_INTERNAL_H
#define G2R_RANK_INTERNAL_H

#include "gpt2rank.h"

/* Maximal marginal relevance: picks k of the n_cand candidates (best first,
 * their unit vectors in vec, n_cand x dim) into pick; maxsim and taken are
 * n_cand scratch entries. */
void g2r_rank_mmr_select(const g2r_hit *cand, int n_cand, const float *vec, int dim, double lambda, int k, int *pick,
                         float *maxsim, char *taken);
/* Fills r->because from the profile events that contributed most to the
 * score of item vector x; contrib: g2r_profile_kept_max(p) + 1 scratch floats. */
void g2r_rank_explain(const g2r_profile *p, const float *x, g2r_result *r, float *contrib);

#endif
