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

#define G2R_DOT_MAX_Q 16

/* A block of nq (1..G2R_DOT_MAX_Q) queries of dim elements.  f is always set;
 * rows stored as q8 are scored against i8, the queries quantized by
 * g2r_dot_quantize (int8 x int8 products summed exactly in int32, so every
 * instruction set gives the same bits).  Stored q8 rows, like the queries,
 * hold -127..127 (g2r_index_encode_row writes them so): the SIMD kernels move
 * a query's sign onto the row byte, which -128 would not survive. */
typedef struct {
    int nq, dim;
    const float *f;         /* nq x dim */
    const int8_t *i8;       /* nq x dim, for q8 rows */
    const float *i8_scale;  /* nq */
} g2r_dot_queries;

/* out = round(q / s) with s = max|q| / 127 (0 for a zero vector). */
void g2r_dot_quantize(const float *q, int dim, int8_t *out, float *s);

/* scores[r*nq + j] = scale[r] * (query j . row r) for r < n_rows, where row r
 * starts r*stride elements after x (float, uint16_t half or int8_t by dtype);
 * scale NULL means 1.  F32/F16 rows: sum_d f[j][d] * x_r[d] in float.  Q8 rows:
 * ((float)sum_d i8[j][d] * x_r[d]) * i8_scale[j] * scale[r]. */
typedef void (*g2r_dots_fn)(float *scores, const g2r_dot_queries *q, const void *x, size_t stride,
                            const float *scale, int n_rows);

typedef struct {
    const char *name;
    g2r_dots_fn dots[3]; /* indexed by g2r_vec_dtype: F32, F16, Q8 */
} g2r_dot_kernels;

/* The table for kind, or NULL when this CPU (or build) lacks it; AUTO: the best. */
const g2r_dot_kernels *g2r_dot_kernels_get(g2r_kernels_kind kind);

const g2r_dot_kernels *g2r_dot_scalar(void);
const g2r_dot_kernels *g2r_dot_avx2(void);   /* NULL when not compiled for x86-64 */
const g2r_dot_kernels *g2r_dot_avx512(void);   /* with VNNI for q8 when the CPU has it */
const g2r_dot_kernels *g2r_dot_avx512_bw(void); /* q8 without VNNI (tests reach it here) */

#endif
