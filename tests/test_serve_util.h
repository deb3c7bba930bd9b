/* test_serve_util.h — for the serve tests: a tiny model and catalog on disk,
 * a `gpt2rank serve` child process, and line-by-line reading with a timeout. */
#ifndef G2R_TEST_SERVE_UTIL_H
#define G2R_TEST_SERVE_UTIL_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    char dir[400], model[512], items[512], index[512], state[512];
} serve_files;

/* Writes a tiny model (GPT-2 vocabulary), items.jsonl and items.g2ri into a
 * fresh directory; 0 on success (after a test failure otherwise). */
int serve_files_make(serve_files *f);

typedef struct {
    pid_t pid;
    int in, out, err; /* its stdin (we write), stdout and stderr (we read) */
    char buf[1 << 16];
    size_t len;
    int buf_fd; /* the fd buf's bytes came from */
} child;

/* Starts `gpt2rank serve -m MODEL --index INDEX` plus the NULL-terminated extra args. */
int child_start(child *c, const serve_files *f, const char *const *extra);
/* Writes all of s to its stdin; 0 on success. */
int child_send(child *c, const char *s);
/* Reads one line from fd (buffered in c) into line (without the newline);
 * returns its length, or -1 on EOF or after timeout_ms. */
int read_line(child *c, int fd, char *line, size_t cap, int timeout_ms);
/* Closes stdin, waits (killing it after timeout_ms); returns the exit status or -1. */
int child_finish(child *c, int timeout_ms);

#endif
