/* test_serve_util.c — see test_serve_util.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpt2rank.h"
#include "tests/harness.h"
#include "tests/test_serve_util.h"
#include "weights/gpt2_random.h"

static const char *catalog =
    "{\"id\":\"shoe1\",\"text\":\"red running shoes for the road\",\"price\":60}\n"
    "{\"id\":\"shoe2\",\"text\":\"trail running shoes with deep grip\"}\n"
    "{\"id\":\"pan\",\"text\":\"a cast iron frying pan\"}\n"
    "{\"id\":\"sock\",\"text\":\"wool hiking socks\"}\n"
    "{\"id\":\"phones\",\"text\":\"noise cancelling headphones\"}\n"
    "{\"id\":\"tent\",\"text\":\"a two person camping tent\"}\n"
    "{\"id\":\"kettle\",\"text\":\"an electric kettle\"}\n"
    "{\"id\":\"book\",\"text\":\"a novel about the sea\"}\n";

int serve_files_make(serve_files *f) {
    snprintf(f->dir, sizeof f->dir, "%s", t_tmpdir());
    snprintf(f->model, sizeof f->model, "%s/m.safetensors", f->dir);
    snprintf(f->items, sizeof f->items, "%s/items.jsonl", f->dir);
    snprintf(f->index, sizeof f->index, "%s/items.g2ri", f->dir);
    snprintf(f->state, sizeof f->state, "%s/state", f->dir);
    g2r_config cfg = {2, 2, 32, 50257, 64};
    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_tokenizer *tok = NULL;
    FILE *fp = fopen(f->items, "w");
    if (!fp || fputs(catalog, fp) < 0 || fclose(fp)) {
        t_fail(__FILE__, __LINE__, "cannot write %s", f->items);
        return -1;
    }
    g2r_options o = {.n_threads = 1};
    g2r_build_options bo = {G2R_VEC_F32, G2R_POOL_MEAN, 0, 0, 0, 0, 0};
    int rc = 0;
    if (g2r_gpt2_write_random(f->model, &cfg, G2R_DT_F32, 11, &err) || g2r_model_load(f->model, &o, &m, &err) ||
        g2r_tokenizer_load(NULL, &tok, &err) || g2r_index_build(m, tok, f->items, f->index, &bo, &err)) {
        t_fail(__FILE__, __LINE__, "serve fixture: %s", err.msg);
        rc = -1;
    }
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
    return rc;
}

int child_start(child *c, const serve_files *f, const char *const *extra) {
    int in[2], out[2], er[2];
    memset(c, 0, sizeof *c);
    if (pipe(in) || pipe(out) || pipe(er)) return -1;
    const char *argv[64] = {t_bin(), "serve", "-m", f->model, "--index", f->index, "-t", "1"};
    int n = 8;
    for (int i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    c->pid = fork();
    if (c->pid < 0) return -1;
    if (c->pid == 0) {
        dup2(in[0], 0), dup2(out[1], 1), dup2(er[1], 2);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(er[0]), close(er[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]), close(out[1]), close(er[1]);
    c->in = in[1], c->out = out[0], c->err = er[0];
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int child_send(child *c, const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(c->in, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w, n -= (size_t)w;
    }
    return 0;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The buffered bytes belong to the fd last read through c. */
int read_line(child *c, int fd, char *line, size_t cap, int timeout_ms) {
    if (fd != c->buf_fd) c->len = 0, c->buf_fd = fd;
    double end = now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            size_t k = n < cap - 1 ? n : cap - 1;
            memcpy(line, c->buf, k);
            line[k] = 0;
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return (int)k;
        }
        if (c->len == sizeof c->buf) return -1;
        int left = (int)(end - now_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) return -1;
        ssize_t got = read(fd, c->buf + c->len, sizeof c->buf - c->len);
        if (got <= 0) return -1;
        c->len += (size_t)got;
    }
}

int child_finish(child *c, int timeout_ms) {
    if (c->in >= 0) close(c->in);
    c->in = -1;
    int status = 0;
    double end = now_ms() + timeout_ms;
    while (waitpid(c->pid, &status, WNOHANG) == 0) {
        if (now_ms() > end) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            close(c->out), close(c->err);
            return -1;
        }
        usleep(2000);
    }
    close(c->out), close(c->err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
