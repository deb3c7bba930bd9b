/* serve_state.c — what survives a crash: the append-only event log and the
 * embedding snapshot (formats in ranker/serve.h).
 *
 * An event line goes to the log in one write(2) on an O_APPEND descriptor
 * before the event is answered, so once answered it is in the kernel's page
 * cache and survives kill -9 whatever the fsync mode; fsync guards against
 * losing the machine.  A crash can leave at most a torn last line, which was
 * never answered: opening the log cuts it off. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "ranker/serve.h"

#define LOG_NAME "events.log"
#define SNAP_NAME "vectors.snap"
static const char SNAP_MAGIC[8] = {'G', '2', 'R', 'S', 'N', 'A', 'P', '1'};

struct g2r_elog {
    char *path;
    int fd;
    g2r_fsync_mode mode;
    pthread_mutex_t mu;      /* appends */
    pthread_mutex_t sync_mu; /* one fsync at a time */
    uint64_t appended, synced;
    uint64_t gen;            /* from the header line {"gen":N}; 0 without one */
};

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Cuts the file after its last newline (a torn line was never answered). */
static g2r_status cut_torn_tail(int fd, const char *path, g2r_error *err) {
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0) return g2r_fail(err, G2R_EIO, "%s: %s", path, strerror(errno));
    off_t end = size;
    char buf[4096];
    while (end > 0) {
        off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t got = pread(fd, buf, (size_t)(end - from), from);
        if (got != end - from) return g2r_fail(err, G2R_EIO, "%s: read failed", path);
        ssize_t i = got;
        while (i > 0 && buf[i - 1] != '\n') i--;
        if (i > 0) {
            end = from + i;
            break;
        }
        end = from;
    }
    if (end != size && ftruncate(fd, end)) return g2r_fail(err, G2R_EIO, "%s: %s", path, strerror(errno));
    return G2R_OK;
}

g2r_status g2r_elog_open(const char *dir, g2r_fsync_mode mode, g2r_elog **out, g2r_error *err) {
    *out = NULL;
    if (mkdir(dir, 0755) && errno != EEXIST) return g2r_fail(err, G2R_EIO, "%s: %s", dir, strerror(errno));
    g2r_elog *l = calloc(1, sizeof *l);
    if (!l || !(l->path = join(dir, LOG_NAME))) {
        free(l);
        return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    }
    l->mode = mode;
    l->fd = open(l->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    g2r_status st = l->fd < 0 ? g2r_fail(err, G2R_EIO, "%s: %s", l->path, strerror(errno)) : G2R_OK;
    if (!st) st = cut_torn_tail(l->fd, l->path, err);
    if (!st) {
        char head[40] = {0};
        if (pread(l->fd, head, sizeof head - 1, 0) > 0 && !strncmp(head, "{\"gen\":", 7))
            l->gen = strtoull(head + 7, NULL, 10);
    }
    if (st) {
        if (l->fd >= 0) close(l->fd);
        free(l->path);
        free(l);
        return st;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->sync_mu, NULL);
    *out = l;
    return G2R_OK;
}

void g2r_elog_close(g2r_elog *l) {
    if (!l) return;
    fsync(l->fd);
    close(l->fd);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->sync_mu);
    free(l->path);
    free(l);
}

uint64_t g2r_elog_gen(const g2r_elog *l) { return l->gen; }

g2r_status g2r_elog_reset(g2r_elog *l, uint64_t gen, g2r_error *err) {
    char head[40];
    int n = snprintf(head, sizeof head, "{\"gen\":%llu}\n", (unsigned long long)gen);
    pthread_mutex_lock(&l->sync_mu); /* no fsync of the old descriptor meanwhile */
    pthread_mutex_lock(&l->mu);
    g2r_atomic a;
    g2r_status st = g2r_atomic_open(&a, l->path, err);
    if (!st) st = g2r_atomic_write(&a, head, (size_t)n, err);
    if (!st) st = g2r_atomic_commit(&a, err); /* the new log is in place, the old one gone */
    else if (a.f) g2r_atomic_abort(&a);
    int fd = st ? -1 : open(l->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (!st && fd < 0) st = g2r_fail(err, G2R_EIO, "%s: %s", l->path, strerror(errno));
    if (!st) {
        close(l->fd);
        l->fd = fd;
        l->gen = gen;
        l->synced = l->appended; /* everything before is in the snapshot */
    }
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_unlock(&l->sync_mu);
    return st;
}

uint64_t g2r_elog_size(g2r_elog *l) {
    pthread_mutex_lock(&l->mu);
    off_t end = lseek(l->fd, 0, SEEK_END);
    pthread_mutex_unlock(&l->mu);
    return end > 0 ? (uint64_t)end : 0;
}

g2r_status g2r_elog_replay(g2r_elog *l, uint64_t from,
                           g2r_status (*fn)(void *user, const char *line, size_t len, g2r_error *err), void *user,
                           g2r_error *err) {
    FILE *f = fopen(l->path, "rb");
    if (!f) return g2r_fail(err, G2R_EIO, "%s: %s", l->path, strerror(errno));
    if (fseeko(f, (off_t)from, SEEK_SET)) {
        fclose(f);
        return g2r_fail(err, G2R_EIO, "%s: cannot seek to %llu", l->path, (unsigned long long)from);
    }
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t n;
    g2r_status st = G2R_OK;
    while (!st && (n = getline(&line, &cap, f)) > 0) {
        no++;
        if (line[n - 1] == '\n') line[--n] = 0;
        st = fn(user, line, (size_t)n, err);
        if (st && err) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            g2r_fail(err, st, "%s:%zu: %.300s", l->path, no, msg);
        }
    }
    free(line);
    fclose(f);
    return st;
}

