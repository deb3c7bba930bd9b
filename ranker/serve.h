/* serve.h — the parts of `gpt2rank serve` (ranker/serve_*.c).
 *
 * Protocol: JSON Lines, one request object per line, one answer line each, in
 * order.  Every answer carries the request's "req" member when it has one.
 *   {"op":"event","user":"u1","text":"...","event":"view","ts":1732780800,"item":"id"?,"weight":1?}
 *       -> {"ok":true,"user":"u1","events":N,"cached":BOOL}  (N: the user's events)
 *   {"op":"rank","user":"u1","k":10,"rerank":0,"alpha":A?,"mmr":0,"exclude_seen":false,"explain":false}
 *       -> the object of `gpt2rank rank` ({"results":[...],"timing_ms":{...}})
 *   {"op":"add_item","id":"...","text":"...",...}  other members are kept as metadata
 *       -> {"ok":true,"id":"...","items":N}    (an existing id is replaced)
 *   {"op":"remove_item","id":"..."} -> {"ok":true,"id":"...","items":N}
 *   {"op":"save"}  -> {"ok":true,"items":N}: the index file rewritten atomically
 *   {"op":"stats"} -> {"users","items","events","cache":{...},"latency_ms":{OP:{"n","p50","p99"}}}
 * A line that is not such a request gets {"error":"..."}; a line longer than
 * max_line gets {"error":"line over N bytes"} and is skipped without being
 * held in memory; the connection stays open either way.
 *
 * Concurrency: one thread per TCP connection.  state_mu guards the catalog,
 * users, cache and log; model_mu serialises the model (embedding an event or
 * an item, re-ranking) so index scans and cache hits never wait for a forward
 * pass of another request.
 *
 * Persistence (--state DIR): DIR/events.log gets each event, add_item and
 * remove_item as one JSON line (one write(2), so kill -9 cannot lose an
 * answered request) before the answer; fsync per --fsync.  Every
 * snapshot_every events, on save and at shutdown, under the state lock, a
 * snapshot replaces the log (each step atomic, in this order):
 *   1. DIR/vectors.snap (the embedding cache: any version is right);
 *   2. the catalog, when changed, to INDEX.next;
 *   3. DIR/profiles.snap: every user's profile and recent events, the event
 *      count, the identity (inode, size, mtime) of the index file it belongs
 *      to (INDEX.next when written) and the log generation G+1 it starts;
 *   4. INDEX.next renamed over INDEX (rename keeps the identity);
 *   5. a fresh events.log holding only {"gen":G+1} renamed over the old one.
 * Step 3 is the commit.  At start: an INDEX.next that profiles.snap names is
 * renamed into place (crash after 3), any other is deleted (crash before 3);
 * then a snapshot of the index file there is loaded, and the log is replayed
 * when its generation is the snapshot's, or dropped (replaced by a fresh one)
 * when older (crash after 3, before 5): so each request is applied once.
 * Without a matching snapshot the whole log is replayed on the index file.
 * A torn last line (never answered) is cut off first.  A failure after step 3
 * stops all further writes (restart to recover). */
#ifndef G2R_RANKER_SERVE_H
#define G2R_RANKER_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "gpt2rank.h"

/* ---- LRU embedding cache, keyed by a 64-bit hash of the text (serve_cache.c) */

typedef struct g2r_ecache g2r_ecache;

/* Room for as many dim-float vectors as fit in bytes (at least 1). */
g2r_status g2r_ecache_new(int dim, size_t bytes, g2r_ecache **out, g2r_error *err);
void g2r_ecache_free(g2r_ecache *c);
/* 1 and the vector copied to out (now most recent) when key is cached, else 0. */
int g2r_ecache_get(g2r_ecache *c, uint64_t key, float *out);
/* Inserts or refreshes key, evicting the least recently used entry when full. */
void g2r_ecache_put(g2r_ecache *c, uint64_t key, const float *vec);
size_t g2r_ecache_len(const g2r_ecache *c);
size_t g2r_ecache_cap(const g2r_ecache *c);
/* Calls fn on every entry, least recent first (for snapshots). */
void g2r_ecache_each(const g2r_ecache *c, void (*fn)(void *user, uint64_t key, const float *vec), void *user);

/* ---- the live item catalog: the index file plus items added and removed since (serve_catalog.c)
 *
 * Rows: 0..n_base-1 are the index file's rows, then added items in order.
 * Rows never move while the server runs (profiles remember seen rows), so a
 * removed item's row is only marked; save writes the live items to the file. */

typedef struct g2r_catalog g2r_catalog;

