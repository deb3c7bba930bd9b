/* gpu_bench.c — timings of the CUDA path on a GPT-2 safetensors file
 * (bench/gpu_check.sh runs it beside bench/gpu_peer.py).
 *
 *   gpu_bench --model FILE [--dtype F32|F16|BF16] [--embed B T] [--decode N]
 *             [--matmul B T] [--topk N DIM K] [--reps R] [--dump FILE]
 *
 * Each figure is the median of R timed runs after one warm-up, wall clock
 * around a run that ends in a device synchronisation.  Lines starting with
 * "RESULT" are for the script: RESULT <name> <value> <unit>.
 * Token ids are (i*131 + t*7919 + 17) mod vocab, as in gpu_peer.py. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef G2R_CUDA
#include "common/half.h"
#include "common/rng.h"
#include "engine/gpt2_cuda.h"
#include "kernels/cuda/cuda_kernels.h"
#include "weights/gpt2_weights.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int die(const g2r_error *err) {
    fprintf(stderr, "gpu_bench: %s\n", err->msg);
    return 1;
}

static int token(int i, int t, int vocab) { return (int)(((long)i * 131 + (long)t * 7919 + 17) % vocab); }

static int bench_embed(g2r_cuda_model *m, const g2r_config *cfg, int B, int T, int reps, const char *dump,
                       const char *tag) {
    g2r_error err = {0};
    g2r_cuda_session *s;
    if (g2r_cuda_session_new(m, B, T, &s, &err)) return die(&err);
    int *ids = malloc((size_t)B * T * sizeof(int)), *lens = malloc((size_t)B * sizeof(int));
    const int **rows = malloc((size_t)B * sizeof(int *));
    float *out = malloc((size_t)B * cfg->n_embd * sizeof(float));
    double *ms = malloc((size_t)(reps + 1) * sizeof(double));
    for (int i = 0; i < B; i++) {
        for (int t = 0; t < T; t++) ids[(size_t)i * T + t] = token(i, t, cfg->n_vocab);
        rows[i] = ids + (size_t)i * T, lens[i] = T;
    }
    int rc = 0;
    for (int r = 0; r <= reps && !rc; r++) {
        double t0 = now_ms();
        if (g2r_cuda_embed_seqs(s, B, rows, lens, G2R_POOL_MEAN, out, &err)) rc = die(&err);
        ms[r] = now_ms() - t0; /* r = 0 is the warm-up */
    }
    if (!rc) {
        double med = median(ms + 1, reps);
        double flops = 2.0 * (double)B * T * 12.0 * cfg->n_layer * cfg->n_embd * cfg->n_embd; /* matmuls only */
        printf("embed %s %dx%d: %.3f ms per batch, %.0f seq/s, %.1f TFLOP/s in the matmuls\n", tag, B, T, med,
               B / (med / 1e3), flops / (med / 1e3) / 1e12);
        printf("RESULT embed_%s_ms %.4f ms\nRESULT embed_%s_seqs %.1f seq/s\n", tag, med, tag, B / (med / 1e3));
        if (dump) {
            FILE *f = fopen(dump, "wb");
            int n = B < 8 ? B : 8;
            if (!f || fwrite(out, sizeof(float), (size_t)n * cfg->n_embd, f) != (size_t)n * cfg->n_embd)
                fprintf(stderr, "gpu_bench: could not write %s\n", dump), rc = 1;
            if (f) fclose(f);
        }
    }
    g2r_cuda_session_free(s);
    free(ids), free(lens), free(rows), free(out), free(ms);
    return rc;
}

/* Greedy generation, batch 1: one prompt token, then n tokens, each step's
 * logits copied back and argmaxed on the host (as a sampler would). */
static int bench_decode(g2r_cuda_model *m, const g2r_config *cfg, int n, const char *tag) {
    g2r_error err = {0};
    g2r_cuda_session *s;
    int max_tokens = n + 1 < cfg->n_ctx ? n + 1 : cfg->n_ctx;
    n = max_tokens - 1;
    if (g2r_cuda_session_new(m, 1, max_tokens, &s, &err)) return die(&err);
    float *logits = malloc((size_t)cfg->n_vocab * sizeof(float));
    int rc = 0;
    double total = 0.0;
    int first[16], n_first = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) { /* pass 0 warms up */
        g2r_cuda_session_reset(s);
        int id = token(0, 0, cfg->n_vocab), one = 1;
        n_first = 0;
        double t0 = now_ms();
        for (int t = 0; t <= n && !rc; t++) {
            const int *ids[1] = {&id};
            if (g2r_cuda_forward(s, 1, ids, &one, G2R_OUT_LOGITS, logits, &err)) {
                rc = die(&err);
                break;
            }
            int best = 0;
            for (int v = 1; v < cfg->n_vocab; v++)
                if (logits[v] > logits[best]) best = v;
            id = best;
            if (n_first < 16) first[n_first++] = id;
            if (t == 0) t0 = now_ms(); /* the prompt token is not a decode step */
        }
        total = now_ms() - t0;
    }
    if (!rc) {
        printf("decode %s batch 1: %d tokens in %.1f ms, %.1f tokens/s\n", tag, n, total, n / (total / 1e3));
        printf("RESULT decode_%s_tps %.1f tok/s\nGREEDY %s ", tag, n / (total / 1e3), tag);
        for (int i = 0; i < n_first; i++) printf("%s%d", i ? "," : "", first[i]); /* as gpu_peer.py prints them */
        printf("\n");
    }
    free(logits);
    g2r_cuda_session_free(s);
    return rc;
}

