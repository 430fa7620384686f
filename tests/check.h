/* check.h — the tiny test framework every C test uses.
 *
 *   static void test_roundtrip(void) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(test_roundtrip); return check_summary(); }
 *
 * Each RUN prints "PASS name", "FAIL name" or "SKIP name: why" on stdout;
 * tests/run.sh counts those lines. A failed CHECK prints file:line and the
 * expression on stderr and lets the case continue, so one run shows every
 * failure. check_summary() returns the process exit status.
 */
#ifndef TAV_TEST_CHECK_H
#define TAV_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_case_failures;
static int check_case_skipped;
static char check_skip_reason[256];
static int check_total_failed;

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_case_failures++;                                                \
        }                                                                         \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                        \
    do {                                                                          \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);           \
        if (check_a_ != check_b_) {                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",     \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);              \
            check_case_failures++;                                                \
        }                                                                         \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                           \
    do {                                                                          \
        const char *check_h_ = (hay);                                             \
        if (!check_h_ || !strstr(check_h_, (needle))) {                           \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n",     \
                    __FILE__, __LINE__, check_h_ ? check_h_ : "(null)", needle); \
            check_case_failures++;                                                \
        }                                                                         \
    } while (0)

/* Marks the running case skipped (e.g. the CPU lacks an ISA); return after it. */
#define SKIP(...)                                                                 \
    do {                                                                          \
        snprintf(check_skip_reason, sizeof check_skip_reason, __VA_ARGS__);       \
        check_case_skipped = 1;                                                   \
    } while (0)

static inline void check_run(const char *name, void (*fn)(void))
{
    check_case_failures = 0;
    check_case_skipped = 0;
    fn();
    if (check_case_failures) {
        printf("FAIL %s\n", name);
        check_total_failed++;
    } else if (check_case_skipped) {
        printf("SKIP %s: %s\n", name, check_skip_reason);
    } else {
        printf("PASS %s\n", name);
    }
    fflush(stdout);
}

#define RUN(fn) check_run(#fn, fn)

static inline int check_summary(void) { return check_total_failed ? 1 : 0; }

#endif
