/* Helpers shared by the optimizer tests: a deterministic host random stream and host <-> view
 * transfers of one parameter or gradient of a set. */
#ifndef STRATA_OPTIM_TEST_H
#define STRATA_OPTIM_TEST_H

#include <stdint.h>
#include <stdlib.h>
#include "harness.h"

/* Uniform in [-1, 1) from a 64-bit LCG: the same numbers on every machine. */
static inline double t_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Writes n doubles (as f32) into t, which must hold n elements. */
static inline st_status t_write(st_tensor *t, const double *x, int64_t n)
{
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!f) return ST_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) f[i] = (float)x[i];
    st_status s = st_tensor_write(t, f, sizeof(float) * (size_t)n);
    free(f);
    return s;
}

/* Reads t (n f32 elements) into doubles. */
static inline st_status t_read(const st_tensor *t, double *x, int64_t n)
{
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!f) return ST_ERR_OUT_OF_MEMORY;
    st_status s = st_tensor_read(t, f, sizeof(float) * (size_t)n);
    for (int64_t i = 0; s == ST_OK && i < n; i++) x[i] = f[i];
    free(f);
    return s;
}

#endif
