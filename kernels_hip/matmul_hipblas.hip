/* matmul for the HIP plugin through hipBLAS (rocBLAS underneath; f32, and bf16 storage with f32
 * accumulation), and the per-device hipBLAS handle. Built instead of matmul.hip when CMake finds
 * hipBLAS (STRATA_HIP_BLAS); the operand mapping is the cuBLAS one, from gpu_gemm.h. */
#include <stdio.h>
/* hipBLAS 2 (ROCm 6) keeps the ROCm 5 signatures of the Ex functions, deprecated, unless
 * HIPBLAS_V2 is defined; hipBLAS 3 (ROCm 7) has only the new ones (hipDataType,
 * hipblasComputeType_t). ROCm 5.3+ installs the headers under hipblas/, 5.2 also at the top. */
#if __has_include(<hipblas/hipblas.h>)
#include <hipblas/hipblas-version.h>
#if hipblasVersionMajor >= 2 && !defined(HIPBLAS_V2)
#define HIPBLAS_V2
#endif
#include <hipblas/hipblas.h>
#else
#include <hipblas-version.h>
#include <hipblas.h>
#endif
#include "gpu_gemm.h"

#ifdef HIPBLAS_V2
typedef hipDataType gemm_dtype;
#define GEMM_F32 HIP_R_32F
#define GEMM_BF16 HIP_R_16BF
#define GEMM_COMPUTE_F32 HIPBLAS_COMPUTE_32F
#else
typedef hipblasDatatype_t gemm_dtype;
#define GEMM_F32 HIPBLAS_R_32F
#define GEMM_BF16 HIPBLAS_R_16B
#define GEMM_COMPUTE_F32 HIPBLAS_R_32F
#endif

static st_status blas_fail(hipblasStatus_t e, const char *call, int line)
{
    return ST_GPU(host)->set_error(e == HIPBLAS_STATUS_ALLOC_FAILED ? ST_ERR_OUT_OF_MEMORY : ST_ERR_BACKEND,
                                   __FILE__, line, "hipBLAS: %s failed: %s (%d)", call,
                                   hipblasStatusToString(e), (int)e);
}
#define BLAS_TRY(call)                                                    \
    do {                                                                  \
        hipblasStatus_t blas_e_ = (call);                                 \
        if (blas_e_ != HIPBLAS_STATUS_SUCCESS) return blas_fail(blas_e_, #call, __LINE__); \
    } while (0)

st_status ST_GPU(blas_start)(gpu_device *d)
{
    hipblasHandle_t h = NULL;
    BLAS_TRY(hipblasCreate(&h));
    d->blas = h;
    BLAS_TRY(hipblasSetStream(h, d->stream));
    return ST_OK;
}

void ST_GPU(blas_stop)(gpu_device *d)
{
    if (d->blas) (void)hipblasDestroy((hipblasHandle_t)d->blas);
    d->blas = NULL;
}

/* The version the plugin was built against: hipBLAS has no portable run-time version query. */
void ST_GPU(blas_describe)(char *out, size_t size)
{
    snprintf(out, size, "matmul: hipBLAS %d.%d.%d", hipblasVersionMajor, hipblasVersionMinor, hipblasVersionPatch);
}

st_status ST_GPU(matmul)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    gpu_gemm g;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK || (s = gpu_gemm_plan(c, &g)) != ST_OK) return s;
    gemm_dtype t = c->out[0].dtype == ST_BF16 ? GEMM_BF16 : GEMM_F32;
    BLAS_TRY(hipblasGemmStridedBatchedEx((hipblasHandle_t)d->blas, g.trans_a ? HIPBLAS_OP_T : HIPBLAS_OP_N,
                                         g.trans_b ? HIPBLAS_OP_T : HIPBLAS_OP_N, g.m, g.n, g.k, &g.alpha, g.a, t,
                                         g.lda, g.stride_a, g.b, t, g.ldb, g.stride_b, &g.beta, g.c, t, g.ldc,
                                         g.stride_c, g.batch, GEMM_COMPUTE_F32, HIPBLAS_GEMM_DEFAULT));
    return ST_OK;
}
