/* serve_ops.c — the server's state and its requests: event, rank, add_item,
 * remove_item, save, stats (protocol and locking in ranker/serve.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/json.h"
#include "ranker/hash.h"
#include "ranker/jsonl.h"
#include "ranker/profile_internal.h"
#include "ranker/rerank.h"
#include "ranker/serve.h"

static const char *op_names[OP_COUNT] = {"event", "rank", "add_item", "remove_item", "save", "stats"};

void g2r_serve_options_default(g2r_serve_options *o) {
    memset(o, 0, sizeof *o);
    o->alpha = 0.5;
    g2r_profile_params_default(&o->profile);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ---- users: open addressing by hash of the id, at most half full */

static g2r_user *find_user(const g2r_server *s, const char *id, size_t len) {
    if (!s->cap_users) return NULL;
    size_t mask = s->cap_users - 1;
    for (size_t h = g2r_xxh64(id, len, 1) & mask; s->users[h]; h = (h + 1) & mask)
        if (strlen(s->users[h]->id) == len && !memcmp(s->users[h]->id, id, len)) return s->users[h];
    return NULL;
}

static void place_user(g2r_user **table, size_t cap, g2r_user *u) {
    size_t h = g2r_xxh64(u->id, strlen(u->id), 1) & (cap - 1);
    while (table[h]) h = (h + 1) & (cap - 1);
    table[h] = u;
}

static void free_user(g2r_user *u) {
    if (!u) return;
    for (int i = 0; i < G2R_SERVE_RECENT; i++) free(u->recent[i].type), free(u->recent[i].text);
    g2r_profile_free(u->profile);
    free(u->id);
    free(u);
}

static g2r_status get_user(g2r_server *s, const char *id, size_t len, g2r_user **out, g2r_error *err) {
    if ((*out = find_user(s, id, len))) return G2R_OK;
    if (2 * (s->n_users + 1) > s->cap_users) {
        size_t cap = s->cap_users ? 2 * s->cap_users : 64;
        g2r_user **t = calloc(cap, sizeof *t);
        if (!t) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
        for (size_t i = 0; i < s->cap_users; i++)
            if (s->users[i]) place_user(t, cap, s->users[i]);
        free(s->users);
        s->users = t;
        s->cap_users = cap;
    }
    g2r_user *u = calloc(1, sizeof *u);
    if (!u || !(u->id = g2r_dup_n(id, len))) {
        free(u);
        return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    }
    g2r_status st = g2r_profile_new(s->dim, &s->o.profile, &u->profile, err);
    if (st) {
        free_user(u);
        return st;
    }
    place_user(s->users, s->cap_users, u);
    s->n_users++;
    *out = u;
    return G2R_OK;
}

/* The user's recent events, oldest first, for the re-rank prompt. */
static int recent_events(const g2r_user *u, g2r_event *ev) {
    for (int i = 0; i < u->n_recent; i++) {
        const g2r_recent *r = &u->recent[(u->head + i) % G2R_SERVE_RECENT];
        ev[i] = (g2r_event){u->id, r->text ? r->text : "", r->text ? r->text_len : 0, r->type ? r->type : "view",
                            NULL, 0, 1};
    }
    return u->n_recent;
}

static void push_recent(g2r_user *u, const char *type, const char *text, size_t text_len) {
    int slot = (u->head + u->n_recent) % G2R_SERVE_RECENT;
    if (u->n_recent == G2R_SERVE_RECENT) u->head = (u->head + 1) % G2R_SERVE_RECENT;
    else u->n_recent++;
    g2r_recent *r = &u->recent[slot];
    free(r->type), free(r->text);
    r->type = strdup(type);
    r->text = g2r_dup_n(text, text_len);
    r->text_len = r->text ? text_len : 0;
}

/* ---- profile snapshots: DIR/profiles.snap
 *
 * Written atomically under state_mu (so it matches the log exactly): magic,
 * the index file's identity (inode, size, mtime: rows are its rows), the log
 * generation that follows it, the event count, then each user: id, event
 * count, recent events for prompts, profile (ranker/profile.c).  The steps
 * of a snapshot and of recovery are in ranker/serve.h. */

static const char PSNAP_MAGIC[8] = {'G', '2', 'R', 'P', 'S', 'N', 'P', '2'};
int g2r_serve_crash_after;

static int index_identity(const char *path, uint64_t id[4]) {
    struct stat st;
    if (stat(path, &st)) return -1;
    id[0] = (uint64_t)st.st_ino, id[1] = (uint64_t)st.st_size;
    id[2] = (uint64_t)st.st_mtim.tv_sec, id[3] = (uint64_t)st.st_mtim.tv_nsec;
    return 0;
}

static char *join2(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", a, b);
    return p;
}

static char *psnap_path(const g2r_server *s) { return join2(s->o.state_dir, "/profiles.snap"); }

static int64_t to_file_row(void *user, int64_t row) { return g2r_catalog_file_row(user, row); }

static int put_str(FILE *f, const char *str, size_t n) {
    uint32_t len = (uint32_t)n;
    return fwrite(&len, sizeof len, 1, f) == 1 && fwrite(str, 1, n, f) == n ? 0 : -1;
}

