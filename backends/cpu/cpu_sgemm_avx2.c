/* The AVX2+FMA micro-kernel of Strata's SGEMM: a 6x16 tile of C in 12 ymm accumulators, for CPUs
 * without AVX-512 (Zen 1-3, Haswell to Alder Lake). Compiled for AVX2 by attribute only, so the
 * library still runs on any x86-64; callers check st_cpu_sgemm_isa_supported() first.
 *
 * Shape: 16 ymm registers hold 12 accumulators, the 2 vectors of B's row and a broadcast of A.
 * 12 independent FMA chains cover the 2 FMA pipes x 4 cycles of latency (8 chains) of Zen 1-3 and
 * Haswell-Skylake with room; a k step is 2 loads of B + 6 broadcasts for 12 FMAs (6 cycles), well
 * under the 2-3 loads a cycle these cores issue. 4x24 (also 12 accumulators) needs 3 B loads
 * and 4 broadcasts a step but panels of 24 columns; 6x16 matches the 16-float rows of a 64-byte line. */
#include "cpu_sgemm.h"
#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define MR ST_SGEMM_AVX2_MR
#define NR ST_SGEMM_AVX2_NR

/* One row i of the tile for the current k step. */
#define ROW(i)                                                                                     \
    do {                                                                                           \
        __m256 x = _mm256_broadcast_ss(a + (i));                                                   \
        c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0);                                                 \
        c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1);                                                 \
    } while (0)

/* Row i of C = alpha * acc + beta * C (beta == 0: C not read). */
#define OUT(i)                                                                                     \
    do {                                                                                           \
        float *ci = c + (i) * ldc;                                                                 \
        __m256 r0 = _mm256_mul_ps(va, c##i##0), r1 = _mm256_mul_ps(va, c##i##1);                   \
        if (beta != 0.0f) {                                                                        \
            r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);                                     \
            r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);                                 \
        }                                                                                          \
        _mm256_storeu_ps(ci, r0);                                                                  \
        _mm256_storeu_ps(ci + 8, r1);                                                              \
    } while (0)

/* C[0:6, 0:16] = alpha * (a panel)(b panel) + beta * C over kc steps of a[k * 6 + i] and
 * b[k * 16 + j] (b 32-byte aligned). GCC keeps all 12 accumulators in registers here (checked in
 * the assembly: no spills in the loop). B streams from L2 and is fetched 8 steps (512 bytes)
 * ahead; C's 6 rows are fetched into L1 at the start, ~kc * 6 cycles before they are needed.
 * (Fetching them into L2 at the start and into L1 32 steps before the end, as the AVX-512 kernel
 * does, measured 3-30% slower here on Zen 3 at N = 1024-4096, worst at 4096.) */
AVX2 static void kernel_6x16(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                             float beta)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
        ROW(4);
        ROW(5);
        a += MR;
        b += NR;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    OUT(0);
    OUT(1);
    OUT(2);
    OUT(3);
    OUT(4);
    OUT(5);
}

/* f32 packing through the generic AVX2 panel packer (cpu_sgemm_pack.c): untransposed A is read
 * 8 k steps of 8 rows at a time and transposed in registers. */
static void pack_a_6(float *dst, const float *a, int64_t lda, int trans, int64_t mr, int64_t kc, int64_t next_mr)
{
    (void)next_mr;
    st_sgemm_pack_panel(dst, MR, a, ST_SGEMM_F32, lda, !trans, mr, kc);
}

static void pack_b_16(float *dst, const float *b, int64_t ldb, int trans, int64_t nr, int64_t kc)
{
    st_sgemm_pack_panel(dst, NR, b, ST_SGEMM_F32, ldb, trans, nr, kc);
}

/* The 6-row A panel stays in L1 while 16-column B panels stream past it from L2: 22 floats a step
 * in 70% of L1 (kc=256 on a 32 KiB L1; see cpu_sgemm.c, init_blocks). */
const st_sgemm_impl st_sgemm_avx2_impl = {
    .isa = ST_SGEMM_AVX2, .mr = MR, .nr = NR, .edge_rows = 0, .l1_floats = MR + NR, .l1_share = 70,
    .kernel = kernel_6x16, .rows = 0, .pack_a = pack_a_6, .pack_b = pack_b_16,
};

#endif
