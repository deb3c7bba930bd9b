/* model_args.c — the options every model-running subcommand shares
 * (-m, -t, --kernels, --heads, --device) and token id lists ("464,2068,7586"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/model_args.h"

int cli_model_arg(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o) {
    const char *a = argv[*i], *v;
    long n;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        if (!(o->path = cli_value(cmd, argc, argv, i))) return -1;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        if (!(v = cli_value(cmd, argc, argv, i)) || cli_int(cmd, a, v, 0, 1024, &n)) return -1;
        o->opt.n_threads = (int)n;
    } else if (!strcmp(a, "--heads")) {
        if (!(v = cli_value(cmd, argc, argv, i)) || cli_int(cmd, a, v, 1, 65536, &n)) return -1;
        o->opt.n_head = (int)n;
    } else if (!strcmp(a, "--kernels")) {
        if (!(v = cli_value(cmd, argc, argv, i)) || cli_kernels(cmd, v, &o->opt.kernels)) return -1;
    } else if (!strcmp(a, "--prefault")) {
        o->opt.prefault = 1;
    } else if (!strcmp(a, "--device")) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!strcmp(v, "cpu")) o->opt.device = G2R_DEVICE_CPU;
        else if (!strcmp(v, "cuda")) o->opt.device = G2R_DEVICE_CUDA;
        else {
            cli_usage_error(cmd, "--device expects cpu or cuda, got '%s'", v);
            return -1;
        }
    } else {
        return 0;
    }
    return 1;
}

int cli_ids(const char *cmd, const char *flag, const char *val, int **ids, int *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = val; *p; p++) cap += *p == ',';
    int *out = malloc(cap * sizeof *out);
    if (!out) {
        cli_usage_error(cmd, "%s: out of memory", flag);
        return -1;
    }
    int k = 0;
    const char *p = val;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 0x7fffffff || (*end && *end != ',')) {
            free(out);
            cli_usage_error(cmd, "%s expects comma-separated token ids like 464,2068,7586, got '%s'", flag, val);
            return -1;
        }
        out[k++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    *ids = out;
    *n = k;
    return 0;
}
