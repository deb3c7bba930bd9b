/* test_cli_util.h — for the tests that run the gpt2rank binary: running it
 * with its output in files, and reading and writing small files. */
#ifndef G2R_TEST_CLI_UTIL_H
#define G2R_TEST_CLI_UTIL_H

/* Runs `gpt2rank ARGS` through the shell, stdout to out_path and stderr to
 * err_path (each /dev/null when NULL); returns the exit status (-1: killed). */
int t_run(const char *args, const char *out_path, const char *err_path);

/* The first 64 KiB of path as a string ("" when it cannot be read), in a
 * static buffer that the next call overwrites. */
char *t_slurp(const char *path);

/* Writes s to path (no newline added). */
void t_write_text(const char *path, const char *s);

#endif
