/* test_tokenizer.c — the tokenizer against tiktoken's ids on the committed
 * corpus (tests/data/tokenizer/corpus, made by tests/gen/), plus decoding,
 * special tokens, loading vocabulary files and thread safety. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/json.h"
#include "gpt2rank.h"
#include "tests/harness.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/gpt2_vocab.h"

static const char *const corpus[] = {
    "code", "codepoints", "contractions", "emoji", "long_words", "marks",
    "multilingual", "numbers", "prose_en", "rtl", "special", "whitespace",
};
#define N_CORPUS (sizeof corpus / sizeof corpus[0])

static g2r_tokenizer *gpt2(void) {
    static g2r_tokenizer *t;
    if (!t) {
        g2r_error err = {0};
        if (g2r_tokenizer_load(NULL, &t, &err)) t_fail(__FILE__, __LINE__, "load: %s", err.msg);
    }
    return t;
}

static char *read_data(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer/corpus/%s", t_data_dir(), name);
    char *s = NULL;
    g2r_error err = {0};
    if (g2r_read_file(path, 64u << 20, &s, len, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
    return s;
}

/* The ids of a .ids file (a JSON array); NULL on error. */
static int *read_ids(const char *name, size_t *n) {
    size_t len;
    char *s = read_data(name, &len);
    if (!s) return NULL;
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    int *ids = NULL;
    if (g2r_json_parse(s, len, name, &doc, &root, &err) == G2R_OK) {
        ids = malloc((root->n + 1) * sizeof *ids);
        *n = 0;
        for (const g2r_json *e = root->child; e; e = e->next) ids[(*n)++] = (int)e->i;
        g2r_json_free(doc);
    } else {
        t_fail(__FILE__, __LINE__, "%s", err.msg);
    }
    free(s);
    return ids;
}

/* Encodes text and compares with want, reporting the first difference with
 * the bytes around it. */
static void check_encoding(const g2r_tokenizer *t, const char *what, const char *text, size_t len, int flags,
                           const int *want, size_t n_want) {
    size_t n = 0;
    g2r_error err = {0};
    int *got = malloc((n_want + 16) * sizeof *got);
    g2r_status st = g2r_encode(t, text, len, flags, got, n_want + 16, &n, &err);
    if (st) t_fail(__FILE__, __LINE__, "%s: %s", what, err.msg);
    size_t i = 0, byte = 0;
    while (i < n && i < n_want && got[i] == want[i]) {
        size_t k;
        g2r_token_bytes(t, got[i++], &k);
        byte += k;
    }
    if (i < n || i < n_want)
        t_fail(__FILE__, __LINE__, "%s: %zu ids, expected %zu; first difference at id %zu (byte %zu, \"%.24s\"): got %d, expected %d",
               what, n, n_want, i, byte, text + byte, i < n ? got[i] : -1, i < n_want ? want[i] : -1);
    free(got);
}

TEST(tokenizer_matches_tiktoken_on_corpus) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    size_t total_bytes = 0, total_ids = 0;
    for (size_t c = 0; c < N_CORPUS; c++) {
        char name[64];
        size_t len, n_want = 0;
        snprintf(name, sizeof name, "%s.txt", corpus[c]);
        char *text = read_data(name, &len);
        snprintf(name, sizeof name, "%s.ids", corpus[c]);
        int *want = read_ids(name, &n_want);
        REQUIRE(text && want);
        check_encoding(t, corpus[c], text, len, 0, want, n_want);
        total_bytes += len;
        total_ids += n_want;
        free(text);
        free(want);
    }
    CHECK(total_bytes > 300000);
    CHECK(total_ids > 150000);
}

TEST(tokenizer_decodes_corpus_ids_to_the_text) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    for (size_t c = 0; c < N_CORPUS; c++) {
        char name[64];
        size_t len, n_ids = 0, n_out = 0;
        snprintf(name, sizeof name, "%s.txt", corpus[c]);
        char *text = read_data(name, &len);
        snprintf(name, sizeof name, "%s.ids", corpus[c]);
        int *ids = read_ids(name, &n_ids);
        REQUIRE(text && ids);
        char *out = malloc(len + 1);
        g2r_error err = {0};
        CHECK(g2r_decode(t, ids, n_ids, out, len + 1, &n_out, &err) == G2R_OK);
        CHECK_EQ_INT(n_out, len);
        CHECK(n_out == len && !memcmp(out, text, len));
        free(out);
        free(text);
        free(ids);
    }
}

