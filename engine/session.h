/* session.h — the KV cache and activations of one or more sequences.
 *
 * The cache is a flat pool of n_slots positions per layer,
 *     k_cache[layer][slot][C], v_cache[layer][slot][C],
 * and sequence i owns the slots [base[i], base[i] + cap[i]).  Position p of
 * sequence i lives in slot base[i] + p, except that a sequence may start from
 * another sequence's first n_shared cached positions, read in place (no copy):
 *     p <  n_shared: slot base[src] + p
 *     p >= n_shared: slot base[i] + (p - n_shared)
 * That is how g2r_score_continuations runs every candidate over one prefix.
 * g2r_session_new lays sequences out one after another, max_tokens apart. */
#ifndef G2R_ENGINE_SESSION_H
#define G2R_ENGINE_SESSION_H

#include "engine/model.h"
#include "gpt2rank.h"

/* Largest number of tokens one pass through the layers processes at once:
 * bounds the activation buffers whatever the batch size. */
#define G2R_CHUNK_TOKENS 512

typedef struct {
    int base, cap; /* own slots */
    int len;       /* positions cached, shared ones included */
    int src;       /* sequence whose positions [0, n_shared) this one reads, or -1 */
    int n_shared;
} g2r_seq;

struct g2r_session {
    g2r_model *m;
    int max_seqs, n_slots, chunk;
    g2r_seq *seqs;        /* [max_seqs] */
    float *k_cache;       /* [n_layer][n_slots][C] */
    float *v_cache;       /* [n_layer][n_slots][C] */

    /* activations of one chunk of up to `chunk` tokens */
    float *x;             /* [chunk][C]   the residual stream */
    float *xn;            /* [chunk][C]   layernorm output, projection output */
    float *qkv;           /* [chunk][3C]  c_attn output: q | k | v */
    float *att;           /* [chunk][C]   attention output, heads side by side */
    float *fc;            /* [chunk][4C]  MLP hidden, after GELU */
    int *tok_id, *tok_seq, *tok_pos; /* [chunk] which token, sequence, position */
    float *scores;        /* [n_threads][n_ctx] attention scratch */
    float *part;          /* [slices][3][N]  slice sums of a few-row matmul (gpt2.c: split_k) */
    struct g2r_cuda_session *cuda; /* on a CUDA model: activations and cache on the GPU, none of the above */
};

/* A session with max_seqs sequences over n_slots cache positions and chunks
 * of at most chunk tokens (0: G2R_CHUNK_TOKENS).  Every sequence starts with
 * no slots (cap 0); give them some with g2r_session_place. */
g2r_status g2r_session_create(g2r_model *m, int max_seqs, int n_slots, int chunk, g2r_session **out,
                              g2r_error *err);

/* Gives sequence seq the slots [base, base + cap) and empties it; when src >= 0
 * it starts with src's first n_shared cached positions (src must hold at least
 * that many and share none itself).  Sequences must not be given overlapping
 * slots; src must not be changed while seq reads it. */
g2r_status g2r_session_place(g2r_session *s, int seq, int base, int cap, int src, int n_shared,
                             g2r_error *err);

#endif
