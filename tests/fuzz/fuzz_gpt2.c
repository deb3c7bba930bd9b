/* fuzz_gpt2.c — a whole model load (safetensors, GPT-2 binding, the engine's
 * checks) from arbitrary bytes, then, for a small enough model, one forward
 * pass and two generated tokens.
 *
 * The loader takes a path, so the bytes go into a memfd opened through
 * /proc/self/fd: nothing touches the disk.  A refused file gets a clean error
 * naming it; an accepted one must run (NaN weights are fine: no crash). */
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

static g2r_status fuzz_gpt2(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz-gpt2", MFD_CLOEXEC);
    if (fd < 0) return G2R_EIO;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    g2r_options opt = {.n_threads = 1, .kernels = G2R_KERNELS_SCALAR};
    g2r_model *m = NULL;
    g2r_error err = {0};
    g2r_status s = g2r_model_load(path, &opt, &m, &err);
    if (s) {
        FUZZ_CHECK(m == NULL);
        /* n_head may be impossible (EARG: "pass --heads"); everything else is the file's fault */
        FUZZ_CHECK(s == G2R_EFORMAT || s == G2R_EARG || s == G2R_ENOMEM);
        FUZZ_CHECK(fuzz_clean_error(s, &err, path) || fuzz_clean_error(s, &err, "model:"));
        close(fd);
        return s;
    }
    g2r_config c = g2r_model_config(m);
    FUZZ_CHECK(c.n_layer > 0 && c.n_head > 0 && c.n_embd % c.n_head == 0 && c.n_vocab > 0 && c.n_ctx > 0);
    if ((size_t)c.n_layer * c.n_embd * c.n_embd <= 1 << 16 && (size_t)c.n_vocab * c.n_embd <= 1 << 16) {
        g2r_session *sess;
        if (g2r_session_new(m, 1, c.n_ctx < 4 ? c.n_ctx : 4, &sess, &err) == G2R_OK) {
            int ids[1] = {c.n_vocab - 1}, n = 1;
            const int *seqs[1] = {ids};
            float *out = malloc((size_t)c.n_vocab * sizeof *out);
            if (out) FUZZ_CHECK(g2r_forward(sess, 1, seqs, &n, G2R_OUT_LOGITS, out, &err) == G2R_OK);
            free(out);
            g2r_session_free(sess);
        }
        g2r_sampler smp = {.temperature = 1, .top_k = 3, .top_p = 0.9f, .seed = 1, .max_new = 2};
        int prompt[1] = {0}, gen[2], n_gen = 0;
        FUZZ_CHECK(g2r_generate(m, prompt, 1, &smp, gen, 2, &n_gen, NULL, NULL, &err) == G2R_OK);
        for (int i = 0; i < n_gen; i++) FUZZ_CHECK(gen[i] >= 0 && gen[i] < c.n_vocab);
    }
    g2r_model_free(m);
    close(fd);
    return G2R_OK;
}

FUZZ_MAIN(fuzz_gpt2)
