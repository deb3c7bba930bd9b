/* postproc.h — "all-but-the-top" post-processing of embeddings, fitted on a catalog.
 *
 * GPT-2's hidden states are anisotropic: a common mean direction and a few
 * huge dimensions dominate every cosine.  Subtracting the catalog mean and
 * projecting out the top principal directions (Mu & Viswanath, 2018) makes
 * cosines reflect content. */
#ifndef G2R_POSTPROC_H
#define G2R_POSTPROC_H

#include <stddef.h>

#include "gpt2rank.h"

/* Fits on n rows of dim floats: mean (when center; else zeros) and the top
 * n_pc principal directions (of the centred rows when center), orthonormal,
 * into pcs[n_pc x dim].  Uses at most 20,000 evenly spaced rows. */
g2r_status g2r_postproc_fit(const float *x, size_t n, int dim, int center, int n_pc, float *mean, float *pcs,
                            g2r_error *err);

/* v = normalise(P (v - mean)) with P removing each direction in pcs. */
void g2r_postproc_apply(float *v, int dim, const float *mean, const float *pcs, int n_pc);

void g2r_l2_normalize(float *v, int dim);

#endif
