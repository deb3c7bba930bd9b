/* cmd_bench.c — `gpt2rank bench`: the engine's throughput on this machine,
 * beside the machine's own ceilings and PyTorch, plus each dtype's accuracy.
 *
 * Workloads (token ids drawn from a fixed generator):
 *   prefill 16 x 64 and 1 x 512 tokens to ln_f's output (the embedding path);
 *   decode at batch 1: g2r_generate, greedy, a 32-token prompt, then 128 new
 *   tokens; time to first token = model load + prompt + first token.
 * Every time is the best of --reps runs.  Ratios: prefill against the FMA
 * ceiling with the same threads (matmul flops per token), decode against the
 * best read probe just before and just after it (1 and N threads; weight
 * bytes each token reads), against decode-order reads of the same weights,
 * and in short windows against probes in the same bandwidth state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/ceilings.h"
#include "cli/model_args.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/rng.h"

static void help(void) {
    printf("usage: gpt2rank bench -m F32_MODEL [--f16 FILE] [--bf16 FILE] [--q8 FILE] [-t N] [--kernels K]\n"
           "                      [--reps R] [--new N] [--quick] [--keep-cache] [--json OUT]\n"
           "                      [--torch SCRIPT | --no-torch]\n"
           "Measures load time, time to first token, prefill (16 x 64 and 1 x 512 tokens) and batch-1\n"
           "decode (32-token prompt, 128 new) for each model given, the machine's FMA and read-bandwidth\n"
           "ceilings, PyTorch on the F32 model (when /usr/bin/python3 has torch), and the accuracy of each\n"
           "other dtype against F32 (max relative logit error, top-1 agreement).  Prints a table.\n"
           "Each model file is first re-read into 2 MB page-cache pages, as `gpt2rank cache` does.\n\n" CLI_MODEL_HELP
           "  --f16/--bf16/--q8 FILE  the same model converted (gpt2rank convert)\n"
           "  --reps R           best of R runs (default 3)\n"
           "  --new N            decode N tokens (default 128)\n"
           "  --quick            1 rep, 16 new tokens, short probes: checks that it all works\n"
           "  --keep-cache       measure the files in the page-cache pages they are in now\n"
           "  --json OUT         also write the results as JSON\n"
           "  --torch SCRIPT     PyTorch peer (default bench/torch_peer.py); --no-torch skips it\n");
}

/* Decode windows grouped by the read probe around them: one group per
 * bandwidth state this VM's memory was seen in (groups span 1.25x, so 8
 * cover probes 5x apart). */
enum { MAX_WINDOWS = 64, MAX_STATES = 8 };
typedef struct {
    int n;           /* windows in this state */
    double read_gbs; /* their median read probe */
    double fraction; /* their median decode GB/s over read probe */
} same_state;

typedef struct {
    const char *label, *path;
    int ok;
    char dtype[8];
    double load_ms, ttft_ms, prefill_16x64, prefill_1x512, decode, rss_mb;
    double bytes_per_token; /* weights one decode step reads */
    int decode_tokens;      /* tokens generated (fewer than asked at <|endoftext|>) */
    double read_gbs;        /* the best read probe just before and just after this decode */
    double order_gbs;       /* decode-order reads of the same weights (ceilings.h), around this decode */
    double huge_share;      /* share of the file in 2 MB page-cache pages (g2r_cache_huge) */
    same_state states[MAX_STATES]; /* decode against the read probe in the same bandwidth state */
    int n_states, windows, steady;  /* windows timed; those whose two probes agreed */
} run;

typedef struct {
    int reps, n_prompt, n_new, quick;
    int recache; /* re-read each model into 2 MB pages first */
    g2r_options opt;
    int probe_mib, probe_threads; /* read probe: buffer, threads */
    double probe_s;               /* seconds per probe */
    int windows, window_new;      /* same-state decode windows, tokens each */
} settings;

