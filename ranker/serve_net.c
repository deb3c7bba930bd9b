/* serve_net.c — the serve loops: JSON Lines over a pair of descriptors
 * (stdin/stdout) or over TCP, one thread per connection.
 *
 * Each connection reads into a buffer of max_line + 1 bytes; every complete
 * line in it is answered, then (after one fsync of the event log for the whole
 * batch) the answers are sent together.  A buffer that fills up without a
 * newline holds a line over max_line: it is answered with an error and the
 * rest of that line is skipped as it arrives, never held in memory. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "ranker/serve.h"

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK) w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Answers the complete lines in buf[0..*len) into out, keeping a partial last line. */
static void answer_lines(g2r_server *s, char *buf, size_t *len, int *skipping, FILE *out) {
    size_t start = 0;
    for (;;) {
        char *nl = memchr(buf + start, '\n', *len - start);
        if (!nl) break;
        size_t end = (size_t)(nl - buf), n = end - start;
        if (n > 0 && buf[end - 1] == '\r') n--;
        if (*skipping) {
            *skipping = 0; /* the end of an oversized line */
        } else {
            size_t i = 0;
            while (i < n && (buf[start + i] == ' ' || buf[start + i] == '\t')) i++;
            if (i < n) g2r_server_request(s, buf + start, n, out); /* blank lines get no answer */
        }
        start = end + 1;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
}

static g2r_status serve_conn(g2r_server *s, int in, int out_fd, g2r_error *err) {
    size_t cap = s->o.max_line + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory for a %zu-byte line buffer", cap);
    int skipping = 0, eof = 0;
    g2r_status st = G2R_OK;
    while (!eof && !atomic_load(&s->stopping)) {
        struct pollfd p[2] = {{in, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            st = g2r_fail(err, G2R_EIO, "serve: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents) break;
        ssize_t got = read(in, buf + len, cap - len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got <= 0) {
            eof = 1;
            if (len > 0 && !skipping) buf[len++] = '\n'; /* a last line without its newline */
        } else {
            len += (size_t)got;
        }
        char *ans = NULL;
        size_t ans_len = 0;
        FILE *out = open_memstream(&ans, &ans_len);
        if (!out) {
            st = g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
            break;
        }
        answer_lines(s, buf, &len, &skipping, out);
        if (len == cap) { /* full and no newline: a line over max_line */
            if (!skipping)
                fprintf(out, "{\"error\":\"line over %zu bytes: refused\"}\n", s->o.max_line);
            skipping = 1;
            len = 0;
        }
        fclose(out);
        g2r_error serr = {0};
        if (ans_len && g2r_server_sync(s, &serr)) { /* events are on disk before they are answered */
            free(ans);
            st = g2r_fail(err, serr.status, "%s", serr.msg);
            break;
        }
        int wrote = ans_len ? write_all(out_fd, ans, ans_len) : 0;
        free(ans);
        if (wrote) break; /* the peer went away */
    }
    free(buf);
    return st;
}

g2r_status g2r_serve_fd(g2r_server *s, int in_fd, int out_fd, g2r_error *err) {
    return serve_conn(s, in_fd, out_fd, err);
}

/* ---- TCP */

typedef struct conn {
    g2r_server *s;
    int fd;
    pthread_t th;
    volatile int done;
    struct conn *next;
} conn;

static void *conn_main(void *arg) {
    conn *c = arg;
    g2r_error err = {0};
    if (serve_conn(c->s, c->fd, c->fd, &err)) fprintf(stderr, "gpt2rank serve: connection: %s\n", err.msg);
    shutdown(c->fd, SHUT_RDWR);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Joins finished connections (all of them when all is set); returns how many remain. */
static int reap(conn **list, int all) {
    int left = 0;
    for (conn **p = list; *p;) {
        conn *c = *p;
        if (all || __atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
            pthread_join(c->th, NULL);
            close(c->fd);
            *p = c->next;
            free(c);
        } else {
            left++;
            p = &c->next;
        }
    }
    return left;
}

static g2r_status parse_addr(const char *addr, struct sockaddr_in *sa, g2r_error *err) {
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(addr, ':'), *port = colon ? colon + 1 : addr;
    if (colon) {
        size_t n = (size_t)(colon - addr);
        if (n == 0 || n >= sizeof host) return g2r_fail(err, G2R_EARG, "serve: bad listen address '%s'", addr);
        memcpy(host, addr, n);
        host[n] = 0;
    }
    char *end;
    long p = strtol(port, &end, 10);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)p);
    if (*port == 0 || *end || p < 0 || p > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return g2r_fail(err, G2R_EARG, "serve: listen address '%s' is not IPv4-ADDRESS:PORT", addr);
    return G2R_OK;
}

g2r_status g2r_serve_tcp(g2r_server *s, const char *addr, void (*on_listen)(const char *bound, void *user),
                         void *user, g2r_error *err) {
    struct sockaddr_in sa;
    g2r_status st = parse_addr(addr, &sa, err);
    if (st) return st;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (lfd < 0) return g2r_fail(err, G2R_EIO, "serve: socket: %s", strerror(errno));
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t sl = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 128) || getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
        st = g2r_fail(err, G2R_EIO, "serve: cannot listen on %s: %s", addr, strerror(errno));
        close(lfd);
        return st;
    }
    char bound[64], ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
    snprintf(bound, sizeof bound, "%s:%d", ip, ntohs(sa.sin_port));
    if (on_listen) on_listen(bound, user);
    conn *list = NULL;
    while (!atomic_load(&s->stopping)) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            st = g2r_fail(err, G2R_EIO, "serve: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents) break;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue; /* e.g. the client already left */
        if (reap(&list, 0) >= s->o.max_clients) {
            static const char busy[] = "{\"error\":\"too many connections\"}\n";
            write_all(fd, busy, sizeof busy - 1);
            close(fd);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        *c = (conn){s, fd, 0, 0, list};
        if (pthread_create(&c->th, NULL, conn_main, c)) {
            close(fd);
            free(c);
            continue;
        }
        list = c;
    }
    close(lfd);
    g2r_server_stop(s); /* also when poll failed: the connections must end */
    reap(&list, 1); /* every connection sees the stop pipe and ends after its batch */
    return st;
}