static g2r_status write_profiles(g2r_server *s, uint64_t gen, const char *index, g2r_error *err) {
    char *path = psnap_path(s);
    if (!path) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    uint64_t head[8] = {0};
    g2r_status st = index_identity(index, head) ? g2r_fail(err, G2R_EIO, "%s: cannot stat", index) : G2R_OK;
    head[4] = gen, head[5] = s->n_events, head[6] = s->n_users;
    g2r_atomic a;
    if (!st) st = g2r_atomic_open(&a, path, err);
    if (!st) {
        int bad = fwrite(PSNAP_MAGIC, 8, 1, a.f) != 1 || fwrite(head, sizeof head, 1, a.f) != 1;
        for (size_t i = 0; !bad && i < s->cap_users; i++) {
            const g2r_user *u = s->users[i];
            if (!u) continue;
            uint64_t n_events = u->n_events;
            int32_t n_recent = u->n_recent;
            bad = put_str(a.f, u->id, strlen(u->id)) || fwrite(&n_events, sizeof n_events, 1, a.f) != 1 ||
                  fwrite(&n_recent, sizeof n_recent, 1, a.f) != 1;
            for (int r = 0; !bad && r < u->n_recent; r++) {
                const g2r_recent *e = &u->recent[(u->head + r) % G2R_SERVE_RECENT];
                bad = put_str(a.f, e->type ? e->type : "view", e->type ? strlen(e->type) : 4) ||
                      put_str(a.f, e->text ? e->text : "", e->text ? e->text_len : 0);
            }
            if (!bad) bad = g2r_profile_write(u->profile, a.f, to_file_row, s->cat);
        }
        if (bad || ferror(a.f)) {
            g2r_atomic_abort(&a);
            st = g2r_fail(err, G2R_EIO, "%s: write failed", path);
        } else {
            st = g2r_atomic_commit(&a, err);
        }
    }
    free(path);
    return st;
}

/* A snapshot that replaces the log, under state_mu: steps 1-5 of ranker/serve.h. */
static g2r_status snapshot(g2r_server *s, g2r_error *err) {
    s->since_snapshot = 0;
    if (s->broken) return g2r_fail(err, G2R_EIO, "serve: an earlier snapshot failed half-way; restart the server");
    const char *index = g2r_catalog_path(s->cat);
    uint64_t gen = g2r_elog_gen(s->log) + 1;
    char *next = NULL;
    int stop = g2r_serve_crash_after;
    g2r_status st = g2r_snapshot_write(s->o.state_dir, s->cache, s->dim, err);
    if (!st && stop == 1) goto crash;
    if (!st && g2r_catalog_dirty(s->cat)) {
        next = join2(index, ".next");
        st = next ? g2r_catalog_save_as(s->cat, next, err) : g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
        if (st) free(next), next = NULL; /* written atomically: nothing there */
    }
    if (!st && stop == 2) goto crash;
    if (!st) st = write_profiles(s, gen, next ? next : index, err);
    if (st) { /* before the commit: the old snapshot and log still hold */
        if (next) unlink(next), g2r_catalog_mark_dirty(s->cat);
        free(next);
        return st;
    }
    if (stop == 3) goto crash;
    if (next && rename(next, index)) st = g2r_fail(err, G2R_EIO, "%s: rename failed", next);
    if (!st && stop == 4) goto crash;
    if (!st) st = g2r_elog_reset(s->log, gen, err);
    if (st) s->broken = 1; /* the log on disk is older than the snapshot: appends to it would be dropped */
    free(next);
    return st;
crash:
    s->broken = 1;
    free(next);
    return g2r_fail(err, G2R_EIO, "serve: test crash after snapshot step %d", stop);
}

/* An INDEX.next left by a crash during a snapshot: renamed into place when
 * profiles.snap (the commit) names it, else deleted. */
static g2r_status recover_index(const char *state_dir, const char *index, g2r_error *err) {
    char *next = join2(index, ".next"), *snap = join2(state_dir, "/profiles.snap");
    g2r_status st = next && snap ? G2R_OK : g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    uint64_t id[4];
    if (!st && !index_identity(next, id)) {
        char magic[8];
        uint64_t head[8];
        FILE *f = fopen(snap, "rb");
        int named = f && fread(magic, 8, 1, f) == 1 && !memcmp(magic, PSNAP_MAGIC, 8) &&
                    fread(head, sizeof head, 1, f) == 1 && !memcmp(head, id, sizeof id);
        if (f) fclose(f);
        if (named && rename(next, index)) st = g2r_fail(err, G2R_EIO, "%s: rename failed", next);
        if (!named) unlink(next);
    }
    free(next), free(snap);
    return st;
}

static char *get_str(FILE *f, size_t max, size_t *n) {
    uint32_t len;
    if (fread(&len, sizeof len, 1, f) != 1 || len > max) return NULL;
    char *p = malloc((size_t)len + 1);
    if (p && fread(p, 1, len, f) != len) {
        free(p);
        return NULL;
    }
    if (p) p[len] = 0, *n = len;
    return p;
}

/* Loads profiles.snap into the (empty) user table; *gen gets the log
 * generation it starts, 0 when there is none or it does not fit: replay all. */