static g2r_status oom(g2r_error *err) {
    err->status = G2R_ENOMEM;
    snprintf(err->msg, sizeof err->msg, "bench: out of memory");
    return G2R_ENOMEM;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rss_mb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static double peak_rss_mb(void) {
    char line[256];
    double kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    fclose(f);
    return kb / 1024.0;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void random_ids(int *ids, int n, int vocab, uint64_t seed) {
    g2r_rng r = {seed};
    for (int i = 0; i < n; i++) ids[i] = (int)(g2r_rng_u64(&r) % (uint64_t)vocab);
}

/* Best time of reps forward passes of n_seqs x len tokens to ln_f's output. */
static g2r_status time_prefill(g2r_model *m, int n_seqs, int len, int reps, double *tok_s, g2r_error *err) {
    g2r_config c = g2r_model_config(m);
    int *ids = malloc((size_t)n_seqs * len * sizeof *ids);
    const int **rows = malloc((size_t)n_seqs * sizeof *rows);
    int *lens = malloc((size_t)n_seqs * sizeof *lens);
    float *out = malloc((size_t)n_seqs * len * c.n_embd * sizeof *out);
    g2r_session *s = NULL;
    g2r_status st;
    if (!ids || !rows || !lens || !out) {
        st = oom(err);
        goto done;
    }
    random_ids(ids, n_seqs * len, c.n_vocab, 7);
    for (int i = 0; i < n_seqs; i++) {
        rows[i] = ids + (size_t)i * len;
        lens[i] = len;
    }
    if ((st = g2r_session_new(m, n_seqs, len, &s, err))) goto done;
    double best = INFINITY;
    for (int r = 0; r < reps + 1; r++) { /* the first run warms up */
        g2r_session_reset(s);
        double t0 = now();
        if ((st = g2r_forward(s, n_seqs, rows, lens, G2R_OUT_HIDDEN, out, err))) goto done;
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    *tok_s = (double)n_seqs * len / best;
done:
    g2r_session_free(s);
    free(ids);
    free(rows);
    free(lens);
    free(out);
    return st;
}

/* Times of the tokens g2r_generate hands back. */
typedef struct {
    double *t;
    int n, cap;
} stamps;

static int on_token(int id, void *user) {
    (void)id;
    stamps *s = user;
    if (s->n < s->cap) s->t[s->n++] = now();
    return 0;
}

/* Tokens a second after the first stamp (a random model may still say
 * <|endoftext|> early: the rate is over what came); 0 under two stamps. */
static double rate_after_first(const stamps *s) {
    return s->n > 1 ? (s->n - 1) / (s->t[s->n - 1] - s->t[0]) : 0;
}

/* Greedy g2r_generate from a fresh load (best of reps): time to first token =
 * load + prompt + first token; decode rate from the tokens after the first. */
static g2r_status time_generation(run *r, const settings *set, g2r_error *err) {
    int P = set->n_prompt, N = set->n_new;
    int *prompt = malloc((size_t)P * sizeof *prompt), *out = malloc((size_t)N * sizeof *out);
    stamps ts = {malloc((size_t)N * sizeof(double)), 0, N};
    g2r_status st = G2R_OK;
    double best_ttft = INFINITY, best_rate = 0;
    if (!prompt || !out || !ts.t) st = oom(err);
    for (int rep = 0; rep < set->reps && !st; rep++) {
        g2r_model *m;
        double t0 = now();
        if ((st = g2r_model_load(r->path, &set->opt, &m, err))) break;
        double t_load = now() - t0;
        random_ids(prompt, P, g2r_model_config(m).n_vocab, 11);
        g2r_sampler smp = {.temperature = 0, .max_new = N};
        int n_out = 0;
        ts.n = 0;
        st = g2r_generate(m, prompt, P, &smp, out, N, &n_out, on_token, &ts, err);
        if (!st && ts.n > 0) {
            if (rep == 0 || 1e3 * t_load < r->load_ms) r->load_ms = 1e3 * t_load;
            if (ts.t[0] - t0 < best_ttft) best_ttft = ts.t[0] - t0;
            if (rate_after_first(&ts) > best_rate) best_rate = rate_after_first(&ts);
            r->decode_tokens = ts.n;
        }
        r->rss_mb = rss_mb();
        g2r_model_free(m);
    }
    if (!st) {
        r->ttft_ms = 1e3 * best_ttft;
        r->decode = best_rate;
    }
    free(prompt);
    free(out);
    free(ts.t);
    return st;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* This VM's memory bandwidth flips between states (~50 and ~100 GB/s for
 * the same probe) within seconds, so a probe before or after a whole decode
 * run may be from another state than the decode.  Here: short decodes, each
 * between two short probes; a window is steady when its two probes agree
 * within 10%, and its fraction is decode GB/s over their mean (the probes
 * read a quarter of the ceiling's buffer, still far past the caches).  Steady
 * windows are grouped by probe (a new group past 1.25x the group's lowest),
 * and each group reports its medians. */
typedef struct {
    double probe, fraction;
} window;

static int cmp_window(const void *a, const void *b) {
    return cmp_double(&((const window *)a)->probe, &((const window *)b)->probe);
}

/* the n <= MAX_WINDOWS steady windows into r->states */
static void group_states(run *r, window *w, int n) {
    qsort(w, (size_t)n, sizeof *w, cmp_window);
    double probes[MAX_WINDOWS], fractions[MAX_WINDOWS];
    r->n_states = 0;
    for (int i = 0; i < n && r->n_states < MAX_STATES;) {
        int j = i;
        while (j < n && w[j].probe <= 1.25 * w[i].probe) j++;
        for (int k = i; k < j; k++) probes[k - i] = w[k].probe, fractions[k - i] = w[k].fraction;
        same_state *g = &r->states[r->n_states++];
        g->n = j - i;
        g->read_gbs = median(probes, j - i);
        g->fraction = median(fractions, j - i);
        i = j;
    }
}

static g2r_status time_windows(run *r, const settings *set, g2r_error *err) {
    int P = set->n_prompt, N = set->window_new, W = set->windows < MAX_WINDOWS ? set->windows : MAX_WINDOWS;
    int *prompt = malloc((size_t)P * sizeof *prompt), *out = malloc((size_t)N * sizeof *out);
    stamps ts = {malloc((size_t)N * sizeof(double)), 0, N};
    window w[MAX_WINDOWS];
    g2r_model *m = NULL;
    g2r_status st = !prompt || !out || !ts.t ? oom(err) : g2r_model_load(r->path, &set->opt, &m, err);
    r->windows = r->steady = 0;
    for (int i = 0; i < W && !st; i++) {
        random_ids(prompt, P, g2r_model_config(m).n_vocab, 13 + (uint64_t)i);
        g2r_sampler smp = {.temperature = 0, .max_new = N};
        int n_out = 0;
        ts.n = 0;
        double before = g2r_ceiling_read_gbs(set->probe_threads, set->probe_mib / 4, set->probe_s / 4);
        st = g2r_generate(m, prompt, P, &smp, out, N, &n_out, on_token, &ts, err);
        double after = g2r_ceiling_read_gbs(set->probe_threads, set->probe_mib / 4, set->probe_s / 4);
        if (st || ts.n < 2) continue;
        r->windows++;
        double gbs = rate_after_first(&ts) * r->bytes_per_token / 1e9, mean = 0.5 * (before + after);
        if (before > 0 && after > 0 && fabs(before - after) <= 0.1 * (before > after ? before : after))
            w[r->steady++] = (window){mean, gbs / mean};
    }
    group_states(r, w, r->steady);
    g2r_model_free(m);
    free(prompt);
    free(out);
    free(ts.t);
    return st;
}

static g2r_status bench_model(run *r, const settings *set, g2r_error *err) {
    g2r_status st = g2r_cache_huge(r->path, set->recache, NULL, &r->huge_share, err);
    if (st) return st;
    g2r_model *m;
    if ((st = g2r_model_load(r->path, &set->opt, &m, err))) return st;
    g2r_model_info in;
    g2r_model_info_get(m, &in);
    snprintf(r->dtype, sizeof r->dtype, "%s", in.dtype);
    /* a decode step reads every weight but wpe's other rows */
    double wpe = (double)in.cfg.n_ctx * in.cfg.n_embd * (strcmp(in.dtype, "F32") ? 2.0 : 4.0);
    r->bytes_per_token = (double)(in.bytes_mapped + in.bytes_owned) - wpe;
    st = time_prefill(m, 16, 64, set->reps, &r->prefill_16x64, err);
    if (!st) st = time_prefill(m, 1, 512, set->reps, &r->prefill_1x512, err);
    g2r_model_free(m);
    /* This VM's memory bandwidth moves with its neighbours' load (43 to 86
     * GB/s seen for the same probe, and it can flip within seconds), so
     * decode is held to the best of probes read right before and right after
     * it, 1 and N threads, not one from minutes ago. */
    double r1 = g2r_ceiling_read_gbs(1, set->probe_mib, set->probe_s * 2);
    double rn = g2r_ceiling_read_gbs(set->probe_threads, set->probe_mib, set->probe_s * 2);
    r->read_gbs = r1 > rn ? r1 : rn;
    r->order_gbs = g2r_ceiling_decode_reads_gbs(r->path, set->probe_threads, set->probe_s);
    if (!st) st = time_generation(r, set, err);
    double after = g2r_ceiling_read_gbs(set->probe_threads, set->probe_mib, set->probe_s * 2);
    if (after > r->read_gbs) r->read_gbs = after;
    after = g2r_ceiling_decode_reads_gbs(r->path, set->probe_threads, set->probe_s);
    if (after > r->order_gbs) r->order_gbs = after;
    if (!st) st = time_windows(r, set, err);
    r->ok = st == G2R_OK;
    return st;
}

/* ------------------------------------------------------------- accuracy */

typedef struct {
    const char *label;
    double max_rel_err, top1;
    int ok;
} accuracy;

enum { ACC_SEQS = 8, ACC_LEN = 32 };

/* Logits of the fixed prompt set: ACC_SEQS x ACC_LEN rows of n_vocab. */
static float *prompt_set_logits(const char *path, const g2r_options *opt, int *vocab, g2r_error *err) {
    g2r_model *m;
    if (g2r_model_load(path, opt, &m, err)) return NULL;
    g2r_config c = g2r_model_config(m);
    *vocab = c.n_vocab;
    int ids[ACC_SEQS * ACC_LEN], lens[ACC_SEQS];
    const int *rows[ACC_SEQS];
    random_ids(ids, ACC_SEQS * ACC_LEN, c.n_vocab, 2024);
    for (int i = 0; i < ACC_SEQS; i++) {
        rows[i] = ids + i * ACC_LEN;
        lens[i] = ACC_LEN;
    }
    float *out = malloc((size_t)ACC_SEQS * ACC_LEN * c.n_vocab * sizeof *out);
    g2r_session *s = NULL;
    if (!out || g2r_session_new(m, ACC_SEQS, ACC_LEN, &s, err) ||
        g2r_forward(s, ACC_SEQS, rows, lens, G2R_OUT_LOGITS, out, err)) {
        if (!out) oom(err);
        free(out);
        out = NULL;
    }
    g2r_session_free(s);
    g2r_model_free(m);
    return out;
}

/* Per position: max |logit - ref| / max |ref|; the worst position is reported. */
static void compare_logits(const float *ref, const float *got, int vocab, accuracy *a) {
    int agree = 0, n = ACC_SEQS * ACC_LEN;
    a->max_rel_err = 0;
    for (int p = 0; p < n; p++) {
        const float *r = ref + (size_t)p * vocab, *g = got + (size_t)p * vocab;
        double dmax = 0, rmax = 0;
        for (int v = 0; v < vocab; v++) {
            dmax = fmax(dmax, fabs((double)g[v] - r[v]));
            rmax = fmax(rmax, fabs((double)r[v]));
        }
        a->max_rel_err = fmax(a->max_rel_err, rmax > 0 ? dmax / rmax : dmax);
        agree += argmax(r, vocab) == argmax(g, vocab);
    }
    a->top1 = 100.0 * agree / n;
    a->ok = 1;
}

/* --------------------------------------------------------------- peers */

typedef struct {
    int ok;
    char engine[64], prefill_backend[16], decode_backend[16];
    double load_ms, ttft_ms, prefill_16x64, prefill_1x512, decode;
} torch_result;

static double num(const g2r_json *o, const char *k) {
    const g2r_json *v = g2r_json_get(o, k);
    return v && v->type == G2R_JSON_NUMBER ? v->num : NAN;
}

static void str(const g2r_json *o, const char *k, char *out, size_t cap) {
    const g2r_json *v = g2r_json_get(o, k);
    snprintf(out, cap, "%s", v && v->type == G2R_JSON_STRING ? v->str : "?");
}

static void run_torch(const char *script, const char *model, int threads, const settings *set, torch_result *t) {
    memset(t, 0, sizeof *t);
    if (access(script, R_OK) || system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1")) return;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' --threads %d --reps %d --prompt %d --new %d", script, model,
             threads, set->reps, set->n_prompt, set->n_new);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[4096] = "";
    char *got = fgets(line, sizeof line, p);
    int rc = pclose(p);
    if (!got || rc) return;
    g2r_json_doc *doc;
    const g2r_json *root;
    if (g2r_json_parse(line, strlen(line), "torch_peer.py output", &doc, &root, NULL)) return;
    const g2r_json *e = g2r_json_get(root, "engine");
    snprintf(t->engine, sizeof t->engine, "%s", e && e->type == G2R_JSON_STRING ? e->str : "pytorch");
    t->load_ms = num(root, "load_ms");
    t->ttft_ms = num(root, "ttft_ms");
    t->prefill_16x64 = num(root, "prefill_16x64_tok_s");
    t->prefill_1x512 = num(root, "prefill_1x512_tok_s");
    t->decode = num(root, "decode_tok_s");
    str(root, "prefill_16x64_tok_s_backend", t->prefill_backend, sizeof t->prefill_backend);
    str(root, "decode_tok_s_backend", t->decode_backend, sizeof t->decode_backend);
    t->ok = 1;
    g2r_json_free(doc);
}

/* -------------------------------------------------------------- output */

typedef struct {
    const char *isa;
    double fma1, fman, read1, readn;
} ceilings;

static void print_table(const g2r_model_info *in, const ceilings *c, const run *runs, int n_runs,
                        const torch_result *tr, const accuracy *acc, int n_acc, double flops_per_token) {
    int T = in->n_threads;
    printf("\ngpt2rank bench: %d layers, %d embd, %d vocab (%.1fM params), kernels %s, %d thread%s\n",
           in->cfg.n_layer, in->cfg.n_embd, in->cfg.n_vocab, (double)in->n_params / 1e6, in->kernels, T,
           T == 1 ? "" : "s");
    printf("ceilings: FMA %.0f GFLOP/s (1 thread), %.0f (%d); read %.1f GB/s (1 thread), %.1f (%d)\n\n", c->fma1,
           c->fman, T, c->read1, c->readn, T);
    printf("%-8s %8s %8s %13s %13s %11s %8s %8s\n", "dtype", "load ms", "TTFT ms", "prefill 16x64", "prefill 1x512",
           "decode", "RSS MB", "2MB pgs");
    printf("%-8s %8s %8s %13s %13s %11s %8s %8s\n", "", "", "", "tok/s", "tok/s", "tok/s", "", "");
    for (int i = 0; i < n_runs; i++) {
        const run *r = &runs[i];
        if (!r->path) continue;
        if (!r->ok) {
            printf("%-8s failed\n", r->label);
            continue;
        }
        printf("%-8s %8.1f %8.1f %13.0f %13.0f %11.1f %8.0f %7.0f%%\n", r->dtype, r->load_ms, r->ttft_ms,
               r->prefill_16x64, r->prefill_1x512, r->decode, r->rss_mb, 100 * r->huge_share);
    }
    if (tr->ok)
        printf("%-8s %8.1f %8.1f %13.0f %13.0f %11.1f %8s   (%s, F32; prefill via %s, decode via %s)\n",
               "PyTorch", tr->load_ms, tr->ttft_ms, tr->prefill_16x64, tr->prefill_1x512, tr->decode, "", tr->engine,
               tr->prefill_backend, tr->decode_backend);
    else
        printf("PyTorch  not measured (no /usr/bin/python3 with torch, or --no-torch)\n");
    printf("\nratios (%d thread%s):\n", T, T == 1 ? "" : "s");
    for (int i = 0; i < n_runs; i++) {
        const run *r = &runs[i];
        if (!r->ok) continue;
        double gf = r->prefill_16x64 * flops_per_token / 1e9, gbs = r->decode * r->bytes_per_token / 1e9;
        printf("  %-5s prefill 16x64 %6.1f GFLOP/s = %5.1f%% of FMA ceiling", r->dtype, gf, 100 * gf / c->fman);
        if (tr->ok) printf(", %.2fx PyTorch F32", r->prefill_16x64 / tr->prefill_16x64);
        printf("\n        decode %6.1f GB/s of weights = %5.1f%% of read ceiling (%.1f GB/s, best probe around it)", gbs,
               100 * gbs / r->read_gbs, r->read_gbs);
        if (tr->ok) printf(", %.2fx PyTorch F32", r->decode / tr->decode);
        printf("\n               = %5.1f%% of decode-order reads (%.1f GB/s: the same weights, same order and split, no"
               " arithmetic)\n",
               100 * gbs / r->order_gbs, r->order_gbs);
        printf("               same state (%d of %d windows steady):", r->steady, r->windows);
        for (int j = 0; j < r->n_states; j++)
            printf("%s %5.1f%% at %.1f GB/s (%d)", j ? "," : "", 100 * r->states[j].fraction, r->states[j].read_gbs,
                   r->states[j].n);
        printf("\n");
    }
    if (n_acc) {
        printf("\naccuracy against F32 (%d prompts x %d tokens, logits at every position):\n", ACC_SEQS, ACC_LEN);
        printf("  %-6s %20s %16s\n", "dtype", "max rel logit err", "top-1 agreement");
        for (int i = 0; i < n_acc; i++)
            if (acc[i].ok) printf("  %-6s %20.2e %15.1f%%\n", acc[i].label, acc[i].max_rel_err, acc[i].top1);
    }
    printf("peak RSS %.0f MB\n", peak_rss_mb());
}

static void json_num(FILE *f, const char *k, double v, int comma) {
    if (isfinite(v)) fprintf(f, "\"%s\": %.6g%s", k, v, comma ? ", " : "");
    else fprintf(f, "\"%s\": null%s", k, comma ? ", " : "");
}

static g2r_status write_json(const char *path, const g2r_model_info *in, const ceilings *c, const run *runs,
                             int n_runs, const torch_result *tr, const accuracy *acc, int n_acc,
                             double flops_per_token, g2r_error *err) {
    g2r_atomic a;
    g2r_status st = g2r_atomic_open(&a, path, err);
    if (st) return st;
    FILE *f = a.f;
    fprintf(f, "{\"model\": {\"n_layer\": %d, \"n_embd\": %d, \"n_vocab\": %d, \"params\": %zu}, ", in->cfg.n_layer,
            in->cfg.n_embd, in->cfg.n_vocab, in->n_params);
    fprintf(f, "\"kernels\": \"%s\", \"threads\": %d, \"flops_per_token\": %.6g,\n", in->kernels, in->n_threads,
            flops_per_token);
    fprintf(f, " \"ceilings\": {\"isa\": \"%s\", ", c->isa);
    json_num(f, "fma_gflops_1", c->fma1, 1);
    json_num(f, "fma_gflops_n", c->fman, 1);
    json_num(f, "read_gbs_1", c->read1, 1);
    json_num(f, "read_gbs_n", c->readn, 0);
    fprintf(f, "},\n \"runs\": [");
    for (int i = 0, first = 1; i < n_runs; i++) {
        const run *r = &runs[i];
        if (!r->ok) continue;
        fprintf(f, "%s\n  {\"dtype\": \"%s\", ", first ? "" : ",", r->dtype);
        first = 0;
        json_num(f, "load_ms", r->load_ms, 1);
        json_num(f, "ttft_ms", r->ttft_ms, 1);
        json_num(f, "prefill_16x64_tok_s", r->prefill_16x64, 1);
        json_num(f, "prefill_1x512_tok_s", r->prefill_1x512, 1);
        json_num(f, "decode_tok_s", r->decode, 1);
        json_num(f, "decode_tokens", r->decode_tokens, 1);
        json_num(f, "rss_mb", r->rss_mb, 1);
        json_num(f, "huge_page_share", r->huge_share, 1);
        json_num(f, "decode_bytes_per_token", r->bytes_per_token, 1);
        json_num(f, "prefill_fma_fraction", r->prefill_16x64 * flops_per_token / 1e9 / c->fman, 1);
        json_num(f, "decode_read_gbs", r->read_gbs, 1);
        json_num(f, "decode_read_fraction", r->decode * r->bytes_per_token / 1e9 / r->read_gbs, 1);
        json_num(f, "decode_order_read_gbs", r->order_gbs, 1);
        json_num(f, "decode_windows", r->windows, 1);
        json_num(f, "decode_windows_steady", r->steady, 1);
        fprintf(f, "\"decode_same_state\": [");
        for (int j = 0; j < r->n_states; j++) {
            fprintf(f, "%s{\"windows\": %d, ", j ? ", " : "", r->states[j].n);
            json_num(f, "read_gbs", r->states[j].read_gbs, 1);
            json_num(f, "fraction", r->states[j].fraction, 0);
            fprintf(f, "}");
        }
        fprintf(f, "], ");
        json_num(f, "prefill_16x64_vs_torch", tr->ok ? r->prefill_16x64 / tr->prefill_16x64 : NAN, 1);
        json_num(f, "decode_vs_torch", tr->ok ? r->decode / tr->decode : NAN, 0);
        fprintf(f, "}");
    }
    fprintf(f, "],\n \"pytorch\": ");
    if (tr->ok) {
        fprintf(f, "{\"engine\": \"%s\", \"prefill_backend\": \"%s\", \"decode_backend\": \"%s\", ", tr->engine,
                tr->prefill_backend, tr->decode_backend);
        json_num(f, "load_ms", tr->load_ms, 1);
        json_num(f, "ttft_ms", tr->ttft_ms, 1);
        json_num(f, "prefill_16x64_tok_s", tr->prefill_16x64, 1);
        json_num(f, "prefill_1x512_tok_s", tr->prefill_1x512, 1);
        json_num(f, "decode_tok_s", tr->decode, 0);
        fprintf(f, "}");
    } else {
        fprintf(f, "null");
    }
    fprintf(f, ",\n \"accuracy\": [");
    for (int i = 0; i < n_acc; i++) {
        fprintf(f, "%s{\"dtype\": \"%s\", ", i ? ", " : "", acc[i].label);
        json_num(f, "max_rel_logit_err", acc[i].max_rel_err, 1);
        json_num(f, "top1_agreement_pct", acc[i].top1, 0);
        fprintf(f, "}");
    }
    fprintf(f, "],\n \"peak_rss_mb\": %.1f}\n", peak_rss_mb());
    return g2r_atomic_commit(&a, err);
}

/* ---------------------------------------------------------------- main */

int cmd_bench(int argc, char **argv) {
    const char *cmd = "bench";
    cli_model_opts mo = {0};
    const char *paths[3] = {NULL, NULL, NULL}; /* f16, bf16, q8 */
    const char *json = NULL, *torch = "bench/torch_peer.py";
    settings set = {.reps = 3, .n_prompt = 32, .n_new = 128, .recache = 1};
    int reps_set = 0, new_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help();
            return EXIT_OK;
        }
        int r = cli_model_arg(cmd, argc, argv, &i, &mo);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        long v;
        if (!strcmp(a, "--f16") || !strcmp(a, "--bf16") || !strcmp(a, "--q8")) {
            const char *p = cli_value(cmd, argc, argv, &i);
            if (!p) return EXIT_USAGE;
            paths[!strcmp(a, "--f16") ? 0 : !strcmp(a, "--bf16") ? 1 : 2] = p;
        } else if (!strcmp(a, "--reps") || !strcmp(a, "--new")) {
            const char *p = cli_value(cmd, argc, argv, &i);
            if (!p || cli_int(cmd, a, p, 1, 100000, &v)) return EXIT_USAGE;
            if (a[2] == 'r') set.reps = (int)v, reps_set = 1;
            else set.n_new = (int)v, new_set = 1;
        } else if (!strcmp(a, "--quick")) {
            set.quick = 1;
        } else if (!strcmp(a, "--keep-cache")) {
            set.recache = 0;
        } else if (!strcmp(a, "--json")) {
            if (!(json = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--torch")) {
            if (!(torch = cli_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--no-torch")) {
            torch = NULL;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!mo.path) return cli_usage_error(cmd, "-m MODEL (the F32 model) is required");
    if (set.quick) {
        if (!reps_set) set.reps = 1;
        if (!new_set) set.n_new = 16;
    }
    set.opt = mo.opt;

    g2r_error err = {0};
    g2r_model *m;
    if (g2r_model_load(mo.path, &set.opt, &m, &err)) return cli_error(&err);
    g2r_model_info in;
    g2r_model_info_get(m, &in);
    g2r_config cfg = in.cfg;
    g2r_model_free(m);
    if (set.n_prompt + set.n_new > cfg.n_ctx || cfg.n_ctx < 512)
        return cli_usage_error(cmd, "the model's context (%d) is too short for these workloads", cfg.n_ctx);
    /* matmul flops per token: 2 x (12 C^2 per layer); the same count for every dtype */
    double flops_per_token = 2.0 * 12.0 * cfg.n_layer * (double)cfg.n_embd * cfg.n_embd;

    ceilings c = {0};
    double probe_s = set.quick ? 0.1 : 1.0;
    int mib = set.quick ? 128 : 1024;
    fprintf(stderr, "bench: measuring ceilings...\n");
    c.fma1 = g2r_ceiling_fma_gflops(1, probe_s, &c.isa);
    c.fman = g2r_ceiling_fma_gflops(in.n_threads, probe_s, NULL);
    c.read1 = g2r_ceiling_read_gbs(1, mib, probe_s * 2);
    c.readn = g2r_ceiling_read_gbs(in.n_threads, mib, probe_s * 2);
    set.probe_mib = mib, set.probe_s = probe_s, set.probe_threads = in.n_threads;
    set.windows = set.quick ? 2 : 12, set.window_new = set.quick ? 8 : 64;

    run runs[4] = {{.label = "F32", .path = mo.path}, {.label = "F16", .path = paths[0]},
                   {.label = "BF16", .path = paths[1]}, {.label = "Q8", .path = paths[2]}};
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        if (!runs[i].path) continue;
        fprintf(stderr, "bench: %s (%s)...\n", runs[i].label, runs[i].path);
        g2r_error e = {0};
        if (bench_model(&runs[i], &set, &e)) {
            fprintf(stderr, "gpt2rank: %s\n", e.msg);
            failed = 1;
        }
    }

    torch_result tr = {0};
    if (torch) {
        fprintf(stderr, "bench: PyTorch peer...\n");
        run_torch(torch, mo.path, in.n_threads, &set, &tr);
    }

    accuracy acc[3] = {{.label = "F16"}, {.label = "BF16"}, {.label = "Q8"}};
    int n_acc = 0;
    if (paths[0] || paths[1] || paths[2]) {
        fprintf(stderr, "bench: accuracy...\n");
        int vocab = 0;
        float *ref = prompt_set_logits(mo.path, &set.opt, &vocab, &err);
        if (!ref) return cli_error(&err);
        for (int i = 0; i < 3; i++) {
            if (!paths[i]) continue;
            int v2 = 0;
            float *got = prompt_set_logits(paths[i], &set.opt, &v2, &err);
            if (!got || v2 != vocab) {
                free(got);
                free(ref);
                return cli_error(&err);
            }
            compare_logits(ref, got, vocab, &acc[i]);
            free(got);
        }
        free(ref);
        /* keep only the measured ones, in order */
        for (int i = 0; i < 3; i++)
            if (acc[i].ok) acc[n_acc++] = acc[i];
    }

    print_table(&in, &c, runs, 4, &tr, acc, n_acc, flops_per_token);
    if (json && write_json(json, &in, &c, runs, 4, &tr, acc, n_acc, flops_per_token, &err)) return cli_error(&err);
    return failed ? EXIT_INPUT : EXIT_OK;
}