TEST(tokenizer_special_token_only_when_allowed) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    size_t len, n_want = 0;
    char *text = read_data("special.txt", &len);
    int *want = read_ids("special.allow.ids", &n_want);
    REQUIRE(text && want);
    check_encoding(t, "special, allowed", text, len, G2R_ENCODE_ALLOW_SPECIAL, want, n_want);
    int eot = 0;
    for (size_t i = 0; i < n_want; i++) eot += want[i] == 50256;
    CHECK_EQ_INT(eot, 7);
    CHECK_EQ_INT(g2r_tokenizer_eot(t), 50256);
    size_t n = 0;
    int ids[8];
    CHECK(g2r_encode(t, "<|endoftext|>", 13, 0, ids, 8, &n, NULL) == G2R_OK);
    CHECK(n > 1);
    CHECK(g2r_encode(t, "<|endoftext|>", 13, G2R_ENCODE_ALLOW_SPECIAL, ids, 8, &n, NULL) == G2R_OK);
    CHECK(n == 1 && ids[0] == 50256);
    free(text);
    free(want);
}

TEST(tokenizer_known_ids) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    CHECK_EQ_INT(g2r_tokenizer_vocab_size(t), 50257);
    int ids[16];
    size_t n = 0;
    CHECK(g2r_encode(t, "hello", 5, 0, ids, 16, &n, NULL) == G2R_OK);
    CHECK(n == 1 && ids[0] == 31373);
    /* "Hello world" -> 15496, 995 (GPT-2's best-known ids). */
    CHECK(g2r_encode(t, "Hello world", 11, 0, ids, 16, &n, NULL) == G2R_OK);
    CHECK(n == 2 && ids[0] == 15496 && ids[1] == 995);
    CHECK(g2r_encode(t, "", 0, 0, ids, 16, &n, NULL) == G2R_OK);
    CHECK_EQ_INT(n, 0);
    size_t len;
    const char *s = g2r_token_bytes(t, 995, &len);
    CHECK(s && len == 6 && !memcmp(s, " world", 6));
    CHECK(g2r_token_bytes(t, 50257, &len) == NULL);
    CHECK(g2r_token_bytes(t, -1, &len) == NULL);
}

TEST(tokenizer_encode_reports_full_count_when_out_is_short) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    const char *text = "The quick brown fox jumps over the lazy dog.";
    int all[32], few[3] = {-7, -7, -7};
    size_t n_all = 0, n_few = 0, n_count = 0;
    CHECK(g2r_encode(t, text, strlen(text), 0, all, 32, &n_all, NULL) == G2R_OK);
    CHECK(g2r_encode(t, text, strlen(text), 0, few, 2, &n_few, NULL) == G2R_OK);
    CHECK(g2r_encode(t, text, strlen(text), 0, NULL, 0, &n_count, NULL) == G2R_OK);
    CHECK_EQ_INT(n_all, 10);
    CHECK_EQ_INT(n_few, n_all);
    CHECK_EQ_INT(n_count, n_all);
    CHECK(few[0] == all[0] && few[1] == all[1] && few[2] == -7);
}

TEST(tokenizer_decode_names_out_of_range_id) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    int ids[] = {31373, 50257};
    char out[64];
    size_t n;
    g2r_error err = {0};
    CHECK(g2r_decode(t, ids, 2, out, sizeof out, &n, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "50257");
    int neg[] = {-3};
    CHECK(g2r_decode(t, neg, 1, out, sizeof out, &n, &err) == G2R_ERANGE);
    CHECK_CONTAINS(err.msg, "-3");
    /* A short buffer gets a prefix; the full length is still reported. */
    int hw[] = {15496, 995};
    char small[4] = {0};
    CHECK(g2r_decode(t, hw, 2, small, 4, &n, &err) == G2R_OK);
    CHECK_EQ_INT(n, 11);
    CHECK(!memcmp(small, "Hell", 4));
}

/* ---- vocabulary files: the built-in vocabulary written out in each format */

static void put_spelled(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = g2r_byte_to_cp((uint8_t)s[i]);
        if (cp < 0x80) fputc((int)cp, f);
        else {
            fputc((int)(0xC0 | cp >> 6), f);
            fputc((int)(0x80 | (cp & 0x3F)), f);
        }
    }
}

/* The spelling of token id into buf (at least 512 bytes); returns its length. */
static size_t spell(const g2r_tokenizer *t, int id, char *buf) {
    size_t n;
    const char *s = g2r_token_bytes(t, id, &n);
    FILE *m = fmemopen(buf, 512, "w");
    put_spelled(m, s, n);
    long k = ftell(m);
    fclose(m);
    return (size_t)k;
}