static void load_profiles(g2r_server *s, uint64_t *gen) {
    *gen = 0;
    char *path = psnap_path(s);
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        free(path);
        return;
    }
    char magic[8];
    uint64_t head[8], id[4];
    int bad = fread(magic, 8, 1, f) != 1 || memcmp(magic, PSNAP_MAGIC, 8) || fread(head, sizeof head, 1, f) != 1 ||
              index_identity(g2r_catalog_path(s->cat), id) || memcmp(id, head, sizeof id) ||
              head[4] < g2r_elog_gen(s->log);
    g2r_error err = {0};
    for (uint64_t i = 0; !bad && i < head[6]; i++) {
        size_t len = 0;
        char *uid = get_str(f, 1 << 20, &len);
        uint64_t n_events = 0;
        int32_t n_recent = 0;
        g2r_user *u = NULL;
        bad = !uid || fread(&n_events, sizeof n_events, 1, f) != 1 || fread(&n_recent, sizeof n_recent, 1, f) != 1 ||
              n_recent < 0 || n_recent > G2R_SERVE_RECENT || get_user(s, uid, len, &u, &err);
        free(uid);
        for (int r = 0; !bad && r < n_recent; r++) {
            size_t tl = 0, xl = 0;
            char *type = get_str(f, 31, &tl), *text = get_str(f, 1 << 30, &xl);
            bad = !type || !text;
            if (!bad) push_recent(u, type, text, xl);
            free(type), free(text);
        }
        g2r_profile *p = NULL;
        if (!bad) bad = g2r_profile_read(s->dim, &s->o.profile, f, &p, &err) != G2R_OK;
        if (!bad) {
            g2r_profile_free(u->profile);
            u->profile = p;
            u->n_events = (size_t)n_events;
        }
    }
    if (!bad && fgetc(f) != EOF) bad = 1;
    fclose(f);
    if (bad) { /* start again from nothing: the log has it all */
        fprintf(stderr, "gpt2rank serve: %s does not match this index or log; replaying the whole log\n", path);
        for (size_t i = 0; i < s->cap_users; i++) free_user(s->users[i]), s->users[i] = NULL;
        s->n_users = 0;
    } else {
        *gen = head[4];
        s->n_events = (size_t)head[5];
    }
    free(path);
}

/* ---- opening and closing */

static g2r_status replay_line(void *user, const char *line, size_t len, g2r_error *err);

g2r_status g2r_server_open(g2r_model *m, const g2r_tokenizer *tok, const char *index_path,
                           const g2r_serve_options *o, g2r_server **out, g2r_error *err) {
    *out = NULL;
    g2r_server *s = calloc(1, sizeof *s);
    if (!s) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    s->m = m;
    s->tok = tok;
    s->o = *o;
    if (!s->o.max_line) s->o.max_line = (size_t)1 << 20;
    if (!s->o.cache_mb) s->o.cache_mb = 64;
    if (!s->o.snapshot_every) s->o.snapshot_every = 10000;
    if (!s->o.max_clients) s->o.max_clients = 64;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    pthread_mutex_init(&s->state_mu, NULL);
    pthread_mutex_init(&s->model_mu, NULL);
    pthread_mutex_init(&s->stats_mu, NULL);
    g2r_model_info mi;
    g2r_model_info_get(m, &mi);
    g2r_index_options io = {o->n_threads, mi.fingerprint};
    g2r_status st = o->state_dir ? recover_index(o->state_dir, index_path, err) : G2R_OK;
    if (!st) st = g2r_catalog_open(index_path, &io, &s->cat, err);
    if (!st) {
        g2r_index_info info;
        g2r_index_info_get(g2r_catalog_index(s->cat), &info);
        s->pooling = info.pooling;
        s->dim = g2r_catalog_dim(s->cat);
        if (s->dim != g2r_model_config(m).n_embd)
            st = g2r_fail(err, G2R_EFORMAT, "%s: vectors of %d floats, the model's are %d", index_path, s->dim,
                          g2r_model_config(m).n_embd);
    }
    if (!st && o->items_path) st = g2r_catalog_load_texts(s->cat, o->items_path, s->o.max_line, err);
    if (!st) st = g2r_ecache_new(s->dim, s->o.cache_mb << 20, &s->cache, err);
    if (!st && pipe(s->stop_pipe)) st = g2r_fail(err, G2R_EIO, "serve: pipe failed");
    if (!st && o->state_dir) {
        uint64_t gen = 0;
        st = g2r_snapshot_load(o->state_dir, s->cache, s->dim, err);
        if (!st) st = g2r_elog_open(o->state_dir, o->fsync, &s->log, err);
        if (!st) load_profiles(s, &gen);
        if (!st && gen > g2r_elog_gen(s->log)) st = g2r_elog_reset(s->log, gen, err); /* the snapshot holds it all */
        else if (!st) st = g2r_elog_replay(s->log, 0, replay_line, s, err);
        s->hits = s->misses = 0; /* replay is not traffic */
    }
    if (st) {
        g2r_server_close(s, NULL);
        return st;
    }
    s->opened = 1;
    *out = s;
    return G2R_OK;
}

void g2r_server_stop(g2r_server *s) {
    atomic_store(&s->stopping, 1);
    if (s->stop_pipe[1] >= 0) {
        ssize_t w = write(s->stop_pipe[1], "x", 1); /* never read: stays readable for every poller */
        (void)w;
    }
}

