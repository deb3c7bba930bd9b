/* generate.c — autoregressive generation over one sequence's KV cache.
 *
 * The prompt runs once; after that every new token costs one position: its
 * keys and values join the cache and only its logits are computed. */
#include <stdlib.h>

#include "common/error.h"
#include "engine/model.h"
#include "engine/sample.h"

g2r_status g2r_generate(g2r_model *m, const int *prompt, int n_prompt, const g2r_sampler *smp, int *out, int cap,
                        int *n_out, g2r_token_fn on_token, void *user, g2r_error *err) {
    if (n_out) *n_out = 0;
    if (!m || !smp) return g2r_fail(err, G2R_EARG, "generate: model or sampler is NULL");
    int n_ctx = m->w.cfg.n_ctx, n_vocab = m->w.cfg.n_vocab;
    if (n_prompt < 1 || !prompt) return g2r_fail(err, G2R_EARG, "generate: the prompt is empty");
    if (n_prompt > n_ctx)
        return g2r_fail(err, G2R_ERANGE, "generate: prompt of %d tokens exceeds the context of %d", n_prompt, n_ctx);
    if (cap < 0 || (cap > 0 && !out)) return g2r_fail(err, G2R_EARG, "generate: bad output buffer");

    /* prompt + generated tokens stay within n_ctx; max_new <= 0: no other limit */
    int limit = n_ctx - n_prompt;
    if (smp->max_new > 0 && smp->max_new < limit) limit = smp->max_new;
    if (limit == 0) return G2R_OK;
    /* positions run: the prompt, then every generated token but the last */
    int positions = n_prompt + limit - 1;
    g2r_session *s = NULL;
    g2r_sample_buf sb = {0};
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    g2r_status st = logits ? G2R_OK : g2r_fail(err, G2R_ENOMEM, "generate: out of memory");
    if (st == G2R_OK) st = g2r_session_new(m, 1, positions, &s, err);
    if (st == G2R_OK) st = g2r_sample_buf_init(&sb, n_vocab, err);

    /* the prompt: cache only for all but the last token, whose logits we need */
    if (st == G2R_OK && n_prompt > 1) {
        const int *ids[1] = {prompt};
        int n[1] = {n_prompt - 1};
        st = g2r_forward(s, 1, ids, n, G2R_OUT_LOGITS, NULL, err);
    }
    int last = prompt[n_prompt - 1];
    g2r_rng rng = {smp->seed};
    int eot = g2r_model_eot(m), generated = 0;
    while (st == G2R_OK) {
        const int *ids[1] = {&last};
        int n[1] = {1};
        st = g2r_forward(s, 1, ids, n, G2R_OUT_LOGITS, logits, err);
        if (st != G2R_OK) break;
        int next = g2r_sample(logits, n_vocab, smp, &rng, &sb);
        if (next == eot) break; /* <|endoftext|> ends the text and is not returned */
        if (generated < cap) out[generated] = next;
        generated++;
        if (n_out) *n_out = generated;
        if (on_token && on_token(next, user)) break;
        if (generated == limit) break;
        last = next;
    }
    g2r_sample_buf_free(&sb);
    g2r_session_free(s);
    free(logits);
    return st;
}
