/* The AVX-512 parts of Strata's SGEMM: the 14x32 micro-kernel and the routines that pack f32 A
 * into MR-row panels and B into NR-column panels (bf16 operands: cpu_sgemm_pack.c). Compiled for
 * AVX-512 by attribute only, so the rest of the library still runs on any x86-64; callers check
 * st_cpu_sgemm_isa_supported() first. */
#include "cpu_sgemm.h"
/* Other architectures build none of it: st_cpu_sgemm_supported() is 0 there. */
#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define MR ST_SGEMM_MR
#define NR ST_SGEMM_NR

/* One k step: 2 aligned loads of B's row, then per row of A a broadcast into zmm30/31 and two
 * FMAs: 16 loads for 28 FMAs. (Broadcasts fused into the FMAs as {1to16} operands take 28 loads
 * a step, more than the 2 zmm loads a cycle that feed 2 FMAs a cycle: measured ~6% slower on
 * Zen 5.) The kernel alone runs at ~97% of the FMA peak of a core. GCC keeps only part
 * of 28 accumulators in registers from intrinsics, so the loop is written in assembly. */
#define KROW(off, r0, r1, t)                                 \
    "vbroadcastss " #off "(%[a]), %%zmm" #t "\n\t"           \
    "vfmadd231ps %%zmm" #t ", %%zmm28, %%zmm" #r0 "\n\t"     \
    "vfmadd231ps %%zmm" #t ", %%zmm29, %%zmm" #r1 "\n\t"
#define KSTORE(r) "vmovaps %%zmm" #r ", " #r "*64(%[acc])\n\t"
#define KZERO(r) "vpxord %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n\t"

#define KSTEP                                                                                  \
    /* B streams from L2: ask for it 4 steps ahead (A's panel stays in L1). */                 \
    "prefetcht0 512(%[b])\n\t"                                                                 \
    "prefetcht0 576(%[b])\n\t"                                                                 \
    "vmovaps (%[b]), %%zmm28\n\t"                                                              \
    "vmovaps 64(%[b]), %%zmm29\n\t"                                                            \
    KROW(0, 0, 1, 30) KROW(4, 2, 3, 31) KROW(8, 4, 5, 30) KROW(12, 6, 7, 31)                   \
    KROW(16, 8, 9, 30) KROW(20, 10, 11, 31) KROW(24, 12, 13, 30) KROW(28, 14, 15, 31)          \
    KROW(32, 16, 17, 30) KROW(36, 18, 19, 31) KROW(40, 20, 21, 30) KROW(44, 22, 23, 31)        \
    KROW(48, 24, 25, 30) KROW(52, 26, 27, 31)                                                  \
    "add $56, %[a]\n\t"                                                                        \
    "add $128, %[b]\n\t"
#define KPREFETCH_C "prefetcht0 (%[c])\n\tprefetcht0 64(%[c])\n\tadd %[ldcb], %[c]\n\t"

/* Steps of the loop left when C's tile is fetched into L1: early enough to hide an L2 or L3 miss
 * (~30 steps of 14 cycles), late enough that the lines are still there at the end. Fetching C at
 * the start instead lost ~20% when the rows of C are a multiple of 4 KiB apart: the 14 rows then
 * share one L1 set and are evicted by the streaming B panel. */
#define KTAIL 32

/* How the kernel leaves its sums: in acc (the caller scales and merges them), or straight into C
 * when alpha == 1 and beta is 0 (overwrite) or 1 (accumulate), which saves the round trip through
 * acc (~1% of a 384-step tile). */
enum { OUT_ACC, OUT_STORE, OUT_ADD };

#define KOUT_ROW(r0, r1)                                     \
    "vmovups %%zmm" #r0 ", (%[cc])\n\t"                     \
    "vmovups %%zmm" #r1 ", 64(%[cc])\n\t"                   \
    "add %[ldcb], %[cc]\n\t"
#define KADD_ROW(r0, r1)                                     \
    "vaddps (%[cc]), %%zmm" #r0 ", %%zmm" #r0 "\n\t"        \
    "vaddps 64(%[cc]), %%zmm" #r1 ", %%zmm" #r1 "\n\t"      \
    KOUT_ROW(r0, r1)
