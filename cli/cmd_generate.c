/* cmd_generate.c — `gpt2rank generate`: continue a prompt (text or token ids). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/model_args.h"

static void help(void) {
    printf("usage: gpt2rank generate -m MODEL (-p TEXT | --ids LIST) [-v DIR] [-n N] [--temp T]\n"
           "                         [--top-k K] [--top-p P] [--seed S] [--timing] [-t N] [--kernels K]\n"
           "Continues the prompt: with -p TEXT (GPT-2 BPE, or the vocabulary in -v DIR) it prints\n"
           "the generated text; with --ids LIST (comma-separated token ids) the generated ids,\n"
           "comma-separated.  Both stream as tokens come.  Stops after N new tokens (default 32; 0: until the\n"
           "context is full), at <|endoftext|> (id 50256, not printed, when the vocabulary is\n"
           "GPT-2's), or when prompt + generated fill the context.\n"
           "  --temp T    temperature (default 0: greedy)\n"
           "  --top-k K   sample among the K most likely ids (0: off)\n"
           "  --top-p P   sample among the most likely ids holding probability P (1: off)\n"
           "  --seed S    random seed (default 1)\n"
           "  --timing    print prompt and per-token times on stderr\n" CLI_MODEL_HELP);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct {
    int n;
    double t_first;            /* when the first token arrived */
    const g2r_tokenizer *tok;  /* print text when set, else ids */
} progress;

static int print_token(int id, void *user) {
    progress *p = user;
    if (p->n++ == 0) p->t_first = now_ms();
    size_t len;
    const char *bytes = p->tok ? g2r_token_bytes(p->tok, id, &len) : NULL;
    if (bytes) fwrite(bytes, 1, len, stdout); /* bytes, not characters: UTF-8 completes itself */
    else printf(p->n > 1 ? ",%d" : "%d", id);
    fflush(stdout);
    return 0;
}

/* The prompt text as token ids (malloc'd). */
static g2r_status encode_prompt(const g2r_tokenizer *tok, const char *text, int **ids, int *n, g2r_error *err) {
    size_t count;
    g2r_status st = g2r_encode(tok, text, strlen(text), 0, NULL, 0, &count, err);
    if (st) return st;
    if (count == 0) {
        snprintf(err->msg, sizeof err->msg, "generate: the prompt is empty");
        return err->status = G2R_EARG;
    }
    *ids = malloc(count * sizeof **ids);
    if (!*ids) {
        snprintf(err->msg, sizeof err->msg, "generate: out of memory");
        return err->status = G2R_ENOMEM;
    }
    st = g2r_encode(tok, text, strlen(text), 0, *ids, count, &count, err);
    *n = (int)count;
    return st;
}

int cmd_generate(int argc, char **argv) {
    const char *cmd = "generate", *v;
    cli_model_opts mo = {0};
    g2r_sampler smp = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .seed = 1, .max_new = 32};
    int *prompt = NULL, n_prompt = 0, timing = 0;
    const char *text = NULL, *vocab_dir = NULL;
    long n;
    double d;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (cli_is_help(a)) {
            help();
            free(prompt);
            return EXIT_OK;
        } else if ((r = cli_model_arg(cmd, argc, argv, &i, &mo)) != 0) {
            if (r < 0) goto usage;
        } else if (!strcmp(a, "--ids")) {
            free(prompt);
            prompt = NULL;
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_ids(cmd, a, v, &prompt, &n_prompt)) goto usage;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(text = cli_value(cmd, argc, argv, &i))) goto usage;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--vocab")) {
            if (!(vocab_dir = cli_value(cmd, argc, argv, &i))) goto usage;
        } else if (!strcmp(a, "-n")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_int(cmd, a, v, 0, 1 << 20, &n)) goto usage;
            smp.max_new = (int)n;
        } else if (!strcmp(a, "--temp")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_float(cmd, a, v, 0, 100, &d)) goto usage;
            smp.temperature = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_int(cmd, a, v, 0, 1 << 30, &n)) goto usage;
            smp.top_k = (int)n;
        } else if (!strcmp(a, "--top-p")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_float(cmd, a, v, 0, 1, &d)) goto usage;
            smp.top_p = (float)d;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || cli_u64(cmd, a, v, &smp.seed)) goto usage;
        } else if (!strcmp(a, "--timing")) {
            timing = 1;
        } else {
            cli_usage_error(cmd, "unknown option '%s'", a);
            goto usage;
        }
    }
    if (!mo.path) {
        cli_usage_error(cmd, "-m MODEL is required");
        goto usage;
    }
    if (!prompt == !text) {
        cli_usage_error(cmd, "give exactly one of -p TEXT and --ids LIST");
        goto usage;
    }

    g2r_error err = {0};
    g2r_tokenizer *tok = NULL;
    if (text) {
        if (g2r_tokenizer_load(vocab_dir, &tok, &err) || encode_prompt(tok, text, &prompt, &n_prompt, &err)) {
            g2r_tokenizer_free(tok);
            free(prompt);
            return cli_error(&err);
        }
    }
    g2r_model *m;
    double t_load = now_ms();
    if (g2r_model_load(mo.path, &mo.opt, &m, &err)) {
        g2r_tokenizer_free(tok);
        free(prompt);
        return cli_error(&err);
    }
    progress p = {.tok = tok};
    double t0 = now_ms();
    g2r_status st = g2r_generate(m, prompt, n_prompt, &smp, NULL, 0, NULL, print_token, &p, &err);
    double t1 = now_ms();
    printf("\n");
    fflush(stdout);
    if (st == G2R_OK && timing) {
        g2r_model_info in;
        g2r_model_info_get(m, &in);
        fprintf(stderr, "generate: load %.1f ms; prompt %d tokens + first token %.1f ms; %d more tokens in %.1f ms",
                t0 - t_load, n_prompt, (p.n ? p.t_first : t1) - t0, p.n > 1 ? p.n - 1 : 0,
                p.n ? t1 - p.t_first : 0.0);
        if (p.n > 1) fprintf(stderr, " (%.1f ms/token, %.2f tokens/s)", (t1 - p.t_first) / (p.n - 1),
                             (p.n - 1) / ((t1 - p.t_first) / 1e3));
        fprintf(stderr, "; %s kernels, %d threads\n", in.kernels, in.n_threads);
    }
    g2r_model_free(m);
    g2r_tokenizer_free(tok);
    free(prompt);
    if (st != G2R_OK) return cli_error(&err);
    return EXIT_OK;
usage:
    free(prompt);
    return EXIT_USAGE;
}
