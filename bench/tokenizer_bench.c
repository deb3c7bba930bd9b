/* tokenizer_bench.c — single-threaded encode throughput on the tokenizer
 * corpus (MB/s and tokens/s), and the time of one long "word" at growing
 * sizes to show it grows linearly.
 *
 *   build/bench/tokenizer_bench [-s SECONDS] [-w MAX_WORD_MB] [CORPUS_DIR]
 *
 * bench/tokenizer_bench.sh runs it beside tiktoken (node) and prints both. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fileio.h"
#include "common/rng.h"
#include "gpt2rank.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    char *text;
    size_t len;
} doc;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every *.txt of dir, in name order (the order tokenizer_bench_tiktoken.mjs uses). */
static int load_corpus(const char *dir, doc *docs, int cap) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t k = strlen(e->d_name);
        if (k > 4 && !strcmp(e->d_name + k - 4, ".txt")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    int m = 0;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        g2r_error err = {0};
        if (m < cap && g2r_read_file(path, 1u << 30, &docs[m].text, &docs[m].len, &err) == G2R_OK) m++;
        free(names[i]);
    }
    return m;
}

int main(int argc, char **argv) {
    double seconds = 2.0;
    long max_word_mb = 4;
    const char *dir = "tests/data/tokenizer/corpus";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-w") && i + 1 < argc) max_word_mb = atol(argv[++i]);
        else dir = argv[i];
    }
    g2r_tokenizer *t;
    g2r_error err = {0};
    double t0 = now();
    if (g2r_tokenizer_load(NULL, &t, &err)) {
        fprintf(stderr, "tokenizer_bench: %s\n", err.msg);
        return 1;
    }
    double load_ms = (now() - t0) * 1e3;
    doc docs[64];
    int n_docs = load_corpus(dir, docs, 64);
    if (n_docs <= 0) {
        fprintf(stderr, "tokenizer_bench: no *.txt in %s\n", dir);
        return 1;
    }
    size_t bytes = 0, tokens = 0;
    for (int i = 0; i < n_docs; i++) {
        size_t n;
        g2r_encode(t, docs[i].text, docs[i].len, 0, NULL, 0, &n, &err);
        bytes += docs[i].len;
        tokens += n;
    }
    int *ids = malloc(tokens * sizeof *ids);
    /* Whole passes over the corpus until `seconds` have gone by. */
    int passes = 0;
    t0 = now();
    double el;
    do {
        for (int i = 0; i < n_docs; i++) {
            size_t n;
            g2r_encode(t, docs[i].text, docs[i].len, 0, ids, tokens, &n, &err);
        }
        passes++;
    } while ((el = now() - t0) < seconds);
    printf("corpus: %d files, %zu bytes, %zu tokens; built-in vocabulary loads in %.1f ms\n", n_docs, bytes, tokens,
           load_ms);
    printf("%-10s %9.2f MB/s %12.0f tokens/s  (%d passes, %.2f s)\n", "gpt2rank", (double)bytes * passes / el / 1e6,
           (double)tokens * passes / el, passes, el);

    /* One word of random letters: time per MB should stay flat as it grows. */
    g2r_rng r = {1};
    for (long mb = 1; mb <= max_word_mb; mb *= 2) {
        size_t len = (size_t)mb << 20, n;
        char *w = malloc(len);
        int *out = malloc(len * sizeof *out);
        for (size_t i = 0; i < len; i++) w[i] = (char)('a' + g2r_rng_u64(&r) % 26);
        t0 = now();
        g2r_encode(t, w, len, 0, out, len, &n, &err);
        el = now() - t0;
        printf("one %3ld MiB word: %6.3f s (%.3f s per MiB, %zu tokens)\n", mb, el, el / (double)mb, n);
        free(w);
        free(out);
    }
    free(ids);
    for (int i = 0; i < n_docs; i++) free(docs[i].text);
    g2r_tokenizer_free(t);
    return 0;
}
