/* cmd_topk.c — `gpt2rank topk`: exact cosine top-K over raw float32 matrices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static const char *usage_text =
    "usage: gpt2rank topk --items ITEMS.f32 --queries Q.f32 --dim D [-k K] [-t N] [--stats]\n"
    "  Raw little-endian float32 row-major matrices.  Prints one line per query: a JSON\n"
    "  array of [index, cosine] pairs, best first, ties by the lower index.  An empty\n"
    "  items file gives [] for every query.  --stats: {\"items\",\"queries\",\"load_ms\",\n"
    "  \"scan_ms\"} on stderr (scan_ms: the search alone, on data already paged in).\n"
    "  -t: threads (default: all cores).\n";

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int cmd_topk(int argc, char **argv) {
    const char *items = NULL, *queries = NULL, *v;
    long dim = 0, k = 10, threads = 0;
    int stats = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--items")) {
            if (!(items = cli_value("topk", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--queries")) {
            if (!(queries = cli_value("topk", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--dim")) {
            if (!(v = cli_value("topk", argc, argv, &i)) || cli_int("topk", a, v, 1, 1 << 20, &dim)) return EXIT_USAGE;
        } else if (!strcmp(a, "-k")) {
            if (!(v = cli_value("topk", argc, argv, &i)) || cli_int("topk", a, v, 1, 1 << 20, &k)) return EXIT_USAGE;
        } else if (!strcmp(a, "-t")) {
            if (!(v = cli_value("topk", argc, argv, &i)) || cli_int("topk", a, v, 0, 1024, &threads)) return EXIT_USAGE;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else {
            return cli_usage_error("topk", "unknown option '%s'", a);
        }
    }
    if (!items || !queries || !dim) return cli_usage_error("topk", "--items, --queries and --dim are required");

    g2r_error err = {0};
    g2r_f32_file *fi = NULL, *fq = NULL;
    g2r_scanner *sc = NULL;
    float *q = NULL;
    g2r_hit *hits = NULL;
    int rc = EXIT_INPUT;
    double t0 = now_ms();
    if (g2r_f32_file_open(items, (int)dim, &fi, &err) || g2r_f32_file_open(queries, (int)dim, &fq, &err) ||
        g2r_scanner_new((int)threads, &sc, &err)) {
        rc = cli_error(&err);
        goto done;
    }
    size_t nq = g2r_f32_file_vectors(fq)->count;
    q = malloc(sizeof(float) * (nq ? nq : 1) * (size_t)dim);
    hits = malloc(sizeof(g2r_hit) * (nq ? nq : 1) * (size_t)k);
    if (!q || !hits || nq > (size_t)1 << 30) {
        fprintf(stderr, "gpt2rank: topk: out of memory for %zu queries\n", nq);
        goto done;
    }
    for (size_t j = 0; j < nq; j++) g2r_f32_file_unit_row(fq, j, q + j * (size_t)dim);
    double t1 = now_ms();
    int n_out;
    if (g2r_topk(sc, g2r_f32_file_vectors(fi), q, (int)nq, (int)k, NULL, 0, hits, &n_out, &err)) {
        rc = cli_error(&err);
        goto done;
    }
    double t2 = now_ms();
    for (size_t j = 0; j < nq; j++) {
        putchar('[');
        for (int i = 0; i < n_out; i++) {
            const g2r_hit *h = &hits[j * (size_t)k + (size_t)i];
            printf("%s[%lld,%.7g]", i ? "," : "", (long long)h->index, h->score);
        }
        fputs("]\n", stdout);
    }
    if (stats)
        fprintf(stderr, "{\"items\":%zu,\"queries\":%zu,\"load_ms\":%.3f,\"scan_ms\":%.3f}\n",
                g2r_f32_file_vectors(fi)->count, nq, t1 - t0, t2 - t1);
    rc = fflush(stdout) ? EXIT_INPUT : EXIT_OK;
done:
    free(q);
    free(hits);
    g2r_scanner_free(sc);
    g2r_f32_file_close(fi);
    g2r_f32_file_close(fq);
    return rc;
}
