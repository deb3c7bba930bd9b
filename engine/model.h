/* model.h — what a loaded model is, inside the engine.
 *
 * The trio of llama2.c's run.c: the weights (weights/gpt2_weights.h), the
 * kernels chosen for this CPU, and the thread pool that runs them.  Sessions
 * (engine/session.h) hold the per-request state: KV cache and activations. */
#ifndef G2R_ENGINE_MODEL_H
#define G2R_ENGINE_MODEL_H

#include <pthread.h>

#include "engine/pool.h"
#include "gpt2rank.h"
#include "kernels/kernels.h"
#include "weights/gpt2_weights.h"

struct g2r_model {
    g2r_gpt2_weights w;
    const g2r_kernels *k;
    g2r_pool *pool;
    /* One forward pass at a time per model: the pool and the kernels' scratch
     * are shared by every session of the model. */
    pthread_mutex_t mu;
    void **packed; /* buffers returned by k->pack, freed with the model */
    int n_packed;
    struct g2r_cuda_model *cuda; /* --device cuda: weights on the GPU (engine/gpt2_cuda.h), else NULL */
};

/* Builds a model around weights already bound (tests fill them in memory).
 * Takes ownership of *w on success and on failure (frees it). */
g2r_status g2r_model_from_weights(g2r_gpt2_weights *w, const g2r_options *opt, g2r_model **out,
                                  g2r_error *err);

/* The <|endoftext|> id, or -1 when the vocabulary is not GPT-2's 50257. */
int g2r_model_eot(const g2r_model *m);

#endif