#define KROWS(X) X(0, 1) X(2, 3) X(4, 5) X(6, 7) X(8, 9) X(10, 11) X(12, 13) X(14, 15) X(16, 17) \
    X(18, 19) X(20, 21) X(22, 23) X(24, 25) X(26, 27)

/* Sums over kc steps of a[k * 14 + i] * b[k * 32 + j] for the 14x32 tile, left as `out` says
 * (acc[i * 32 + j], or C's rows ldc floats apart); fetches C's tile into L1 on the way. */
AVX512 static void kernel_loop(int64_t kc, const float *a, const float *b, float *acc, float *c,
                               int64_t ldc, int64_t out)
{
    int64_t k_tail = kc < KTAIL ? kc : KTAIL, k_main = kc - k_tail, ldcb = ldc * 4;
    float *cc = c;
    __asm__ volatile(
        KZERO(0) KZERO(1) KZERO(2) KZERO(3) KZERO(4) KZERO(5) KZERO(6) KZERO(7) KZERO(8) KZERO(9)
        KZERO(10) KZERO(11) KZERO(12) KZERO(13) KZERO(14) KZERO(15) KZERO(16) KZERO(17) KZERO(18)
        KZERO(19) KZERO(20) KZERO(21) KZERO(22) KZERO(23) KZERO(24) KZERO(25) KZERO(26) KZERO(27)
        "test %[km], %[km]\n\t"
        "jz 3f\n\t"
        "1:\n\t"
        KSTEP
        "dec %[km]\n\t"
        "jnz 1b\n\t"
        "3:\n\t"
        KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C
        KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C KPREFETCH_C
        "test %[kt], %[kt]\n\t"
        "jz 2f\n\t"
        "4:\n\t"
        KSTEP
        "dec %[kt]\n\t"
        "jnz 4b\n\t"
        "2:\n\t"
        "cmp $1, %[out]\n\t"
        "je 5f\n\t"
        "ja 6f\n\t"
        KSTORE(0) KSTORE(1) KSTORE(2) KSTORE(3) KSTORE(4) KSTORE(5) KSTORE(6) KSTORE(7) KSTORE(8)
        KSTORE(9) KSTORE(10) KSTORE(11) KSTORE(12) KSTORE(13) KSTORE(14) KSTORE(15) KSTORE(16)
        KSTORE(17) KSTORE(18) KSTORE(19) KSTORE(20) KSTORE(21) KSTORE(22) KSTORE(23) KSTORE(24)
        KSTORE(25) KSTORE(26) KSTORE(27)
        "jmp 7f\n\t"
        "5:\n\t"
        KROWS(KOUT_ROW)
        "jmp 7f\n\t"
        "6:\n\t"
        KROWS(KADD_ROW)
        "7:\n\t"
        : [km] "+r"(k_main), [kt] "+r"(k_tail), [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [cc] "+r"(cc)
        : [acc] "r"(acc), [ldcb] "r"(ldcb), [out] "r"(out)
        : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",
          "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",
          "xmm29", "xmm30", "xmm31");
}

/* C[0:14, 0:32] = alpha * (a panel)(b panel) + beta * C; a and b are packed panels of kc steps,
 * b 64-byte aligned. beta == 0 stores without reading C, so NaN there never leaks through. */
AVX512 void st_sgemm_kernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                            float alpha, float beta)
{
    float acc[MR * NR] __attribute__((aligned(64)));
    /* Into L2 now, so that the late fetch into L1 (kernel_loop) finds it close. */
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T1);
        _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T1);
    }
    if (alpha == 1.0f && (beta == 0.0f || beta == 1.0f)) {
        kernel_loop(kc, a, b, acc, c, ldc, beta == 0.0f ? OUT_STORE : OUT_ADD);
        return;
    }
    kernel_loop(kc, a, b, acc, c, ldc, OUT_ACC);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(va, _mm512_load_ps(acc + i * NR));
        __m512 r1 = _mm512_mul_ps(va, _mm512_load_ps(acc + i * NR + 16));
        if (beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), r1);
        }
        _mm512_storeu_ps(ci, r0);
        _mm512_storeu_ps(ci + 16, r1);
    }
}

