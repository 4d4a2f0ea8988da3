/* Small dense products for the CPU backend's blocked attention (cpu_attention.c): tiles of at
 * most 64 x 64 that live in L1/L2. A 4 x 16 register block of C is kept in accumulators over the
 * whole k loop (eight 8-float vectors, in registers), so each FMA needs half a broadcast and a
 * quarter of a vector load: GEMM-like efficiency
 * without packing, which 64-wide tiles do not repay. Not a public header. */
#ifndef STRATA_CPU_ATTN_TILE_H
#define STRATA_CPU_ATTN_TILE_H

#include <stdint.h>
#include "cpu_strided.h"

#include <string.h>

#define ATT_MR 4
#define ATT_NR 16
#define ATT_INLINE static inline __attribute__((always_inline))

/* 8 floats: GCC's generic vectors compile to one ymm register where the clone has AVX2 (and to
 * two xmm on the baseline), so the accumulators below stay in registers on every ISA. */
typedef float att_v8 __attribute__((vector_size(32)));

/* Unaligned 8-float load, as a macro: a function returning a vector trips GCC's ABI note on the
 * baseline clone although it is always inlined. */
#define ATT_LOAD(v, p) memcpy(&(v), (p), sizeof(att_v8))

/* c (ATT_MR x ATT_NR at c, ldc) += a (ATT_MR rows of lda, k columns) b (k x ATT_NR, ldb). */
ATT_INLINE void att_block(float *restrict c, int64_t ldc, const float *restrict a, int64_t lda,
                          const float *restrict b, int64_t ldb, int64_t k)
{
    att_v8 c00, c01, c10, c11, c20, c21, c30, c31, b0, b1;
    ATT_LOAD(c00, c), ATT_LOAD(c01, c + 8), ATT_LOAD(c10, c + ldc), ATT_LOAD(c11, c + ldc + 8);
    ATT_LOAD(c20, c + 2 * ldc), ATT_LOAD(c21, c + 2 * ldc + 8), ATT_LOAD(c30, c + 3 * ldc), ATT_LOAD(c31, c + 3 * ldc + 8);
    for (int64_t p = 0; p < k; p++) {
        ATT_LOAD(b0, b + p * ldb), ATT_LOAD(b1, b + p * ldb + 8);
        att_v8 a0 = (att_v8){0} + a[p], a1 = (att_v8){0} + a[lda + p];
        att_v8 a2 = (att_v8){0} + a[2 * lda + p], a3 = (att_v8){0} + a[3 * lda + p];
        c00 += a0 * b0, c01 += a0 * b1, c10 += a1 * b0, c11 += a1 * b1;
        c20 += a2 * b0, c21 += a2 * b1, c30 += a3 * b0, c31 += a3 * b1;
    }
    memcpy(c, &c00, 32), memcpy(c + 8, &c01, 32), memcpy(c + ldc, &c10, 32), memcpy(c + ldc + 8, &c11, 32);
    memcpy(c + 2 * ldc, &c20, 32), memcpy(c + 2 * ldc + 8, &c21, 32);
    memcpy(c + 3 * ldc, &c30, 32), memcpy(c + 3 * ldc + 8, &c31, 32);
}

/* c[i][j] += sum_p a[i][p] b[p][j] for one row i over columns [j0, n): the edges. */
ATT_INLINE void att_row_edge(float *restrict c, const float *restrict a, const float *restrict b, int64_t ldb,
                                int64_t j0, int64_t n, int64_t k)
{
    for (int64_t p = 0; p < k; p++) {
        float av = a[p];
        const float *bp = b + p * ldb;
#pragma omp simd
        for (int64_t j = j0; j < n; j++) c[j] += av * bp[j];
    }
}

/* c (m x n, ldc) += a (m x k, lda) b (k x n, ldb), all row-major f32; compiled per ISA. */
CPU_CLONES static void att_gemm(float *restrict c, int64_t ldc, const float *restrict a, int64_t lda,
                            const float *restrict b, int64_t ldb, int64_t m, int64_t n, int64_t k)
{
    int64_t nb = n / ATT_NR * ATT_NR, i = 0;
    for (; i + ATT_MR <= m; i += ATT_MR) {
        for (int64_t j = 0; j < nb; j += ATT_NR) att_block(c + i * ldc + j, ldc, a + i * lda, lda, b + j, ldb, k);
        for (int ii = 0; ii < ATT_MR && nb < n; ii++)
            att_row_edge(c + (i + ii) * ldc, a + (i + ii) * lda, b, ldb, nb, n, k);
    }
    for (; i < m; i++) att_row_edge(c + i * ldc, a + i * lda, b, ldb, 0, n, k);
}

/* dst (cols x rows, ldd) = src (rows x cols, lds) transposed. */
ATT_INLINE void att_transpose(float *restrict dst, int64_t ldd, const float *restrict src, int64_t lds,
                                 int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++) dst[q * ldd + r] = src[r * lds + q];
}

#endif
