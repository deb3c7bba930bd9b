/* fuzz_vocab.c — the vocabulary loaders (tokenizer/vocab_files.c) on
 * arbitrary files, then encode/decode with whatever they accept.
 *
 * Input: one byte choosing the format (0: vocab.json + merges.txt,
 * 1: tokenizer.json, 2: encoder.json + vocab.bpe), then the first file, then
 * for the pairs a NUL byte and the second file.  The files go to a private
 * temporary folder.  A refused folder gets a clean error naming the file; an
 * accepted one must round-trip the input's own bytes and a fixed text. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/round_trip.h"

static char fuzz_vocab_dir[64];

static void fuzz_vocab_cleanup(void) {
    static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer.json", "encoder.json", "vocab.bpe"};
    char path[128];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_vocab_dir, names[i]);
        unlink(path);
    }
    rmdir(fuzz_vocab_dir);
}

static int fuzz_vocab_put(const char *name, const uint8_t *data, size_t size) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", fuzz_vocab_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static g2r_status fuzz_vocab(const uint8_t *data, size_t size) {
    if (!fuzz_vocab_dir[0]) {
        snprintf(fuzz_vocab_dir, sizeof fuzz_vocab_dir, "/tmp/g2r-fuzz-vocab-XXXXXX");
        if (!mkdtemp(fuzz_vocab_dir)) return G2R_EIO;
        atexit(fuzz_vocab_cleanup);
    }
    if (size == 0) return G2R_EARG;
    static const char *const files[3][2] = {
        {"vocab.json", "merges.txt"}, {"tokenizer.json", NULL}, {"encoder.json", "vocab.bpe"}};
    int fmt = data[0] % 3;
    data++, size--;
    const uint8_t *nul = files[fmt][1] ? memchr(data, 0, size) : NULL;
    size_t first = nul ? (size_t)(nul - data) : size;
    fuzz_vocab_cleanup();
    if (mkdir(fuzz_vocab_dir, 0700) != 0) return G2R_EIO;
    if (fuzz_vocab_put(files[fmt][0], data, first)) return G2R_EIO;
    if (files[fmt][1] && fuzz_vocab_put(files[fmt][1], nul ? nul + 1 : data, nul ? size - first - 1 : 0))
        return G2R_EIO;

    g2r_tokenizer *t = NULL;
    g2r_error err = {0};
    g2r_status s = g2r_tokenizer_load(fuzz_vocab_dir, &t, &err);
    if (s) {
        FUZZ_CHECK(t == NULL);
        FUZZ_CHECK(s == G2R_EFORMAT || s == G2R_ERANGE);
        FUZZ_CHECK(fuzz_clean_error(s, &err, fuzz_vocab_dir));
        return s;
    }
    FUZZ_CHECK(g2r_tokenizer_vocab_size(t) >= 256);
    static const char text[] = "Hello, world! <|endoftext|> 123 caf\xc3\xa9 \xf0\x9f\x98\x80\n\n";
    fuzz_round_trip(t, text, sizeof text - 1, 0);
    fuzz_round_trip(t, text, sizeof text - 1, G2R_ENCODE_ALLOW_SPECIAL);
    fuzz_round_trip(t, (const char *)data, size < 512 ? size : 512, 0);
    g2r_tokenizer_free(t);
    return G2R_OK;
}

FUZZ_MAIN(fuzz_vocab)
