/* test_regress.c — replays every fuzz input worth keeping through the fuzz
 * targets themselves (tests/fuzz/fuzz_<name>.c, compiled here without
 * libFuzzer): the seed corpus tests/fuzz/corpus/<name>/, and past findings and
 * hand-made hostile inputs in tests/data/regress/<name>/ (tests/fuzz/hostile.py
 * writes the latter: ok-* must be accepted, bad-* refused).  A target's checks
 * become CHECKs; a crash is a crash of the test runner, as it should be. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G2R_FUZZ_REPLAY 1
#include "tests/fuzz/fuzz_gpt2.c"
#include "tests/fuzz/fuzz_history.c"
#include "tests/fuzz/fuzz_index.c"
#include "tests/fuzz/fuzz_items.c"
#include "tests/fuzz/fuzz_json.c"
#include "tests/fuzz/fuzz_safetensors.c"
#include "tests/fuzz/fuzz_serve.c"
#include "tests/fuzz/fuzz_tokenize.c"
#include "tests/fuzz/fuzz_vocab.c"
#include "tests/harness.h"

typedef g2r_status (*fuzz_fn)(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Feeds every file of dir to fn, in name order; returns how many (-1: no such dir). */
static int replay_dir(const char *dir, fuzz_fn fn) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char *names[1024];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 1024;)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f) {
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            rewind(f);
            uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
            size_t got = buf ? fread(buf, 1, (size_t)size, f) : 0;
            fclose(f);
            CHECK(got == (size_t)size);
            int failed_before = t_failed();
            g2r_status s = fn(buf, got);
            /* hand-made inputs say in their name what must happen */
            int expect_ok = !strncmp(names[i], "ok-", 3), expect_bad = !strncmp(names[i], "bad-", 4);
            if ((expect_ok && s != G2R_OK) || (expect_bad && s == G2R_OK))
                t_fail(__FILE__, __LINE__, "%s: status %d, expected %s", path, (int)s, expect_ok ? "success" : "a refusal");
            else if (t_failed() && !failed_before)
                fprintf(stderr, "  (input: %s)\n", path);
            free(buf);
        }
        free(names[i]);
    }
    return n;
}

/* Replays the corpus and the regressions of target name; both must exist. */
static void replay(const char *name, fuzz_fn fn) {
    char dir[512];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
    CHECK(replay_dir(dir, fn) > 0);
    snprintf(dir, sizeof dir, "%s/regress/%s", t_data_dir(), name);
    CHECK(replay_dir(dir, fn) > 0);
}

TEST(regress_json_inputs_parse_or_fail_cleanly) { replay("json", fuzz_json); }
TEST(regress_safetensors_inputs_parse_or_fail_cleanly) { replay("safetensors", fuzz_safetensors); }
TEST(regress_gpt2_files_load_and_run_or_fail_cleanly) { replay("gpt2", fuzz_gpt2); }
TEST(regress_tokenizer_round_trips_arbitrary_bytes) { replay("tokenize", fuzz_tokenize); }
TEST(regress_vocabulary_files_load_or_fail_cleanly) { replay("vocab", fuzz_vocab); }
TEST(regress_index_files_open_or_fail_cleanly) { replay("index", fuzz_index); }
TEST(regress_history_lines_load_or_fail_cleanly) { replay("history", fuzz_history); }
TEST(regress_catalogs_index_or_fail_cleanly) { replay("items", fuzz_items); }
TEST(regress_serve_requests_get_one_json_line_each) { replay("serve", fuzz_serve); }

/* Without sanitizers the over-read of bad-records-size-wraps may stop at the
 * first stray NaN past the mapping and pass as a clean refusal; the message
 * says which check refused it. */
TEST(regress_index_records_size_that_wraps_is_refused_by_the_offset_check) {
    char path[512];
    snprintf(path, sizeof path, "%s/regress/index/bad-records-size-wraps", t_data_dir());
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fuzz_index_fix(buf, n);
    int fd = memfd_create("regress-index", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(write(fd, buf, n) == (ssize_t)n);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    g2r_index *ix = NULL;
    g2r_error err = {0};
    CHECK(g2r_index_open(path, NULL, &ix, &err) == G2R_EFORMAT);
    CHECK_CONTAINS(err.msg, "section offsets");
    g2r_index_close(ix);
    close(fd);
}
