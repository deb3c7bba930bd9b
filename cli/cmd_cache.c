/* cmd_cache.c — `gpt2rank cache`: hold model files in 2 MB page-cache pages. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void help(void) {
    printf("usage: gpt2rank cache [--check] FILE...\n"
           "Decode streams every weight from the page cache each token; mapped by 2 MB\n"
           "pages rather than 4 KB ones, the file faults in and reads faster.  A file just\n"
           "written (convert, mkmodel, a download) sits in small pages until evicted; this\n"
           "evicts each FILE's clean cached pages and reads it again through a 2 MB mapping\n"
           "(Linux, with THP not 'never').  Run it once after writing a model; later loads\n"
           "keep the 2 MB pages while the file stays cached.  Prints, per file, the share\n"
           "of its whole 2 MB blocks in 2 MB pages before and after.\n\n"
           "  --check    only measure the share (reading in a file not cached); evict nothing\n");
}

int cmd_cache(int argc, char **argv) {
    const char *cmd = "cache";
    int evict = 1, n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help();
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--check")) evict = 0;
        else if (argv[i][0] == '-') return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else n_files++;
    }
    if (!n_files) return cli_usage_error(cmd, "at least one FILE is required");
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        g2r_error err = {0};
        double before, after;
        if (g2r_cache_huge(argv[i], evict, &before, &after, &err)) return cli_error(&err);
        if (evict) printf("%s: %.0f%% in 2 MB pages (was %.0f%%)\n", argv[i], 100 * after, 100 * before);
        else printf("%s: %.0f%% in 2 MB pages\n", argv[i], 100 * before);
    }
    return EXIT_OK;
}
