/* jsonl.h — reading JSON Lines with a line-length limit, and writing JSON values back. */
#ifndef G2R_JSONL_H
#define G2R_JSONL_H

#include <stddef.h>
#include <stdio.h>

#include "common/json.h"

#define G2R_JSONL_DEFAULT_MAX_LINE ((size_t)1 << 20)

typedef struct {
    FILE *f;
    char *path;
    char *buf;
    size_t max_line;
    size_t line_no; /* of the line last returned */
} g2r_jsonl;

g2r_status g2r_jsonl_open(g2r_jsonl *r, const char *path, size_t max_line, g2r_error *err);
/* Next non-blank line parsed as JSON: 1 with doc and root set (free doc), 0 at
 * the end, -1 on an error ("path:LINE: problem"; a line over max_line bytes is
 * refused without reading it all into memory). */
int g2r_jsonl_next(g2r_jsonl *r, g2r_json_doc **doc, const g2r_json **root, g2r_error *err);
void g2r_jsonl_close(g2r_jsonl *r);
/* Calls fn on each line of path in turn (r gives the path and line number for
 * messages) until one returns an error; returns that error, or a read error. */
typedef g2r_status (*g2r_jsonl_fn)(void *ctx, const g2r_jsonl *r, const g2r_json *line, g2r_error *err);
g2r_status g2r_jsonl_each(const char *path, size_t max_line, g2r_jsonl_fn fn, void *ctx, g2r_error *err);

/* A malloc'd, NUL-terminated copy of n bytes of s (JSON strings may hold NULs: n, not strlen). */
char *g2r_dup_n(const char *s, size_t n);

#endif