/* The four GPT-2 matmul shapes with M = B*T rows, as the batched forward runs
 * them: F32 through g2r_cuda_matmul's AUTO path, 16-bit through the tensor
 * cores with 16-bit activations (g2r_cuda_matmul16, F32 out). */
static int bench_matmul(const g2r_config *cfg, g2r_dtype dt, int M, int reps, const char *tag) {
    int C = cfg->n_embd;
    const int shapes[4][2] = {{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}};
    const char *names[4] = {"c_attn", "attn_proj", "fc", "mlp_proj"};
    g2r_error err = {0};
    float *in = NULL, *out = NULL;
    void *w = NULL;
    size_t max_k = 4 * (size_t)C, max_n = 4 * (size_t)C;
    if (g2r_cuda_malloc((void **)&in, (size_t)M * max_k * 4, "bench input", &err) ||
        g2r_cuda_malloc((void **)&out, (size_t)M * max_n * 4, "bench output", &err) ||
        g2r_cuda_malloc(&w, max_k * max_n * 4, "bench weights", &err))
        return die(&err);
    /* random weights and inputs of the right dtype, made on the host */
    size_t nw = (size_t)C * 4 * C, ni = (size_t)M * max_k, es = g2r_dtype_size(dt);
    unsigned char *hw = malloc(nw * es), *hi = malloc(ni * es);
    g2r_rng r = {5};
    for (size_t i = 0; i < nw + ni; i++) {
        float f = i < nw ? (g2r_rng_f32(&r) - 0.5f) * 0.04f : 2.0f * g2r_rng_f32(&r) - 1.0f;
        unsigned char *o = i < nw ? hw + i * es : hi + (i - nw) * es;
        if (dt == G2R_DT_F32) memcpy(o, &f, 4);
        else {
            uint16_t h = dt == G2R_DT_BF16 ? g2r_f32_to_bf16(f) : g2r_f32_to_f16(f);
            memcpy(o, &h, 2);
        }
    }
    int rc = 0;
    if (g2r_cuda_upload(w, hw, nw * es, NULL, &err) || g2r_cuda_upload(in, hi, ni * es, NULL, &err)) rc = die(&err);
    double *ms = malloc((size_t)reps * sizeof(double));
    for (int si = 0; si < 4 && !rc; si++) {
        g2r_cuda_matrix mat = {dt, shapes[si][0], shapes[si][1], w};
        for (int it = -2; it < reps && !rc; it++) {
            double t0 = now_ms();
            g2r_status st = dt == G2R_DT_F32
                                ? g2r_cuda_matmul(out, mat.cols, in, &mat, NULL, M, 0, 0, G2R_CUDA_MM_AUTO, NULL, &err)
                                : g2r_cuda_matmul16(out, G2R_DT_F32, mat.cols, in, &mat, NULL, M, 0, 0, NULL, &err);
            if (st || g2r_cuda_sync(NULL, &err))
                rc = die(&err);
            if (it >= 0) ms[it] = now_ms() - t0;
        }
        if (rc) break;
        double med = median(ms, reps);
        double tf = 2.0 * M * shapes[si][0] * (double)shapes[si][1] / (med / 1e3) / 1e12;
        printf("matmul %s %s %dx%dx%d: %.3f ms, %.1f TFLOP/s\n", tag, names[si], M, shapes[si][0], shapes[si][1], med,
               tf);
        printf("RESULT matmul_%s_%s_tflops %.2f TFLOP/s\n", tag, names[si], tf);
    }
    free(ms), free(hw), free(hi);
    g2r_cuda_free(in), g2r_cuda_free(out), g2r_cuda_free(w);
    return rc;
}

