/* harness.h — the project's own test framework: TEST(name) { CHECK(...); }.
 *
 * Each TEST registers itself before main() runs (a constructor), so a test
 * file needs no list elsewhere.  CHECK records a failure and goes on;
 * REQUIRE records it and returns from the test.  The runner prints one line
 * per test and ends with "N passed, N failed". */
#ifndef G2R_HARNESS_H
#define G2R_HARNESS_H

#include <math.h>
#include <stddef.h>

typedef void (*t_fn)(void);
void t_register(const char *name, const char *file, t_fn fn);
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int t_failed(void); /* has the current test failed so far? */
/* Marks the current test skipped (e.g. no GPU), with the reason printed. */
void t_skip(const char *reason);

/* Path to test data: G2R_TEST_DATA or "tests/data". */
const char *t_data_dir(void);
/* Path to the gpt2rank binary for CLI tests: G2R_BIN or "./gpt2rank". */
const char *t_bin(void);
/* A fresh empty directory for this test, removed at exit. */
const char *t_tmpdir(void);

#define TEST(name)                                                                 \
    static void name(void);                                                        \
    __attribute__((constructor)) static void name##_register(void) {               \
        t_register(#name, __FILE__, name);                                         \
    }                                                                              \
    static void name(void)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);               \
    } while (0)

#define REQUIRE(cond)                                                              \
    do {                                                                           \
        if (!(cond)) {                                                             \
            t_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                      \
            return;                                                                \
        }                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                         \
    do {                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                        \
        if (a_ != b_) t_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_); \
    } while (0)

/* |a - b| <= tol, printing both values when not */
#define CHECK_NEAR(a, b, tol)                                                      \
    do {                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                             \
            t_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

/* Substring check on an error message */
#define CHECK_CONTAINS(haystack, needle)                                           \
    do {                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                               \
        if (!h_ || !strstr(h_, n_)) t_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
    } while (0)

#endif
