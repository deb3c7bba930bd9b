/* topk_bench.c — exact top-K scan speed: N random unit vectors, d = 768, k = 10.
 *
 *   build/bench/topk_bench [--n 100000,1000000] [--dim 768] [--k 10] [--threads 1,2]
 *                          [--reps R] [--faiss] [--out bench/out]
 *
 * For each N and dtype (f32, f16, q8) and thread count: latency per query at
 * nq = 1 (p50, p99 over R single-query scans), its speed-up over f32, and
 * throughput at nq = 64; the read-bandwidth ceiling (the time to stream the
 * vectors once at bench/ceilings.c's read bandwidth with the same threads);
 * recall@k of f16 and q8 (int8 scan + f16 re-scoring of the best
 * G2R_REFINE_FACTOR * k, as a q8 index does) against f32 exact.  With
 * --faiss, bench/topk_faiss.py runs FAISS IndexFlatIP on the same data (when
 * Debian's python3-faiss is importable): its nq = 1 p50 and nq = 64 queries/s
 * stand beside every dtype.  Prints a Markdown table; raw rows go to
 * OUT/topk.jsonl. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "bench/ceilings.h"
#include "common/rng.h"
#include "gpt2rank.h"
#include "ranker/index_internal.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}


static void random_unit(g2r_rng *r, float *v, int dim) {
    double ss = 0;
    for (int d = 0; d < dim; d++) {
        v[d] = g2r_rng_normal(r);
        ss += (double)v[d] * v[d];
    }
    for (int d = 0; d < dim; d++) v[d] = (float)(v[d] / sqrt(ss));
}

/* The vectors as the index stores them: rows padded to 64 bytes, 64-byte aligned. */
static g2r_vectors encode(const float *x, size_t n, int dim, g2r_vec_dtype t) {
    size_t stride = (((size_t)dim * g2r_vec_dtype_size(t) + 63) & ~(size_t)63) / g2r_vec_dtype_size(t);
    unsigned char *data = aligned_alloc(64, n * stride * g2r_vec_dtype_size(t) + 64);
    float *scale = t == G2R_VEC_Q8 ? malloc(sizeof(float) * n) : NULL;
    if (!data || (t == G2R_VEC_Q8 && !scale)) {
        fprintf(stderr, "topk_bench: out of memory\n");
        exit(1);
    }
    memset(data, 0, n * stride * g2r_vec_dtype_size(t));
    for (size_t i = 0; i < n; i++) {
        float s = g2r_index_encode_row(data + i * stride * g2r_vec_dtype_size(t), x + i * dim, dim, t);
        if (scale) scale[i] = s;
    }
    return (g2r_vectors){t, dim, n, stride, data, scale, NULL};
}

static double p50_ms(g2r_scanner *s, const g2r_vectors *v, const float *q, int n_q, int k, int reps, double *lat,
                     g2r_hit *hits) {
    g2r_error err;
    int got;
    for (int i = 0; i < reps; i++) {
        double t0 = g2r_now_ms();
        g2r_topk(s, v, q + (size_t)(i % n_q) * v->dim, 1, k, NULL, 0, hits, &got, &err);
        lat[i] = g2r_now_ms() - t0;
    }
    qsort(lat, (size_t)reps, sizeof *lat, cmp_double);
    return lat[reps / 2];
}

/* What the f16 re-scoring of a q8 index buys and costs: the share of the f32
 * top-k found among the best k, 2k and 4k rows of the int8 scan alone, and
 * the nq = 1 p50 with and without re-scoring (one line for the notes). */
static void refine_note(g2r_scanner *s, const g2r_vectors *q8, const float *q, const g2r_hit *exact, int n_q, int k,
                        int reps, double *lat, char *out, size_t cap) {
    g2r_vectors plain = *q8;
    plain.refine = NULL;
    int m[3] = {k, 2 * k, 4 * k}, got;
    double found[3] = {0};
    g2r_hit *hits = malloc(sizeof(g2r_hit) * (size_t)m[2]);
    g2r_error err;
    for (int i = 0; i < n_q; i++) {
        g2r_topk(s, &plain, q + (size_t)i * q8->dim, 1, m[2], NULL, 0, hits, &got, &err);
        for (int c = 0; c < 3; c++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < m[c] && b < got; b++) found[c] += hits[b].index == exact[(size_t)i * k + a].index;
    }
    double with = p50_ms(s, q8, q, n_q, k, reps, lat, hits), without = p50_ms(s, &plain, q, n_q, k, reps, lat, hits);
    free(hits);
    snprintf(out, cap,
             "N = %zu, q8, %d thread(s): the f32 top-%d lies within the int8 scan's best %d / %d / %d at %.4f / %.4f / "
             "%.4f; nq = 1 p50 %.3f ms with the f16 re-scoring of %d candidates, %.3f ms without",
             q8->count, g2r_scanner_threads(s), k, m[0], m[1], m[2], found[0] / ((double)n_q * k),
             found[1] / ((double)n_q * k), found[2] / ((double)n_q * k), with, G2R_REFINE_FACTOR * k, without);
}

