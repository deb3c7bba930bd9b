/* gpt2_random.h — a GPT-2 safetensors file of deterministic random weights,
 * for tests and benchmarks (`gpt2rank mkmodel`). */
#ifndef G2R_GPT2_RANDOM_H
#define G2R_GPT2_RANDOM_H

#include <stdint.h>

#include "gpt2rank.h"
#include "kernels/kernels.h"

/* Writes path atomically with Hugging Face names and __metadata__
 * {"format": "pt", "n_head": "<n_head>"}.  Matrices (and wte) ~ N(0, 0.02) in
 * dtype (F32, F16 or BF16); wpe ~ N(0, 0.01), layernorm gains 1 + N(0, 0.02),
 * biases N(0, 0.02), all float32.  Each tensor draws from its own stream,
 * seeded by seed and its name, so the bytes depend only on (cfg, dtype, seed). */
g2r_status g2r_gpt2_write_random(const char *path, const g2r_config *cfg, g2r_dtype dtype, uint64_t seed,
                                 g2r_error *err);

#endif