g2r_status g2r_server_sync(g2r_server *s, g2r_error *err) { return s->log ? g2r_elog_sync(s->log, err) : G2R_OK; }

g2r_status g2r_server_close(g2r_server *s, g2r_error *err) {
    if (!s) return G2R_OK;
    g2r_status st = G2R_OK;
    /* a server that failed to open (a bad log, say) must not cover it with a
     * snapshot; a broken one leaves the files for the next start to recover */
    if (s->opened && s->log && !s->broken) st = snapshot(s, err); /* saves the catalog too */
    else if (s->opened && !s->log && g2r_catalog_dirty(s->cat)) st = g2r_catalog_save(s->cat, err);
    g2r_elog_close(s->log);
    for (size_t i = 0; i < s->cap_users; i++) free_user(s->users[i]);
    free(s->users);
    g2r_ecache_free(s->cache);
    g2r_catalog_close(s->cat);
    if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]), close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->state_mu);
    pthread_mutex_destroy(&s->model_mu);
    pthread_mutex_destroy(&s->stats_mu);
    free(s);
    return st;
}

/* ---- request helpers */

static const g2r_json *get_typed(const g2r_json *o, const char *key, g2r_json_type t) {
    const g2r_json *v = g2r_json_get(o, key);
    return v && v->type == t ? v : NULL;
}

/* An optional member: absent is fine, present with another type is an error. */
static int bad_type(const g2r_json *o, const char *key, g2r_json_type t) {
    const g2r_json *v = g2r_json_get(o, key);
    return v && v->type != t;
}

static double num_or(const g2r_json *o, const char *key, double dflt) {
    const g2r_json *v = get_typed(o, key, G2R_JSON_NUMBER);
    return v ? v->num : dflt;
}

static int bool_or(const g2r_json *o, const char *key, int dflt) {
    const g2r_json *v = get_typed(o, key, G2R_JSON_BOOL);
    return v ? v->boolean : dflt;
}

/* ---- event */

typedef struct {
    const char *user, *text, *type, *item;
    size_t user_len, text_len, type_len, item_len;
    double ts, weight;
} event_req;

static g2r_status parse_event(const g2r_json *o, event_req *e, g2r_error *err) {
    const g2r_json *user = get_typed(o, "user", G2R_JSON_STRING), *text = get_typed(o, "text", G2R_JSON_STRING);
    const g2r_json *type = get_typed(o, "event", G2R_JSON_STRING), *item = get_typed(o, "item", G2R_JSON_STRING);
    if (!user || user->len == 0) return g2r_fail(err, G2R_EARG, "event: \"user\" must be a non-empty string");
    if (bad_type(o, "text", G2R_JSON_STRING) || bad_type(o, "event", G2R_JSON_STRING) ||
        bad_type(o, "item", G2R_JSON_STRING) || bad_type(o, "ts", G2R_JSON_NUMBER) ||
        bad_type(o, "weight", G2R_JSON_NUMBER))
        return g2r_fail(err, G2R_EARG, "event: \"text\", \"event\", \"item\" must be strings, \"ts\", \"weight\" numbers");
    if ((!text || text->len == 0) && (!item || item->len == 0))
        return g2r_fail(err, G2R_EARG, "event: needs a non-empty \"text\" or \"item\"");
    if (type && (type->len == 0 || type->len >= 32))
        return g2r_fail(err, G2R_EARG, "event: \"event\" must have 1 to 31 bytes");
    *e = (event_req){user->str, text ? text->str : "", type ? type->str : "view", item ? item->str : NULL,
                     user->len, text ? text->len : 0, type ? type->len : 4, item ? item->len : 0,
                     num_or(o, "ts", NAN), num_or(o, "weight", 1)};
    if (isnan(e->ts)) e->ts = (double)time(NULL);
    if (!isfinite(e->ts) || !(e->weight >= 0) || !isfinite(e->weight))
        return g2r_fail(err, G2R_EARG, "event: \"ts\" must be finite and \"weight\" non-negative");
    return G2R_OK;
}

