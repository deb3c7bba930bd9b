/* history.c — user events from JSON Lines: {"text","event","ts","item"?,"weight"?,"user"?}. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ranker/jsonl.h"

struct g2r_history {
    g2r_event *ev;
    size_t n, cap;
};

void g2r_history_free(g2r_history *h) {
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) {
        free((char *)h->ev[i].user);
        free((char *)h->ev[i].text);
        free((char *)h->ev[i].type);
        free((char *)h->ev[i].item);
    }
    free(h->ev);
    free(h);
}

size_t g2r_history_len(const g2r_history *h) { return h->n; }
const g2r_event *g2r_history_events(const g2r_history *h) { return h->ev; }

/* An optional string member: NULL when absent; -1 when present but not a string. */
static int get_str(const g2r_json *o, const char *key, const g2r_json **out) {
    *out = g2r_json_get(o, key);
    if (*out && (*out)->type != G2R_JSON_STRING) return -1;
    return 0;
}

static g2r_status parse_event(const g2r_jsonl *r, const g2r_json *o, g2r_event *e, g2r_error *err) {
    const char *p = r->path;
    size_t ln = r->line_no;
    memset(e, 0, sizeof *e);
    if (o->type != G2R_JSON_OBJECT) return g2r_fail(err, G2R_EFORMAT, "%s:%zu: expected a JSON object", p, ln);
    const g2r_json *text, *type, *item, *user, *ts = g2r_json_get(o, "ts"), *w = g2r_json_get(o, "weight");
    if (get_str(o, "text", &text) || get_str(o, "event", &type) || get_str(o, "item", &item) || get_str(o, "user", &user))
        return g2r_fail(err, G2R_EFORMAT, "%s:%zu: \"text\", \"event\", \"item\" and \"user\" must be strings", p, ln);
    if (!text && !item) return g2r_fail(err, G2R_EFORMAT, "%s:%zu: an event needs \"text\" or \"item\"", p, ln);
    if (item && item->len == 0) return g2r_fail(err, G2R_EFORMAT, "%s:%zu: empty \"item\"", p, ln);
    if (ts && (ts->type != G2R_JSON_NUMBER || !isfinite(ts->num)))
        return g2r_fail(err, G2R_EFORMAT, "%s:%zu: \"ts\" must be a number (seconds)", p, ln);
    if (w && (w->type != G2R_JSON_NUMBER || !(w->num >= 0) || !isfinite(w->num)))
        return g2r_fail(err, G2R_EFORMAT, "%s:%zu: \"weight\" must be a non-negative number", p, ln);
    e->user = g2r_dup_n(user ? user->str : "", user ? user->len : 0);
    e->text = g2r_dup_n(text ? text->str : "", text ? text->len : 0);
    e->text_len = text ? text->len : 0;
    e->type = g2r_dup_n(type ? type->str : "view", type ? type->len : 4);
    e->item = item ? g2r_dup_n(item->str, item->len) : NULL;
    e->ts = ts ? ts->num : 0;
    e->weight = w ? w->num : 1;
    if (!e->user || !e->text || !e->type || (item && !e->item)) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", p);
    return G2R_OK;
}

g2r_status g2r_history_load(const char *path, size_t max_line, g2r_history **out, g2r_error *err) {
    *out = NULL;
    g2r_history *h = calloc(1, sizeof *h);
    if (!h) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    g2r_jsonl r;
    g2r_status st = g2r_jsonl_open(&r, path, max_line, err);
    if (st) {
        free(h);
        return st;
    }
    for (;;) {
        g2r_json_doc *doc;
        const g2r_json *root;
        int got = g2r_jsonl_next(&r, &doc, &root, err);
        if (got <= 0) {
            st = got == 0 ? G2R_OK : err ? err->status : G2R_EFORMAT;
            break;
        }
        if (h->n == h->cap) {
            size_t cap = h->cap ? 2 * h->cap : 16;
            g2r_event *ev = realloc(h->ev, cap * sizeof *ev);
            if (!ev) {
                g2r_json_free(doc);
                st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
                break;
            }
            h->ev = ev;
            h->cap = cap;
        }
        st = parse_event(&r, root, &h->ev[h->n], err);
        h->n++; /* partially filled events are freed with the rest */
        g2r_json_free(doc);
        if (st) break;
    }
    g2r_jsonl_close(&r);
    if (st) {
        g2r_history_free(h);
        return st;
    }
    *out = h;
    return G2R_OK;
}
