/* jsonl.c — JSON Lines reader (bounded lines) and a compact JSON writer. */
#include "ranker/jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

g2r_status g2r_jsonl_open(g2r_jsonl *r, const char *path, size_t max_line, g2r_error *err) {
    memset(r, 0, sizeof *r);
    r->max_line = max_line ? max_line : G2R_JSONL_DEFAULT_MAX_LINE;
    r->f = fopen(path, "rb");
    if (!r->f) return g2r_fail(err, G2R_EIO, "%s: cannot open: %s", path, strerror(errno));
    r->path = strdup(path);
    r->buf = malloc(r->max_line + 1);
    if (!r->path || !r->buf) {
        g2r_jsonl_close(r);
        return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    }
    return G2R_OK;
}

void g2r_jsonl_close(g2r_jsonl *r) {
    if (r->f) fclose(r->f);
    free(r->path);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

g2r_status g2r_jsonl_each(const char *path, size_t max_line, g2r_jsonl_fn fn, void *ctx, g2r_error *err) {
    g2r_jsonl r;
    g2r_status st = g2r_jsonl_open(&r, path, max_line, err);
    if (st) return st;
    for (;;) {
        g2r_json_doc *doc;
        const g2r_json *o;
        int got = g2r_jsonl_next(&r, &doc, &o, err);
        if (got <= 0) {
            st = got == 0 ? G2R_OK : err ? err->status : G2R_EFORMAT;
            break;
        }
        st = fn(ctx, &r, o, err);
        g2r_json_free(doc);
        if (st) break;
    }
    g2r_jsonl_close(&r);
    return st;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

int g2r_jsonl_next(g2r_jsonl *r, g2r_json_doc **doc, const g2r_json **root, g2r_error *err) {
    for (;;) {
        size_t n = 0;
        int c;
        while ((c = getc(r->f)) != EOF && c != '\n') {
            if (n == r->max_line) {
                g2r_fail(err, G2R_EFORMAT, "%s:%zu: line longer than %zu bytes", r->path, r->line_no + 1, r->max_line);
                return -1;
            }
            r->buf[n++] = (char)c;
        }
        if (ferror(r->f)) {
            g2r_fail(err, G2R_EIO, "%s: read failed: %s", r->path, strerror(errno));
            return -1;
        }
        if (c == EOF && n == 0) return 0;
        r->line_no++;
        if (blank(r->buf, n)) {
            if (c == EOF) return 0;
            continue;
        }
        char what[600];
        snprintf(what, sizeof what, "%s:%zu", r->path, r->line_no);
        if (g2r_json_parse(r->buf, n, what, doc, root, err)) return -1;
        return 1;
    }
}

char *g2r_dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}