/* The canonical log line of an event (ts always written, so replay is exact). */
static char *event_line(const event_req *e, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    fputs("{\"user\":", f);
    g2r_json_write_string(f, e->user, e->user_len);
    fputs(",\"event\":", f);
    g2r_json_write_string(f, e->type, e->type_len);
    fprintf(f, ",\"ts\":%.17g,\"weight\":%.17g,\"text\":", e->ts, e->weight);
    g2r_json_write_string(f, e->text, e->text_len);
    if (e->item) {
        fputs(",\"item\":", f);
        g2r_json_write_string(f, e->item, e->item_len);
    }
    fputs("}", f);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Appends a request's log line (under state_mu), unless a snapshot broke the log. */
static g2r_status log_append(g2r_server *s, const char *line, size_t len, g2r_error *err) {
    if (s->broken) return g2r_fail(err, G2R_EIO, "serve: an earlier snapshot failed half-way; restart the server");
    return g2r_elog_append(s->log, line, len, err);
}

/* Adds an event: the vector from the catalog (item), the cache or the model;
 * then logged (unless replaying) and applied to the profile.  *cached tells
 * whether no forward pass was needed. */
static g2r_status apply_event(g2r_server *s, const event_req *e, int replaying, size_t *user_events, int *cached,
                              g2r_error *err) {
    float *vec = malloc(sizeof(float) * (size_t)s->dim);
    if (!vec) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    uint64_t key = g2r_text_hash(e->text, e->text_len);
    int64_t row;
again:
    row = -1;
    pthread_mutex_lock(&s->state_mu);
    if (e->item) row = g2r_catalog_find(s->cat, e->item, e->item_len);
    int have = row >= 0;
    if (have) g2r_catalog_vector(s->cat, row, vec);
    else if (e->text_len) have = g2r_ecache_get(s->cache, key, vec);
    if (!have && e->text_len) s->misses++;
    else if (row < 0) s->hits++;
    pthread_mutex_unlock(&s->state_mu);
    *cached = have;
    g2r_status st = G2R_OK;
    if (!have && e->text_len == 0 && replaying) { /* its item was removed since: counted, nothing to add */
        free(vec);
        pthread_mutex_lock(&s->state_mu);
        s->n_events++;
        pthread_mutex_unlock(&s->state_mu);
        return G2R_OK;
    }
    if (!have && e->text_len == 0)
        st = g2r_fail(err, G2R_EARG, "event: item '%.*s' is not in the catalog and the event has no text",
                      (int)(e->item_len < 100 ? e->item_len : 100), e->item);
    if (!st && !have) { /* a forward pass, outside the state lock */
        pthread_mutex_lock(&s->model_mu);
        st = g2r_embed_texts(s->m, s->tok, s->pooling, g2r_catalog_index(s->cat), 1, &e->text, &e->text_len, vec,
                             err);
        pthread_mutex_unlock(&s->model_mu);
    }
    char *line = NULL;
    size_t len = 0;
    if (!st && !replaying && s->log && !(line = event_line(e, &len))) st = g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    if (st) {
        free(vec);
        return st;
    }
    pthread_mutex_lock(&s->state_mu);
    if (!replaying && e->item && g2r_catalog_find(s->cat, e->item, e->item_len) != row) {
        /* its item changed while we embedded: start again, so replay (in log order) sees what we saw */
        pthread_mutex_unlock(&s->state_mu);
        free(line);
        goto again;
    }
    if (!have) g2r_ecache_put(s->cache, key, vec);
    if (line) st = log_append(s, line, len, err); /* logged before it counts */
    g2r_user *u = NULL;
    if (!st) st = get_user(s, e->user, e->user_len, &u, err);
    char type[32];
    memcpy(type, e->type, e->type_len);
    type[e->type_len] = 0;
    char *item = e->item ? g2r_dup_n(e->item, e->item_len) : NULL;
    g2r_event ev = {u ? u->id : "", e->text, e->text_len, type, item, e->ts, e->weight};
    if (!st) st = g2r_profile_add(u->profile, &ev, vec, row, err);
    if (!st) {
        size_t tl = e->text_len;
        const char *t = tl ? e->text : row >= 0 ? g2r_catalog_text(s->cat, row, &tl) : NULL;
        if (t && tl) push_recent(u, type, t, tl); /* the prompt of a re-rank reads these */
        u->n_events++;
        s->n_events++;
        *user_events = u->n_events;
        if (s->log && !replaying && ++s->since_snapshot >= (size_t)s->o.snapshot_every) {
            g2r_error serr;
            if (snapshot(s, &serr)) fprintf(stderr, "gpt2rank serve: snapshot: %s\n", serr.msg);
        }
    }
    pthread_mutex_unlock(&s->state_mu);
    free(item);
    free(line);
    free(vec);
    return st;
}

static g2r_status add_item(g2r_server *s, const g2r_json *o, int replaying, size_t *live, g2r_error *err);
static g2r_status remove_item(g2r_server *s, const g2r_json *o, int replaying, size_t *live, g2r_error *err);

/* One log line: the header {"gen":N}, an item change {"op":...} or an event. */
static g2r_status replay_line(void *user, const char *line, size_t len, g2r_error *err) {
    g2r_server *s = user;
    g2r_json_doc *doc;
    const g2r_json *o, *op;
    g2r_status st = g2r_json_parse(line, len, "event log", &doc, &o, err);
    if (st) return st;
    event_req e;
    size_t n;
    int cached;
    if (o->type != G2R_JSON_OBJECT) st = g2r_fail(err, G2R_EFORMAT, "event log: not an object");
    else if ((op = get_typed(o, "op", G2R_JSON_STRING)) && !strcmp(op->str, "add_item")) st = add_item(s, o, 1, &n, err);
    else if (op && !strcmp(op->str, "remove_item")) st = remove_item(s, o, 1, &n, err);
    else if (g2r_json_get(o, "gen")) st = G2R_OK; /* after op: an item's metadata may be called gen */
    else if (!(st = parse_event(o, &e, err))) st = apply_event(s, &e, 1, &n, &cached, err);
    g2r_json_free(doc);
    return st;
}

static g2r_status op_event(g2r_server *s, const g2r_json *o, FILE *out, g2r_error *err) {
    event_req e;
    size_t n = 0;
    int cached = 0;
    g2r_status st = parse_event(o, &e, err);
    if (!st) st = apply_event(s, &e, 0, &n, &cached, err);
    if (st) return st;
    fputs("\"ok\":true,\"user\":", out);
    g2r_json_write_string(out, e.user, e.user_len);
    fprintf(out, ",\"events\":%zu,\"cached\":%s", n, cached ? "true" : "false");
    return G2R_OK;
}

/* ---- rank */

typedef struct {
    char *event, *text, *item;
} because_copy;

static g2r_status op_rank(g2r_server *s, const g2r_json *o, FILE *out, g2r_error *err) {
    const g2r_json *user = get_typed(o, "user", G2R_JSON_STRING);
    if (!user) return g2r_fail(err, G2R_EARG, "rank: \"user\" must be a string");
    double k = num_or(o, "k", 10), n_rr = num_or(o, "rerank", 0), alpha = num_or(o, "alpha", s->o.alpha);
    double mmr = num_or(o, "mmr", 0);
    if (bad_type(o, "k", G2R_JSON_NUMBER) || bad_type(o, "rerank", G2R_JSON_NUMBER) ||
        bad_type(o, "alpha", G2R_JSON_NUMBER) || bad_type(o, "mmr", G2R_JSON_NUMBER) ||
        bad_type(o, "exclude_seen", G2R_JSON_BOOL) || bad_type(o, "explain", G2R_JSON_BOOL))
        return g2r_fail(err, G2R_EARG, "rank: \"k\", \"rerank\", \"alpha\", \"mmr\" must be numbers, "
                                       "\"exclude_seen\", \"explain\" booleans");
    if (!(k >= 1 && k <= 10000 && k == floor(k))) return g2r_fail(err, G2R_EARG, "rank: \"k\" must be an integer in [1, 10000]");
    if (!(n_rr >= 0 && n_rr <= 1000 && n_rr == floor(n_rr)))
        return g2r_fail(err, G2R_EARG, "rank: \"rerank\" must be an integer in [0, 1000]");
    if (!(alpha >= 0 && alpha <= 1)) return g2r_fail(err, G2R_EARG, "rank: \"alpha\" must be in [0, 1]");
    if (!(mmr >= 0 && mmr <= 1)) return g2r_fail(err, G2R_EARG, "rank: \"mmr\" must be in [0, 1]");
    int kk = (int)k, nr = (int)n_rr, want = kk > nr ? kk : nr;
    g2r_rank_options ro = {.k = want, .exclude_seen = bool_or(o, "exclude_seen", 0), .mmr = mmr,
                           .explain = bool_or(o, "explain", 0)};
    g2r_result *res = calloc((size_t)want, sizeof *res);
    const char **ids = calloc((size_t)want, sizeof *ids), **texts = calloc((size_t)want, sizeof *texts);
    size_t *id_lens = calloc((size_t)want, sizeof *id_lens), *text_lens = calloc((size_t)want, sizeof *text_lens);
    because_copy *bc = calloc((size_t)want * G2R_MAX_BECAUSE, sizeof *bc);
    g2r_rerank_score *parts = calloc((size_t)want, sizeof *parts);
    g2r_event recent[G2R_SERVE_RECENT];
    char *prompt = NULL;
    int n = 0;
    double t0 = now_ms(), t1 = t0, t2 = t0;
    g2r_status st = G2R_OK;
    if (!res || !ids || !texts || !id_lens || !text_lens || !bc || !parts) {
        st = g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
        goto done;
    }
    pthread_mutex_lock(&s->state_mu);
    g2r_user *u = find_user(s, user->str, user->len);
    if (!u) st = g2r_fail(err, G2R_EARG, "rank: no events for user '%.100s'", user->str);
    if (!st) st = g2r_catalog_rank(s->cat, u->profile, &ro, res, &n, err);
    for (int i = 0; !st && i < n; i++) { /* ids and texts live as long as the server; explanations do not */
        g2r_catalog_id(s->cat, res[i].row, &ids[i], &id_lens[i]);
        texts[i] = g2r_catalog_text(s->cat, res[i].row, &text_lens[i]);
        if (i < nr && !texts[i])
            st = g2r_fail(err, G2R_EARG, "rank: item '%.*s' has no text to re-rank (start serve with --items)",
                          (int)(id_lens[i] < 100 ? id_lens[i] : 100), ids[i]);
        for (int b = 0; b < res[i].n_because; b++) {
            because_copy *c = &bc[i * G2R_MAX_BECAUSE + b];
            c->event = strdup(res[i].because[b].event);
            c->text = strdup(res[i].because[b].text);
            c->item = res[i].because[b].item ? strdup(res[i].because[b].item) : NULL;
            res[i].because[b].event = c->event ? c->event : "";
            res[i].because[b].text = c->text ? c->text : "";
            res[i].because[b].item = c->item;
        }
    }
    if (!st && nr > 0) st = g2r_rerank_prompt(s->o.prompt_template, recent, (size_t)recent_events(u, recent), &prompt, err);
    pthread_mutex_unlock(&s->state_mu);
    t1 = t2 = now_ms();
    if (!st && nr > 0) {
        pthread_mutex_lock(&s->model_mu);
        st = g2r_rerank(s->m, s->tok, prompt, alpha, nr, res, n, texts, text_lens, parts, NULL, err);
        pthread_mutex_unlock(&s->model_mu);
        /* the results were re-ordered: look their ids up again by row */
        pthread_mutex_lock(&s->state_mu);
        for (int i = 0; !st && i < n; i++) g2r_catalog_id(s->cat, res[i].row, &ids[i], &id_lens[i]);
        pthread_mutex_unlock(&s->state_mu);
        t2 = now_ms();
    }
    if (!st) {
        if (n > kk) n = kk;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            st = g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
            goto done;
        }
        g2r_results_write_json(f, res, n, ids, id_lens, nr > 0 ? parts : NULL, 0, t1 - t0, t2 - t1);
        fclose(f);
        /* splice the object's members after "req": drop its braces and newline */
        if (len >= 3) fwrite(buf + 1, 1, len - 3, out);
        free(buf);
    }
done:
    for (int i = 0; bc && i < want * G2R_MAX_BECAUSE; i++) free(bc[i].event), free(bc[i].text), free(bc[i].item);
    free(bc), free(res), free(ids), free(texts), free(id_lens), free(text_lens), free(parts), free(prompt);
    return st;
}

