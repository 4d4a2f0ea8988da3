/* A tiny test harness shared by the test programs: CHECK macros that count and report, and the
 * closing "N passed, M failed[, K skipped]" line that every test program prints. */
#ifndef STRATA_TEST_HARNESS_H
#define STRATA_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "strata/strata.h"

/* Exit code of a test program that could not run (backend absent); ctest's SKIP_RETURN_CODE. */
#define H_SKIP_CODE 77

typedef struct h_counts {
    int passed, failed, skipped;
} h_counts;

extern h_counts h_total;

static inline int h_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int h_check(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        h_total.passed++;
        return 1;
    }
    h_total.failed++;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s:%d: ", file, line);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    return 0;
}

static inline void h_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void h_skip(const char *fmt, ...)
{
    h_total.skipped++;
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP ");
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* CHECK(cond, "what %d", x): counts one check; prints the condition and message on failure. */
#define CHECK(cond, ...) h_check(!!(cond), __FILE__, __LINE__, #cond ": " __VA_ARGS__)

/* CHECK_ST(expr, ST_ERR_...): the call returns exactly that status. Prints st_last_error(). */
#define CHECK_ST(expr, want)                                                                     \
    do {                                                                                         \
        st_status h_s_ = (expr);                                                                 \
        h_check(h_s_ == (want), __FILE__, __LINE__, "%s returned %s, expected %s (%s)", #expr,   \
                st_status_string(h_s_), st_status_string(want), st_last_error());                \
    } while (0)

/* Whether the thread's last error message contains `needle`. */
static inline int h_msg_has(const char *needle) { return strstr(st_last_error(), needle) != NULL; }

/* Prints the closing line; the program's exit status. */
static inline int h_finish(void)
{
    printf("%d passed, %d failed", h_total.passed, h_total.failed);
    if (h_total.skipped) printf(", %d skipped", h_total.skipped);
    printf("\n");
    return h_total.failed ? 1 : 0;
}

#endif
