/* dot.h — dot products of a block of f32 queries against rows stored as f32,
 * f16 or q8, one table per instruction set, chosen at run time.
 *
 * This is the whole inner loop of ranking: the scan reads each stored row
 * once and scores it against up to G2R_DOT_MAX_Q queries while it is in
 * cache.  Rows are read in their stored dtype (no conversion pass).
 *
 * Determinism: the score of one (query, row) pair is computed by the same
 * sequence of operations whatever nq, n_rows or the row's position in the
 * block, so a scan split over threads or query blocks gives identical
 * scores.  Tables for different instruction sets differ in summation order
 * and agree with the scalar reference to float rounding. */
#ifndef G2R_DOT_H
#define G2R_DOT_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2rank.h"

#define G2R_DOT_MAX_Q 8

/* scores[r*nq + j] = scale[r] * sum_{d<dim} q[j*dim + d] * x_r[d]
 * for r < n_rows, j < nq (1 <= nq <= G2R_DOT_MAX_Q), where x_r starts
 * r*stride elements after x; x is float, uint16_t (IEEE half) or int8_t
 * by dtype; scale NULL means 1. */
typedef void (*g2r_dots_fn)(float *scores, const float *q, int nq, const void *x, size_t stride,
                            const float *scale, int n_rows, int dim);

typedef struct {
    const char *name;
    g2r_dots_fn dots[3]; /* indexed by g2r_vec_dtype: F32, F16, Q8 */
} g2r_dot_kernels;

/* The table for kind, or NULL when this CPU (or build) lacks it; AUTO: the best. */
const g2r_dot_kernels *g2r_dot_kernels_get(g2r_kernels_kind kind);

const g2r_dot_kernels *g2r_dot_scalar(void);
const g2r_dot_kernels *g2r_dot_avx2(void);   /* NULL when not compiled for x86-64 */
const g2r_dot_kernels *g2r_dot_avx512(void);

#endif
