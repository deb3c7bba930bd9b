/* test_limits.c — limits and hostile surroundings, end to end: each is a
 * clear one-line error and the right exit status (1 bad input, 2 usage), never
 * a crash.  Token counts past n_ctx, ids outside the vocabulary, NaN/Inf
 * arguments and vectors, a directory or a device where a file is expected, an
 * empty file, a file over a reader's size limit, a file mmap cannot map, k
 * beyond the index, an index from another model or of another width, JSON
 * Lines over the line limit. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "tests/harness.h"
#include "tests/test_hostile_util.h"

/* A tiny model (n_ctx 4, vocab 16) in a fresh folder; its path in model[600]. */
static const char *tiny_model(char *model) {
    const char *dir = t_tmpdir();
    char args[800];
    snprintf(model, 600, "%s/m.safetensors", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 1 --embd 8 --heads 2 --vocab 16 --ctx 4", model);
    if (hostile_run(args, 0, NULL, 0) != 0) t_fail(__FILE__, __LINE__, "mkmodel failed");
    return dir;
}

/* `gpt2rank ARGS` exits with want and one line on stderr containing needle. */
static void expect(const char *args, int want, const char *needle) {
    char err[2048];
    int rc = hostile_run(args, 0, err, sizeof err);
    if (rc != want) t_fail(__FILE__, __LINE__, "gpt2rank %s: exit %d, expected %d (%s)", args, rc, want, err);
    CHECK_CONTAINS(err, needle);
    char *nl = strchr(err, '\n');
    CHECK(nl && nl[1] == 0);
}

TEST(limits_tokens_past_the_context_and_ids_outside_the_vocabulary) {
    char model[600], args[2000];
    tiny_model(model);
    snprintf(args, sizeof args, "forward -m '%s' --ids 1,2,3,4,5", model);
    expect(args, 1, "context of 4");
    snprintf(args, sizeof args, "forward -m '%s' --ids 1,2 --ids 1,2,3,4,5", model);
    expect(args, 1, "sequence 1");
    snprintf(args, sizeof args, "generate -m '%s' --ids 1,2,3,4,5 -n 1", model);
    expect(args, 1, "exceeds the context of 4");
    snprintf(args, sizeof args, "forward -m '%s' --ids 1,16", model);
    expect(args, 1, "token id 16");
    snprintf(args, sizeof args, "generate -m '%s' --ids -1 -n 1", model);
    expect(args, 2, "--ids");
    snprintf(args, sizeof args, "forward -m '%s' --ids 99999999999999999999", model);
    expect(args, 2, "--ids");
    /* exactly n_ctx is fine, and generation stops when the context is full */
    snprintf(args, sizeof args, "forward -m '%s' --ids 1,2,3,4 -o '%s.out'", model, model);
    CHECK_EQ_INT(hostile_run(args, 0, NULL, 0), 0);
    snprintf(args, sizeof args, "generate -m '%s' --ids 1,2,3 -n 0", model);
    CHECK_EQ_INT(hostile_run(args, 0, NULL, 0), 0);
}

TEST(limits_nan_and_inf_arguments_are_usage_errors) {
    char model[600], args[2000];
    tiny_model(model);
    const char *bad[] = {"--temp nan", "--temp inf", "--temp -inf", "--top-p nan", "--top-p inf", "--temp 1e999"};
    for (int i = 0; i < 6; i++) {
        snprintf(args, sizeof args, "generate -m '%s' --ids 1 -n 1 %s", model, bad[i]);
        expect(args, 2, strchr(bad[i], ' ') ? "--t" : "");
    }
}

TEST(limits_directories_devices_and_empty_files_where_files_belong) {
    char model[600], args[1200], empty[700];
    const char *dir = tiny_model(model);
    snprintf(args, sizeof args, "info -m '%s'", dir);
    expect(args, 1, "is a directory");
    expect("info -m /dev/null", 1, "not a regular file");
    snprintf(empty, sizeof empty, "%s/empty.safetensors", dir);
    FILE *f = fopen(empty, "w");
    REQUIRE(f);
    fclose(f);
    snprintf(args, sizeof args, "info -m '%s'", empty);
    expect(args, 1, "too short");
    snprintf(args, sizeof args, "convert -m '%s' -o '%s/x' --dtype f16", dir, dir);
    expect(args, 1, "is a directory");
    /* a vocabulary folder that is a file */
    snprintf(args, sizeof args, "tokenize -v '%s' -- hello", model);
    expect(args, 1, "not a folder");
    /* the output is a directory: refused before any work, nothing left behind */
    snprintf(args, sizeof args, "forward -m '%s' --ids 1 -o '%s'", model, dir);
    expect(args, 1, dir);
    CHECK_EQ_INT(hostile_temporaries(dir), 0);
}

TEST(limits_files_over_a_readers_size_limit_are_refused_unread) {
    /* a sparse 300 MB vocab.json: refused by size (256 MB) without reading it */
    const char *dir = t_tmpdir();
    char path[600], args[800];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    REQUIRE(fd >= 0);
    CHECK(ftruncate(fd, 300l << 20) == 0);
    close(fd);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    snprintf(args, sizeof args, "tokenize -v '%s' -- hello", dir);
    expect(args, 1, "limit is");
}

/* Current virtual memory size in bytes (VmSize), 0 if unknown. */
static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb << 10;
}

TEST(limits_a_file_mmap_cannot_map_is_a_clear_error) {
    /* A sparse 1 GB file, mapped in a child whose address space is capped
     * 64 MB above what it uses: mmap fails with ENOMEM. */
    const char *dir = t_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/huge.safetensors", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    REQUIRE(fd >= 0);
    CHECK(ftruncate(fd, 1l << 30) == 0);
    close(fd);
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        size_t vm = vm_size();
        struct rlimit r = {vm + (64u << 20), vm + (64u << 20)};
        if (!vm || setrlimit(RLIMIT_AS, &r) != 0) _exit(100);
        g2r_map m;
        g2r_error err = {0};
        g2r_status s = g2r_map_file(path, &m, &err);
        if (write(pipefd[1], err.msg, strlen(err.msg)) < 0) _exit(101);
        _exit(s == G2R_OK ? 102 : (int)s);
    }
    close(pipefd[1]);
    char msg[600] = {0};
    size_t got = 0;
    for (ssize_t r; got < sizeof msg - 1 && (r = read(pipefd[0], msg + got, sizeof msg - 1 - got)) > 0;) got += (size_t)r;
    close(pipefd[0]);
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), G2R_EIO);
    CHECK_CONTAINS(msg, "mmap failed");
    CHECK_CONTAINS(msg, path);
}

/* ---- the ranker: catalogs, histories, indexes and raw vectors */

/* A model with GPT-2's vocabulary (embd 8), a 3-item catalog, its index and a
 * one-event history, in a fresh folder; paths in the arrays given. */
static const char *ranker_files(char *model, char *items, char *index, char *hist) {
    const char *dir = t_tmpdir();
    char args[2400];
    snprintf(model, 600, "%s/m.safetensors", dir);
    snprintf(items, 600, "%s/items.jsonl", dir);
    snprintf(index, 600, "%s/items.g2ri", dir);
    snprintf(hist, 600, "%s/hist.jsonl", dir);
    FILE *f = fopen(items, "w");
    if (f) fputs("{\"id\":\"a\",\"text\":\"red shoes\"}\n{\"id\":\"b\",\"text\":\"a blue pan\"}\n"
                 "{\"id\":\"c\",\"text\":\"a green tent\"}\n", f), fclose(f);
    f = fopen(hist, "w");
    if (f) fputs("{\"text\":\"shoes\",\"event\":\"view\",\"ts\":1}\n", f), fclose(f);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 1 --embd 8 --heads 2 --vocab 50257 --ctx 16", model);
    if (hostile_run(args, 0, NULL, 0) != 0) t_fail(__FILE__, __LINE__, "mkmodel failed");
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s' -t 1", model, items, index);
    if (hostile_run(args, 0, NULL, 0) != 0) t_fail(__FILE__, __LINE__, "index failed");
    return dir;
}

