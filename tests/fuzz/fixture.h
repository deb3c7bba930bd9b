/* fixture.h — a tiny model and the built-in tokenizer in a private temporary
 * folder (on /dev/shm when there is one: writers there fsync for free), for
 * the fuzz targets that need an embedding model (items, serve). */
#ifndef G2R_FUZZ_FIXTURE_H
#define G2R_FUZZ_FIXTURE_H

#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "weights/gpt2_random.h"

typedef struct {
    char dir[64], model_path[128];
    g2r_model *model;
    g2r_tokenizer *tok;
} fuzz_fixture;

/* 1 layer, n_embd 8, GPT-2's 50257 ids (the tokenizer's), n_ctx 32. */
static int fuzz_fixture_make(fuzz_fixture *f, const char *name) {
    struct stat st;
    snprintf(f->dir, sizeof f->dir, "%s/g2r-fuzz-%s-XXXXXX", stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp", name);
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->model_path, sizeof f->model_path, "%s/m.safetensors", f->dir);
    g2r_config cfg = {1, 2, 8, 50257, 32};
    g2r_options o = {.n_threads = 1, .kernels = G2R_KERNELS_SCALAR};
    g2r_error err = {0};
    if (g2r_gpt2_write_random(f->model_path, &cfg, G2R_DT_F32, 5, &err) ||
        g2r_model_load(f->model_path, &o, &f->model, &err) || g2r_tokenizer_load(NULL, &f->tok, &err)) {
        fprintf(stderr, "fuzz fixture: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Frees the model and tokenizer, removes the model and the folder (the
 * caller removes its own files first). */
static void fuzz_fixture_free(fuzz_fixture *f) {
    g2r_model_free(f->model);
    g2r_tokenizer_free(f->tok);
    f->model = NULL;
    f->tok = NULL;
    unlink(f->model_path);
    rmdir(f->dir);
}

#endif
