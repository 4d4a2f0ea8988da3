/* Row-at-a-time access to contiguous f32|bf16 operands for the CPU backend's row ops
 * (layernorm, softmax, cross-entropy): an f32 operand is used in place; a bf16 row is converted
 * into the calling thread's scratch row, so bf16 storage costs no whole-tensor staging copy and
 * no extra pass over memory. Not a public header. */
#ifndef STRATA_CPU_ROWIO_H
#define STRATA_CPU_ROWIO_H

#include "cpu_strided.h"

/* Row data of v from element `off` (n elements), as f32: v's own data or buf filled. */
static inline const float *cpu_row_in(const st_view *v, int64_t off, int64_t n, float *buf)
{
    if (v->dtype == ST_F32) return (const float *)cpu_ptr(v) + off;
    cpu_bf16_to_f32_n(buf, (const uint16_t *)cpu_ptr(v) + off, n);
    return buf;
}

/* Where to write row data of v from element `off`: v's own data (f32) or buf, which
 * cpu_row_store then rounds into v. */
static inline float *cpu_row_out(const st_view *v, int64_t off, float *buf)
{
    return v->dtype == ST_F32 ? (float *)cpu_ptr(v) + off : buf;
}

static inline void cpu_row_store(const st_view *v, int64_t off, int64_t n, const float *buf)
{
    if (v->dtype != ST_F32) cpu_f32_to_bf16_n((uint16_t *)cpu_ptr(v) + off, buf, n);
}

/* Scratch rows per thread: `per` rows of n floats for each of nt threads (NULL on failure). */
static inline float *cpu_row_scratch(int nt, int per, int64_t n)
{
    return malloc(sizeof(float) * (size_t)nt * (size_t)per * (size_t)(n ? n : 1));
}

#endif
