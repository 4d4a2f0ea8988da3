/* Small dense products for the CPU backend's blocked attention (cpu_attention.c): tiles of at
 * most 64 x 64 that live in L1/L2. A 4 x 16 register block of C is kept in accumulators over the
 * whole k loop (eight 8-float or four 16-float vectors once the caller's CPU_CLONES picks the
 * ISA), so each FMA needs one broadcast and a quarter of a vector load: GEMM-like efficiency
 * without packing, which 64-wide tiles do not repay. Not a public header. */
#ifndef STRATA_CPU_ATTN_TILE_H
#define STRATA_CPU_ATTN_TILE_H

#include <stdint.h>

#define ATT_MR 4
#define ATT_NR 16

/* c (m x NR at c, ldc) += a (m x k, rows i.. of lda) b (k x NR, ldb): one register block. */
static inline void att_block(float *restrict c, int64_t ldc, const float *restrict a, int64_t lda,
                             const float *restrict b, int64_t ldb, int64_t k)
{
    float acc[ATT_MR][ATT_NR];
    for (int ii = 0; ii < ATT_MR; ii++)
        for (int jj = 0; jj < ATT_NR; jj++) acc[ii][jj] = c[ii * ldc + jj];
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        for (int ii = 0; ii < ATT_MR; ii++) {
            float av = a[ii * lda + p];
            for (int jj = 0; jj < ATT_NR; jj++) acc[ii][jj] += av * bp[jj];
        }
    }
    for (int ii = 0; ii < ATT_MR; ii++)
        for (int jj = 0; jj < ATT_NR; jj++) c[ii * ldc + jj] = acc[ii][jj];
}

/* c[i][j] += sum_p a[i][p] b[p][j] for one row i over columns [j0, n): the edges. */
static inline void att_row_edge(float *restrict c, const float *restrict a, const float *restrict b, int64_t ldb,
                                int64_t j0, int64_t n, int64_t k)
{
    for (int64_t p = 0; p < k; p++) {
        float av = a[p];
        const float *bp = b + p * ldb;
#pragma omp simd
        for (int64_t j = j0; j < n; j++) c[j] += av * bp[j];
    }
}

/* c (m x n, ldc) += a (m x k, lda) b (k x n, ldb), all row-major f32. */
static inline void att_gemm(float *restrict c, int64_t ldc, const float *restrict a, int64_t lda,
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
static inline void att_transpose(float *restrict dst, int64_t ldd, const float *restrict src, int64_t lds,
                                 int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++) dst[q * ldd + r] = src[r * lds + q];
}

#endif
