/* sample.h — choosing the next token from logits: greedy, temperature, top-k, top-p. */
#ifndef G2R_ENGINE_SAMPLE_H
#define G2R_ENGINE_SAMPLE_H

#include "common/rng.h"
#include "gpt2rank.h"

/* Scratch for g2r_sample over a vocabulary of n: allocate once per generation. */
typedef struct {
    float p;
    int id;
} g2r_prob_id;

typedef struct {
    float *prob;       /* [n] */
    g2r_prob_id *top;  /* [n] sorted for top-k / top-p */
    int n;
} g2r_sample_buf;

g2r_status g2r_sample_buf_init(g2r_sample_buf *b, int n, g2r_error *err);
void g2r_sample_buf_free(g2r_sample_buf *b);

/* The next token for logits[n]:
 *   temperature <= 0: the arg max (the lowest id among equal maxima);
 *   otherwise softmax(logits / temperature), restricted to the top_k most
 *   likely ids (top_k > 0) and then to the smallest most-likely set whose
 *   probability reaches top_p (0 < top_p < 1), renormalised, and drawn with
 *   one uniform number from rng.  Ties in probability order by lower id, so a
 *   seed gives the same tokens on every machine. */
int g2r_sample(const float *logits, int n, const g2r_sampler *smp, g2r_rng *rng, g2r_sample_buf *b);

#endif
