/* Row-at-a-time access to contiguous f32|bf16 operands for the CPU backend's row ops
 * (layernorm, softmax, cross-entropy): an f32 operand is used in place; a bf16 row is converted
 * into the calling thread's scratch row, so bf16 storage costs no whole-tensor staging copy and
 * no extra pass over memory; outputs beyond the caches are streamed (non-temporal stores). Not a
 * public header. */
#ifndef STRATA_CPU_ROWIO_H
#define STRATA_CPU_ROWIO_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include "cpu_strided.h"

/* Row data of v from element `off` (n elements), as f32: v's own data or buf filled. */
static inline const float *cpu_row_in(const st_view *v, int64_t off, int64_t n, float *buf)
{
    if (v->dtype == ST_F32) return (const float *)cpu_ptr(v) + off;
    cpu_bf16_to_f32_n(buf, (const uint16_t *)cpu_ptr(v) + off, n);
    return buf;
}

/* Outputs far larger than the last-level cache are written with non-temporal stores: a row is
 * finished in the thread's scratch row (in L1/L2), then streamed to memory, so the output's lines
 * are never read for ownership (a row op then moves 2 arrays' bytes, not 3) and do not evict the
 * inputs. Smaller outputs stay cached for the op that reads them next. STRATA_CPU_NT_STORES:
 * auto (default), on, off (tests force each path). */
static inline int cpu_stream_out(const st_view *v)
{
    static int mode = -1; /* 0 off, 1 on, 2 auto; a benign race: every thread computes the same */
    static long llc;
    if (mode < 0) {
        const char *e = getenv("STRATA_CPU_NT_STORES");
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        llc = l3 > 0 ? l3 : l2 > 0 ? l2 : 8L << 20;
        mode = e && !strcmp(e, "on") ? 1 : e && !strcmp(e, "off") ? 0 : 2;
    }
    if (v->dtype != ST_F32 || mode == 0) return 0;
    return mode == 1 || (double)cpu_numel(v) * 4.0 > 2.0 * (double)llc;
}

/* dst[0..n) = src[0..n) with non-temporal stores where the ISA has them (SSE's, on every x86-64);
 * the caller ends its loop with cpu_stream_fence(). */
static inline void cpu_stream_copy(float *restrict dst, const float *restrict src, int64_t n)
{
#if defined(__x86_64__)
    int64_t j = 0;
    for (; j < n && ((uintptr_t)(dst + j) & 15u); j++) dst[j] = src[j];
    for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
    for (; j < n; j++) dst[j] = src[j];
#else
    memcpy(dst, src, sizeof(float) * (size_t)n);
#endif
}

static inline void cpu_stream_fence(void)
{
#if defined(__x86_64__)
    _mm_sfence();
#endif
}

/* Where to write row data of v from element `off`: v's own data (f32, not streamed) or buf, which
 * cpu_row_store then rounds into v (bf16) or streams there (stream: cpu_stream_out's answer). */
static inline float *cpu_row_out(const st_view *v, int64_t off, float *buf, int stream)
{
    return v->dtype == ST_F32 && !stream ? (float *)cpu_ptr(v) + off : buf;
}

static inline void cpu_row_store(const st_view *v, int64_t off, int64_t n, const float *buf, int stream)
{
    if (v->dtype != ST_F32) cpu_f32_to_bf16_n((uint16_t *)cpu_ptr(v) + off, buf, n);
    else if (stream) cpu_stream_copy((float *)cpu_ptr(v) + off, buf, n);
}

/* Asks for the row of v at element `off` (n elements) while the current row is computed: a row op
 * works on one row at a time, and a row (a few KiB) is too short for the hardware prefetcher to
 * run ahead of on its own. Nothing past the tensor's end is touched. */
static inline void cpu_row_prefetch(const st_view *v, int64_t off, int64_t n)
{
    int64_t size = v->dtype == ST_F32 ? 4 : 2, total = cpu_numel(v);
    if (off >= total) return;
    n = off + n > total ? total - off : n;
    const char *p = (const char *)cpu_ptr(v) + off * size;
    for (int64_t b = 0; b < n * size; b += 64) __builtin_prefetch(p + b, 0, 3);
}

/* Scratch rows per thread: `per` rows of n floats for each of nt threads (NULL on failure). */
static inline float *cpu_row_scratch(int nt, int per, int64_t n)
{
    return malloc(sizeof(float) * (size_t)nt * (size_t)per * (size_t)(n ? n : 1));
}

#endif