/* The rows of a partial A panel (an edge of C with mr <= ST_SGEMM_EDGE_ROWS rows): acc[i * 32 + j]
 * = sum over kc steps of a[k * 14 + i] * b[k * 32 + j] for i < R, in 2R accumulators, and for
 * R <= 4 in two chains over even and odd k to cover the FMA latency. Costs about R/14 of a full
 * tile instead of a whole one: the 2-row edge of a 1024-row product was ~1.3% of its time. */
#define EDGE_ROWS(R)                                                                               \
    AVX512 static void edge_rows_##R(int64_t kc, const float *a, const float *b, float *acc)     \
    {                                                                                              \
        __m512 c0[R], c1[R], d0[R], d1[R];                                                         \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) c0[i] = c1[i] = d0[i] = d1[i] =       \
            _mm512_setzero_ps();                                                                   \
        int64_t k = 0;                                                                             \
        if (R <= 4)                                                                                \
            for (; k + 2 <= kc; k += 2) {                                                          \
                const float *ak = a + k * MR, *bk = b + k * NR;                                    \
                __m512 b0 = _mm512_load_ps(bk), b1 = _mm512_load_ps(bk + 16);                      \
                __m512 e0 = _mm512_load_ps(bk + NR), e1 = _mm512_load_ps(bk + NR + 16);            \
                _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                             \
                    __m512 x = _mm512_set1_ps(ak[i]), y = _mm512_set1_ps(ak[MR + i]);              \
                    c0[i] = _mm512_fmadd_ps(x, b0, c0[i]);                                         \
                    c1[i] = _mm512_fmadd_ps(x, b1, c1[i]);                                         \
                    d0[i] = _mm512_fmadd_ps(y, e0, d0[i]);                                         \
                    d1[i] = _mm512_fmadd_ps(y, e1, d1[i]);                                         \
                }                                                                                  \
            }                                                                                      \
        for (; k < kc; k++) {                                                                      \
            __m512 b0 = _mm512_load_ps(b + k * NR), b1 = _mm512_load_ps(b + k * NR + 16);          \
            _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                 \
                __m512 x = _mm512_set1_ps(a[k * MR + i]);                                          \
                c0[i] = _mm512_fmadd_ps(x, b0, c0[i]);                                             \
                c1[i] = _mm512_fmadd_ps(x, b1, c1[i]);                                             \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                     \
            _mm512_store_ps(acc + i * NR, _mm512_add_ps(c0[i], d0[i]));                            \
            _mm512_store_ps(acc + i * NR + 16, _mm512_add_ps(c1[i], d1[i]));                       \
        }                                                                                          \
    }
EDGE_ROWS(1)
EDGE_ROWS(2)
EDGE_ROWS(3)
EDGE_ROWS(4)
EDGE_ROWS(5)
EDGE_ROWS(6)
EDGE_ROWS(7)
EDGE_ROWS(8)

void st_sgemm_kernel_rows(int64_t kc, int64_t mr, const float *a, const float *b, float *acc)
{
    static void (*const rows[ST_SGEMM_EDGE_ROWS])(int64_t, const float *, const float *, float *) = {
        edge_rows_1, edge_rows_2, edge_rows_3, edge_rows_4, edge_rows_5, edge_rows_6, edge_rows_7, edge_rows_8};
    rows[mr - 1](kc, a, b, acc);
}

/* 16x16 transpose in registers: r[i] holds row i on entry and column i on return. */
AVX512 static void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int p = 0; p < 8; p++) {
        t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
        t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
    }
    /* Per 4-row group g, u[4g + c] holds column 4L + c of those rows in 128-bit lane L. */
    for (int g = 0; g < 4; g++) {
        __m512d lo = _mm512_castps_pd(t[4 * g]), hi = _mm512_castps_pd(t[4 * g + 1]);
        __m512d lo2 = _mm512_castps_pd(t[4 * g + 2]), hi2 = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, lo2));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, lo2));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi, hi2));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi, hi2));
    }
    for (int c = 0; c < 4; c++) {
        __m512 x = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), y = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
        __m512 x2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 y2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_f32x4(x, x2, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(x, x2, 0xdd);
        r[4 + c] = _mm512_shuffle_f32x4(y, y2, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(y, y2, 0xdd);
    }
}

