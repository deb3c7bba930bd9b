/* test_tokenizer_cli.c — `gpt2rank tokenize` and `gpt2rank detokenize`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/harness.h"

/* Runs `gpt2rank ARGS` through the shell, with input (if not NULL) on stdin;
 * stdout into out, stderr into err_out (each NUL-terminated, cut at cap);
 * returns the exit status. */
static int run_in(const char *input, const char *args, char *out, size_t cap, char *err_out, size_t err_cap) {
    char errfile[600], infile[600], cmd[8192];
    const char *dir = t_tmpdir();
    snprintf(errfile, sizeof errfile, "%s/stderr", dir);
    snprintf(infile, sizeof infile, "%s/stdin", dir);
    if (input) {
        FILE *f = fopen(infile, "w");
        fputs(input, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "%s %s 2>%s %s%s", t_bin(), args, errfile, input ? "<" : "", input ? infile : "");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    FILE *e = fopen(errfile, "r");
    n = e ? fread(err_out, 1, err_cap - 1, e) : 0;
    err_out[n] = 0;
    if (e) fclose(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *args, char *out, size_t cap, char *err_out, size_t err_cap) {
    return run_in(NULL, args, out, cap, err_out, err_cap);
}

TEST(cli_tokenize_prints_ids_as_json) {
    char out[4096], err[1024];
    CHECK_EQ_INT(run("tokenize hello", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "[31373]\n"));
    CHECK_EQ_INT(run("tokenize Hello world", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "[15496,995]\n"));
    CHECK_EQ_INT(run("tokenize ''", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "[]\n"));
    CHECK_EQ_INT(run("tokenize '<|endoftext|>'", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "[50256]\n") != 0);
    CHECK_EQ_INT(run("tokenize --allow-special 'a<|endoftext|>'", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "[64,50256]\n"));
    CHECK_EQ_INT(run_in("", "tokenize", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "[]\n"));
}

TEST(cli_tokenize_reads_a_file) {
    char out[1 << 16], err[1024], args[1024];
    snprintf(args, sizeof args, "tokenize -f %s/tokenizer/corpus/special.txt --allow-special", t_data_dir());
    CHECK_EQ_INT(run(args, out, sizeof out, err, sizeof err), 0);
    CHECK(strstr(out, "15496,50256,10603") != NULL); /* Hello<|endoftext|>World */
    snprintf(args, sizeof args, "tokenize -v %s/tokenizer/corpus hi", t_data_dir());
    CHECK_EQ_INT(run(args, out, sizeof out, err, sizeof err), 1);
    CHECK_CONTAINS(err, "tokenizer.json");
    CHECK_EQ_INT(run("tokenize -f /nonexistent.txt", out, sizeof out, err, sizeof err), 1);
    CHECK_CONTAINS(err, "/nonexistent.txt");
    CHECK_EQ_INT(run("tokenize --bogus", out, sizeof out, err, sizeof err), 2);
    CHECK_EQ_INT(run("tokenize -f", out, sizeof out, err, sizeof err), 2);
}

TEST(cli_detokenize_prints_text) {
    char out[4096], err[1024];
    CHECK_EQ_INT(run("detokenize 15496 995", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "Hello world"));
    CHECK_EQ_INT(run("detokenize '[15496,995]'", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "Hello world"));
    CHECK_EQ_INT(run_in("[15496, 995, 50256]", "detokenize -f -", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "Hello world<|endoftext|>"));
    CHECK_EQ_INT(run_in("15496 995,\n 50256", "detokenize -f -", out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "Hello world<|endoftext|>"));
    /* tokenize's output is detokenize's input */
    char args[4200];
    CHECK_EQ_INT(run("tokenize 'h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c' '\t!'", out, sizeof out, err, sizeof err), 0);
    out[strcspn(out, "\n")] = 0;
    snprintf(args, sizeof args, "detokenize '%s'", out);
    CHECK_EQ_INT(run(args, out, sizeof out, err, sizeof err), 0);
    CHECK(!strcmp(out, "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \t!"));
}

TEST(cli_detokenize_rejects_bad_ids) {
    char out[4096], err[1024];
    CHECK_EQ_INT(run("detokenize 15496 50257", out, sizeof out, err, sizeof err), 1);
    CHECK_CONTAINS(err, "50257");
    CHECK(out[0] == 0); /* no partial output */
    CHECK_EQ_INT(run("detokenize 12x", out, sizeof out, err, sizeof err), 1);
    CHECK_CONTAINS(err, "12x");
    CHECK_EQ_INT(run("detokenize", out, sizeof out, err, sizeof err), 2);
    CHECK_EQ_INT(run_in("[1, \"a\"]", "detokenize -f -", out, sizeof out, err, sizeof err), 1);
    CHECK_CONTAINS(err, "integer");
}