g2r_status g2r_elog_append(g2r_elog *l, const char *line, size_t len, g2r_error *err) {
    char small[4096], *buf = len + 1 <= sizeof small ? small : malloc(len + 1);
    if (!buf) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    memcpy(buf, line, len);
    buf[len] = '\n';
    g2r_status st = G2R_OK;
    pthread_mutex_lock(&l->mu);
    size_t done = 0;
    while (done < len + 1) {
        ssize_t w = write(l->fd, buf + done, len + 1 - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = g2r_fail(err, G2R_EIO, "%s: %s", l->path, strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    if (!st) l->appended++;
    pthread_mutex_unlock(&l->mu);
    if (buf != small) free(buf);
    if (!st && l->mode == G2R_FSYNC_ALWAYS) st = g2r_elog_sync(l, err);
    return st;
}

g2r_status g2r_elog_sync(g2r_elog *l, g2r_error *err) {
    if (l->mode == G2R_FSYNC_NEVER) return G2R_OK;
    pthread_mutex_lock(&l->sync_mu);
    pthread_mutex_lock(&l->mu);
    uint64_t upto = l->appended;
    pthread_mutex_unlock(&l->mu);
    g2r_status st = G2R_OK;
    if (l->synced < upto) { /* callers waiting here share one fsync */
        if (fdatasync(l->fd)) st = g2r_fail(err, G2R_EIO, "%s: fsync: %s", l->path, strerror(errno));
        else l->synced = upto;
    }
    pthread_mutex_unlock(&l->sync_mu);
    return st;
}

/* ---- vectors.snap: magic, u32 dim, u64 count, then count x (u64 key, dim f32), little-endian host */

typedef struct {
    g2r_atomic *a;
    int dim;
    g2r_error *err;
    g2r_status st;
} snap_writer;

static void write_entry(void *user, uint64_t key, const float *vec) {
    snap_writer *w = user;
    if (w->st) return;
    w->st = g2r_atomic_write(w->a, &key, sizeof key, w->err);
    if (!w->st) w->st = g2r_atomic_write(w->a, vec, sizeof(float) * (size_t)w->dim, w->err);
}

g2r_status g2r_snapshot_write(const char *dir, const g2r_ecache *c, int dim, g2r_error *err) {
    char *path = join(dir, SNAP_NAME);
    if (!path) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    g2r_atomic a;
    g2r_status st = g2r_atomic_open(&a, path, err);
    uint32_t d = (uint32_t)dim;
    uint64_t n = g2r_ecache_len(c);
    if (!st) st = g2r_atomic_write(&a, SNAP_MAGIC, sizeof SNAP_MAGIC, err);
    if (!st) st = g2r_atomic_write(&a, &d, sizeof d, err);
    if (!st) st = g2r_atomic_write(&a, &n, sizeof n, err);
    if (!st) {
        snap_writer w = {&a, dim, err, G2R_OK};
        g2r_ecache_each(c, write_entry, &w);
        st = w.st;
    }
    if (!st) st = g2r_atomic_commit(&a, err);
    else if (a.f) g2r_atomic_abort(&a);
    free(path);
    return st;
}

g2r_status g2r_snapshot_load(const char *dir, g2r_ecache *c, int dim, g2r_error *err) {
    char *path = join(dir, SNAP_NAME);
    if (!path) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    g2r_status st = G2R_OK;
    if (access(path, F_OK) == 0) {
        g2r_map m;
        st = g2r_map_file(path, &m, err);
        if (!st) {
            const unsigned char *p = m.data;
            size_t rec = 8 + sizeof(float) * (size_t)dim;
            uint32_t d = 0;
            uint64_t n = 0;
            if (m.size >= 20) memcpy(&d, p + 8, 4), memcpy(&n, p + 12, 8);
            if (m.size < 20 || memcmp(p, SNAP_MAGIC, 8) || d != (uint32_t)dim || n > (m.size - 20) / rec ||
                m.size != 20 + n * rec) {
                st = g2r_fail(err, G2R_EFORMAT, "%s: not a snapshot of %d-float vectors (or truncated)", path, dim);
            } else {
                float *v = malloc(sizeof(float) * (size_t)dim);
                if (!v) st = g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
                for (uint64_t i = 0; v && i < n; i++) {
                    uint64_t key;
                    memcpy(&key, p + 20 + i * rec, 8);
                    memcpy(v, p + 28 + i * rec, sizeof(float) * (size_t)dim); /* unaligned: copy */
                    g2r_ecache_put(c, key, v);
                }
                free(v);
            }
            g2r_unmap(&m);
        }
    }
    free(path);
    return st;
}
