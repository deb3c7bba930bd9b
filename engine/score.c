/* score.c — mean log-probability of candidate continuations of one prefix.
 *
 * The prefix runs once, into sequence 0 of a session.  Candidates then run as
 * sequences 1..G that read the prefix's cached positions in place (see
 * engine/session.h), packed together into forwards of at most SCORE_BUDGET
 * tokens.  Token j of a candidate is predicted by the logits of the position
 * before it: the prefix's last position for j = 0, the candidate's own token
 * j - 1 after that.  So a candidate's last token is never run through the
 * model, and a candidate of k tokens costs k - 1 positions.
 *
 * Truncation: a candidate keeps its first min(len, n_ctx - n_prefix) tokens,
 * so prefix + kept candidate fit the context; the score is the mean over the
 * kept tokens. */
#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "engine/session.h"

#define SCORE_BUDGET 256

/* log softmax(logits)[target], computed in double */
static double log_prob(const float *logits, int n, int target) {
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    return (double)logits[target] - mx - log(sum);
}

static g2r_status check_args(const g2r_model *m, const int *prefix, int n_prefix, int n_cands,
                             const int *const *cand, const int *cand_lens, const float *out, g2r_error *err) {
    int n_ctx = m->w.cfg.n_ctx, V = m->w.cfg.n_vocab;
    if (n_prefix < 1 || !prefix) return g2r_fail(err, G2R_EARG, "score: the prefix is empty");
    if (n_prefix >= n_ctx)
        return g2r_fail(err, G2R_ERANGE, "score: a prefix of %d tokens leaves no room in the context of %d",
                        n_prefix, n_ctx);
    if (n_cands < 0 || (n_cands > 0 && (!cand || !cand_lens || !out)))
        return g2r_fail(err, G2R_EARG, "score: bad candidate arguments");
    for (int i = 0; i < n_prefix; i++)
        if (prefix[i] < 0 || prefix[i] >= V)
            return g2r_fail(err, G2R_ERANGE, "score: prefix token id %d at %d is outside [0, %d)", prefix[i], i, V);
    for (int c = 0; c < n_cands; c++) {
        if (cand_lens[c] < 1 || !cand[c]) return g2r_fail(err, G2R_EARG, "score: candidate %d is empty", c);
        for (int j = 0; j < cand_lens[c]; j++)
            if (cand[c][j] < 0 || cand[c][j] >= V)
                return g2r_fail(err, G2R_ERANGE, "score: candidate %d: token id %d at %d is outside [0, %d)", c,
                                cand[c][j], j, V);
    }
    return G2R_OK;
}

typedef struct {
    g2r_model *m;
    g2r_session *s;
    int n_prefix;
    const int *const *cand;
    const int *keep;   /* [n_cands] tokens kept */
    double *sum;       /* [n_cands] log-probabilities so far */
    float *logits;     /* [SCORE_BUDGET][V] */
    const int **ptrs;  /* [1 + G] forward arguments */
    int *counts, *fed; /* [1 + G], [G] */
} scorer;

/* Runs candidates [c0, c1) over the shared prefix, adding to sum[c]. */
static g2r_status score_group(scorer *sc, int c0, int c1, g2r_error *err) {
    int G = c1 - c0, V = sc->m->w.cfg.n_vocab;
    int base = sc->n_prefix;
    for (int g = 0; g < G; g++) {
        int feed = sc->keep[c0 + g] - 1;
        g2r_status st = g2r_session_place(sc->s, 1 + g, base, feed, 0, sc->n_prefix, err);
        if (st != G2R_OK) return st;
        base += feed;
        sc->fed[g] = 0;
    }
    sc->counts[0] = 0; /* the prefix gets no new tokens */
    sc->ptrs[0] = NULL;
    for (;;) {
        /* one round: each candidate's next tokens, up to the budget */
        int used = 0;
        for (int g = 0; g < G; g++) {
            int left = sc->keep[c0 + g] - 1 - sc->fed[g];
            int n = left < SCORE_BUDGET - used ? left : SCORE_BUDGET - used;
            sc->ptrs[1 + g] = sc->cand[c0 + g] + sc->fed[g];
            sc->counts[1 + g] = n;
            used += n;
        }
        if (used == 0) return G2R_OK;
        g2r_status st = g2r_forward(sc->s, 1 + G, sc->ptrs, sc->counts, G2R_OUT_LOGITS, sc->logits, err);
        if (st != G2R_OK) return st;
        const float *row = sc->logits;
        for (int g = 0; g < G; g++) {
            const int *toks = sc->cand[c0 + g];
            for (int r = 0; r < sc->counts[1 + g]; r++, row += V) {
                int f = sc->fed[g] + r; /* the row of token f predicts token f + 1 */
                sc->sum[c0 + g] += log_prob(row, V, toks[f + 1]);
            }
            sc->fed[g] += sc->counts[1 + g];
        }
    }
}

