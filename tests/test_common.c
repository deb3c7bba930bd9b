/* test_common.c — JSON parser, half-precision conversion, atomic files, mapped
 * files and the page cache, thread pool. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/half.h"
#include "common/json.h"
#include "common/pagecache.h"
#include "engine/pool.h"
#include "tests/harness.h"

static g2r_status parse(const char *s, g2r_json_doc **doc, const g2r_json **root, g2r_error *err) {
    return g2r_json_parse(s, strlen(s), "t.json", doc, root, err);
}

TEST(json_parses_nested_values) {
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    REQUIRE(parse(" {\"a\": [1, -2.5e1, true, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\", \"big\": 12345678901234} ",
                  &doc, &root, &err) == G2R_OK);
    CHECK(root->type == G2R_JSON_OBJECT);
    CHECK_EQ_INT(root->n, 3);
    const g2r_json *a = g2r_json_get(root, "a");
    REQUIRE(a && a->type == G2R_JSON_ARRAY && a->n == 4);
    CHECK(a->child->is_int && a->child->i == 1);
    CHECK(!a->child->next->is_int);
    CHECK_NEAR(a->child->next->num, -25.0, 0);
    CHECK(a->child->next->next->type == G2R_JSON_BOOL && a->child->next->next->boolean);
    const g2r_json *s = g2r_json_get(root, "s");
    REQUIRE(s && s->type == G2R_JSON_STRING);
    CHECK_EQ_INT(s->len, 1 + 2 + 4 + 1);
    CHECK(!memcmp(s->str, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8));
    CHECK(g2r_json_get(root, "big")->i == 12345678901234LL);
    CHECK(g2r_json_get(root, "missing") == NULL);
    g2r_json_free(doc);
}

TEST(json_rejects_malformed_input_with_position) {
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"\\ud800\"", "\"\xff\"", "01", "1.", "tru",
                         "{} {}", "\"a\nb\"", "[\"\\x\"]", "-", "{1:2}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g2r_json_doc *doc = NULL;
        const g2r_json *root = NULL;
        g2r_error err = {0};
        g2r_status st = parse(bad[i], &doc, &root, &err);
        if (st != G2R_EFORMAT) t_fail(__FILE__, __LINE__, "accepted bad JSON #%zu", i);
        CHECK_CONTAINS(err.msg, "t.json: at byte");
        CHECK(doc == NULL);
    }
}

TEST(json_limits_nesting_depth) {
    char buf[200];
    memset(buf, '[', 100);
    memset(buf + 100, ']', 100);
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    CHECK(g2r_json_parse(buf, 200, "deep", &doc, &root, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "nesting too deep");
}

TEST(half_conversions_round_to_nearest_even) {
    CHECK_EQ_INT(g2r_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(g2r_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(g2r_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(g2r_f32_to_f16(70000.0f), 0x7c00);
    CHECK_EQ_INT(g2r_f32_to_f16(5.9604645e-8f), 0x0001); /* smallest subnormal */
    CHECK_EQ_INT(g2r_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie -> even */
    CHECK_EQ_INT(g2r_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);
    CHECK_NEAR(g2r_f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(g2r_f16_to_f32(0x0001), 5.9604644775390625e-8, 0);
    CHECK_EQ_INT(g2r_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(g2r_f32_to_bf16(1.00390625f), 0x3f80); /* tie -> even */
    CHECK_NEAR(g2r_bf16_to_f32(0x4049), 3.140625, 0);
    /* every finite f16 round-trips */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (g2r_f32_to_f16(g2r_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(atomic_write_replaces_or_keeps_old_file) {
    char path[600];
    snprintf(path, sizeof path, "%s/out.bin", t_tmpdir());
    g2r_atomic a;
    g2r_error err = {0};
    REQUIRE(g2r_atomic_open(&a, path, &err) == G2R_OK);
    REQUIRE(g2r_atomic_write(&a, "old", 3, &err) == G2R_OK);
    REQUIRE(g2r_atomic_commit(&a, &err) == G2R_OK);
    REQUIRE(g2r_atomic_open(&a, path, &err) == G2R_OK);
    REQUIRE(g2r_atomic_write(&a, "new!", 4, &err) == G2R_OK);
    g2r_atomic_abort(&a);
    char *buf;
    size_t n;
    REQUIRE(g2r_read_file(path, 100, &buf, &n, &err) == G2R_OK);
    CHECK(n == 3 && !memcmp(buf, "old", 3));
    free(buf);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    struct stat st;
    CHECK(stat(tmp, &st) != 0); /* no temporary left */
}

TEST(map_file_refuses_directories_and_missing_files) {
    g2r_map m;
    g2r_error err = {0};
    CHECK(g2r_map_file(t_tmpdir(), &m, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "is a directory");
    CHECK(g2r_map_file("/nonexistent/x.safetensors", &m, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "/nonexistent/x.safetensors: cannot open");
}

static const char SMAPS[] =
    "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/x\n"
    "Size:                328 kB\n"
    "FilePmdMapped:        99 kB\n"
    "7f5fb7400000-7f5fd6a00000 r--p 00000000 fe:00 1234 /m.safetensors\n"
    "Size:             514048 kB\n"
    "Rss:              486108 kB\n"
    "AnonHugePages:         0 kB\n"
    "FilePmdMapped:    485376 kB\n"
    "VmFlags: rd mr mw me hg\n"
    "7f5fd6a00000-7f5fd6c00000 rw-p 00000000 00:00 0\n"
    "Size:               2048 kB\n";

static long smaps_kb(uintptr_t start, const char *field) {
    FILE *f = fmemopen((void *)SMAPS, sizeof SMAPS - 1, "r");
    if (!f) return -2;
    long kb = g2r_smaps_kb(f, start, field);
    fclose(f);
    return kb;
}

TEST(smaps_fields_are_read_from_the_right_mapping_only) {
    CHECK_EQ_INT(smaps_kb(0x7f5fb7400000u, "FilePmdMapped"), 485376);
    CHECK_EQ_INT(smaps_kb(0x7f5fb7400000u, "Rss"), 486108);
    CHECK_EQ_INT(smaps_kb(0x400000u, "FilePmdMapped"), 99);
    CHECK_EQ_INT(smaps_kb(0x400000u, "Rss"), -1);            /* not in its block: not taken from the next */
    CHECK_EQ_INT(smaps_kb(0x7f5fd6a00000u, "FilePmdMapped"), -1); /* the last block lacks it */
    CHECK_EQ_INT(smaps_kb(0x7f5fb7400001u, "Rss"), -1);      /* no mapping starts there */
    CHECK_EQ_INT(smaps_kb(0x7f5fb7400000u, "FilePmd"), -1);  /* a prefix is not the field */
}

TEST(smaps_long_header_lines_are_one_line) {
    /* a path longer than the line buffer, whose later piece looks like a header */
    char text[2048];
    int n = snprintf(text, sizeof text, "10000-20000 r--p 00000000 fe:00 1 /");
    for (int i = 0; i < 509 - 35; i++) text[n++] = 'x';
    n += snprintf(text + n, sizeof text - (size_t)n, "abc-def/m.bin\nFilePmdMapped:      2048 kB\n");
    FILE *f = fmemopen(text, (size_t)n, "r");
    REQUIRE(f);
    CHECK_EQ_INT(g2r_smaps_kb(f, 0x10000u, "FilePmdMapped"), 2048);
    fclose(f);
}

/* A file of n bytes, byte i = i * 7 + (i >> 20). */
static void write_pattern(const char *path, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    for (size_t i = 0; i < n; i++) fputc((int)((i * 7 + (i >> 20)) & 0xff), f);
    fclose(f);
}

static int has_pattern(const g2r_map *m, size_t n) {
    const unsigned char *p = m->data;
    if (m->size != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] != ((i * 7 + (i >> 20)) & 0xff)) return 0;
    return 1;
}

TEST(large_files_map_at_a_2mb_boundary_and_read_back) {
    char path[600];
    snprintf(path, sizeof path, "%s/big.bin", t_tmpdir());
    size_t n = (5u << 20) + 123; /* 2 whole 2 MB blocks and a tail */
    write_pattern(path, n);
    g2r_map m;
    g2r_error err = {0};
    REQUIRE(g2r_map_file(path, &m, &err) == G2R_OK);
    CHECK(((uintptr_t)m.data & ((2u << 20) - 1)) == 0);
    CHECK(has_pattern(&m, n));
    g2r_unmap(&m);
    CHECK(m.data == NULL && m.size == 0);
}

TEST(map_aligned_gives_zeroed_memory_at_a_2mb_boundary) {
    size_t sizes[] = {1, 4096, G2R_HUGE_PAGE, 3 * G2R_HUGE_PAGE + 100};
    for (int i = 0; i < 4; i++) {
        unsigned char *p = g2r_map_aligned(sizes[i], PROT_READ | PROT_WRITE);
        REQUIRE(p != MAP_FAILED);
        CHECK(((uintptr_t)p & (G2R_HUGE_PAGE - 1)) == 0);
        int zero = 1;
        for (size_t j = 0; j < sizes[i]; j += 997) zero &= p[j] == 0;
        CHECK(zero && p[sizes[i] - 1] == 0);
        p[0] = p[sizes[i] - 1] = 7; /* writable end to end */
        CHECK(munmap(p, sizes[i]) == 0);
    }
}

TEST(cache_huge_keeps_the_bytes_and_reports_a_share_that_lasts) {
    char path[600], small[600];
    snprintf(path, sizeof path, "%s/cached.bin", t_tmpdir());
    snprintf(small, sizeof small, "%s/small.bin", t_tmpdir());
    size_t n = (6u << 20) + 5;
    write_pattern(path, n);
    write_pattern(small, 1000);
    g2r_error err = {0};
    double before = -1, after = -1, again = -1;
    REQUIRE(g2r_cache_huge(path, 1, &before, &after, &err) == G2R_OK);
    CHECK(before >= 0 && after >= before && after <= 1); /* never fewer 2 MB pages after the re-read */
    /* measuring only changes nothing: the file stays as the re-read left it */
    REQUIRE(g2r_cache_huge(path, 0, &again, NULL, &err) == G2R_OK);
    CHECK_NEAR(again, after, 1e-9);
    g2r_map m;
    REQUIRE(g2r_map_file(path, &m, &err) == G2R_OK);
    CHECK(has_pattern(&m, n));
    g2r_unmap(&m);
    /* a file with no whole 2 MB block has nothing to put in 2 MB pages */
    REQUIRE(g2r_cache_huge(small, 1, &before, &after, &err) == G2R_OK);
    CHECK(before == 1 && after == 1);
    CHECK(g2r_cache_huge("/nonexistent/m.safetensors", 1, NULL, NULL, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "/nonexistent/m.safetensors: cannot open");
    CHECK(g2r_cache_huge(t_tmpdir(), 1, NULL, NULL, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "is a directory");
}

typedef struct {
    atomic_int hits[1000];
} pool_ctx;

static void mark(void *ctx, int task, int thread) {
    (void)thread;
    atomic_fetch_add(&((pool_ctx *)ctx)->hits[task], 1);
}

TEST(pool_runs_every_task_exactly_once) {
    for (int nt = 1; nt <= 4; nt++) {
        g2r_pool *p;
        g2r_error err = {0};
        REQUIRE(g2r_pool_new(nt, &p, &err) == G2R_OK);
        CHECK_EQ_INT(g2r_pool_size(p), nt);
        pool_ctx *c = calloc(1, sizeof *c);
        for (int round = 0; round < 200; round++) g2r_pool_run(p, 1 + (round * 7) % 999, mark, c);
        int expect_total = 0, total = 0;
        for (int round = 0; round < 200; round++) expect_total += 1 + (round * 7) % 999;
        for (int i = 0; i < 1000; i++) total += atomic_load(&c->hits[i]);
        CHECK_EQ_INT(total, expect_total);
        free(c);
        g2r_pool_free(p);
    }
}
