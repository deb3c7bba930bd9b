/* profile_events.c — adding a history to a profile: item vectors reused, texts embedded. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ranker/profile_internal.h"

g2r_status g2r_profile_add_events(g2r_profile *p, g2r_index *ix, g2r_model *m, const g2r_tokenizer *tok,
                                  const g2r_event *ev, size_t n, size_t *n_skipped, g2r_error *err) {
    g2r_index_info info;
    g2r_index_info_get(ix, &info);
    const int dim = info.dim;
    if (n_skipped) *n_skipped = 0;
    if (g2r_profile_dim(p) != dim)
        return g2r_fail(err, G2R_EARG, "profile: dim %d differs from index dim %d", g2r_profile_dim(p), dim);
    int64_t *row = malloc(sizeof(int64_t) * (n ? n : 1));
    const char **texts = malloc(sizeof(char *) * (n ? n : 1));
    size_t *lens = malloc(sizeof(size_t) * (n ? n : 1)), *which = malloc(sizeof(size_t) * (n ? n : 1));
    float *vec = NULL;
    g2r_status st = G2R_OK;
    if (!row || !texts || !lens || !which) {
        st = g2r_fail(err, G2R_ENOMEM, "profile: out of memory");
        goto done;
    }
    /* events naming an indexed item reuse its vector; the rest need the model */
    size_t n_text = 0;
    for (size_t i = 0; i < n; i++) {
        row[i] = ev[i].item ? g2r_index_find(ix, ev[i].item, strlen(ev[i].item)) : -1;
        if (row[i] < 0 && ev[i].text_len > 0 && m) {
            texts[n_text] = ev[i].text;
            lens[n_text] = ev[i].text_len;
            which[n_text++] = i;
        }
    }
    if (m && n_text) {
        g2r_config cfg = g2r_model_config(m);
        if (cfg.n_embd != dim) {
            st = g2r_fail(err, G2R_EARG, "profile: model width %d differs from index dim %d", cfg.n_embd, dim);
            goto done;
        }
    }
    vec = malloc(sizeof(float) * (n_text + 1) * (size_t)dim);
    if (!vec) {
        st = g2r_fail(err, G2R_ENOMEM, "profile: out of memory");
        goto done;
    }
    if (n_text && (st = g2r_embed_texts(m, tok, info.pooling, ix, (int)n_text, texts, lens, vec, err))) goto done;
    size_t t = 0;
    float *item_vec = vec + n_text * (size_t)dim;
    for (size_t i = 0; i < n && !st; i++) {
        if (row[i] >= 0) {
            g2r_index_vector(ix, (size_t)row[i], item_vec);
            st = g2r_profile_add(p, &ev[i], item_vec, row[i], err);
        } else if (t < n_text && which[t] == i) {
            st = g2r_profile_add(p, &ev[i], vec + t * (size_t)dim, -1, err);
            t++;
        } else if (n_skipped) {
            (*n_skipped)++;
        }
    }
done:
    free(row);
    free(texts);
    free(lens);
    free(which);
    free(vec);
    return st;
}