/* ---- items */

/* The members other than op, req, id and text, as a compact JSON object ("" when none). */
static char *extra_members(const g2r_json *o, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    int n = 0;
    for (const g2r_json *c = o->child; c; c = c->next) {
        if (!strcmp(c->key, "op") || !strcmp(c->key, "req") || !strcmp(c->key, "id") || !strcmp(c->key, "text"))
            continue;
        fputc(n++ ? ',' : '{', f);
        g2r_json_write_string(f, c->key, c->key_len);
        fputc(':', f);
        g2r_json_write_value(f, c);
    }
    if (n) fputc('}', f);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The log line of an item change: op, id, text and the metadata members. */
static char *item_line(const char *op, const g2r_json *id, const g2r_json *text, const char *meta, size_t meta_len,
                       size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    fprintf(f, "{\"op\":\"%s\",\"id\":", op);
    g2r_json_write_string(f, id->str, id->len);
    if (text) {
        fputs(",\"text\":", f);
        g2r_json_write_string(f, text->str, text->len);
    }
    if (meta_len > 2) fputc(',', f), fwrite(meta + 1, 1, meta_len - 2, f); /* its members, without braces */
    fputc('}', f);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* add_item: embedded outside the state lock, then logged (unless replaying) and added. */
static g2r_status add_item(g2r_server *s, const g2r_json *o, int replaying, size_t *live, g2r_error *err) {
    const g2r_json *id = get_typed(o, "id", G2R_JSON_STRING), *text = get_typed(o, "text", G2R_JSON_STRING);
    if (!id || id->len == 0 || !text || text->len == 0)
        return g2r_fail(err, G2R_EARG, "add_item: needs non-empty \"id\" and \"text\" strings");
    size_t meta_len = 0, len = 0;
    char *meta = extra_members(o, &meta_len), *line = NULL;
    float *vec = malloc(sizeof(float) * (size_t)s->dim);
    g2r_status st = meta && vec ? G2R_OK : g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    if (!st && s->log && !replaying && !(line = item_line("add_item", id, text, meta, meta_len, &len)))
        st = g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    if (!st) {
        pthread_mutex_lock(&s->model_mu);
        st = g2r_embed_texts(s->m, s->tok, s->pooling, g2r_catalog_index(s->cat), 1, &text->str, &text->len, vec, err);
        pthread_mutex_unlock(&s->model_mu);
    }
    if (!st) {
        pthread_mutex_lock(&s->state_mu);
        if (line) st = log_append(s, line, len, err); /* logged before it counts */
        if (!st) st = g2r_catalog_add(s->cat, id->str, id->len, text->str, text->len, meta, meta_len, vec, err);
        *live = g2r_catalog_live(s->cat);
        pthread_mutex_unlock(&s->state_mu);
    }
    free(line);
    free(meta);
    free(vec);
    return st;
}

/* remove_item: logged (unless replaying) when the item is there, then removed. */
static g2r_status remove_item(g2r_server *s, const g2r_json *o, int replaying, size_t *live, g2r_error *err) {
    const g2r_json *id = get_typed(o, "id", G2R_JSON_STRING);
    if (!id) return g2r_fail(err, G2R_EARG, "remove_item: needs an \"id\" string");
    size_t len = 0;
    char *line = s->log && !replaying ? item_line("remove_item", id, NULL, "", 0, &len) : NULL;
    if (s->log && !replaying && !line) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    g2r_status st = G2R_OK;
    pthread_mutex_lock(&s->state_mu);
    int r = 0;
    if (g2r_catalog_find(s->cat, id->str, id->len) < 0) {
        if (!replaying) st = g2r_fail(err, G2R_EARG, "remove_item: no item '%.100s'", id->str);
    } else {
        if (line) st = log_append(s, line, len, err);
        if (!st) r = g2r_catalog_remove(s->cat, id->str, id->len);
        if (r < 0) st = g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    }
    *live = g2r_catalog_live(s->cat);
    pthread_mutex_unlock(&s->state_mu);
    free(line);
    return st;
}

static g2r_status op_item(g2r_server *s, const g2r_json *o, int add, FILE *out, g2r_error *err) {
    size_t live = 0;
    g2r_status st = add ? add_item(s, o, 0, &live, err) : remove_item(s, o, 0, &live, err);
    if (st) return st;
    fputs("\"ok\":true,\"id\":", out);
    const g2r_json *id = g2r_json_get(o, "id");
    g2r_json_write_string(out, id->str, id->len);
    fprintf(out, ",\"items\":%zu", live);
    return G2R_OK;
}

static g2r_status op_save(g2r_server *s, FILE *out, g2r_error *err) {
    pthread_mutex_lock(&s->state_mu);
    g2r_status st = s->log ? snapshot(s, err) : g2r_catalog_save(s->cat, err); /* a snapshot saves the catalog too */
    size_t live = g2r_catalog_live(s->cat);
    pthread_mutex_unlock(&s->state_mu);
    if (!st) fprintf(out, "\"ok\":true,\"items\":%zu", live);
    return st;
}

/* ---- stats */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void op_stats(g2r_server *s, FILE *out) {
    pthread_mutex_lock(&s->state_mu);
    size_t users = s->n_users, items = g2r_catalog_live(s->cat), events = s->n_events;
    size_t len = g2r_ecache_len(s->cache), cap = g2r_ecache_cap(s->cache);
    uint64_t hits = s->hits, misses = s->misses;
    pthread_mutex_unlock(&s->state_mu);
    fprintf(out, "\"users\":%zu,\"items\":%zu,\"events\":%zu,", users, items, events);
    fprintf(out, "\"cache\":{\"entries\":%zu,\"capacity\":%zu,\"hits\":%llu,\"misses\":%llu,\"hit_rate\":%.4f},", len,
            cap, (unsigned long long)hits, (unsigned long long)misses,
            hits + misses ? (double)hits / (double)(hits + misses) : 0.0);
    fputs("\"latency_ms\":{", out);
    static double sorted[G2R_LAT_RING]; /* under stats_mu */
    pthread_mutex_lock(&s->stats_mu);
    for (int op = 0; op < OP_COUNT; op++) {
        size_t n = s->n_lat[op] < G2R_LAT_RING ? (size_t)s->n_lat[op] : G2R_LAT_RING;
        memcpy(sorted, s->lat[op], n * sizeof(double));
        qsort(sorted, n, sizeof(double), cmp_double);
        fprintf(out, "%s\"%s\":{\"n\":%llu,\"p50\":%.3f,\"p99\":%.3f}", op ? "," : "", op_names[op],
                (unsigned long long)s->n_lat[op], n ? sorted[n / 2] : 0.0, n ? sorted[(n * 99) / 100] : 0.0);
    }
    pthread_mutex_unlock(&s->stats_mu);
    fputc('}', out);
}

/* ---- one request */

void g2r_server_request(g2r_server *s, const char *line, size_t len, FILE *out) {
    double t0 = now_ms();
    g2r_error err = {0};
    g2r_json_doc *doc = NULL;
    const g2r_json *o = NULL, *req = NULL;
    int op = -1;
    g2r_status st = g2r_json_parse(line, len, "request", &doc, &o, &err);
    if (!st && o->type != G2R_JSON_OBJECT) st = g2r_fail(&err, G2R_EARG, "request: expected a JSON object");
    if (!st) {
        req = g2r_json_get(o, "req");
        const g2r_json *name = get_typed(o, "op", G2R_JSON_STRING);
        for (int i = 0; name && i < OP_COUNT; i++)
            if (!strcmp(name->str, op_names[i])) op = i;
        if (op < 0) st = g2r_fail(&err, G2R_EARG, "request: \"op\" must be one of event, rank, add_item, remove_item, save, stats");
    }
    /* the answer is built aside so a failing op leaves no partial members */
    char *body = NULL;
    size_t body_len = 0;
    FILE *b = st ? NULL : open_memstream(&body, &body_len);
    if (!st && !b) st = g2r_fail(&err, G2R_ENOMEM, "serve: out of memory");
    if (!st) {
        switch (op) {
        case OP_EVENT: st = op_event(s, o, b, &err); break;
        case OP_RANK: st = op_rank(s, o, b, &err); break;
        case OP_ADD: st = op_item(s, o, 1, b, &err); break;
        case OP_REMOVE: st = op_item(s, o, 0, b, &err); break;
        case OP_SAVE: st = op_save(s, b, &err); break;
        default: op_stats(s, b); break;
        }
    }
    if (b) fclose(b);
    fputc('{', out);
    if (req) {
        fputs("\"req\":", out);
        g2r_json_write_value(out, req);
        fputc(',', out);
    }
    if (st) {
        fputs("\"error\":", out);
        g2r_json_write_string(out, err.msg, strlen(err.msg));
    } else {
        fwrite(body, 1, body_len, out);
    }
    fputs("}\n", out);
    free(body);
    g2r_json_free(doc);
    if (op >= 0 && !st) {
        double ms = now_ms() - t0;
        pthread_mutex_lock(&s->stats_mu);
        s->lat[op][s->n_lat[op] % G2R_LAT_RING] = ms;
        s->n_lat[op]++;
        pthread_mutex_unlock(&s->stats_mu);
    }
}
