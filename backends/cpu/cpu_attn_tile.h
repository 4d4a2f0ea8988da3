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

/* The same vector at any float's address (unaligned, may alias floats): loads and stores through
 * it are single vmovups, where memcpy of an accumulator array went through the stack. Macros: a
 * function returning a vector trips GCC's ABI note on the baseline clone although it is inlined. */
typedef float att_v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define ATT_LOAD(v, p) ((v) = *(const att_v8u *)(p))
#define ATT_STORE(p, v) (*(att_v8u *)(p) = (v))

/* a[0] in every lane: a vector initialiser GCC turns into one vbroadcastss from memory (adding to
 * a zero vector instead costs a scalar add and a register broadcast on the FP pipes). */
#define ATT_BCAST(x) ((att_v8){(x), (x), (x), (x), (x), (x), (x), (x)})

/* A's element (r, p) is a[r * rs + p * cs]: rs = lda, cs = 1 for A, rs = 1, cs = lda for A^T (the
 * backward's P^T dO and dS^T Q read P and dS where they are, with no transposed copy).
 * Flags: ATT_SET writes c = A b (no read of c, no memset before); the causal ones skip the parts of
 * a diagonal tile (query tile i0 == key tile j0) that the mask makes zero, per group of rows
 * [i, i + mr): ATT_CN computes only columns < i + mr (rounded up to 16; S and dP, rows = queries,
 * columns = keys), ATT_CK only k < i + mr (P V and dS K: k = keys), ATT_CK0 only k >= i (P^T dO
 * and dS^T Q: rows = keys, k = queries). Columns left out by ATT_CN are not written. */
#define ATT_SET 1
#define ATT_CN 2
#define ATT_CK 4
#define ATT_CK0 8

/* c (ATT_MR x ATT_NR at c, ldc) (+)= A (ATT_MR rows, k columns) b (k x ATT_NR, ldb). */
ATT_INLINE void att_block(float *restrict c, int64_t ldc, const float *restrict a, int64_t rs, int64_t cs,
                          const float *restrict b, int64_t ldb, int64_t k, int set)
{
    att_v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0}, b0, b1;
    if (!set) {
        ATT_LOAD(c00, c), ATT_LOAD(c01, c + 8), ATT_LOAD(c10, c + ldc), ATT_LOAD(c11, c + ldc + 8);
        ATT_LOAD(c20, c + 2 * ldc), ATT_LOAD(c21, c + 2 * ldc + 8), ATT_LOAD(c30, c + 3 * ldc);
        ATT_LOAD(c31, c + 3 * ldc + 8);
    }
    for (int64_t p = 0; p < k; p++) {
        const float *ap = a + p * cs;
        ATT_LOAD(b0, b + p * ldb), ATT_LOAD(b1, b + p * ldb + 8);
        att_v8 a0 = ATT_BCAST(ap[0]), a1 = ATT_BCAST(ap[rs]);
        att_v8 a2 = ATT_BCAST(ap[2 * rs]), a3 = ATT_BCAST(ap[3 * rs]);
        c00 += a0 * b0, c01 += a0 * b1, c10 += a1 * b0, c11 += a1 * b1;
        c20 += a2 * b0, c21 += a2 * b1, c30 += a3 * b0, c31 += a3 * b1;
    }
    ATT_STORE(c, c00), ATT_STORE(c + 8, c01), ATT_STORE(c + ldc, c10), ATT_STORE(c + ldc + 8, c11);
    ATT_STORE(c + 2 * ldc, c20), ATT_STORE(c + 2 * ldc + 8, c21);
    ATT_STORE(c + 3 * ldc, c30), ATT_STORE(c + 3 * ldc + 8, c31);
}

/* The same for 6 rows: twelve accumulators, enough independent FMA chains to cover the FMA
 * latency on two FMA pipes (eight, as in att_block, leave no slack on Zen 3). */
