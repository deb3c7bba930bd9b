/* main.c — `gpt2rank <command> ...`: find the subcommand and run it. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

/* One line per subcommand; keep in the order of the data flow. */
static const command commands[] = {
    {"version", cmd_version, "print the version"},
    {"info", cmd_info, "print a model's configuration, size, kernels and fingerprint"},
    {"mkmodel", cmd_mkmodel, "write a GPT-2 model of random weights"},
    {"convert", cmd_convert, "convert a model's weights to f32, f16, bf16 or q8"},
    {"cache", cmd_cache, "re-read model files into the page cache in 2 MB pages (faster decode)"},
    {"tokenize", cmd_tokenize, "text to GPT-2 token ids (a JSON array)"},
    {"detokenize", cmd_detokenize, "token ids back to text"},
    {"forward", cmd_forward, "run token ids through the model; dump logits, hidden states or embeddings"},
    {"generate", cmd_generate, "continue a list of token ids"},
    {"embed", cmd_embed, "texts to pooled, normalised GPT-2 embeddings"},
    {"index", cmd_index, "embed a JSON Lines catalog into a .g2ri item index"},
    {"rank", cmd_rank, "rank an index for a user's history (JSON)"},
    {"topk", cmd_topk, "exact cosine top-K over raw float32 matrices"},
    {"eval", cmd_eval, "leave-one-out Recall@K, NDCG@K, coverage, diversity"},
    {"bench", cmd_bench, "throughput beside the machine's ceilings and PyTorch; accuracy of each dtype"},
    {"serve", cmd_serve, "keep the model and index in memory; answer JSON Lines requests (stdin or TCP)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: gpt2rank <command> [options]   (gpt2rank <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
}

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("gpt2rank 0.1.0\n");
    return EXIT_OK;
}

int main(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gpt2rank: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
