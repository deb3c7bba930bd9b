/* cmd_detokenize.c — `gpt2rank detokenize`: token ids back to the text they stand for. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/fileio.h"
#include "common/json.h"

#define MAX_INPUT_BYTES (1ul << 30)

static void help(void) {
    printf("usage: gpt2rank detokenize [-v DIR] [ID... | -f FILE]\n\n"
           "Writes the bytes the token ids stand for, exactly (no newline is added).\n"
           "IDs are integers, or one JSON array as `gpt2rank tokenize` prints; FILE holds\n"
           "a JSON array or ids separated by white space or commas (\"-\": standard input).\n\n"
           "  -v DIR   vocabulary folder (default: GPT-2's, built in)\n"
           "  -f FILE  read the ids from FILE\n");
}

typedef struct {
    int *v;
    size_t n, cap;
} id_list;

static int push(id_list *l, long id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        int *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (int)id;
    return 0;
}

/* A JSON array of integers.  what names the input in errors. */
static int parse_json_ids(const char *s, size_t len, const char *what, id_list *l) {
    g2r_error err = {0};
    g2r_json_doc *doc;
    const g2r_json *root;
    if (g2r_json_parse(s, len, what, &doc, &root, &err)) return cli_error(&err);
    int rc = EXIT_OK;
    if (root->type != G2R_JSON_ARRAY) {
        fprintf(stderr, "gpt2rank detokenize: %s: expected a JSON array of ids\n", what);
        rc = EXIT_INPUT;
    }
    for (const g2r_json *e = rc ? NULL : root->child; e && !rc; e = e->next) {
        if (e->type != G2R_JSON_NUMBER || !e->is_int || e->i < -2147483647 || e->i > 2147483647) {
            fprintf(stderr, "gpt2rank detokenize: %s: every element must be an integer id\n", what);
            rc = EXIT_INPUT;
        } else if (push(l, (long)e->i)) {
            rc = EXIT_INPUT;
        }
    }
    g2r_json_free(doc);
    return rc;
}

/* Ids separated by white space and/or commas. */
static int parse_plain_ids(char *s, const char *what, id_list *l) {
    for (char *tok = strtok(s, " \t\r\n,"); tok; tok = strtok(NULL, " \t\r\n,")) {
        char *end;
        errno = 0;
        long v = strtol(tok, &end, 10);
        if (errno || *end || v < -2147483647 || v > 2147483647) {
            fprintf(stderr, "gpt2rank detokenize: %s: '%.40s' is not an integer id\n", what, tok);
            return EXIT_INPUT;
        }
        if (push(l, v)) return EXIT_INPUT;
    }
    return EXIT_OK;
}

static int parse_text(char *s, size_t len, const char *what, id_list *l) {
    size_t i = strspn(s, " \t\r\n");
    return i < len && s[i] == '[' ? parse_json_ids(s, len, what, l) : parse_plain_ids(s, what, l);
}

static int read_all(FILE *f, char **out, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= MAX_INPUT_BYTES) break;
        char *b = realloc(buf, 2 * cap + 1);
        if (!b) free(buf);
        buf = b;
        cap *= 2;
    }
    if (!buf || ferror(f) || n == cap) {
        free(buf);
        fprintf(stderr, "gpt2rank detokenize: cannot read standard input\n");
        return -1;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

/* Is a an option (not a negative id, which decode then reports)? */
static int is_option(const char *a) { return a[0] == '-' && a[1] && (a[1] < '0' || a[1] > '9'); }

int cmd_detokenize(int argc, char **argv) {
    const char *dir = NULL, *file = NULL;
    int n_args = 0;
    char **args = calloc((size_t)argc, sizeof *args); /* ID..., in order */
    if (!args) return EXIT_INPUT;
    for (int i = 1, options = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!options || !is_option(a)) args[n_args++] = argv[i];
        else if (!strcmp(a, "--")) options = 0;
        else if (cli_is_help(a)) {
            help();
            free(args);
            return EXIT_OK;
        } else if (!strcmp(a, "-v")) bad = !(dir = cli_value("detokenize", argc, argv, &i));
        else if (!strcmp(a, "-f")) bad = !(file = cli_value("detokenize", argc, argv, &i));
        else bad = cli_usage_error("detokenize", "unknown option '%s'", a);
        if (bad) {
            free(args);
            return EXIT_USAGE;
        }
    }
    if ((file != NULL) == (n_args > 0)) {
        free(args);
        return cli_usage_error("detokenize", file ? "give -f FILE or IDs, not both" : "give IDs or -f FILE");
    }

    id_list ids = {0};
    int rc = EXIT_OK;
    g2r_error err = {0};
    if (file) {
        char *text = NULL;
        size_t len = 0;
        if (!strcmp(file, "-") ? read_all(stdin, &text, &len) != 0
                               : g2r_read_file(file, MAX_INPUT_BYTES, &text, &len, &err) != G2R_OK)
            rc = err.msg[0] ? cli_error(&err) : EXIT_INPUT;
        else rc = parse_text(text, len, file, &ids);
        free(text);
    } else {
        for (int i = 0; i < n_args && !rc; i++) {
            char *copy = strdup(args[i]);
            rc = copy ? parse_text(copy, strlen(copy), "argument", &ids) : EXIT_INPUT;
            free(copy);
        }
    }

    g2r_tokenizer *tok = NULL;
    char *out = NULL;
    size_t n = 0;
    if (!rc) {
        if (g2r_tokenizer_load(dir, &tok, &err) || g2r_decode(tok, ids.v, ids.n, NULL, 0, &n, &err)) {
            rc = cli_error(&err);
        } else if (!(out = malloc(n ? n : 1))) {
            fprintf(stderr, "gpt2rank detokenize: out of memory\n");
            rc = EXIT_INPUT;
        } else if (g2r_decode(tok, ids.v, ids.n, out, n, &n, &err)) {
            rc = cli_error(&err);
        } else if (fwrite(out, 1, n, stdout) != n || fflush(stdout)) {
            fprintf(stderr, "gpt2rank detokenize: cannot write the text\n");
            rc = EXIT_INPUT;
        }
    }
    free(out);
    free(args);
    free(ids.v);
    g2r_tokenizer_free(tok);
    return rc;
}