static int bench_topk(size_t n, int dim, int k, int reps) {
    g2r_error err = {0};
    float *x = NULL, *q = NULL;
    void *work = NULL;
    if (g2r_cuda_malloc((void **)&x, n * (size_t)dim * 4, "the index", &err) ||
        g2r_cuda_malloc((void **)&q, (size_t)dim * 4, "the query", &err) ||
        g2r_cuda_malloc(&work, g2r_cuda_topk_work_bytes(n, k), "top-k work", &err) ||
        g2r_cuda_fill_uniform(x, n * (size_t)dim, 2, NULL, &err) || g2r_cuda_fill_uniform(q, (size_t)dim, 3, NULL, &err) ||
        g2r_cuda_sync(NULL, &err))
        return die(&err);
    int64_t ids[G2R_CUDA_TOPK_MAX];
    float sc[G2R_CUDA_TOPK_MAX];
    double *ms = malloc((size_t)reps * sizeof(double));
    int rc = 0;
    for (int it = -2; it < reps && !rc; it++) {
        double t0 = now_ms();
        if (g2r_cuda_topk(x, n, dim, q, k, work, ids, sc, NULL, &err)) rc = die(&err);
        if (it >= 0) ms[it] = now_ms() - t0;
    }
    if (!rc) {
        double med = median(ms, reps), gb = (double)n * dim * 4 / 1e9;
        printf("topk %d of %zu x %d f32: %.3f ms, %.0f GB/s read; best id %lld score %.4f\n", k, n, dim, med,
               gb / (med / 1e3), (long long)ids[0], sc[0]);
        printf("RESULT topk_ms %.4f ms\nRESULT topk_gbs %.1f GB/s\n", med, gb / (med / 1e3));
    }
    free(ms);
    g2r_cuda_free(x), g2r_cuda_free(q), g2r_cuda_free(work);
    return rc;
}

static int parse_dtype(const char *s, g2r_dtype *out) {
    if (!strcmp(s, "F32") || !strcmp(s, "f32")) *out = G2R_DT_F32;
    else if (!strcmp(s, "F16") || !strcmp(s, "f16")) *out = G2R_DT_F16;
    else if (!strcmp(s, "BF16") || !strcmp(s, "bf16")) *out = G2R_DT_BF16;
    else return -1;
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL, *dump = NULL;
    g2r_dtype dt = G2R_DT_BF16;
    int eB = 0, eT = 0, dec = 0, mB = 0, mT = 0, tk = 0, tdim = 0, reps = 10;
    long tn = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int left = argc - 1 - i;
        if (!strcmp(a, "--model") && left >= 1) model = argv[++i];
        else if (!strcmp(a, "--dump") && left >= 1) dump = argv[++i];
        else if (!strcmp(a, "--dtype") && left >= 1) {
            if (parse_dtype(argv[++i], &dt)) {
                fprintf(stderr, "gpu_bench: --dtype expects F32, F16 or BF16\n");
                return 2;
            }
        } else if (!strcmp(a, "--embed") && left >= 2) eB = atoi(argv[i + 1]), eT = atoi(argv[i + 2]), i += 2;
        else if (!strcmp(a, "--matmul") && left >= 2) mB = atoi(argv[i + 1]), mT = atoi(argv[i + 2]), i += 2;
        else if (!strcmp(a, "--decode") && left >= 1) dec = atoi(argv[++i]);
        else if (!strcmp(a, "--reps") && left >= 1) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--topk") && left >= 3)
            tn = atol(argv[i + 1]), tdim = atoi(argv[i + 2]), tk = atoi(argv[i + 3]), i += 3;
        else {
            fprintf(stderr, "usage: gpu_bench --model FILE [--dtype F32|F16|BF16] [--embed B T] [--decode N]\n"
                            "                 [--matmul B T] [--topk N DIM K] [--reps R] [--dump FILE]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    g2r_error err = {0};
    if (g2r_cuda_init(&err)) return die(&err);
    char name[256];
    g2r_cuda_device_name(name, sizeof name);
    printf("device: %s\n", name);
    const char *tag = dt == G2R_DT_F32 ? "f32" : dt == G2R_DT_F16 ? "f16" : "bf16";
    int rc = 0;
    if (model && (eB > 0 || dec > 0 || mB > 0)) {
        g2r_gpt2_weights w;
        if (g2r_gpt2_weights_load(model, 0, &w, &err)) return die(&err);
        g2r_cuda_model *m = NULL;
        double t0 = now_ms();
        if (g2r_cuda_model_new(&w, dt, &m, &err)) rc = die(&err);
        if (!rc)
            printf("upload: %.1f MB of %s weights in %.0f ms\n", (double)g2r_cuda_model_bytes(m) / 1e6, tag,
                   now_ms() - t0);
        g2r_config cfg = w.cfg;
        g2r_gpt2_weights_free(&w); /* the device holds its own copy now */
        if (!rc && eB > 0) rc = bench_embed(m, &cfg, eB, eT, reps, dump, tag);
        if (!rc && dec > 0) rc = bench_decode(m, &cfg, dec, tag);
        if (!rc && mB > 0) rc = bench_matmul(&cfg, dt, mB * mT, reps, tag);
        g2r_cuda_model_free(m);
    } else if (eB > 0 || dec > 0 || mB > 0) {
        fprintf(stderr, "gpu_bench: --embed, --decode and --matmul need --model FILE\n");
        return 2;
    }
    if (!rc && tn > 0) rc = bench_topk((size_t)tn, tdim, tk, reps);
    return rc;
}

#else

int main(void) {
    fprintf(stderr, "gpu_bench: built without CUDA (make cuda)\n");
    return 1;
}

#endif
