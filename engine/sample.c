/* sample.c — next-token sampling. */
#include "engine/sample.h"

#include <math.h>
#include <stdlib.h>

#include "common/error.h"

g2r_status g2r_sample_buf_init(g2r_sample_buf *b, int n, g2r_error *err) {
    b->n = n;
    b->prob = malloc((size_t)n * sizeof *b->prob);
    b->top = malloc((size_t)n * sizeof *b->top);
    if (!b->prob || !b->top) {
        g2r_sample_buf_free(b);
        return g2r_fail(err, G2R_ENOMEM, "sampler: out of memory for %d probabilities", n);
    }
    return G2R_OK;
}

void g2r_sample_buf_free(g2r_sample_buf *b) {
    free(b->prob);
    free(b->top);
    b->prob = NULL;
    b->top = NULL;
}

/* The first index of the largest value (NaNs are skipped unless x[0] is one:
 * then 0).  One running best is a chain of dependent compares, ~70 us per
 * 50257 logits, 2% of a Q8 decode step; eight chains, then a search for the
 * first index holding their max, give the same index in a fraction of that. */
static int argmax(const float *x, int n) {
    float m[8];
    for (int j = 0; j < 8; j++) m[j] = x[0];
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            if (x[i + j] > m[j]) m[j] = x[i + j];
    for (; i < n; i++)
        if (x[i] > m[0]) m[0] = x[i];
    float best = m[0];
    for (int j = 1; j < 8; j++)
        if (m[j] > best) best = m[j];
    for (i = 0; i < n; i++)
        if (x[i] == best) return i;
    return 0; /* best is NaN: x[0] was */
}

static int by_prob_desc(const void *a, const void *b) {
    const g2r_prob_id *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

int g2r_sample(const float *logits, int n, const g2r_sampler *smp, g2r_rng *rng, g2r_sample_buf *b) {
    if (smp->temperature <= 0.0f) return argmax(logits, n);

    /* p_i = exp((l_i - max) / T) / sum */
    float mx = logits[argmax(logits, n)];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        b->prob[i] = expf((logits[i] - mx) / smp->temperature);
        sum += b->prob[i];
    }
    for (int i = 0; i < n; i++) b->prob[i] = (float)(b->prob[i] / sum);

    int use_k = smp->top_k > 0 && smp->top_k < n;
    int use_p = smp->top_p > 0.0f && smp->top_p < 1.0f;
    float u = g2r_rng_f32(rng);
    if (!use_k && !use_p) {
        /* draw from the whole distribution, ids in order */
        float c = 0.0f;
        for (int i = 0; i < n; i++) {
            c += b->prob[i];
            if (u < c) return i;
        }
        return argmax(b->prob, n); /* rounding left u above the total */
    }

    for (int i = 0; i < n; i++) b->top[i] = (g2r_prob_id){b->prob[i], i};
    qsort(b->top, (size_t)n, sizeof *b->top, by_prob_desc);
    int keep = use_k ? smp->top_k : n;
    double mass = 0.0;
    for (int i = 0; i < keep; i++) {
        mass += b->top[i].p;
        if (use_p && mass >= smp->top_p) {
            keep = i + 1;
            break;
        }
    }
    /* draw u * mass along the kept ids, most likely first */
    double target = u * mass, c = 0.0;
    for (int i = 0; i < keep; i++) {
        c += b->top[i].p;
        if (target < c) return b->top[i].id;
    }
    return b->top[keep - 1].id;
}