g2r_status g2r_score_continuations(g2r_model *m, const int *prefix, int n_prefix, int n_cands,
                                   const int *const *cand, const int *cand_lens, float *out, g2r_error *err) {
    if (!m) return g2r_fail(err, G2R_EARG, "score: model is NULL");
    g2r_status st = check_args(m, prefix, n_prefix, n_cands, cand, cand_lens, out, err);
    if (st != G2R_OK || n_cands == 0) return st;
    int n_ctx = m->w.cfg.n_ctx, V = m->w.cfg.n_vocab;

    scorer sc = {.m = m, .n_prefix = n_prefix, .cand = cand};
    int *keep = malloc((size_t)n_cands * sizeof *keep);
    int max_feed = 0, total_feed = 0;
    for (int c = 0; keep && c < n_cands; c++) {
        keep[c] = cand_lens[c] < n_ctx - n_prefix ? cand_lens[c] : n_ctx - n_prefix;
        if (keep[c] - 1 > max_feed) max_feed = keep[c] - 1;
        total_feed += keep[c] - 1;
    }
    sc.keep = keep;
    int max_group = n_cands < SCORE_BUDGET ? n_cands : SCORE_BUDGET;
    int rows = total_feed < SCORE_BUDGET ? total_feed : SCORE_BUDGET;
    int own = max_feed > SCORE_BUDGET ? max_feed : SCORE_BUDGET;
    sc.sum = calloc((size_t)n_cands, sizeof *sc.sum);
    sc.logits = malloc(((size_t)rows + 1) * V * sizeof *sc.logits);
    sc.ptrs = malloc((size_t)(1 + max_group) * sizeof *sc.ptrs);
    sc.counts = malloc((size_t)(1 + max_group) * sizeof *sc.counts);
    sc.fed = malloc((size_t)max_group * sizeof *sc.fed);
    if (!keep || !sc.sum || !sc.logits || !sc.ptrs || !sc.counts || !sc.fed)
        st = g2r_fail(err, G2R_ENOMEM, "score: out of memory");
    if (st == G2R_OK) st = g2r_session_create(m, 1 + max_group, n_prefix + own, 0, &sc.s, err);
    if (st == G2R_OK) st = g2r_session_place(sc.s, 0, 0, n_prefix, -1, 0, err);

    /* the prefix: cache for all its positions, logits of the last one */
    if (st == G2R_OK && n_prefix > 1) {
        const int *p[1] = {prefix};
        int n[1] = {n_prefix - 1};
        st = g2r_forward(sc.s, 1, p, n, G2R_OUT_LOGITS, NULL, err);
    }
    if (st == G2R_OK) {
        const int *p[1] = {prefix + n_prefix - 1};
        int n[1] = {1};
        st = g2r_forward(sc.s, 1, p, n, G2R_OUT_LOGITS, sc.logits, err);
    }
    for (int c = 0; st == G2R_OK && c < n_cands; c++) sc.sum[c] = log_prob(sc.logits, V, cand[c][0]);

    /* candidates, in groups whose tokens fit the budget */
    for (int c = 0; st == G2R_OK && c < n_cands;) {
        int e = c, used = 0;
        while (e < n_cands && e - c < max_group && (e == c || used + keep[e] - 1 <= SCORE_BUDGET))
            used += keep[e++] - 1;
        st = score_group(&sc, c, e, err);
        c = e;
    }
    for (int c = 0; st == G2R_OK && c < n_cands; c++) out[c] = (float)(sc.sum[c] / keep[c]);

    g2r_session_free(sc.s);
    free(keep);
    free(sc.sum);
    free(sc.logits);
    free(sc.ptrs);
    free(sc.counts);
    free(sc.fed);
    return st;
}
