/* Helpers shared by the multi-rank strata-train tests: a barrier over a communicator and the
 * values of one key in a JSON-lines log. Include after ../harness.h. */
#ifndef STRATA_TEST_TRAIN_MPI_UTIL_H
#define STRATA_TEST_TRAIN_MPI_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every rank of c waits here (a one-float all-reduce). */
static inline void barrier(st_comm *c)
{
    float x = 0;
    st_tensor *t;
    st_device *cpu;
    int64_t n = 1;
    if (st_device_get("cpu", 0, &cpu) || st_tensor_create(cpu, ST_F32, 1, &n, &t)) return;
    st_tensor_write(t, &x, sizeof x);
    CHECK(st_comm_all_reduce(c, t, ST_REDUCE_SUM, ST_SCOPE_WORLD) == ST_OK, "barrier: %s", st_last_error());
    st_tensor_destroy(t);
}

/* The values of `key` in a JSON-lines log, in order; returns how many (at most max). Integers up
 * to 2^53 (byte counts) come back exact. */
static inline int log_values(const char *path, const char *key, double *out, int max)
{
    char line[1024], pat[64];
    int n = 0;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (n < max && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, pat);
        if (p) out[n++] = strtod(p + strlen(pat), NULL);
    }
    fclose(f);
    return n;
}

#endif
