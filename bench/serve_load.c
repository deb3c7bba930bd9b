/* serve_load.c — a load generator for `gpt2rank serve`, loopback only.
 *
 *   serve_load make-index -m MODEL --items N -o DIR    DIR/items.g2ri (N random unit vectors
 *                                                      with MODEL's fingerprint) and DIR/items.jsonl
 *   serve_load engine -m MODEL                         in-process reference timings: one 32-token
 *                                                      embedding; a --rerank 20 scoring split into
 *                                                      prefix and candidates
 *   serve_load load --port P [--op event|event-new|rank|rerank|mix|stats] [--clients C]
 *                   [--requests R] [--seconds S] [--users U] [--texts T] [--k 10] [--rerank 20]
 *
 * `load` connects C clients to 127.0.0.1:P (no other host is possible), each
 * sending at most R requests, one at a time, for at most S seconds, and prints
 * one Markdown row: requests/s and latency percentiles (ms, measured at the
 * client: send to full answer line).  Request i of client c is for user
 * (i + c) mod U.  Ops: event (T distinct texts, 64 by default, so the cache
 * answers after the first of each), event-new (a new text of about
 * 24 tokens each time: a forward pass), rank (k results for a user with a
 * profile), rerank (rank plus --rerank N), mix (events and ranks, 1:1),
 * stats (prints the server's stats line). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/rng.h"
#include "gpt2rank.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, size_t n, double p) { return n ? sorted[(size_t)(p * (double)(n - 1))] : 0; }

static const char *words[] = {"red", "blue", "light", "heavy", "running", "trail", "winter", "summer", "leather",
                              "cotton", "shoes", "jacket", "socks", "tent", "kettle", "pan", "lamp", "chair",
                              "desk", "novel", "camera", "phone", "watch", "bag", "bottle", "gloves", "hat", "rope"};
#define N_WORDS (sizeof words / sizeof words[0])

/* About 3 tokens per word plus spaces: 8 words ~ 16-24 tokens. */
static void make_text(g2r_rng *r, char *out, size_t cap, int n_words) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n_words; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", words[g2r_rng_u64(r) % N_WORDS]);
}

/* ---- make-index */

static int make_index(const char *model, long n, const char *dir) {
    g2r_error err = {0};
    g2r_model *m = NULL;
    if (g2r_model_load(model, NULL, &m, &err)) return fprintf(stderr, "serve_load: %s\n", err.msg), 1;
    g2r_model_info mi;
    g2r_model_info_get(m, &mi);
    int dim = mi.cfg.n_embd;
    g2r_model_free(m);
    char path[1024], ids_path[1024];
    snprintf(path, sizeof path, "%s/items.g2ri", dir);
    snprintf(ids_path, sizeof ids_path, "%s/items.jsonl", dir);
    float *v = malloc(sizeof(float) * (size_t)n * dim);
    g2r_item *items = calloc((size_t)n, sizeof *items);
    char (*ids)[24] = malloc((size_t)n * 24);
    FILE *f = fopen(ids_path, "w");
    if (!v || !items || !ids || !f) return fprintf(stderr, "serve_load: out of memory or cannot write %s\n", ids_path), 1;
    g2r_rng r = {12345};
    for (long i = 0; i < n; i++) {
        double ss = 0;
        for (int d = 0; d < dim; d++) v[i * dim + d] = g2r_rng_normal(&r), ss += (double)v[i * dim + d] * v[i * dim + d];
        for (int d = 0; d < dim; d++) v[i * dim + d] /= (float)sqrt(ss);
        snprintf(ids[i], 24, "item%ld", i);
        char text[256];
        make_text(&r, text, sizeof text, 4);
        fprintf(f, "{\"id\":\"%s\",\"text\":\"%s\"}\n", ids[i], text);
        items[i] = (g2r_item){ids[i], strlen(ids[i]), "", 0, g2r_text_hash(text, strlen(text))};
    }
    fclose(f);
    g2r_index_spec spec = {dim, G2R_VEC_F32, G2R_POOL_MEAN, mi.fingerprint, NULL, 0, NULL};
    int rc = g2r_index_write(path, &spec, (size_t)n, items, v, &err) ? fprintf(stderr, "serve_load: %s\n", err.msg), 1 : 0;
    free(v), free(items), free(ids);
    return rc;
}

/* ---- engine: the reference timings the serve targets are stated against */

