/* rerank.h — the second stage: GPT-2 re-scores the top cosine candidates.
 *
 * Public entry points are in include/gpt2rank.h (g2r_rerank_prompt,
 * g2r_rerank, g2r_results_write_json); these are the rules they share,
 * exposed for tests.
 *
 * Truncation rule: the prompt is cut to its LAST g2r_rerank_prompt_cap(n_ctx)
 * tokens (the end, "... Next they chose:", is what conditions the candidate),
 * and each candidate then keeps its FIRST n_ctx - n_prompt tokens, so prompt
 * plus candidate always fit the context (engine/score.c applies that cut). */
#ifndef G2R_RANKER_RERANK_H
#define G2R_RANKER_RERANK_H

#include "gpt2rank.h"

#define G2R_RERANK_PER_TYPE 3   /* texts per {TYPE} placeholder */
#define G2R_RERANK_RECENT 8     /* events in {recent} */
#define G2R_RERANK_TEXT_MAX 200 /* bytes of one event text in the prompt */

/* Most tokens the prompt keeps: half the context. */
int g2r_rerank_prompt_cap(int n_ctx);

/* Tokenises prompt and cuts it to its last cap tokens: *ids malloc'd. */
g2r_status g2r_rerank_encode_prompt(const g2r_tokenizer *tok, const char *prompt, int cap, int **ids, int *n,
                                    g2r_error *err);

/* Tokenises " " + text: *ids malloc'd (at least one token). */
g2r_status g2r_rerank_encode_candidate(const g2r_tokenizer *tok, const char *text, size_t len, int **ids, int *n,
                                       g2r_error *err);

/* Min-max normalisation of llm[0..n) into out (all equal: 1). */
void g2r_rerank_normalise(const float *llm, int n, float *out);

#endif
