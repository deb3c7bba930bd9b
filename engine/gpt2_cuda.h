/* gpt2_cuda.h — GPT-2's forward pass on a CUDA device (built with make CUDA=1).
 *
 * The same equations as engine/gpt2.c, with every array in device memory:
 * the weights are uploaded once (g2r_cuda_model), and a session holds the
 * activations and the KV cache of max_seqs sequences of up to max_tokens
 * positions (sequence i is cache slot i).  Only ids go in and only the
 * requested outputs (logits, hidden states, pooled embeddings) come back.
 * Without CUDA these functions do not exist; callers guard with G2R_CUDA. */
#ifndef G2R_GPT2_CUDA_H
#define G2R_GPT2_CUDA_H

#include "gpt2rank.h"
#include "kernels/kernels.h"
#include "weights/gpt2_weights.h"

typedef struct g2r_cuda_model g2r_cuda_model;
typedef struct g2r_cuda_session g2r_cuda_session;

/* Uploads w's tensors.  dtype is what the big matrices (and wte) become on
 * the device: F32, F16 or BF16; Q8 means "as in the file" (Q8 files become
 * BF16, the device has no int8 path).  w may be freed afterwards. */
g2r_status g2r_cuda_model_new(const g2r_gpt2_weights *w, g2r_dtype dtype, g2r_cuda_model **out, g2r_error *err);
void g2r_cuda_model_free(g2r_cuda_model *m);
size_t g2r_cuda_model_bytes(const g2r_cuda_model *m);
g2r_dtype g2r_cuda_model_dtype(const g2r_cuda_model *m);

g2r_status g2r_cuda_session_new(g2r_cuda_model *m, int max_seqs, int max_tokens, g2r_cuda_session **out,
                                g2r_error *err);
void g2r_cuda_session_free(g2r_cuda_session *s);
void g2r_cuda_session_reset(g2r_cuda_session *s);
int g2r_cuda_session_len(const g2r_cuda_session *s, int seq);

/* As g2r_forward: appends n_ids[i] tokens to sequence i and writes, when out
 * is not NULL, the requested state of every new position (host memory). */
g2r_status g2r_cuda_forward(g2r_cuda_session *s, int n_seqs, const int *const *ids, const int *n_ids,
                            g2r_output what, float *out, g2r_error *err);

/* As g2r_embed, through this session (which it resets): n sequences, each
 * 1..max_tokens long, batched max_seqs at a time, pooled on the device. */
g2r_status g2r_cuda_embed_seqs(g2r_cuda_session *s, int n, const int *const *ids, const int *lens,
                               g2r_pooling pool, float *out, g2r_error *err);

#endif