#define ATT_MR6 6
ATT_INLINE void att_block6(float *restrict c, int64_t ldc, const float *restrict a, int64_t rs, int64_t cs,
                           const float *restrict b, int64_t ldb, int64_t k, int set)
{
    att_v8 acc[ATT_MR6][2], b0, b1;
#pragma GCC unroll 6
    for (int r = 0; r < ATT_MR6; r++) {
        acc[r][0] = acc[r][1] = (att_v8){0};
        if (!set) ATT_LOAD(acc[r][0], c + r * ldc), ATT_LOAD(acc[r][1], c + r * ldc + 8);
    }
    for (int64_t p = 0; p < k; p++) {
        const float *ap = a + p * cs;
        ATT_LOAD(b0, b + p * ldb), ATT_LOAD(b1, b + p * ldb + 8);
#pragma GCC unroll 6
        for (int r = 0; r < ATT_MR6; r++) {
            att_v8 ar = ATT_BCAST(ap[r * rs]);
            acc[r][0] += ar * b0, acc[r][1] += ar * b1;
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < ATT_MR6; r++) ATT_STORE(c + r * ldc, acc[r][0]), ATT_STORE(c + r * ldc + 8, acc[r][1]);
}

/* c[j] (+)= sum_p A(row, p) b[p][j] for one row of A (at a) over columns [j0, n): the edges. */
ATT_INLINE void att_row_edge(float *restrict c, const float *restrict a, int64_t cs, const float *restrict b,
                             int64_t ldb, int64_t j0, int64_t n, int64_t k, int set)
{
    if (set)
        for (int64_t j = j0; j < n; j++) c[j] = 0.0f;
    for (int64_t p = 0; p < k; p++) {
        float av = a[p * cs];
        const float *bp = b + p * ldb;
#pragma omp simd
        for (int64_t j = j0; j < n; j++) c[j] += av * bp[j];
    }
}

/* Rows [i, i + mr) with the mr-row block kernel: the columns and k range the flags leave. */
ATT_INLINE void att_rows(float *restrict c, int64_t ldc, const float *restrict a, int64_t rs, int64_t cs,
                         const float *restrict b, int64_t ldb, int64_t i, int64_t mr, int64_t n, int64_t k, int f)
{
    int64_t n1 = f & ATT_CN ? (i + mr + ATT_NR - 1) / ATT_NR * ATT_NR : n, k0 = f & ATT_CK0 ? i : 0;
    int64_t k1 = f & ATT_CK && i + mr < k ? i + mr : k;
    n1 = n1 < n ? n1 : n, k0 = k0 < k ? k0 : k;
    int64_t nb = n1 / ATT_NR * ATT_NR, set = f & ATT_SET;
    const float *ai = a + i * rs + k0 * cs, *bk = b + k0 * ldb;
    c += i * ldc;
    for (int64_t j = 0; j < nb; j += ATT_NR) {
        if (mr == ATT_MR6) att_block6(c + j, ldc, ai, rs, cs, bk + j, ldb, k1 - k0, set);
        else if (mr == ATT_MR) att_block(c + j, ldc, ai, rs, cs, bk + j, ldb, k1 - k0, set);
    }
    for (int ii = 0; ii < mr && (nb < n1 || mr < ATT_MR); ii++)
        att_row_edge(c + ii * ldc, ai + ii * rs, cs, bk, ldb, mr < ATT_MR ? 0 : nb, n1, k1 - k0, set);
}

/* c (m x n, ldc) (+)= A (m x k) b (k x n, ldb), row-major f32, A(r, p) = a[r * rs + p * cs]; f: flags. */
CPU_CLONES static void att_gemm_f(float *restrict c, int64_t ldc, const float *restrict a, int64_t rs, int64_t cs,
                                  const float *restrict b, int64_t ldb, int64_t m, int64_t n, int64_t k, int f)
{
    int64_t i = 0;
    for (; i + ATT_MR6 <= m; i += ATT_MR6) att_rows(c, ldc, a, rs, cs, b, ldb, i, ATT_MR6, n, k, f);
    for (; i + ATT_MR <= m; i += ATT_MR) att_rows(c, ldc, a, rs, cs, b, ldb, i, ATT_MR, n, k, f);
    for (; i < m; i++) att_rows(c, ldc, a, rs, cs, b, ldb, i, 1, n, k, f);
}

/* c (m x n, ldc) += a (m x k, lda) b (k x n, ldb). */
ATT_INLINE void att_gemm(float *restrict c, int64_t ldc, const float *restrict a, int64_t lda,
                         const float *restrict b, int64_t ldb, int64_t m, int64_t n, int64_t k)
{
    att_gemm_f(c, ldc, a, lda, 1, b, ldb, m, n, k, 0);
}

/* dst (cols x rows, ldd) = src (rows x cols, lds) transposed. */
ATT_INLINE void att_transpose(float *restrict dst, int64_t ldd, const float *restrict src, int64_t lds,
                                 int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++) dst[q * ldd + r] = src[r * lds + q];
}

#endif
