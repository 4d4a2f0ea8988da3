/* Strata's packed SGEMM for AVX-512 CPUs (cpu_sgemm.c: blocking and threads; cpu_sgemm_kernel.c:
 * the micro-kernel and the packing routines). Private to the CPU backend. */
#ifndef STRATA_CPU_SGEMM_H
#define STRATA_CPU_SGEMM_H

#include <stdint.h>

/* Micro-tile of C: MR rows x NR columns in 28 zmm accumulators; NR is two 16-float vectors. */
#define ST_SGEMM_MR 14
#define ST_SGEMM_NR 32

/* C = alpha * op(A) op(B) + beta * C, row-major, batch products `stride_*` elements apart
 * (stride_b 0: B shared). op(A) is m x k, op(B) is k x n; lda/ldb/ldc are row strides of the
 * stored matrices (A stored k x m when trans_a). beta == 0 never reads C. */
typedef struct st_sgemm_args {
    int64_t m, n, k, batch;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
    int trans_a, trans_b;
    float alpha, beta;
} st_sgemm_args;

/* Which SGEMM matmul runs, from STRATA_CPU_GEMM (read once): auto (default, unset or empty),
 * strata or blas. */
typedef enum st_cpu_gemm { ST_CPU_GEMM_AUTO, ST_CPU_GEMM_STRATA, ST_CPU_GEMM_BLAS } st_cpu_gemm;

/* The mode STRATA_CPU_GEMM asks for: 0, or -1 with *bad = the value when it is none of the
 * three. strata on a CPU without AVX-512 is returned as is: matmul then uses the BLAS and
 * st_cpu_blas_describe says so. (This file set stays free of libstrata's internals so that
 * tests/conformance/sgemm can build it alone.) */
int st_cpu_gemm_mode(st_cpu_gemm *mode, const char **bad);

/* Nonzero when this CPU runs the kernel (AVX-512 F/DQ/BW/VL and FMA). */
int st_cpu_sgemm_supported(void);

/* Runs the product on the calling thread's OpenMP team (it opens its own parallel region). Returns
 * 0, or -1 when the packing buffers could not be allocated (C then is untouched) or the build has
 * no kernel (not x86-64). Callers check st_cpu_sgemm_supported() first. */
int st_cpu_sgemm(const st_sgemm_args *g);

/* The kernel and its cache blocks ("Strata AVX-512 14x32, blocks kc=384 ..."). */
const char *st_cpu_sgemm_describe(void);

/* Internal to cpu_sgemm*.c. */
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

#endif
