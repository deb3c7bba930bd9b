/* test_safetensors.c — the safetensors reader's validation (every rejection
 * rule, each from a file written here) and the writer's layout. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/rng.h"
#include "tests/harness.h"
#include "weights/safetensors.h"
#include "weights/safetensors_write.h"

/* Writes bytes to a fresh file and returns its path (static storage, one at a time). */
static const char *write_bytes(const void *bytes, size_t n) {
    static char path[600];
    snprintf(path, sizeof path, "%s/t.safetensors", t_tmpdir());
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    if (n) fwrite(bytes, 1, n, f);
    fclose(f);
    return path;
}

/* A file of: 8-byte length of header, header, then n_data bytes 0, 1, 2, ... */
static const char *write_st(const char *header, size_t n_data) {
    size_t hl = strlen(header), n = 8 + hl + n_data;
    unsigned char *b = malloc(n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < n_data; i++) b[8 + hl + i] = (unsigned char)i;
    const char *p = write_bytes(b, n);
    free(b);
    return p;
}

/* Opening the file must fail with G2R_EFORMAT, a message naming the file and containing want. */
static void expect_reject(const char *path, const char *want) {
    g2r_safetensors st;
    g2r_error err = {0};
    g2r_status s = g2r_st_open(path, &st, &err);
    CHECK(s == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, want);
    CHECK(!strchr(err.msg, '\n'));
    if (!s) g2r_st_close(&st);
}

static void reject_header(const char *header, size_t n_data, const char *want) {
    expect_reject(write_st(header, n_data), want);
}

TEST(st_rejects_short_file) {
    expect_reject(write_bytes("\x02\0\0\0\0", 5), "too short");
    expect_reject(write_bytes("", 0), "too short");
}

TEST(st_rejects_header_length) {
    unsigned char b[16] = {0};
    uint64_t n = 100000001;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    expect_reject(write_bytes(b, 16), "over the limit");
    b[0] = 100, b[1] = b[2] = b[3] = 0;
    memcpy(b + 8, "{}      ", 8);
    expect_reject(write_bytes(b, 16), "runs past the end");
    memset(b, 0xff, 8);
    expect_reject(write_bytes(b, 16), "over the limit");
}

TEST(st_rejects_header_not_json_object) {
    reject_header("[1, 2]", 0, "not a JSON object");
    reject_header("  {}", 0, "not a JSON object");
    reject_header("{\"a\": 1", 0, "not valid JSON");
    reject_header("{} x", 0, "not valid JSON");
    reject_header("{\"a\xff\": {}}", 0, "not valid JSON");       /* invalid UTF-8 */
    reject_header("{\"\xc0\xaf\": {}}", 0, "not valid JSON");     /* overlong encoding */
    expect_reject(write_bytes("\x00\x00\x00\x00\x00\x00\x00\x00", 8), "not a JSON object");
}

TEST(st_rejects_malformed_entries) {
    reject_header("{\"a\": [1]}", 0, "tensor 'a': entry is not a JSON object");
    reject_header("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "\"dtype\" missing");
    reject_header("{\"a\": {\"dtype\": \"F33\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype 'F33'");
    reject_header("{\"a\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype 'f32'");
    reject_header("{\"a\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8, "dtype F64 not supported");
    reject_header("{\"a\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype I32 not supported");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
                  "shape dimension 0 is not a non-negative integer");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 1.5], \"data_offsets\": [0, 4]}}", 4,
                  "shape dimension 1 is not a non-negative integer");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4, "\"shape\" missing or not an array");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "data_offsets");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.0]}}", 4, "data_offsets");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "data_offsets");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "data_offsets");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8, "end before they begin");
    reject_header("{\"__metadata__\": {\"k\": 1}}", 0, "__metadata__ value of 'k' is not a string");
    reject_header("{\"__metadata__\": [\"k\"]}", 0, "__metadata__ is not a JSON object");
}

