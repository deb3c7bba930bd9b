/* cmd_tokenize.c — `gpt2rank tokenize`: text to a JSON array of GPT-2 token ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/fileio.h"

#define MAX_INPUT_BYTES (1ul << 30)

static void help(void) {
    printf("usage: gpt2rank tokenize [-v DIR] [--allow-special] [-f FILE | TEXT...]\n\n"
           "Prints the token ids of TEXT (words joined by single spaces), of FILE, or of\n"
           "standard input, as a JSON array on one line.\n\n"
           "  -v DIR            vocabulary folder: vocab.json+merges.txt, encoder.json+vocab.bpe\n"
           "                    or tokenizer.json (default: GPT-2's, built in)\n"
           "  --allow-special   read <|endoftext|> as the special token, not as text\n"
           "  -f FILE           encode the bytes of FILE (\"-\": standard input)\n");
}

/* Reads all of standard input into a malloc'd buffer. */
static int read_stdin(char **out, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, stdin);
        if (n < cap) break;
        if (cap >= MAX_INPUT_BYTES) {
            free(buf);
            fprintf(stderr, "gpt2rank tokenize: standard input is over %lu bytes\n", MAX_INPUT_BYTES);
            return -1;
        }
        char *b = realloc(buf, cap * 2);
        if (!b) free(buf);
        buf = b;
        cap *= 2;
    }
    if (!buf || ferror(stdin)) {
        free(buf);
        fprintf(stderr, "gpt2rank tokenize: cannot read standard input\n");
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* TEXT... joined by single spaces. */
static char *join_args(int n, char **args, size_t *len) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += strlen(args[i]) + 1;
    char *s = malloc(total + 1);
    if (!s) return NULL;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (i) s[at++] = ' ';
        size_t k = strlen(args[i]);
        memcpy(s + at, args[i], k);
        at += k;
    }
    *len = at;
    return s;
}

int cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL, *file = NULL;
    int flags = 0, first_text = argc;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help();
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-v")) {
            if (!(dir = cli_value("tokenize", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(argv[i], "-f")) {
            if (!(file = cli_value("tokenize", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(argv[i], "--allow-special")) {
            flags |= G2R_ENCODE_ALLOW_SPECIAL;
        } else if (!strcmp(argv[i], "--")) {
            first_text = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
        } else {
            first_text = i;
            break;
        }
    }
    if (file && first_text < argc) return cli_usage_error("tokenize", "give -f FILE or TEXT, not both");

    g2r_error err = {0};
    char *text = NULL;
    size_t len = 0;
    if (first_text < argc) {
        text = join_args(argc - first_text, argv + first_text, &len);
        if (!text) return fprintf(stderr, "gpt2rank tokenize: out of memory\n"), EXIT_INPUT;
    } else if (file && strcmp(file, "-")) {
        if (g2r_read_file(file, MAX_INPUT_BYTES, &text, &len, &err)) return cli_error(&err);
    } else if (read_stdin(&text, &len)) {
        return EXIT_INPUT;
    }

    g2r_tokenizer *tok = NULL;
    int *ids = NULL;
    size_t n = 0;
    int rc = EXIT_OK;
    /* Count first, then encode into an array of exactly that size. */
    if (g2r_tokenizer_load(dir, &tok, &err) || g2r_encode(tok, text, len, flags, NULL, 0, &n, &err)) {
        rc = cli_error(&err);
    } else if (!(ids = malloc((n ? n : 1) * sizeof *ids))) {
        fprintf(stderr, "gpt2rank tokenize: out of memory for %zu ids\n", n);
        rc = EXIT_INPUT;
    } else if (g2r_encode(tok, text, len, flags, ids, n, &n, &err)) {
        rc = cli_error(&err);
    } else {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("]\n");
    }
    free(ids);
    free(text);
    g2r_tokenizer_free(tok);
    return rc;
}
