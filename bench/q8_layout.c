/* q8_layout.c — Q8 layer matmuls in the two int8 layouts, on the same bytes.
 *
 *   build/bench/q8_layout MODEL-q8rows.safetensors [--seconds S]
 *
 * A Q8 file in the rows layout (`convert --q8-layout rows`) stores each layer
 * matrix [K][N], scales per column over groups of rows (G2R_Q8_GROUP_ROWS).
 * Read as [N][K] with scales per row over groups of columns
 * (G2R_Q8_GROUP_COLS, as wte is stored) the same bytes make a matrix of the
 * other layout: other values, the same reads, and int8 products take the
 * same time whatever the values.  So this times, on
 * 2 threads, the 48 layer matrices of a Q8 model both ways:
 *   decode  (1 input row):  rows layout as the engine runs it, each thread
 *           one contiguous run of K slices, then a pool run that sums them;
 *           cols layout as the logits run, each thread a contiguous run of
 *           output rows, one dot product each, nothing to sum;
 *   prefill (64 input rows): matmul() against matmul_nt(), GFLOP/s.
 * Rounds alternate the four, each round beside the two-thread read probe
 * (bench/ceilings.c) before and after.  The VM this was written on switches
 * between two memory states (README, Benchmarks), so the summary splits the
 * rounds at the midpoint of the probes seen.  (This measurement is why
 * `convert --dtype q8` now writes the cols layout.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/ceilings.h"
#include "common/clock.h"
#include "engine/pool.h"
#include "kernels/kernels.h"
#include "weights/gpt2_weights.h"

#define THREADS 2
#define PREFILL_T 64
#define MAX_ROUNDS 4096

typedef struct {
    const g2r_kernels *k;
    const g2r_matrix *w;
    const float *in;
    float *out, *part;
    int T, width;
} job;

static g2r_gpt2_weights gw;
static g2r_matrix *as_cols; /* [n_layer * 4]: each layer matrix read the other way */
static g2r_pool *pool;
static const g2r_kernels *kern;
static float *in, *out, *part;

static const g2r_matrix *layer_matrix(int l, int i) {
    const g2r_layer_weights *lw = &gw.layers[l];
    const g2r_matrix *m[4] = {&lw->c_attn, &lw->attn_proj, &lw->fc, &lw->mlp_proj};
    return m[i];
}

static void slices_task(void *ctx, int task, int thread) {
    (void)thread;
    const job *j = ctx;
    int S = g2r_kslices(j->w), s0 = S * task / THREADS, s1 = S * (task + 1) / THREADS;
    size_t stride = (size_t)j->w->cols;
    j->k->matmul_slices(j->part + (size_t)s0 * stride, j->w->cols, stride, j->in, j->w, 1, 0, j->w->cols, s0, s1);
}

static void sum_task(void *ctx, int task, int thread) {
    (void)thread;
    const job *j = ctx;
    int N = j->w->cols, n0 = task * j->width, n1 = n0 + j->width < N ? n0 + j->width : N;
    j->k->matmul_sum(j->out, N, j->part, (size_t)N, g2r_kslices(j->w), NULL, 1, n0, n1, 0);
}

static void matmul_task(void *ctx, int task, int thread) {
    (void)thread;
    const job *j = ctx;
    int N = j->w->cols, n0 = task * j->width, n1 = n0 + j->width < N ? n0 + j->width : N;
    j->k->matmul(j->out, N, j->in, j->w, NULL, j->T, n0, n1, 0);
}

