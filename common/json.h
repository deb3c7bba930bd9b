/* json.h — a small strict JSON (RFC 8259) parser into a tree, and a string escaper.
 *
 * Strict: one value, optional surrounding whitespace, strings must be valid
 * UTF-8, no lone surrogates in \u escapes, nesting at most G2R_JSON_MAX_DEPTH.
 * All nodes live in one arena freed by g2r_json_free. */
#ifndef G2R_JSON_H
#define G2R_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gpt2rank.h"

#define G2R_JSON_MAX_DEPTH 64

typedef enum {
    G2R_JSON_NULL,
    G2R_JSON_BOOL,
    G2R_JSON_NUMBER,
    G2R_JSON_STRING,
    G2R_JSON_ARRAY,
    G2R_JSON_OBJECT,
} g2r_json_type;

typedef struct g2r_json g2r_json;
struct g2r_json {
    g2r_json_type type;
    int boolean;
    double num;
    int is_int;          /* number written without fraction/exponent and fits int64 */
    int64_t i;           /* its exact value when is_int */
    const char *str;     /* STRING: unescaped, NUL-terminated (len excludes the NUL) */
    size_t len;
    const char *key;     /* member of an OBJECT: its key, unescaped */
    size_t key_len;
    g2r_json *child;     /* ARRAY/OBJECT: first element or member */
    g2r_json *next;      /* next sibling */
    size_t n;            /* ARRAY/OBJECT: number of children */
};

typedef struct g2r_json_doc g2r_json_doc;

/* Parses len bytes.  On error returns G2R_EFORMAT with "what: at byte N: problem"
 * where what names the input (a file name, "request", ...). */
g2r_status g2r_json_parse(const char *text, size_t len, const char *what, g2r_json_doc **doc,
                          const g2r_json **root, g2r_error *err);
void g2r_json_free(g2r_json_doc *doc);

/* First member of obj named key (NULL if absent or obj is not an object). */
const g2r_json *g2r_json_get(const g2r_json *obj, const char *key);

/* Writes s as a JSON string literal with quotes; non-UTF-8 bytes become U+FFFD. */
void g2r_json_write_string(FILE *f, const char *s, size_t len);

/* Writes v back as compact JSON (numbers: integers exactly, others %.17g). */
void g2r_json_write_value(FILE *f, const g2r_json *v);

#endif