/* vocab.json-style object of spelled token -> id. */
static void write_vocab_object(FILE *f, const g2r_tokenizer *t) {
    fputc('{', f);
    for (int id = 0; id < g2r_tokenizer_vocab_size(t); id++) {
        char buf[512];
        size_t k = spell(t, id, buf);
        fputs(id ? ",\n" : "\n", f);
        g2r_json_write_string(f, buf, k);
        fprintf(f, ": %d", id);
    }
    fputs("\n}\n", f);
}

static void write_merge(FILE *f, const g2r_tokenizer *t, int r, const char *sep) {
    for (int h = 0; h < 2; h++) {
        size_t n;
        const char *s = g2r_token_bytes(t, g2r_gpt2_merges[r][h], &n);
        if (h) fputs(sep, f);
        put_spelled(f, s, n);
    }
}

static void write_gpt2_files(const char *dir, const char *vocab_name, const char *merges_name) {
    g2r_tokenizer *t = gpt2();
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, vocab_name);
    FILE *f = fopen(path, "w");
    write_vocab_object(f, t);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s", dir, merges_name);
    f = fopen(path, "w");
    fputs("#version: 0.2\n", f);
    for (int r = 0; r < G2R_GPT2_N_MERGES; r++) {
        write_merge(f, t, r, " ");
        fputc('\n', f);
    }
    fclose(f);
}

/* tokenizer.json with merges as "a b" strings (old) or ["a", "b"] arrays (new). */
static void write_gpt2_tokenizer_json(const char *dir, int array_merges) {
    g2r_tokenizer *t = gpt2();
    char path[600], a[512], b[512], ab[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 50256, \"content\": \"<|endoftext|>\", \"special\": true}],\n"
          "\"model\": {\"type\": \"BPE\", \"vocab\": ", f);
    write_vocab_object(f, t);
    fputs(", \"merges\": [", f);
    for (int r = 0; r < G2R_GPT2_N_MERGES; r++) {
        size_t na = spell(t, g2r_gpt2_merges[r][0], a), nb = spell(t, g2r_gpt2_merges[r][1], b);
        fputs(r ? ",\n" : "\n", f);
        if (array_merges) {
            fputc('[', f);
            g2r_json_write_string(f, a, na);
            fputc(',', f);
            g2r_json_write_string(f, b, nb);
            fputc(']', f);
        } else {
            memcpy(ab, a, na);
            ab[na] = ' ';
            memcpy(ab + na + 1, b, nb);
            g2r_json_write_string(f, ab, na + 1 + nb);
        }
    }
    fputs("]}}\n", f);
    fclose(f);
}

static void check_same_as_builtin(const char *dir) {
    g2r_tokenizer *t = NULL;
    g2r_error err = {0};
    if (g2r_tokenizer_load(dir, &t, &err)) t_fail(__FILE__, __LINE__, "%s: %s", dir, err.msg);
    if (!t) return;
    CHECK_EQ_INT(g2r_tokenizer_vocab_size(t), 50257);
    CHECK_EQ_INT(g2r_tokenizer_eot(t), 50256);
    const char *files[] = {"prose_en", "multilingual", "long_words", "special"};
    for (int c = 0; c < 4; c++) {
        char name[64];
        size_t len, n_want = 0;
        snprintf(name, sizeof name, "%s.txt", files[c]);
        char *text = read_data(name, &len);
        snprintf(name, sizeof name, "%s.ids", files[c]);
        int *want = read_ids(name, &n_want);
        if (text && want) check_encoding(t, dir, text, len, 0, want, n_want);
        free(text);
        free(want);
    }
    g2r_tokenizer_free(t);
}

TEST(tokenizer_loads_vocab_json_and_merges_txt) {
    const char *dir = t_tmpdir();
    write_gpt2_files(dir, "vocab.json", "merges.txt");
    check_same_as_builtin(dir);
}

TEST(tokenizer_loads_encoder_json_and_vocab_bpe) {
    const char *dir = t_tmpdir();
    write_gpt2_files(dir, "encoder.json", "vocab.bpe");
    check_same_as_builtin(dir);
}

