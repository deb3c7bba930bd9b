/* test_engine_util.h — shared by the engine tests: the golden cases written by
 * tests/ref/gen_goldens.py, raw float32 files, relative differences. */
#ifndef G2R_TEST_ENGINE_UTIL_H
#define G2R_TEST_ENGINE_UTIL_H

#include <stddef.h>

#include "gpt2rank.h"

#define GOLDEN_MAX_SEQS 8

typedef struct {
    char name[32], dtype[8];
    char model[512], logits[512], hidden[512]; /* paths */
    int n_vocab, n_embd, n_seqs;
    int *ids[GOLDEN_MAX_SEQS];
    int lens[GOLDEN_MAX_SEQS];
} golden_case;

/* Reads tests/data/golden/manifest.json into cases (at most max); returns the
 * count, or -1 after a test failure. */
int golden_load(golden_case *cases, int max);
void golden_free(golden_case *cases, int n);
/* The case called name, or NULL. */
golden_case *golden_find(golden_case *cases, int n, const char *name);
/* Loads the cases (cases holds 8; *n gets the count) and returns "tiny", or NULL. */
const golden_case *golden_tiny(golden_case *cases, int *n);
int golden_total_tokens(const golden_case *c);

/* A whole raw float32 file (malloc'd), *n floats; NULL after a test failure. */
float *read_f32(const char *path, size_t *n);

/* max|a - ref| / max|ref| over n floats: the golden tests' relative error. */
double rel_diff(const float *a, const float *ref, size_t n);

/* Loads path with these threads and kernels; NULL after a test failure. */
g2r_model *load_model(const char *path, int n_threads, g2r_kernels_kind kernels);

/* One batched forward of the n sequences; out gets sum(lens) rows of what. */
g2r_status forward_all(g2r_model *m, int n, int *const *ids, const int *lens, g2r_output what, float *out);

#endif
