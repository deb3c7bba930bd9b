/* gpt2_weights.h — GPT-2's tensors, bound by Hugging Face name from a safetensors file.
 *
 * Matrices point into the read-only mapping when the file's dtype and
 * alignment allow; otherwise into buffers this struct owns.  Small vectors
 * (biases, layernorm) are always float32. */
#ifndef G2R_GPT2_WEIGHTS_H
#define G2R_GPT2_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2rank.h"
#include "kernels/kernels.h"

typedef struct {
    const float *ln_1_w, *ln_1_b;   /* [C] */
    g2r_matrix c_attn;              /* [C, 3C]  (Conv1D: rows = inputs; transposed: [3C, C]) */
    const float *c_attn_b;          /* [3C] */
    g2r_matrix attn_proj;           /* [C, C]   h.{i}.attn.c_proj */
    const float *attn_proj_b;       /* [C] */
    const float *ln_2_w, *ln_2_b;   /* [C] */
    g2r_matrix fc;                  /* [C, 4C]  h.{i}.mlp.c_fc */
    const float *fc_b;              /* [4C] */
    g2r_matrix mlp_proj;            /* [4C, C]  h.{i}.mlp.c_proj */
    const float *mlp_proj_b;        /* [C] */
} g2r_layer_weights;

typedef struct g2r_gpt2_weights {
    g2r_config cfg;
    g2r_dtype dtype;        /* dtype of the big matrices */
    int transposed;         /* the layer matrices are stored [out, in], Q8 grouped
                             * along in (a Q8 file in the cols layout): their
                             * products are matmul_nt's, as the logits' are */
    g2r_matrix wte;         /* [vocab, C], also the logits projection (tied) */
    const float *wpe;       /* [n_ctx, C] */
    const float *ln_f_w, *ln_f_b;
    g2r_layer_weights *layers; /* [n_layer] */
    size_t n_params;
    size_t bytes_mapped, bytes_owned;
    uint64_t fingerprint;   /* hash of the header and a sample of the data */
    void *priv;             /* the mapping and owned buffers */
} g2r_gpt2_weights;

/* Maps path and binds every tensor.  n_head_override 0: __metadata__ "n_head",
 * else GPT-2's table (768->12, 1024->16, 1280->20, 1600->25), else an error. */
g2r_status g2r_gpt2_weights_load(const char *path, int n_head_override, g2r_gpt2_weights *w, g2r_error *err);
void g2r_gpt2_weights_free(g2r_gpt2_weights *w);
/* The read-only mapping of the whole file (for prefaulting it). */
void g2r_gpt2_weights_mapping(const g2r_gpt2_weights *w, const void **base, size_t *size);

#endif
