/* gpt2_tensors.h — the list of GPT-2's tensors for a configuration: Hugging
 * Face names (no "transformer." prefix), shapes and roles.  The random-model
 * writer and the converter both write files from it. */
#ifndef G2R_GPT2_TENSORS_H
#define G2R_GPT2_TENSORS_H

#include <stddef.h>

#include "weights/gpt2_weights.h"

typedef enum {
    G2R_ROLE_MATRIX,  /* a Conv1D weight [in, out]: c_attn, attn.c_proj, c_fc, mlp.c_proj */
    G2R_ROLE_WTE,     /* the token embedding [vocab, n_embd], also the logits projection */
    G2R_ROLE_WPE,     /* the position embedding [n_ctx, n_embd], always float32 */
    G2R_ROLE_LN_GAIN, /* layernorm weight [n_embd] */
    G2R_ROLE_BIAS,    /* layernorm bias or a Conv1D bias, [n] */
} g2r_gpt2_role;

typedef struct {
    char name[48];
    g2r_gpt2_role role;
    int rows, cols;      /* cols 0: a vector of rows */
    const g2r_matrix *m; /* in a bound model (g2r_gpt2_tensors_bind), the matrix ... */
    const float *v;      /* ... or the float32 values */
} g2r_gpt2_tensor;

/* Number of tensors of a model with n_layer blocks. */
size_t g2r_gpt2_tensor_count(int n_layer);

/* Fills out[g2r_gpt2_tensor_count(cfg->n_layer)] in a fixed order; m and v are NULL. */
void g2r_gpt2_tensor_list(const g2r_config *cfg, g2r_gpt2_tensor *out);

/* The same list with m / v pointing at w's tensors. */
void g2r_gpt2_tensors_bind(const g2r_gpt2_weights *w, g2r_gpt2_tensor *out);

#endif