static int engine_ref(const char *model, int reps) {
    g2r_error err = {0};
    g2r_model *m = NULL;
    if (g2r_model_load(model, NULL, &m, &err)) return fprintf(stderr, "serve_load: %s\n", err.msg), 1;
    int ids[32], n32 = 32;
    for (int i = 0; i < 32; i++) ids[i] = 100 + 37 * i;
    const int *p[1] = {ids};
    double *t = malloc(sizeof(double) * (size_t)reps);
    float *out = malloc(sizeof(float) * (size_t)g2r_model_config(m).n_embd);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        if (g2r_embed(m, 1, p, &n32, G2R_POOL_MEAN, out, &err)) return fprintf(stderr, "serve_load: %s\n", err.msg), 1;
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    printf("| 32-token forward (embed), in process | %d | | %.2f | %.2f | %.2f |\n", reps, pct(t, reps, .5), pct(t, reps, .9),
           pct(t, reps, .99));
    /* re-rank split: a 48-token prompt alone (one 1-token candidate costs no
     * position) against the prompt plus 20 candidates of 12 tokens */
    int prompt[48], cand_ids[20][12], lens[20];
    const int *cand[20];
    for (int i = 0; i < 48; i++) prompt[i] = 200 + 11 * i;
    for (int c = 0; c < 20; c++) {
        for (int j = 0; j < 12; j++) cand_ids[c][j] = 300 + 13 * c + j;
        cand[c] = cand_ids[c], lens[c] = 12;
    }
    float scores[20];
    int one = 1;
    double *tp = malloc(sizeof(double) * (size_t)reps), *ta = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        if (g2r_score_continuations(m, prompt, 48, 1, cand, &one, scores, &err)) return fprintf(stderr, "serve_load: %s\n", err.msg), 1;
        double t1 = now_ms();
        if (g2r_score_continuations(m, prompt, 48, 20, cand, lens, scores, &err)) return fprintf(stderr, "serve_load: %s\n", err.msg), 1;
        tp[i] = t1 - t0, ta[i] = now_ms() - t1;
    }
    qsort(tp, (size_t)reps, sizeof *tp, cmp_double);
    qsort(ta, (size_t)reps, sizeof *ta, cmp_double);
    double p50p = pct(tp, reps, .5), p50a = pct(ta, reps, .5);
    printf("| rerank 20 scoring: prefix (48 tok) alone | %d | | %.2f | %.2f | %.2f |\n", reps, p50p, pct(tp, reps, .9), pct(tp, reps, .99));
    printf("| rerank 20 scoring: prefix + 20 x 12 tok | %d | | %.2f | %.2f | %.2f |\n", reps, p50a, pct(ta, reps, .9), pct(ta, reps, .99));
    printf("\nrerank 20 split (p50): prefix %.1f%%, candidates %.1f%%\n", 100 * p50p / p50a, 100 * (p50a - p50p) / p50a);
    free(t), free(out), free(tp), free(ta);
    g2r_model_free(m);
    return 0;
}

/* ---- load */

typedef struct {
    int port, id, requests, users, k, rerank, texts;
    double deadline;
    const char *op;
    double *lat;
    int n, errors;
} client;

static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Reads up to and including one newline into buf (reusing bytes past it). */
static int recv_line(int fd, char *buf, size_t cap, size_t *have, char **line_end) {
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            *line_end = nl;
            return 0;
        }
        if (*have == cap) return -1;
        ssize_t got = recv(fd, buf + *have, cap - *have, 0);
        if (got <= 0) return -1;
        *have += (size_t)got;
    }
}

static void *client_main(void *arg) {
    client *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)c->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, by construction */
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        c->errors = c->requests;
        if (fd >= 0) close(fd);
        return NULL;
    }
    g2r_rng r = {(uint64_t)c->id * 7919 + 1};
    static char buf_static[64][1 << 16];
    char *buf = buf_static[c->id % 64];
    size_t have = 0;
    for (int i = 0; i < c->requests && now_ms() < c->deadline; i++) {
        char req[1024], text[512];
        /* one client of >= users requests reaches every user; mix ranks the user of its last event */
        int user = (!strcmp(c->op, "mix") ? i / 2 + c->id : i + c->id) % c->users;
        const char *op = c->op;
        if (!strcmp(op, "mix")) op = i % 2 ? "rank" : "event";
        if (!strcmp(op, "event")) {
            g2r_rng fixed = {(uint64_t)(g2r_rng_u64(&r) % (uint64_t)c->texts) + 1}; /* --texts distinct texts */
            make_text(&fixed, text, sizeof text, 8);
            snprintf(req, sizeof req, "{\"op\":\"event\",\"user\":\"u%d\",\"text\":\"%s\",\"ts\":%d}\n", user, text, i);
        } else if (!strcmp(op, "event-new")) {
            make_text(&r, text, sizeof text, 8);
            snprintf(req, sizeof req, "{\"op\":\"event\",\"user\":\"u%d\",\"text\":\"%s %d %d\",\"ts\":%d}\n", user, text,
                     c->id, i, i);
        } else if (!strcmp(op, "stats")) {
            snprintf(req, sizeof req, "{\"op\":\"stats\"}\n");
        } else {
            snprintf(req, sizeof req, "{\"op\":\"rank\",\"user\":\"u%d\",\"k\":%d,\"rerank\":%d}\n", user, c->k,
                     !strcmp(op, "rerank") ? c->rerank : 0);
        }
        double t0 = now_ms();
        char *end;
        if (send_all(fd, req, strlen(req)) || recv_line(fd, buf, sizeof buf_static[0], &have, &end)) {
            c->errors++;
            break;
        }
        c->lat[c->n++] = now_ms() - t0;
        *end = 0;
        if (!strcmp(op, "stats")) printf("%s\n", buf);
        else if (strstr(buf, "\"error\"")) {
            if (c->errors++ == 0) fprintf(stderr, "serve_load: %.200s\n", buf);
        }
        size_t used = (size_t)(end - buf) + 1;
        memmove(buf, end + 1, have - used);
        have -= used;
    }
    close(fd);
    return NULL;
}