static void nt_task(void *ctx, int task, int thread) {
    (void)thread;
    const job *j = ctx;
    int V = j->w->rows, v0 = task * j->width, v1 = v0 + j->width < V ? v0 + j->width : V;
    j->k->matmul_nt(j->out, V, j->in, j->w, j->T, v0, v1);
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* One pass over the 48 matrices; returns the seconds it took. */
static double pass(int cols, int T) {
    double t0 = g2r_now_ms();
    for (int l = 0; l < gw.cfg.n_layer; l++)
        for (int i = 0; i < 4; i++) {
            job j = {kern, cols ? &as_cols[4 * l + i] : layer_matrix(l, i), in, out, part, T, 0};
            if (cols) {
                /* decode: one block of rows per thread; prefill: blocks of 64 */
                j.width = T == 1 ? ceil_div(ceil_div(j.w->rows, THREADS), 64) * 64 : 64;
                g2r_pool_run(pool, ceil_div(j.w->rows, j.width), nt_task, &j);
            } else if (T == 1) {
                g2r_pool_run(pool, THREADS, slices_task, &j);
                j.width = ceil_div(ceil_div(j.w->cols, THREADS), 16) * 16;
                g2r_pool_run(pool, ceil_div(j.w->cols, j.width), sum_task, &j);
            } else {
                j.width = 192; /* the engine's Q8 prefill blocks (3 x COLS_PER_TASK) */
                g2r_pool_run(pool, ceil_div(j.w->cols, j.width), matmul_task, &j);
            }
        }
    return (g2r_now_ms() - t0) / 1e3;
}

static double best_of(int n, int cols, int T) {
    double b = 1e30;
    for (int i = 0; i < n; i++) {
        double s = pass(cols, T);
        if (s < b) b = s;
    }
    return b;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0;
}

typedef struct {
    double probe, rows_gbs, cols_gbs, rows_gflops, cols_gflops;
} round_t;

static void summary(const char *label, const round_t *r, int n, int high, double mid) {
    double v[5][MAX_ROUNDS];
    int m = 0;
    for (int i = 0; i < n; i++) {
        if ((r[i].probe >= mid) != high) continue;
        v[0][m] = r[i].probe;
        v[1][m] = r[i].rows_gbs;
        v[2][m] = r[i].cols_gbs / r[i].rows_gbs;
        v[3][m] = r[i].rows_gflops;
        v[4][m] = r[i].cols_gflops / r[i].rows_gflops;
        m++;
    }
    if (!m) return;
    double p = median(v[0], m), rg = median(v[1], m), dr = median(v[2], m), rf = median(v[3], m), pr = median(v[4], m);
    printf("| %s | %d | %.1f | %.1f (%.0f%%) | %.3fx | %.0f | %.3fx |\n", label, m, p, rg, 100 * rg / p, dr, rf, pr);
}

int main(int argc, char **argv) {
    double seconds = 60;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "usage: q8_layout MODEL-q8rows.safetensors [--seconds S]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: q8_layout MODEL-q8rows.safetensors [--seconds S]\n");
        return 2;
    }
    g2r_error e = {0};
    if (g2r_gpt2_weights_load(path, 0, &gw, &e)) {
        fprintf(stderr, "q8_layout: %s\n", e.msg);
        return 1;
    }
    if (gw.dtype != G2R_DT_Q8 || gw.layers[0].fc.q8_layout != G2R_Q8_GROUP_ROWS) {
        fprintf(stderr, "q8_layout: %s: not a Q8 model with its layer matrices in the rows layout (convert --q8-layout rows)\n", path);
        g2r_gpt2_weights_free(&gw);
        return 1;
    }
    int n = 4 * gw.cfg.n_layer, C = gw.cfg.n_embd;
    double bytes = 0, flops = 0;
    as_cols = calloc((size_t)n, sizeof *as_cols);
    in = malloc(sizeof(float) * PREFILL_T * 4 * C);
    out = malloc(sizeof(float) * PREFILL_T * 4 * C);
    part = malloc(sizeof(float) * 4 * C * ceil_div(4 * C, gw.layers[0].fc.group));
    round_t *rounds = calloc(MAX_ROUNDS, sizeof *rounds);
    if (!as_cols || !in || !out || !part || !rounds) {
        fprintf(stderr, "q8_layout: out of memory\n");
        return 1;
    }
    if (g2r_pool_new(THREADS, &pool, &e)) {
        fprintf(stderr, "q8_layout: %s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < PREFILL_T * 4 * C; i++) in[i] = (float)((i * 37) % 11 - 5) * 0.01f;
    for (int i = 0; i < n; i++) {
        const g2r_matrix *w = layer_matrix(i / 4, i % 4);
        as_cols[i] = *w;
        as_cols[i].rows = w->cols;
        as_cols[i].cols = w->rows;
        as_cols[i].q8_layout = G2R_Q8_GROUP_COLS;
        bytes += (double)w->rows * w->cols;
        flops += 2.0 * PREFILL_T * w->rows * w->cols;
    }
    kern = g2r_kernels_get(G2R_KERNELS_AUTO);
    printf("q8_layout: %s, %d layer matrices, %.1f MB of int8, kernels %s, %d threads, %.0f s\n", path, n,
           bytes / 1e6, kern->name, THREADS, seconds);
    pass(0, 1); /* warm: page tables, the pool */
    pass(1, 1);
    int nr = 0;
    double t_end = g2r_now_ms() + 1e3 * seconds, lo = 1e30, hi = 0;
    while (nr < MAX_ROUNDS && g2r_now_ms() < t_end) {
        round_t *r = &rounds[nr++];
        double p0 = g2r_ceiling_read_gbs(THREADS, 256, 0.1);
        r->rows_gbs = bytes / best_of(3, 0, 1) / 1e9;
        r->cols_gbs = bytes / best_of(3, 1, 1) / 1e9;
        r->rows_gflops = flops / pass(0, PREFILL_T) / 1e9;
        r->cols_gflops = flops / pass(1, PREFILL_T) / 1e9;
        double p1 = g2r_ceiling_read_gbs(THREADS, 256, 0.1);
        r->probe = p0 > p1 ? p0 : p1;
        if (r->probe < lo) lo = r->probe;
        if (r->probe > hi) hi = r->probe;
    }
    double mid = 0.5 * (lo + hi);
    printf("\n%d rounds, read probe %.1f-%.1f GB/s; split at %.1f\n\n", nr, lo, hi, mid);
    printf("| probe | rounds | read probe GB/s | decode, rows layout GB/s (of probe) | decode, cols / rows | "
           "prefill %d rows, rows layout GFLOP/s | prefill, cols / rows |\n",
           PREFILL_T);
    printf("|---|---|---|---|---|---|---|\n");
    summary("high", rounds, nr, 1, mid);
    summary("low", rounds, nr, 0, mid);
    free(rounds);
    free(part);
    free(out);
    free(in);
    free(as_cols);
    g2r_pool_free(pool);
    g2r_gpt2_weights_free(&gw);
    return 0;
}