static int parse_list(const char *s, long *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        out[n++] = strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s) break;
    }
    return n;
}

int main(int argc, char **argv) {
    long ns[8] = {100000, 1000000}, ths[8] = {1, 2};
    int n_ns = 2, n_th = 2, dim = 768, k = 10, reps = 0, faiss = 0;
    const char *out_dir = "bench/out";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n_ns = parse_list(argv[++i], ns, 8);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) n_th = parse_list(argv[++i], ths, 8);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc) dim = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_dir = argv[++i];
        else if (!strcmp(argv[i], "--faiss")) faiss = 1;
        else {
            fprintf(stderr, "usage: topk_bench [--n 100000,1000000] [--dim 768] [--k 10] [--threads 1,2] [--reps R] "
                            "[--faiss] [--out DIR]\n");
            return 2;
        }
    }
    char path[1024];
    snprintf(path, sizeof path, "mkdir -p '%s'", out_dir);
    if (system(path) != 0) return 1;
    snprintf(path, sizeof path, "%s/topk.jsonl", out_dir);
    FILE *jl = fopen(path, "w");
    if (!jl) return 1;

    const int NQ = 64, N_RECALL = 200;
    static char notes[8][512];
    printf("| N | dtype | threads | nq=1 p50 ms | nq=1 p99 ms | f32 p50 / p50 | ceiling ms | p50/ceiling | FAISS p50 ms "
           "| p50/FAISS | nq=64 queries/s | FAISS nq=64 queries/s | nq=64 vs FAISS | recall@%d vs f32 |\n", k);
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int ni = 0; ni < n_ns; ni++) {
        size_t n = (size_t)ns[ni];
        int r = reps ? reps : n >= 1000000 ? 50 : 200;
        g2r_rng rng = {2024};
        float *x = malloc(sizeof(float) * n * dim), *q = malloc(sizeof(float) * (size_t)N_RECALL * dim);
        if (!x || !q) return 1;
        for (size_t i = 0; i < n; i++) random_unit(&rng, x + i * dim, dim);
        for (int i = 0; i < N_RECALL; i++) random_unit(&rng, q + (size_t)i * dim, dim);

        /* FAISS on the same data, through files */
        double faiss_p50[8] = {0}, faiss_p99[8] = {0}, faiss_qps[8] = {0}; /* per thread count; 0: none */
        if (faiss) {
            char base[1024], qp[1024], cmd[4096], res[1024];
            snprintf(base, sizeof base, "%s/base.f32", out_dir);
            snprintf(qp, sizeof qp, "%s/queries.f32", out_dir);
            snprintf(res, sizeof res, "%s/faiss.txt", out_dir);
            FILE *f = fopen(base, "wb");
            fwrite(x, sizeof(float) * dim, n, f);
            fclose(f);
            f = fopen(qp, "wb");
            fwrite(q, sizeof(float) * dim, N_RECALL, f);
            fclose(f);
            for (int ti = 0; ti < n_th; ti++) {
                snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/topk_faiss.py '%s' '%s' %d %d %ld %d > '%s'", base, qp,
                         dim, k, ths[ti], r, res);
                if (system(cmd) == 0 && (f = fopen(res, "r"))) {
                    if (fscanf(f, "%lf %lf %lf", &faiss_p50[ti], &faiss_p99[ti], &faiss_qps[ti]) != 3)
                        faiss_p50[ti] = faiss_qps[ti] = 0;
                    fclose(f);
                }
            }
            remove(base);
        }

        g2r_vectors v[3];
        for (int t = 0; t < 3; t++) v[t] = encode(x, n, dim, (g2r_vec_dtype)t);
        v[2].refine = &v[1]; /* as in a q8 index: int8 scan, f16 re-scoring of 4k candidates */
        free(x);
        g2r_hit *exact = malloc(sizeof(g2r_hit) * (size_t)N_RECALL * k), *hits = malloc(sizeof(g2r_hit) * NQ * k);
        double *lat = malloc(sizeof(double) * (size_t)r), p50_f32 = 0;
        for (int ti = 0; ti < n_th; ti++) {
            g2r_scanner *s;
            g2r_error err;
            if (g2r_scanner_new((int)ths[ti], &s, &err)) return 1;
            double gbps = g2r_ceiling_read_gbs((int)ths[ti], 1024, 1.0);
            for (int t = 0; t < 3; t++) {
                int got;
                /* recall against f32 exact (and pages in the data) */
                double recall = 0;
                for (int i = 0; i < N_RECALL; i++) {
                    g2r_topk(s, &v[t], q + (size_t)i * dim, 1, k, NULL, 0, hits, &got, &err);
                    if (t == 0) memcpy(exact + (size_t)i * k, hits, sizeof(g2r_hit) * k);
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++) recall += hits[a].index == exact[(size_t)i * k + b].index;
                }
                recall /= (double)N_RECALL * k;
                for (int i = 0; i < r; i++) {
                    double t0 = g2r_now_ms();
                    g2r_topk(s, &v[t], q + (size_t)(i % N_RECALL) * dim, 1, k, NULL, 0, hits, &got, &err);
                    lat[i] = g2r_now_ms() - t0;
                }
                qsort(lat, (size_t)r, sizeof *lat, cmp_double);
                double p50 = lat[r / 2], p99 = lat[(int)(r * 0.99)];
                int batches = r / 8 > 2 ? r / 8 : 2;
                double t0 = g2r_now_ms();
                for (int b = 0; b < batches; b++)
                    g2r_topk(s, &v[t], q + (size_t)(b % 3) * NQ * dim, NQ, k, NULL, 0, hits, &got, &err);
                double qps = batches * NQ / ((g2r_now_ms() - t0) / 1e3);
                double bytes = (double)n * v[t].stride * g2r_vec_dtype_size(v[t].dtype) + (v[t].scale ? 4.0 * n : 0);
                double ceil_ms = bytes / (gbps * 1e6);
                const char *name = g2r_vec_dtype_name(v[t].dtype);
                if (t == 0) p50_f32 = p50;
                /* FAISS IndexFlatIP scans f32: every dtype is set beside that one figure */
                char fp50[32] = "-", fratio[32] = "-", fqps[32] = "-", fqratio[32] = "-";
                if (faiss_p50[ti] > 0) {
                    snprintf(fp50, sizeof fp50, "%.2f", faiss_p50[ti]);
                    snprintf(fratio, sizeof fratio, "%.2f", p50 / faiss_p50[ti]);
                    snprintf(fqps, sizeof fqps, "%.0f", faiss_qps[ti]);
                    snprintf(fqratio, sizeof fqratio, "%.2f", qps / faiss_qps[ti]);
                }
                printf("| %zu | %s | %ld | %.3f | %.3f | %.2f | %.3f | %.2f | %s | %s | %.0f | %s | %s | %.4f |\n", n, name,
                       ths[ti], p50, p99, p50_f32 / p50, ceil_ms, p50 / ceil_ms, fp50, fratio, qps, fqps, fqratio, recall);
                fprintf(jl,
                        "{\"n\":%zu,\"dim\":%d,\"k\":%d,\"dtype\":\"%s\",\"threads\":%ld,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
                        "\"qps_nq64\":%.1f,\"read_gbps\":%.2f,\"ceiling_ms\":%.4f,\"faiss_p50_ms\":%.4f,"
                        "\"faiss_p99_ms\":%.4f,\"faiss_qps_nq64\":%.1f,\"recall\":%.4f}\n",
                        n, dim, k, name, ths[ti], p50, p99, qps, gbps, ceil_ms, faiss_p50[ti], faiss_p99[ti], faiss_qps[ti],
                        recall);
                fflush(stdout);
            }
            if (ti == 0) refine_note(s, &v[2], q, exact, N_RECALL, k, r, lat, notes[ni], sizeof notes[ni]);
            g2r_scanner_free(s);
        }
        for (int t = 0; t < 3; t++) {
            free((void *)v[t].data);
            free((void *)v[t].scale);
        }
        free(exact);
        free(hits);
        free(lat);
        free(q);
    }
    printf("\n");
    for (int ni = 0; ni < n_ns; ni++) printf("%s\n", notes[ni]);
    fclose(jl);
    return 0;
}
