/* index_internal.h — what the index builder reads from an open index beyond the public API. */
#ifndef G2R_INDEX_INTERNAL_H
#define G2R_INDEX_INTERNAL_H

#include "gpt2rank.h"

/* The post-processing stored in ix: mean (NULL when not centred) and n_pc directions. */
void g2r_index_postproc_params(const g2r_index *ix, const float **mean, const float **pcs);

/* Stores the unit vector v (dim floats) as a row of dtype t at dst, as the
 * index does; returns the row's factor (q8: makes the row a unit vector; else 1). */
float g2r_index_encode_row(unsigned char *dst, const float *v, int dim, g2r_vec_dtype t);

#endif
