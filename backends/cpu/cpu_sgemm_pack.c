/* Packing of SGEMM operands into the micro-kernels' panels, f32 or bf16 (widened to f32 on the
 * way: bf16 is the upper half of an f32, so a 16-bit shift), in AVX2 code that runs on every CPU
 * with one of Strata's kernels. The AVX2 kernel packs all its operands here, the AVX-512 kernel its
 * bf16 ones: a bf16 matmul then needs no f32 copy of its operands, only the panels. */
#include <string.h>
#include "cpu_sgemm.h"
#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

/* cnt (0..8) lanes of mask: lane l set when l < cnt. */
AVX2 static __m256i lanes(int64_t cnt)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 8 elements of x from element `off` as f32, only the first cnt (0..8) read, zeros after. */
AVX2 static __m256 load8(const void *x, st_sgemm_type type, int64_t off, int64_t cnt)
{
    if (type == ST_SGEMM_F32) {
        const float *p = (const float *)x + off;
        return cnt >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes(cnt));
    }
    const uint16_t *p = (const uint16_t *)x + off;
    __m128i h;
    if (cnt >= 8) {
        h = _mm_loadu_si128((const __m128i *)p);
    } else {
        uint16_t t[8] = {0};
        if (cnt > 0) memcpy(t, p, (size_t)cnt * sizeof(uint16_t));
        h = _mm_loadu_si128((const __m128i *)t);
    }
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Stores the first cnt (1..8) lanes of v at dst. */
AVX2 static void store8(float *dst, __m256 v, int64_t cnt)
{
    if (cnt >= 8) _mm256_storeu_ps(dst, v);
    else _mm256_maskstore_ps(dst, lanes(cnt), v);
}

/* 8x8 transpose in registers: r[i] holds row i on entry and column i on return. */
AVX2 static void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int p = 0; p < 4; p++) {
        t[2 * p] = _mm256_unpacklo_ps(r[2 * p], r[2 * p + 1]);
        t[2 * p + 1] = _mm256_unpackhi_ps(r[2 * p], r[2 * p + 1]);
    }
    for (int g = 0; g < 2; g++) {
        u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

/* The panel's values are contiguous: row k of the panel is x[k * ld + 0 .. n). */
AVX2 static void pack_contiguous(float *dst, int64_t p, const void *x, st_sgemm_type type, int64_t ld,
                                 int64_t n, int64_t kc)
{
    int64_t esize = type == ST_SGEMM_F32 ? 4 : 2;
    for (int64_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)x + (k + 8) * ld * esize, _MM_HINT_T0);
        _mm_prefetch((const char *)x + ((k + 8) * ld + p - 1) * esize, _MM_HINT_T0);
        for (int64_t i = 0; i < p; i += 8) {
            int64_t cnt = n - i < 0 ? 0 : n - i;
            store8(dst + k * p + i, load8(x, type, k * ld + i, cnt), p - i);
        }
    }
}

/* The panel's values are rows of x: x(i, k) = x[i * ld + k]; 8 rows x 8 k steps at a time are
 * loaded (rows past n as zeros), transposed in registers and stored as 8 panel rows. Each row of x
 * is its own stream, more than the hardware prefetchers follow: the next lines are requested. */
AVX2 static void pack_strided(float *dst, int64_t p, const void *x, st_sgemm_type type, int64_t ld, int64_t n,
                              int64_t kc)
{
    int64_t esize = type == ST_SGEMM_F32 ? 4 : 2;
    for (int64_t i0 = 0; i0 < p; i0 += 8) {
        int64_t rows = n - i0 < 0 ? 0 : n - i0 < 8 ? n - i0 : 8, width = p - i0 < 8 ? p - i0 : 8;
        for (int64_t k = 0; k < kc; k += 8) {
            int64_t kn = kc - k < 8 ? kc - k : 8;
            __m256 r[8];
            for (int64_t i = 0; i < 8; i++) {
                if (i < rows) _mm_prefetch((const char *)x + ((i0 + i) * ld + k + 64) * esize, _MM_HINT_T0);
                r[i] = i < rows ? load8(x, type, (i0 + i) * ld + k, kn) : _mm256_setzero_ps();
            }
            transpose8(r);
            for (int64_t j = 0; j < kn; j++) store8(dst + (k + j) * p + i0, r[j], width);
        }
    }
}

AVX2 void st_sgemm_pack_panel(float *dst, int64_t p, const void *x, st_sgemm_type type, int64_t ld, int strided,
                              int64_t n, int64_t kc)
{
    if (strided) pack_strided(dst, p, x, type, ld, n, kc);
    else pack_contiguous(dst, p, x, type, ld, n, kc);
}

#endif
