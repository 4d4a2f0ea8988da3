/* CPU backend internals: the op functions (declared from the op table) and the helpers they
 * share for addressing views and converting bf16. Not a public header. */
#ifndef STRATA_CPU_OPS_H
#define STRATA_CPU_OPS_H

#include <stdint.h>
#include <string.h>
#include "internal.h"

/* st_status st_cpu_<name>(void *ctx, int dev, const st_op_call *c) for every op of the table. */
#define ST_CPU_DECL_(F, ID, name, ...) \
    st_status st_cpu_##name(void *ctx, int dev, const st_op_call *c);
ST_OP_TABLE(ST_CPU_DECL_)
#undef ST_CPU_DECL_

/* Address of a view's first element. */
static inline void *cpu_ptr(const st_view *v)
{
    return (char *)v->buf + v->offset * (int64_t)st_dtype_size(v->dtype);
}

static inline float cpu_bf16_to_f32(uint16_t x)
{
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t cpu_f32_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Element `i` (an element offset from the view's base pointer) as f32, and a store. */
static inline float cpu_load(const st_view *v, const void *base, int64_t i)
{
    return v->dtype == ST_BF16 ? cpu_bf16_to_f32(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}
static inline void cpu_store(const st_view *v, void *base, int64_t i, float x)
{
    if (v->dtype == ST_BF16) ((uint16_t *)base)[i] = cpu_f32_to_bf16(x);
    else ((float *)base)[i] = x;
}

static inline int64_t cpu_numel(const st_view *v)
{
    int64_t n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->shape[i];
    return n;
}

/* For dense ops on f32|bf16 data: an f32 pointer to a contiguous view's data. For f32 it is the
 * data itself (*tmp = NULL); for bf16 a converted copy the caller frees with free(*tmp). */
st_status cpu_as_f32(const st_view *v, const float **data, float **tmp);
/* A writable f32 buffer for a contiguous output view: the data itself for f32, else a fresh
 * buffer (*tmp) whose contents are converted in when `load` is set. cpu_finish_f32 stores a bf16
 * output back and frees the buffer. */
st_status cpu_out_f32(const st_view *v, float **data, float **tmp, int load);
void cpu_finish_f32(const st_view *v, float *tmp);

/* Which SGEMM matmul runs (Strata's or the BLAS's) and the BLAS in use ("OpenBLAS 0.3.21, core
 * SkylakeX (...)"), for strata-info. */
const char *st_cpu_blas_describe(void);

#endif