g2r_status g2r_catalog_open(const char *path, const g2r_index_options *io, g2r_catalog **out, g2r_error *err);
void g2r_catalog_close(g2r_catalog *c);
g2r_index *g2r_catalog_index(g2r_catalog *c);
int g2r_catalog_dim(const g2r_catalog *c);
size_t g2r_catalog_live(const g2r_catalog *c);
int g2r_catalog_dirty(const g2r_catalog *c);
const char *g2r_catalog_path(const g2r_catalog *c);
/* Where row is in the index file as last written (-1: not there), for snapshots. */
int64_t g2r_catalog_file_row(const g2r_catalog *c, int64_t row);
/* Live row of id, or -1. */
int64_t g2r_catalog_find(const g2r_catalog *c, const char *id, size_t len);
void g2r_catalog_vector(const g2r_catalog *c, int64_t row, float *out);
void g2r_catalog_id(const g2r_catalog *c, int64_t row, const char **id, size_t *len);
/* The row's text (NULL when unknown: an index item without --items). */
const char *g2r_catalog_text(const g2r_catalog *c, int64_t row, size_t *len);
/* Reads item texts from JSON Lines {"id","text"} for the index's rows. */
g2r_status g2r_catalog_load_texts(g2r_catalog *c, const char *items_path, size_t max_line, g2r_error *err);
/* Adds (or replaces) an item with its unit, post-processed vector. */
g2r_status g2r_catalog_add(g2r_catalog *c, const char *id, size_t id_len, const char *text, size_t text_len,
                           const char *meta, size_t meta_len, const float *vec, g2r_error *err);
/* 1 when id was live and is now removed, 0 when it was not there. */
int g2r_catalog_remove(g2r_catalog *c, const char *id, size_t len);
/* g2r_rank over the live items. */
g2r_status g2r_catalog_rank(g2r_catalog *c, const g2r_profile *p, const g2r_rank_options *o, g2r_result *out,
                            int *n_out, g2r_error *err);
/* Rewrites the index file atomically with the live items. */
g2r_status g2r_catalog_save(g2r_catalog *c, g2r_error *err);
/* The same to another file (atomically); rows then count as the new file's. */
g2r_status g2r_catalog_save_as(g2r_catalog *c, const char *path, g2r_error *err);
/* Marks the catalog unsaved (a file written by save_as was dropped). */
void g2r_catalog_mark_dirty(g2r_catalog *c);

/* ---- event log and snapshots (serve_state.c) */

typedef struct g2r_elog g2r_elog;

/* Opens (creating) dir/events.log for appending, cutting a torn last line and
 * reading its generation from a first line {"gen":N} (0 without one). */
g2r_status g2r_elog_open(const char *dir, g2r_fsync_mode mode, g2r_elog **out, g2r_error *err);
void g2r_elog_close(g2r_elog *l);
/* Calls fn on each complete line of the log from byte offset from, in order. */
g2r_status g2r_elog_replay(g2r_elog *l, uint64_t from,
                           g2r_status (*fn)(void *user, const char *line, size_t len, g2r_error *err), void *user,
                           g2r_error *err);
uint64_t g2r_elog_gen(const g2r_elog *l);
/* Replaces the log atomically with one holding only {"gen":gen} (compaction). */
g2r_status g2r_elog_reset(g2r_elog *l, uint64_t gen, g2r_error *err);
/* Bytes in the log (every line appended so far). */
uint64_t g2r_elog_size(g2r_elog *l);
/* Appends one line (a newline is added) in one write; fsyncs when mode is always. */
g2r_status g2r_elog_append(g2r_elog *l, const char *line, size_t len, g2r_error *err);
/* fsyncs everything appended so far (once for many callers). */
g2r_status g2r_elog_sync(g2r_elog *l, g2r_error *err);
/* Writes dir/vectors.snap atomically from the cache / loads it into the cache (absent: nothing). */
/* Profile snapshots are written and read by the server (serve_ops.c): dir/profiles.snap. */
g2r_status g2r_snapshot_write(const char *dir, const g2r_ecache *c, int dim, g2r_error *err);
g2r_status g2r_snapshot_load(const char *dir, g2r_ecache *c, int dim, g2r_error *err);

/* ---- the server (serve_ops.c) and its loops (serve_net.c) */

/* Tests only: snapshot() stops after step N (1-4 above) as if killed. */
extern int g2r_serve_crash_after;

#define G2R_SERVE_RECENT 8   /* events per user kept for re-rank prompts */
#define G2R_LAT_RING 4096    /* latencies kept per op for percentiles */

enum { OP_EVENT, OP_RANK, OP_ADD, OP_REMOVE, OP_SAVE, OP_STATS, OP_COUNT };

typedef struct {
    char *type, *text;       /* copies */
    size_t text_len;
} g2r_recent;

typedef struct {
    char *id;
    g2r_profile *profile;
    g2r_recent recent[G2R_SERVE_RECENT]; /* ring, oldest at head when full */
    int n_recent, head;
    size_t n_events;
} g2r_user;

struct g2r_server {
    g2r_model *m;
    const g2r_tokenizer *tok;
    g2r_serve_options o;
    int dim;
    g2r_pooling pooling;     /* the index's: events are embedded like its items */
    pthread_mutex_t state_mu, model_mu, stats_mu;
    g2r_catalog *cat;
    g2r_ecache *cache;
    g2r_elog *log;           /* NULL without a state dir */
    g2r_user **users;        /* open addressing by hash of id */
    size_t n_users, cap_users;
    size_t n_events, since_snapshot;
    uint64_t hits, misses;
    double lat[OP_COUNT][G2R_LAT_RING];
    uint64_t n_lat[OP_COUNT];
    int opened;              /* g2r_server_open succeeded: close may save */
    int broken;              /* a snapshot failed after its commit: no more writes */
    int stop_pipe[2];        /* written by g2r_server_stop */
    atomic_int stopping;     /* set by g2r_server_stop (from a signal handler too) */
};

#endif
