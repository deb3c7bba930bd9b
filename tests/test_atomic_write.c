/* test_atomic_write.c — every file gpt2rank writes appears whole or not at
 * all: a writer that fails half way (the file size limit, RLIMIT_FSIZE, set
 * in the child process) exits 1 naming the file, leaves an old file at the
 * path byte for byte as it was, and leaves no temporary behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "tests/harness.h"
#include "tests/test_hostile_util.h"

#define SMALL "--layers 1 --embd 8 --heads 2 --vocab 16 --ctx 4"
#define BIG "--layers 2 --embd 32 --heads 2 --vocab 64 --ctx 16" /* ~ 120 KB */

/* Runs ARGS (which write out) under a size limit of fsize bytes, with and
 * without an old file at out: each time exit 1, a message naming out, the old
 * file intact (or no file), no temporary. */
static void check_interrupted_write(const char *dir, const char *args, const char *out, long fsize) {
    char err[1024], old[600];
    snprintf(old, sizeof old, "%s/old.copy", dir);
    for (int with_old = 0; with_old < 2; with_old++) {
        remove(out);
        if (with_old) {
            char a[1200];
            snprintf(a, sizeof a, "mkmodel -o '%s' " SMALL " --seed 7", out);
            REQUIRE(hostile_run(a, 0, NULL, 0) == 0);
            snprintf(a, sizeof a, "mkmodel -o '%s' " SMALL " --seed 7", old);
            REQUIRE(hostile_run(a, 0, NULL, 0) == 0);
            REQUIRE(hostile_same_file(out, old));
        }
        CHECK_EQ_INT(hostile_run(args, fsize, err, sizeof err), 1);
        CHECK_CONTAINS(err, out);
        CHECK(!strchr(err, '\n') || strchr(err, '\n') == err + strlen(err) - 1); /* one line */
        if (with_old) CHECK(hostile_same_file(out, old));
        else CHECK(hostile_size(out) == -1);
        CHECK_EQ_INT(hostile_temporaries(dir), 0);
    }
}

TEST(atomic_mkmodel_cut_short_keeps_the_old_file) {
    const char *dir = t_tmpdir();
    char out[600], args[1200];
    snprintf(out, sizeof out, "%s/model.safetensors", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' " BIG, out);
    check_interrupted_write(dir, args, out, 8192);   /* fails in the data */
    check_interrupted_write(dir, args, out, 100);    /* fails in the header */
    /* the same command without the limit works: the limit was the cause */
    CHECK_EQ_INT(hostile_run(args, 0, NULL, 0), 0);
    CHECK(hostile_size(out) > 100000);
}

TEST(atomic_convert_cut_short_keeps_the_old_file) {
    const char *dir = t_tmpdir();
    char in[600], out[600], args[1400];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' " BIG, in);
    REQUIRE(hostile_run(args, 0, NULL, 0) == 0);
    const char *dtypes[] = {"f16", "q8", "f32"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "convert -m '%s' -o '%s' --dtype %s --group 8", in, out, dtypes[i]);
        check_interrupted_write(dir, args, out, 16384);
        remove(out);
        CHECK_EQ_INT(hostile_run(args, 0, NULL, 0), 0);
    }
}

TEST(atomic_forward_dump_cut_short_keeps_the_old_file) {
    const char *dir = t_tmpdir();
    char model[600], out[600], args[1400];
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(out, sizeof out, "%s/logits.f32", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' " BIG, model);
    REQUIRE(hostile_run(args, 0, NULL, 0) == 0);
    /* 12 positions x 64 logits x 4 bytes = 3072 bytes, limited to 1000 */
    snprintf(args, sizeof args, "forward -m '%s' --ids 1,2,3,4,5,6,7,8,9,10,11,12 --dump logits -o '%s'", model, out);
    check_interrupted_write(dir, args, out, 1000);
    CHECK_EQ_INT(hostile_run(args, 0, NULL, 0), 0);
    CHECK_EQ_INT(hostile_size(out), 3072);
}

TEST(atomic_writing_to_a_fifo_or_device_writes_in_place) {
    /* Renaming a temporary over /dev/null would replace the device with a
     * regular file (as root it did).  A FIFO stands in for the device here:
     * the output must flow through it and the FIFO must stay a FIFO. */
    const char *dir = t_tmpdir();
    char model[600], fifo[600], copy[600], cmd[4096];
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(fifo, sizeof fifo, "%s/out.fifo", dir);
    snprintf(copy, sizeof copy, "%s/copy", dir);
    snprintf(cmd, sizeof cmd, "mkmodel -o '%s' " SMALL, model);
    REQUIRE(hostile_run(cmd, 0, NULL, 0) == 0);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    /* timeout: without the fix cat would wait on the replaced FIFO for ever */
    snprintf(cmd, sizeof cmd, "timeout 20 cat '%s' >'%s' & '%s' forward -m '%s' --ids 1,2 -o '%s'; rc=$?; wait; exit $rc", fifo,
             copy, t_bin(), model, fifo);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    struct stat st;
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK_EQ_INT(hostile_size(copy), 2 * 16 * 4); /* two positions of 16 logits */
    CHECK_EQ_INT(hostile_temporaries(dir), 0);
}

TEST(atomic_open_refuses_a_directory_before_any_work) {
    const char *dir = t_tmpdir();
    g2r_atomic a;
    g2r_error err = {0};
    CHECK(g2r_atomic_open(&a, dir, &err) == G2R_EIO);
    CHECK_CONTAINS(err.msg, "is a directory");
    CHECK_EQ_INT(hostile_temporaries(dir), 0);
}

TEST(atomic_index_cut_short_keeps_the_old_index) {
    const char *dir = t_tmpdir();
    char model[600], items[600], out[600], old[600], args[2400], err[1024];
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(items, sizeof items, "%s/items.jsonl", dir);
    snprintf(out, sizeof out, "%s/items.g2ri", dir);
    snprintf(old, sizeof old, "%s/old.g2ri", dir);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 1 --embd 64 --heads 2 --vocab 50257 --ctx 16", model);
    REQUIRE(hostile_run(args, 0, NULL, 0) == 0);
    FILE *f = fopen(items, "w");
    REQUIRE(f);
    for (int i = 0; i < 40; i++) fprintf(f, "{\"id\":\"item%d\",\"text\":\"thing number %d\"}\n", i, i);
    fclose(f);
    /* the old index: the first 40 items; then a bigger one, cut short at 4 KB */
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s' -t 1", model, items, out);
    REQUIRE(hostile_run(args, 0, NULL, 0) == 0);
    snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s' -t 1", model, items, old);
    REQUIRE(hostile_run(args, 0, NULL, 0) == 0);
    REQUIRE(hostile_size(out) > 8192);
    f = fopen(items, "a");
    REQUIRE(f);
    fputs("{\"id\":\"new\",\"text\":\"one more\"}\n", f);
    fclose(f);
    const char *modes[] = {"", "--dtype q8", "--append"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "index -m '%s' -i '%s' -o '%s' -t 1 %s", model, items, out, modes[i]);
        CHECK_EQ_INT(hostile_run(args, 4096, err, sizeof err), 1);
        CHECK_CONTAINS(err, out);
        CHECK(hostile_same_file(out, old));
        CHECK_EQ_INT(hostile_temporaries(dir), 0);
    }
    CHECK_EQ_INT(hostile_run(args, 0, NULL, 0), 0);
    CHECK(!hostile_same_file(out, old));
}
