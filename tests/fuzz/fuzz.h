/* fuzz.h — what every fuzz target shares.
 *
 * A target tests/fuzz/fuzz_<name>.c defines `static g2r_status fuzz_<name>(const
 * uint8_t *data, size_t size)`, which feeds the bytes to one parser, checks
 * what it promises (a clean error with a message, or a result that holds
 * together) and returns the parser's status.  Built alone with clang -fsanitize=fuzzer (make fuzz) it also
 * defines LLVMFuzzerTestOneInput; tests/test_regress.c includes the same file
 * with G2R_FUZZ_REPLAY defined and replays tests/data/regress/<name>/ through
 * it, so every past finding stays fixed under plain `make test`. */
#ifndef G2R_FUZZ_H
#define G2R_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt2rank.h"

#ifdef G2R_FUZZ_REPLAY
#include "tests/harness.h"
#define FUZZ_CHECK(cond) CHECK(cond)
#define FUZZ_MAIN(fn)
#else
/* A broken promise is a crash to libFuzzer: it saves the input. */
#define FUZZ_CHECK(cond)                                                            \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s)\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                \
        }                                                                           \
    } while (0)
#define FUZZ_MAIN(fn)                                                               \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                   \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {                  \
        fn(data, size);                                                             \
        return 0;                                                                   \
    }
#endif

/* A failure must carry its status and a one-line message that starts with
 * what, the name of the input. */
static inline int fuzz_clean_error(g2r_status s, const g2r_error *err, const char *what) {
    size_t n = strlen(what);
    return err->status == s && !strncmp(err->msg, what, n) && strlen(err->msg) > n + 2 && !strchr(err->msg, '\n');
}

#endif