TEST(limits_k_beyond_the_index_and_indexes_from_other_models) {
    char model[600], items[600], index[600], hist[600], args[4000], err[2048];
    const char *dir = ranker_files(model, items, index, hist);
    /* k larger than the catalog: every item, once */
    snprintf(args, sizeof args, "rank -m '%s' --index '%s' --history '%s' -k 50 -t 1 >'%s/out'", model, index, hist, dir);
    CHECK_EQ_INT(hostile_run(args, 0, err, sizeof err), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/out", dir);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char out[4096] = {0};
    CHECK(fread(out, 1, sizeof out - 1, f) > 0);
    fclose(f);
    CHECK(strstr(out, "\"rank\":3") && !strstr(out, "\"rank\":4"));
    snprintf(args, sizeof args, "rank -m '%s' --index '%s' --history '%s' -k 0", model, index, hist);
    expect(args, 2, "-k");
    /* another model (here of another width) is refused by the index's fingerprint */
    char other[700];
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 1 --embd 16 --heads 2 --vocab 50257 --ctx 16", other);
    REQUIRE(hostile_run(args, 0, NULL, 0) == 0);
    snprintf(args, sizeof args, "rank -m '%s' --index '%s' --history '%s'", other, index, hist);
    expect(args, 1, "different model");
}

TEST(limits_json_lines_longer_than_the_limit_are_refused_by_line) {
    char model[600], items[600], index[600], hist[600], args[4000];
    const char *dir = ranker_files(model, items, index, hist);
    FILE *f = fopen(items, "a");
    REQUIRE(f);
    fputs("{\"id\":\"long\",\"text\":\"", f);
    for (int i = 0; i < 100; i++) fputs("word ", f);
    fputs("\"}\n", f);
    fclose(f);
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s/x.g2ri' --max-line 100 -t 1", model, items, dir);
    expect(args, 1, ":4: line longer than 100 bytes");
    char x[700];
    snprintf(x, sizeof x, "%s/x.g2ri", dir);
    CHECK_EQ_INT(hostile_size(x), -1);
}

TEST(limits_nan_and_inf_in_raw_vectors_are_refused_by_row_and_column) {
    const char *dir = t_tmpdir();
    char items[600], queries[600], args[2000];
    snprintf(items, sizeof items, "%s/items.f32", dir);
    snprintf(queries, sizeof queries, "%s/q.f32", dir);
    float rows[2][3] = {{1, 0, 0}, {0, NAN, 0}}, q[3] = {1, 0, 0};
    FILE *f = fopen(items, "wb");
    REQUIRE(f);
    fwrite(rows, sizeof rows, 1, f);
    fclose(f);
    f = fopen(queries, "wb");
    REQUIRE(f);
    fwrite(q, sizeof q, 1, f);
    fclose(f);
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 3", items, queries);
    expect(args, 1, "row 1, column 1 is NaN");
    rows[1][1] = INFINITY;
    f = fopen(queries, "wb");
    REQUIRE(f);
    fwrite(rows, sizeof rows, 1, f);
    fclose(f);
    rows[1][1] = 0;
    f = fopen(items, "wb");
    fwrite(rows, sizeof rows, 1, f);
    fclose(f);
    expect(args, 1, "Inf");
    /* a size that is not whole rows */
    snprintf(args, sizeof args, "topk --items '%s' --queries '%s' --dim 5", items, queries);
    expect(args, 1, "not a multiple");
}

TEST(limits_a_profile_of_another_width_than_the_index_is_refused) {
    /* g2r_rank copied the profile (dim 16) into a query buffer of the index's
     * width (8): a heap overflow, now an error */
    const char *dir = t_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/dim8.g2ri", dir);
    g2r_item it[1] = {{"a", 1, "{}", 2, 0}};
    float v[8] = {1, 0, 0, 0, 0, 0, 0, 0}, e16[16] = {1};
    g2r_index_spec spec = {8, G2R_VEC_F32, G2R_POOL_MEAN, 0, NULL, 0, NULL};
    g2r_error err = {0};
    REQUIRE(g2r_index_write(path, &spec, 1, it, v, &err) == G2R_OK);
    g2r_index *ix = NULL;
    REQUIRE(g2r_index_open(path, NULL, &ix, &err) == G2R_OK);
    g2r_profile *p = NULL;
    REQUIRE(g2r_profile_new(16, NULL, &p, &err) == G2R_OK);
    g2r_event ev = {"", "x", 1, "view", NULL, 0, 1};
    CHECK(g2r_profile_add(p, &ev, e16, -1, &err) == G2R_OK);
    g2r_rank_options ro = {0};
    ro.k = 1;
    g2r_result res[1];
    int n = -1;
    CHECK(g2r_rank(ix, p, &ro, res, &n, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "profile dim 16 differs from index dim 8");
    g2r_event named = {"", "", 0, "view", "a", 0, 1};
    CHECK(g2r_profile_add_events(p, ix, NULL, NULL, &named, 1, NULL, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "dim 16 differs from index dim 8");
    g2r_profile_free(p);
    g2r_index_close(ix);
}
