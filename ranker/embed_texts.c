/* embed_texts.c — texts to unit vectors: tokenise, embed in batches, post-process. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define BATCH 32 /* texts per g2r_embed call: bounds token memory */

g2r_status g2r_embed_texts(g2r_model *m, const g2r_tokenizer *tok, g2r_pooling pool, const g2r_index *ix, int n,
                           const char *const *texts, const size_t *lens, float *out, g2r_error *err) {
    const g2r_config cfg = g2r_model_config(m);
    int *ids[BATCH] = {0}, n_ids[BATCH];
    g2r_status st = G2R_OK;
    for (int b0 = 0; b0 < n && !st; b0 += BATCH) {
        int nb = n - b0 < BATCH ? n - b0 : BATCH;
        for (int i = 0; i < nb && !st; i++) {
            size_t count;
            const char *t = texts[b0 + i];
            size_t len = lens[b0 + i];
            st = g2r_encode(tok, t, len, 0, NULL, 0, &count, err);
            if (st) break;
            if (count == 0) {
                st = g2r_fail(err, G2R_EARG, "embed: text %d is empty", b0 + i);
                break;
            }
            /* longer texts keep their first n_ctx tokens */
            size_t keep = count < (size_t)cfg.n_ctx ? count : (size_t)cfg.n_ctx;
            ids[i] = malloc(sizeof(int) * count);
            if (!ids[i]) {
                st = g2r_fail(err, G2R_ENOMEM, "embed: out of memory");
                break;
            }
            st = g2r_encode(tok, t, len, 0, ids[i], count, &count, err);
            n_ids[i] = (int)keep;
        }
        if (!st) st = g2r_embed(m, nb, (const int *const *)ids, n_ids, pool, out + (size_t)b0 * cfg.n_embd, err);
        for (int i = 0; i < nb; i++) {
            free(ids[i]);
            ids[i] = NULL;
        }
        if (!st && ix)
            for (int i = 0; i < nb; i++) g2r_index_postprocess(ix, out + (size_t)(b0 + i) * cfg.n_embd);
    }
    return st;
}
