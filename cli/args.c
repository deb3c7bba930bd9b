/* args.c — small strict parsers shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "gpt2rank %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see gpt2rank %s --help)\n", cmd);
    return EXIT_USAGE;
}

int cli_error(const g2r_error *err) {
    fprintf(stderr, "gpt2rank: %s\n", err->msg[0] ? err->msg : g2r_status_name(err->status));
    return EXIT_INPUT;
}

int cli_int(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi) {
        cli_usage_error(cmd, "%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, val);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_u64(const char *cmd, const char *flag, const char *val, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end || val[0] == '-') {
        cli_usage_error(cmd, "%s expects a non-negative integer, got '%s'", flag, val);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v) || v < lo || v > hi) {
        cli_usage_error(cmd, "%s expects a number in [%g, %g], got '%s'", flag, lo, hi, val);
        return -1;
    }
    *out = v;
    return 0;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_kernels(const char *cmd, const char *val, g2r_kernels_kind *out) {
    if (!strcmp(val, "auto")) *out = G2R_KERNELS_AUTO;
    else if (!strcmp(val, "scalar")) *out = G2R_KERNELS_SCALAR;
    else if (!strcmp(val, "avx2")) *out = G2R_KERNELS_AVX2;
    else if (!strcmp(val, "avx512")) *out = G2R_KERNELS_AVX512;
    else if (!strcmp(val, "neon")) *out = G2R_KERNELS_NEON;
    else {
        cli_usage_error(cmd, "--kernels expects auto|scalar|avx2|avx512|neon, got '%s'", val);
        return -1;
    }
    return 0;
}

int cli_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }
