/* embed.c — sequences to pooled, L2-normalised hidden states, many per forward.
 *
 * Sequences are packed back to back (no padding) into forwards of at most
 * EMBED_BUDGET tokens (or one sequence, if longer); each gets exactly its own
 * cache slots, so a batch of short texts costs what their tokens cost. */
#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "engine/gpt2_cuda.h"
#include "engine/session.h"

#define EMBED_BUDGET 512
#define CUDA_EMBED_TOKENS 16384 /* device batch: sequences x longest, bounds the KV cache */

/* out[C] = pool(h[len][C]) / |pool(h)| */
static void pool_rows(float *out, const float *h, int len, int C, g2r_pooling pool) {
    if (pool == G2R_POOL_LAST) {
        for (int i = 0; i < C; i++) out[i] = h[(size_t)(len - 1) * C + i];
    } else {
        for (int i = 0; i < C; i++) {
            double sum = 0.0;
            for (int t = 0; t < len; t++) sum += h[(size_t)t * C + i];
            out[i] = (float)(sum / len);
        }
    }
    double norm = 0.0;
    for (int i = 0; i < C; i++) norm += (double)out[i] * out[i];
    norm = sqrt(norm);
    if (norm > 0.0)
        for (int i = 0; i < C; i++) out[i] = (float)(out[i] / norm);
}

g2r_status g2r_embed(g2r_model *m, int n, const int *const *ids, const int *lens, g2r_pooling pool, float *out,
                     g2r_error *err) {
    if (!m) return g2r_fail(err, G2R_EARG, "embed: model is NULL");
    if (n < 0 || (n > 0 && (!ids || !lens || !out))) return g2r_fail(err, G2R_EARG, "embed: bad arguments");
    if (pool != G2R_POOL_MEAN && pool != G2R_POOL_LAST)
        return g2r_fail(err, G2R_EARG, "embed: unknown pooling %d", (int)pool);
    int n_ctx = m->w.cfg.n_ctx, C = m->w.cfg.n_embd, max_len = 0;
    long total_len = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1 || lens[i] > n_ctx)
            return g2r_fail(err, G2R_ERANGE, "embed: sequence %d has %d tokens, outside [1, %d]", i, lens[i], n_ctx);
        if (lens[i] > max_len) max_len = lens[i];
        total_len += lens[i];
    }
    if (n == 0) return G2R_OK;
#ifdef G2R_CUDA
    if (m->cuda) { /* batches of whole sequences, pooled on the device */
        int per = CUDA_EMBED_TOKENS / max_len;
        per = per < 1 ? 1 : per > n ? n : per;
        g2r_cuda_session *cs = NULL;
        g2r_status cst = g2r_cuda_session_new(m->cuda, per, max_len, &cs, err);
        if (cst == G2R_OK) cst = g2r_cuda_embed_seqs(cs, n, ids, lens, pool, out, err);
        g2r_cuda_session_free(cs);
        return cst;
    }
#endif

    /* The session is sized to the work, not to EMBED_BUDGET: one short text
     * (a live event) must not allocate and fault in a 512-token KV cache. */
    int budget = total_len < EMBED_BUDGET ? (int)total_len : EMBED_BUDGET;
    if (budget < max_len) budget = max_len;
    int max_seqs = n < budget ? n : budget;
    g2r_session *s = NULL;
    float *hidden = malloc((size_t)budget * C * sizeof *hidden);
    g2r_status st = hidden ? G2R_OK : g2r_fail(err, G2R_ENOMEM, "embed: out of memory");
    if (st == G2R_OK) st = g2r_session_create(m, max_seqs, budget, 0, &s, err);

    for (int i = 0; st == G2R_OK && i < n;) {
        /* the next group: as many sequences as fit the token budget */
        int j = i, total = 0;
        while (j < n && j - i < max_seqs && total + lens[j] <= budget) {
            st = g2r_session_place(s, j - i, total, lens[j], -1, 0, err);
            if (st != G2R_OK) break;
            total += lens[j++];
        }
        if (st == G2R_OK) st = g2r_forward(s, j - i, ids + i, lens + i, G2R_OUT_HIDDEN, hidden, err);
        if (st != G2R_OK) break;
        for (size_t row = 0; i < j; row += (size_t)lens[i], i++)
            pool_rows(out + (size_t)i * C, hidden + row * C, lens[i], C, pool);
    }
    g2r_session_free(s);
    free(hidden);
    return st;
}
