/* The matmul family on CUDA: cuBLAS (f32, and bf16 storage with f32 accumulation), and the
 * per-device cuBLAS handle. The one file of kernels_cuda/ the HIP plugin does not compile: its
 * matmul is kernels_hip/matmul_hipblas.hip (hipBLAS) or kernels_hip/matmul.hip (a GEMM of its own). */
#include <stdio.h>
#include <cublas_v2.h>
#include "gpu_gemm.h"

static st_status blas_fail(cublasStatus_t e, const char *call, int line)
{
    return ST_GPU(host)->set_error(e == CUBLAS_STATUS_ALLOC_FAILED ? ST_ERR_OUT_OF_MEMORY : ST_ERR_BACKEND,
                                   __FILE__, line, "cuBLAS: %s failed: %s (%s)", call,
                                   cublasGetStatusString(e), cublasGetStatusName(e));
}
#define BLAS_TRY(call)                                                    \
    do {                                                                  \
        cublasStatus_t blas_e_ = (call);                                  \
        if (blas_e_ != CUBLAS_STATUS_SUCCESS) return blas_fail(blas_e_, #call, __LINE__); \
    } while (0)

st_status ST_GPU(blas_start)(gpu_device *d)
{
    cublasHandle_t h = NULL;
    BLAS_TRY(cublasCreate(&h));
    d->blas = h;
    BLAS_TRY(cublasSetStream(h, d->stream));
    /* f32 stays f32: TF32 tensor cores would change results beyond the conformance tolerance. */
    BLAS_TRY(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    return ST_OK;
}

void ST_GPU(blas_stop)(gpu_device *d)
{
    if (d->blas) (void)cublasDestroy((cublasHandle_t)d->blas);
    d->blas = NULL;
}

void ST_GPU(blas_describe)(char *out, size_t size)
{
    int major = 0, minor = 0, patch = 0;
    (void)cublasGetProperty(MAJOR_VERSION, &major);
    (void)cublasGetProperty(MINOR_VERSION, &minor);
    (void)cublasGetProperty(PATCH_LEVEL, &patch);
    snprintf(out, size, "cuBLAS %d.%d.%d", major, minor, patch);
}

/* Operand mapping in gpu_gemm.h (shared with the HIP plugin's hipBLAS path). */
st_status ST_GPU(matmul)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    gpu_gemm g;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK || (s = gpu_gemm_plan(c, &g)) != ST_OK) return s;
    cudaDataType_t t = c->out[0].dtype == ST_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    BLAS_TRY(cublasGemmStridedBatchedEx((cublasHandle_t)d->blas, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                        g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &g.alpha, g.a, t, g.lda,
                                        g.stride_a, g.b, t, g.ldb, g.stride_b, &g.beta, g.c, t, g.ldc, g.stride_c,
                                        g.batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ST_OK;
}
