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
    int flags = 0, n_text = 0;
    char **words = calloc((size_t)argc, sizeof *words); /* TEXT..., in order */
    if (!words) return EXIT_INPUT;
    /* Options may come anywhere before "--"; everything else is text. */
    for (int i = 1, options = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!options || a[0] != '-' || !a[1]) words[n_text++] = argv[i];
        else if (!strcmp(a, "--")) options = 0;
        else if (cli_is_help(a)) {
            help();
            free(words);
            return EXIT_OK;
        } else if (!strcmp(a, "-v")) bad = !(dir = cli_value("tokenize", argc, argv, &i));
        else if (!strcmp(a, "-f")) bad = !(file = cli_value("tokenize", argc, argv, &i));
        else if (!strcmp(a, "--allow-special")) flags |= G2R_ENCODE_ALLOW_SPECIAL;
        else bad = cli_usage_error("tokenize", "unknown option '%s' (text starting with '-' goes after --)", a);
        if (bad) {
            free(words);
            return EXIT_USAGE;
        }
    }
    if (file && n_text) {
        free(words);
        return cli_usage_error("tokenize", "give -f FILE or TEXT, not both");
    }

    g2r_error err = {0};
    char *text = NULL;
    size_t len = 0;
    int rc = EXIT_OK;
    if (n_text) {
        text = join_args(n_text, words, &len);
        if (!text) {
            fprintf(stderr, "gpt2rank tokenize: out of memory\n");
            rc = EXIT_INPUT;
        }
    } else if (file && strcmp(file, "-")) {
        if (g2r_read_file(file, MAX_INPUT_BYTES, &text, &len, &err)) rc = cli_error(&err);
    } else if (read_stdin(&text, &len)) {
        rc = EXIT_INPUT;
    }
    free(words);
    if (rc) return rc;

    g2r_tokenizer *tok = NULL;
    int *ids = NULL;
    size_t n = 0;
    /* Every token has at least one byte, so len ids always suffice. */
    if (g2r_tokenizer_load(dir, &tok, &err)) {
        rc = cli_error(&err);
    } else if (!(ids = malloc((len + 1) * sizeof *ids))) {
        fprintf(stderr, "gpt2rank tokenize: out of memory for %zu ids\n", len);
        rc = EXIT_INPUT;
    } else if (g2r_encode(tok, text, len, flags, ids, len + 1, &n, &err)) {
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