TEST(tokenizer_loads_tokenizer_json) {
    const char *dir = t_tmpdir();
    write_gpt2_tokenizer_json(dir, 0);
    check_same_as_builtin(dir);
    dir = t_tmpdir();
    write_gpt2_tokenizer_json(dir, 1);
    check_same_as_builtin(dir);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* A vocabulary of the 256 bytes plus a few merges, in vocab.json form. */
static void write_tiny_vocab(const char *dir, const char *extra_tokens) {
    char path[600];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "w");
    fputc('{', f);
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        fputs(b ? ", \"" : "\"", f);
        put_spelled(f, &c, 1);
        if (c == '"' || c == '\\') fseek(f, -1, SEEK_CUR), fprintf(f, "\\%c", c);
        fprintf(f, "\": %d", b);
    }
    fprintf(f, "%s}", extra_tokens);
    fclose(f);
}

TEST(tokenizer_loads_a_small_custom_vocabulary) {
    const char *dir = t_tmpdir();
    write_tiny_vocab(dir, ", \"ab\": 256, \"abc\": 257, \"\xc4\xa0" "a\": 258");
    write_text(dir, "merges.txt", "#version: 0.2\na b\nab c\n\xc4\xa0 a\n");
    g2r_tokenizer *t = NULL;
    g2r_error err = {0};
    CHECK(g2r_tokenizer_load(dir, &t, &err) == G2R_OK);
    REQUIRE(t);
    CHECK_EQ_INT(g2r_tokenizer_vocab_size(t), 259);
    CHECK_EQ_INT(g2r_tokenizer_eot(t), -1);
    int ids[16];
    size_t n = 0;
    CHECK(g2r_encode(t, "abcab a", 7, 0, ids, 16, &n, &err) == G2R_OK);
    /* pre-tokens "abcab", " a": abc + ab, then " a" */
    CHECK(n == 3 && ids[0] == 257 && ids[1] == 256 && ids[2] == 258);
    g2r_tokenizer_free(t);
}

TEST(tokenizer_load_errors_name_the_file) {
    g2r_tokenizer *t = NULL;
    g2r_error err = {0};
    CHECK(g2r_tokenizer_load("/nonexistent/vocab", &t, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "/nonexistent/vocab");
    CHECK(t == NULL);

    const char *empty = t_tmpdir();
    CHECK(g2r_tokenizer_load(empty, &t, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "merges.txt");

    const char *bad_json = t_tmpdir();
    write_text(bad_json, "vocab.json", "{\"a\": 1,");
    write_text(bad_json, "merges.txt", "");
    CHECK(g2r_tokenizer_load(bad_json, &t, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "vocab.json");

    const char *bad_merge = t_tmpdir();
    write_tiny_vocab(bad_merge, ", \"ab\": 256");
    write_text(bad_merge, "merges.txt", "#version: 0.2\na b\nab q\n");
    CHECK(g2r_tokenizer_load(bad_merge, &t, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "merges.txt:3");

    const char *missing_byte = t_tmpdir();
    write_text(missing_byte, "vocab.json", "{\"a\": 0, \"b\": 1}");
    write_text(missing_byte, "merges.txt", "");
    CHECK(g2r_tokenizer_load(missing_byte, &t, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "no token for byte");

    const char *hole = t_tmpdir();
    write_tiny_vocab(hole, ", \"ab\": 300");
    write_text(hole, "merges.txt", "");
    CHECK(g2r_tokenizer_load(hole, &t, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "no token has id 256");

    const char *not_byte = t_tmpdir();
    write_tiny_vocab(not_byte, ", \"\xe4\xb8\xad\": 256");
    write_text(not_byte, "merges.txt", "");
    CHECK(g2r_tokenizer_load(not_byte, &t, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "byte alphabet");
    CHECK(t == NULL);
}

/* ---- thread safety: many threads encoding with one tokenizer */

typedef struct {
    const g2r_tokenizer *t;
    const char *text;
    size_t len;
    int *ids;
    size_t n;
} encode_job;

static void *encode_thread(void *arg) {
    encode_job *j = arg;
    for (int rep = 0; rep < 3; rep++) g2r_encode(j->t, j->text, j->len, 0, j->ids, j->n, &j->n, NULL);
    return NULL;
}

TEST(tokenizer_encodes_concurrently) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    size_t len, n_want = 0;
    char *text = read_data("multilingual.txt", &len);
    int *want = read_ids("multilingual.ids", &n_want);
    REQUIRE(text && want);
    enum { N = 4 };
    encode_job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (encode_job){t, text, len, calloc(n_want, sizeof(int)), n_want};
        pthread_create(&th[i], NULL, encode_thread, &jobs[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(jobs[i].n, n_want);
        CHECK(!memcmp(jobs[i].ids, want, n_want * sizeof(int)));
        free(jobs[i].ids);
    }
    free(text);
    free(want);
}
