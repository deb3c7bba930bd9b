/* test_limits.c — limits and hostile surroundings, end to end: each is a
 * clear one-line error and the right exit status (1 bad input, 2 usage), never
 * a crash.  Token counts past n_ctx, ids outside the vocabulary, NaN/Inf
 * arguments, a directory or a device where a file is expected, an empty file,
 * a file over a reader's size limit, and a file mmap cannot map. */
#include <fcntl.h>
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
