/* Strata's packed SGEMM (cpu_sgemm.c: blocking, threads and dispatch; cpu_sgemm_kernel.c: the
 * AVX-512 14x32 micro-kernel and its packing; cpu_sgemm_avx2.c: the AVX2+FMA 6x16 micro-kernel;
 * cpu_sgemm_pack.c: AVX2 packing of f32 and bf16 operands into panels of any width). Private to
 * the CPU backend. */
#ifndef STRATA_CPU_SGEMM_H
#define STRATA_CPU_SGEMM_H

#include <stdint.h>

/* The AVX-512 micro-tile of C: MR rows x NR columns in 28 zmm accumulators (NR: two 16-float
 * vectors). */
#define ST_SGEMM_MR 14
#define ST_SGEMM_NR 32
/* The AVX2 micro-tile: 6 rows x 16 columns in 12 ymm accumulators. */
#define ST_SGEMM_AVX2_MR 6
#define ST_SGEMM_AVX2_NR 16

/* Element type of an operand: f32, or bf16 (the upper 16 bits of an f32) widened while packing. */
typedef enum st_sgemm_type { ST_SGEMM_F32, ST_SGEMM_BF16 } st_sgemm_type;

/* C = alpha * op(A) op(B) + beta * C, row-major, batch products `stride_*` elements apart
 * (stride_b 0: B shared). op(A) is m x k, op(B) is k x n; lda/ldb/ldc are row strides of the
 * stored matrices (A stored k x m when trans_a), in elements of the operand's type. beta == 0
 * never reads C. a_type/b_type say whether a and b point to float or to bf16 (uint16_t). */
typedef struct st_sgemm_args {
    int64_t m, n, k, batch;
    const void *a, *b;
    float *c;
    int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
    int trans_a, trans_b;
    float alpha, beta;
    st_sgemm_type a_type, b_type;
} st_sgemm_args;

/* Strata's micro-kernels, best first; ST_SGEMM_NONE: none runs on this CPU/build. */
typedef enum st_sgemm_isa { ST_SGEMM_NONE, ST_SGEMM_AVX512, ST_SGEMM_AVX2 } st_sgemm_isa;

/* Which SGEMM matmul runs, from STRATA_CPU_GEMM (read once): auto (default, unset or empty),
 * strata (the best kernel this CPU has), strata-avx512 / strata-avx2 (that kernel) or blas. */
typedef enum st_cpu_gemm {
    ST_CPU_GEMM_AUTO, ST_CPU_GEMM_STRATA, ST_CPU_GEMM_STRATA_AVX512, ST_CPU_GEMM_STRATA_AVX2,
    ST_CPU_GEMM_BLAS
} st_cpu_gemm;

/* The mode STRATA_CPU_GEMM asks for: 0, or -1 with *bad = the value when it is none of the
 * above. A mode is returned as is whatever the CPU: st_cpu_gemm_choice decides what runs.
 * (This file set stays free of libstrata's internals so that tests/conformance/sgemm can build
 * it alone.) */
int st_cpu_gemm_mode(st_cpu_gemm *mode, const char **bad);

/* Nonzero when this CPU runs the kernel `isa` (AVX-512: F/DQ/BW/VL and FMA; AVX2: AVX2 and FMA). */
int st_cpu_sgemm_isa_supported(st_sgemm_isa isa);
/* The best kernel this CPU runs, ST_SGEMM_NONE when none. */
st_sgemm_isa st_cpu_sgemm_best(void);
/* Nonzero when some kernel runs here (st_cpu_sgemm_best() != ST_SGEMM_NONE). */
int st_cpu_sgemm_supported(void);
/* "AVX-512" or "AVX2". */
const char *st_cpu_sgemm_isa_name(st_sgemm_isa isa);

/* What matmul runs under `mode` on this CPU for f32 operands (bf16 0) or a bf16 one (bf16 1): a
 * kernel, or ST_SGEMM_NONE for the BLAS, with the reason in *why (static text). Returns -1 when
 * `mode` names a kernel this CPU lacks (*why says so), else 0. auto: AVX-512 where the CPU has it;
 * on AVX2+FMA CPUs the AVX2 kernel for bf16 operands and the BLAS for f32 (measured on Zen 3: see
 * cpu_sgemm_select.c); elsewhere the BLAS. */
int st_cpu_gemm_choice(st_cpu_gemm mode, int bf16, st_sgemm_isa *isa, const char **why);

/* Runs the product with kernel `isa` (which the CPU must support) on the calling thread's OpenMP
 * team (it opens its own parallel region). Returns 0, or -1 when the packing buffers could not be
 * allocated (C then is untouched) or the build has no such kernel (not x86-64). */
int st_cpu_sgemm(st_sgemm_isa isa, const st_sgemm_args *g);

/* The kernel and its cache blocks ("Strata AVX2 6x16, blocks kc=256 ... (L1 32 KiB, ...)"). */
const char *st_cpu_sgemm_describe(st_sgemm_isa isa);

/* Internal to cpu_sgemm*.c. */

/* One micro-kernel with its packing: C[0:mr, 0:nr] = alpha * (a panel)(b panel) + beta * C over kc
 * packed steps (a[k * mr + i], b[k * nr + j], b 32-byte aligned); `rows` (optional) leaves the
 * first r <= edge_rows rows of a partial panel in acc (r x nr). pack_a/pack_b pack f32 operands
 * (see st_sgemm_pack_a); bf16 operands use st_sgemm_pack_panel. */
typedef struct st_sgemm_impl {
    st_sgemm_isa isa;
    int mr, nr, edge_rows;
    /* Floats a k step keeps in L1 and their share of L1 (percent), from which kc follows: see
     * cpu_sgemm.c, init_blocks. */
    int l1_floats, l1_share;
    void (*kernel)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta);
    void (*rows)(int64_t kc, int64_t mr, const float *a, const float *b, float *acc);
    void (*pack_a)(float *dst, const float *a, int64_t lda, int trans, int64_t mr, int64_t kc, int64_t next_mr);
    void (*pack_b)(float *dst, const float *b, int64_t ldb, int trans, int64_t nr, int64_t kc);
} st_sgemm_impl;

extern const st_sgemm_impl st_sgemm_avx512_impl, st_sgemm_avx2_impl;

void st_sgemm_kernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                     float beta);
/* Rows of a partial panel: acc (mr x 32, 64-byte aligned) = a panel's first mr rows times the b
 * panel, for 1 <= mr <= ST_SGEMM_EDGE_ROWS. */
#define ST_SGEMM_EDGE_ROWS 8
void st_sgemm_kernel_rows(int64_t kc, int64_t mr, const float *a, const float *b, float *acc);
/* Packs mr rows of A (kc steps) into a 14-row panel; for untransposed A it also fetches the
 * first next_mr rows of the next panel (the 14 rows after these) into L2 on the way. */
void st_sgemm_pack_a(float *dst, const float *a, int64_t lda, int trans, int64_t mr, int64_t kc,
                     int64_t next_mr);
void st_sgemm_pack_b(float *dst, const float *b, int64_t ldb, int trans, int64_t nr, int64_t kc);

/* A panel of width p (AVX2 code, so it runs on every CPU with a kernel): dst[k * p + i] = x(i, k)
 * for i < n, 0 for n <= i < p, k < kc, where x(i, k) is x[k * ld + i] (`strided` 0: the panel's
 * p values are contiguous in memory) or x[i * ld + k] (`strided` 1), x f32 or bf16. */
void st_sgemm_pack_panel(float *dst, int64_t p, const void *x, st_sgemm_type type, int64_t ld, int strided,
                         int64_t n, int64_t kc);

#endif