TEST(st_rejects_bad_tiling) {
    /* gap at the start, gap between, overlap, past the end, trailing bytes */
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "gap after byte 0");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                  " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", 12, "tensor 'b'");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                  " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", 12, "gap after byte 4");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, "overlapping");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
                  "tensors end at byte 16 but the data buffer has only 8");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 12, "4 trailing bytes");
    reject_header("{}", 1, "1 trailing bytes");
}

TEST(st_rejects_size_mismatch_and_overflow) {
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
                  "hold 8 bytes but shape of 3 F32 elements needs 12");
    reject_header("{\"a\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16, "needs 8");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], \"data_offsets\": [0, 4]}}", 4,
                  "overflows");
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 4]}}", 4,
                  "overflows");
}

TEST(st_rejects_duplicate_names) {
    reject_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                  " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "duplicate tensor name 'a'");
    reject_header("{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "duplicate name '__metadata__'");
}

TEST(st_accepts_valid_files) {
    g2r_safetensors st;
    g2r_error err = {0};
    const char *p = write_st("{\"__metadata__\": {\"format\": \"pt\", \"n_head\": \"4\"},"
                             " \"z\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [8, 12]},"
                             " \"e\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [8, 8]},"
                             " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                             " \"s\": {\"dtype\": \"I8\", \"shape\": [], \"data_offsets\": [12, 13]}}   ",
                             13);
    REQUIRE(g2r_st_open(p, &st, &err) == G2R_OK);
    CHECK_EQ_INT(st.n_tensors, 4);
    CHECK(!strcmp(st.tensors[0].name, "a") && !strcmp(st.tensors[3].name, "z")); /* sorted by name */
    const g2r_st_tensor *z = g2r_st_find(&st, "z"), *e = g2r_st_find(&st, "e"), *s = g2r_st_find(&st, "s");
    REQUIRE(z && e && s);
    CHECK(z->dtype == G2R_ST_F16 && z->ndim == 1 && z->shape[0] == 2 && z->numel == 2);
    CHECK_EQ_INT(((const unsigned char *)z->data)[0], 8);
    CHECK(e->numel == 0 && e->ndim == 2 && e->shape[1] == 3);
    CHECK(s->ndim == 0 && s->numel == 1 && ((const unsigned char *)s->data)[0] == 12);
    CHECK(g2r_st_find(&st, "b") == NULL);
    CHECK(!strcmp(g2r_st_meta_get(&st, "n_head"), "4"));
    CHECK(g2r_st_meta_get(&st, "missing") == NULL);
    g2r_st_close(&st);

    /* The empty file of tensors, and __metadata__ null, are valid too. */
    REQUIRE(g2r_st_open(write_st("{}", 0), &st, &err) == G2R_OK);
    CHECK_EQ_INT(st.n_tensors, 0);
    g2r_st_close(&st);
    REQUIRE(g2r_st_open(write_st("{\"__metadata__\": null}", 0), &st, &err) == G2R_OK);
    g2r_st_close(&st);
}

TEST(st_parse_from_buffer_and_missing_file) {
    const char text[] = "\x02\0\0\0\0\0\0\0{}";
    g2r_safetensors st;
    g2r_error err = {0};
    REQUIRE(g2r_st_parse(text, 10, "buf", &st, &err) == G2R_OK);
    g2r_st_close(&st);
    CHECK(g2r_st_parse(text, 9, "buf", &st, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "buf: header length 2 runs past the end");
    char path[600];
    snprintf(path, sizeof path, "%s/none.safetensors", t_tmpdir());
    CHECK(g2r_st_open(path, &st, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, path);
}

/* Every prefix of a valid file is rejected (never read past the end). */
TEST(st_rejects_every_truncation) {
    const char *p = write_st("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8);
    char *buf;
    size_t n;
    g2r_error err = {0};
    REQUIRE(g2r_read_file(p, 1 << 20, &buf, &n, &err) == G2R_OK);
    for (size_t len = 0; len < n; len++) {
        g2r_safetensors st;
        char *copy = malloc(len ? len : 1); /* exact size so ASan catches any overread */
        memcpy(copy, buf, len);
        CHECK(g2r_st_parse(copy, len, "trunc", &st, &err) == G2R_EFORMAT);
        free(copy);
    }
    free(buf);
}

/* Random byte flips in a valid file: each variant parses or fails cleanly
 * (ASan/valgrind catch any bad read; the message always names the input). */
TEST(st_survives_mutations) {
    const char *p = write_st("{\"__metadata__\": {\"k\": \"v\"}, \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                             " \"b\": {\"dtype\": \"BF16\", \"shape\": [1, 2], \"data_offsets\": [8, 12]}}", 12);
    char *buf;
    size_t n;
    g2r_error err = {0};
    REQUIRE(g2r_read_file(p, 1 << 20, &buf, &n, &err) == G2R_OK);
    static const char interesting[] = "{}[],:\"0123456789-.e \\\xff";
    g2r_rng rng = {42};
    int ok = 0, rejected = 0;
    for (int iter = 0; iter < 3000; iter++) {
        unsigned char *m = malloc(n);
        memcpy(m, buf, n);
        int flips = 1 + (int)(g2r_rng_u64(&rng) % 3);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(g2r_rng_u64(&rng) % n);
            m[at] = (g2r_rng_u64(&rng) & 1) ? (unsigned char)g2r_rng_u64(&rng)
                                            : (unsigned char)interesting[g2r_rng_u64(&rng) % (sizeof interesting - 1)];
        }
        g2r_safetensors st;
        err.msg[0] = 0;
        g2r_status s = g2r_st_parse(m, n, "mut", &st, &err);
        if (s == G2R_OK) {
            ok++;
            for (size_t i = 0; i < st.n_tensors; i++)
                CHECK(st.tensors[i].end <= st.data_size && (const unsigned char *)st.tensors[i].data >= st.data);
            g2r_st_close(&st);
        } else {
            rejected++;
            CHECK(s == G2R_EFORMAT);
            CHECK(!strncmp(err.msg, "mut: ", 5));
        }
        free(m);
    }
    free(buf);
    CHECK(ok > 0 && rejected > 0);
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    const g2r_st_spec *specs;
    int fail_at;  /* index of the spec whose emit fails, or -1 */
    int short_at; /* index of the spec that writes one byte too few, or -1 */
} emit_ctx;

/* Byte i of tensor k is (k * 31 + i) & 0xff. */
static g2r_status emit_pattern(void *user, const g2r_st_spec *t, g2r_st_out *out, g2r_error *err) {
    const emit_ctx *c = user;
    int k = (int)(t - c->specs);
    if (k == c->fail_at) return g2r_fail(err, G2R_EIO, "emit failed on purpose");
    size_t n = g2r_st_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    if (k == c->short_at) n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)((k * 31 + (int)i) & 0xff);
        g2r_status s = g2r_st_put(out, &b, 1, err);
        if (s) return s;
    }
    return G2R_OK;
}

static const g2r_st_spec specs[] = {
    {"odd.i8", G2R_ST_I8, 1, {5}},
    {"b.f16", G2R_ST_F16, 2, {3, 1}},
    {"a.f32", G2R_ST_F32, 2, {2, 3}},
    {"c.bf16", G2R_ST_BF16, 1, {1}},
    {"zero", G2R_ST_F32, 1, {0}},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

TEST(st_writer_round_trips_aligned) {
    char path[600];
    snprintf(path, sizeof path, "%s/w.safetensors", t_tmpdir());
    emit_ctx c = {specs, -1, -1};
    const char *meta[][2] = {{"format", "pt"}, {"note", "q\"uote"}};
    g2r_error err = {0};
    REQUIRE(g2r_st_write(path, specs, N_SPECS, meta, 2, emit_pattern, &c, &err) == G2R_OK);
    g2r_safetensors st;
    REQUIRE(g2r_st_open(path, &st, &err) == G2R_OK);
    CHECK_EQ_INT((8 + st.header_len) % 8, 0);
    CHECK_EQ_INT(st.n_tensors, N_SPECS);
    CHECK(!strcmp(g2r_st_meta_get(&st, "note"), "q\"uote"));
    for (size_t k = 0; k < N_SPECS; k++) {
        const g2r_st_tensor *t = g2r_st_find(&st, specs[k].name);
        REQUIRE(t);
        CHECK(t->dtype == specs[k].dtype);
        CHECK_EQ_INT(t->ndim, specs[k].ndim);
        CHECK_EQ_INT(t->begin % g2r_st_dtype_size(t->dtype), 0); /* aligned */
        CHECK_EQ_INT((uintptr_t)t->data % g2r_st_dtype_size(t->dtype), 0);
        for (size_t i = 0; i < t->end - t->begin; i++)
            if (((const unsigned char *)t->data)[i] != (unsigned char)((k * 31 + i) & 0xff)) {
                CHECK(!"tensor bytes differ");
                break;
            }
    }
    /* header lists tensors by name */
    CHECK(strstr(st.header, "\"a.f32\"") < strstr(st.header, "\"b.f16\""));
    CHECK(strstr(st.header, "\"b.f16\"") < strstr(st.header, "\"odd.i8\""));
    uint64_t fp = g2r_st_fingerprint(&st);
    g2r_st_close(&st);

    /* same content, same fingerprint; one data byte changed, a different one */
    REQUIRE(g2r_st_open(path, &st, &err) == G2R_OK);
    CHECK(g2r_st_fingerprint(&st) == fp);
    g2r_st_close(&st);
    c.short_at = -1;
    const g2r_st_spec one[] = {{"x", G2R_ST_F32, 1, {4}}};
    emit_ctx c1 = {one, -1, -1};
    REQUIRE(g2r_st_write(path, one, 1, NULL, 0, emit_pattern, &c1, &err) == G2R_OK);
    REQUIRE(g2r_st_open(path, &st, &err) == G2R_OK);
    uint64_t fp1 = g2r_st_fingerprint(&st);
    unsigned char *copy = malloc(st.size);
    memcpy(copy, st.buf, st.size);
    copy[st.size - 1] ^= 1;
    g2r_safetensors st2;
    REQUIRE(g2r_st_parse(copy, st.size, "copy", &st2, &err) == G2R_OK);
    CHECK(g2r_st_fingerprint(&st2) != fp1);
    g2r_st_close(&st2);
    g2r_st_close(&st);
    free(copy);
}

TEST(st_writer_failure_leaves_old_file) {
    const char *dir = t_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("old", f);
    fclose(f);
    g2r_error err = {0};
    emit_ctx fail = {specs, 2, -1}, shortw = {specs, -1, 1};
    CHECK(g2r_st_write(path, specs, N_SPECS, NULL, 0, emit_pattern, &fail, &err) == G2R_EIO);
    CHECK(g2r_st_write(path, specs, N_SPECS, NULL, 0, emit_pattern, &shortw, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "'b.f16'");
    const g2r_st_spec dup[] = {{"a", G2R_ST_F32, 1, {1}}, {"a", G2R_ST_F32, 1, {1}}};
    emit_ctx d = {dup, -1, -1};
    CHECK(g2r_st_write(path, dup, 2, NULL, 0, emit_pattern, &d, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "duplicate tensor name 'a'");
    char *buf;
    size_t n;
    REQUIRE(g2r_read_file(path, 100, &buf, &n, &err) == G2R_OK);
    CHECK(n == 3 && !memcmp(buf, "old", 3));
    free(buf);
    /* nothing but the old file in the directory: no temp left behind */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0);
}