static int load(int argc, char **argv) {
    int port = 0, clients = 1, requests = 100, users = 100, k = 10, rerank = 20, texts = 64;
    double seconds = 30;
    const char *op = "rank";
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--clients")) clients = atoi(v);
        else if (!strcmp(a, "--requests")) requests = atoi(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--users")) users = atoi(v);
        else if (!strcmp(a, "--k")) k = atoi(v);
        else if (!strcmp(a, "--rerank")) rerank = atoi(v);
        else if (!strcmp(a, "--texts")) texts = atoi(v);
        else if (!strcmp(a, "--op")) op = v;
        else return fprintf(stderr, "serve_load: unknown option %s\n", a), 2;
    }
    if (port <= 0 || port > 65535 || clients < 1 || clients > 64 || requests < 1 || requests > 10000000 || users < 1 ||
        seconds <= 0 || seconds > 3600 || texts < 1)
        return fprintf(stderr, "serve_load: bad --port/--clients (1-64)/--requests/--users/--seconds (<= 3600)\n"), 2;
    client *c = calloc((size_t)clients, sizeof *c);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    double t0 = now_ms(), deadline = t0 + seconds * 1e3;
    for (int i = 0; i < clients; i++) {
        c[i] = (client){port, i, requests, users, k, rerank, texts, deadline, op, malloc(sizeof(double) * (size_t)requests), 0, 0};
        pthread_create(&th[i], NULL, client_main, &c[i]);
    }
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL), total += (size_t)c[i].n, errors += c[i].errors;
    double wall = now_ms() - t0;
    double *all = malloc(sizeof(double) * (total + 1));
    size_t n = 0;
    for (int i = 0; i < clients; i++) memcpy(all + n, c[i].lat, sizeof(double) * (size_t)c[i].n), n += (size_t)c[i].n, free(c[i].lat);
    qsort(all, n, sizeof *all, cmp_double);
    if (!strcmp(op, "stats")) {
        free(all), free(c), free(th);
        return errors ? 1 : 0;
    }
    char label[64];
    if (!strcmp(op, "rerank")) snprintf(label, sizeof label, "rank --rerank %d", rerank);
    else snprintf(label, sizeof label, "%s", op);
    printf("| %s, %d client%s | %zu | %.0f | %.2f | %.2f | %.2f |%s\n", label, clients, clients > 1 ? "s" : "", n,
           n / (wall / 1e3),
           pct(all, n, .5), pct(all, n, .9), pct(all, n, .99), errors ? " errors!" : "");
    if (errors) fprintf(stderr, "serve_load: %d errors\n", errors);
    free(all), free(c), free(th);
    return errors ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "make-index") && argc == 8)
        return make_index(argv[3], atol(argv[5]), argv[7]);
    if (argc >= 2 && !strcmp(argv[1], "engine") && argc >= 4) return engine_ref(argv[3], argc >= 6 ? atoi(argv[5]) : 20);
    if (argc >= 2 && !strcmp(argv[1], "load")) return load(argc, argv);
    fprintf(stderr, "usage: serve_load make-index -m MODEL --items N -o DIR | engine -m MODEL [--reps R] |\n"
                    "       load --port P [--op event|event-new|rank|rerank|mix] [--clients C] [--requests R]\n"
                    "            [--seconds S] [--users U] [--texts T] [--k K] [--rerank N]\n");
    return 2;
}