/* Loads rows [0, rows) of 16 k steps (k < kn) starting at src, rows ld apart; zeros elsewhere.
 * Each row is its own stream, too many for the hardware prefetchers: the lines 4 chunks ahead
 * are requested here (a prefetch past the end is harmless). */
AVX512 static void load_rows(__m512 r[16], const float *src, int64_t ld, int64_t rows, int64_t kn)
{
    __mmask16 km = (__mmask16)(kn >= 16 ? 0xffffu : (1u << kn) - 1u);
    for (int64_t i = 0; i < 16; i++) {
        if (i < rows) _mm_prefetch((const char *)(src + i * ld + 64), _MM_HINT_T0);
        r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld) : _mm512_setzero_ps();
    }
}

/* A panel: dst[k * MR + i] = op(A)[i][k] for i < mr, zeros for the rows past an edge. Untransposed
 * A (the common case) is transposed 16 k steps at a time in registers. */
AVX512 void st_sgemm_pack_a(float *dst, const float *a, int64_t lda, int trans, int64_t mr, int64_t kc,
                            int64_t next_mr)
{
    if (trans) {
        __mmask16 m = (__mmask16)((1u << mr) - 1u);
        for (int64_t k = 0; k < kc; k++)
            _mm512_mask_storeu_ps(dst + k * MR, 0x3fff, _mm512_maskz_loadu_ps(m, a + k * lda));
        return;
    }
    for (int64_t k = 0; k < kc; k += 16) {
        __m512 r[16];
        int64_t kn = kc - k < 16 ? kc - k : 16;
        load_rows(r, a + k, lda, mr, kn);
        /* The next panel's rows into L2, one panel ahead: packing waits on memory, not on
         * the few lines the load_rows prefetch can keep in flight. */
        for (int64_t i = 0; i < next_mr; i++) _mm_prefetch((const char *)(a + (MR + i) * lda + k), _MM_HINT_T1);
        transpose16(r);
        for (int64_t j = 0; j < kn; j++) _mm512_mask_storeu_ps(dst + (k + j) * MR, 0x3fff, r[j]);
    }
}

/* B panel: dst[k * NR + j] = op(B)[k][j] for j < nr, zeros for the columns past an edge. */
AVX512 void st_sgemm_pack_b(float *dst, const float *b, int64_t ldb, int trans, int64_t nr, int64_t kc)
{
    if (!trans) {
        __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1u);
        __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffffu : nr <= 16 ? 0u : (1u << (nr - 16)) - 1u);
        for (int64_t k = 0; k < kc; k++) {
            _mm_prefetch((const char *)(b + (k + 8) * ldb), _MM_HINT_T0);
            _mm_prefetch((const char *)(b + (k + 8) * ldb + 16), _MM_HINT_T0);
            _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(m0, b + k * ldb));
            _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(m1, b + k * ldb + 16));
        }
        return;
    }
    for (int64_t h = 0; h < NR; h += 16) {
        int64_t rows = nr - h < 0 ? 0 : nr - h < 16 ? nr - h : 16;
        for (int64_t k = 0; k < kc; k += 16) {
            __m512 r[16];
            int64_t kn = kc - k < 16 ? kc - k : 16;
            load_rows(r, b + h * ldb + k, ldb, rows, kn);
            transpose16(r);
            for (int64_t j = 0; j < kn; j++) _mm512_store_ps(dst + (k + j) * NR + h, r[j]);
        }
    }
}

/* kc from L1: 45% of it for the 14-row A panel (BLIS's Skylake-X kc 384 with a ~1 MiB L2; kc=384
 * on Zen 5's 48 KiB L1, see cpu_sgemm.c, init_blocks). */
const st_sgemm_impl st_sgemm_avx512_impl = {
    .isa = ST_SGEMM_AVX512, .mr = MR, .nr = NR, .edge_rows = ST_SGEMM_EDGE_ROWS, .l1_floats = MR, .l1_share = 45,
    .kernel = st_sgemm_kernel, .rows = st_sgemm_kernel_rows, .pack_a = st_sgemm_pack_a, .pack_b = st_sgemm_pack_b,
};

#endif
