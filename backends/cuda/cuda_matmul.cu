/* matmul for the CUDA plugin through cuBLAS (f32, and bf16 storage with f32 accumulation), and
 * the per-device cuBLAS handle. The HIP plugin has its own in kernels_hip/matmul.hip. */
#include <limits.h>
#include <stdio.h>
#include <cublas_v2.h>
#include "gpu_backend.h"

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

/* Row-major out (M, N) = op(a) @ op(b) is column-major out^T (N, M) = op(b)^T @ op(a)^T, and a
 * row-major matrix read column-major is its transpose: so cuBLAS gets b first, then a, with the
 * user's transpose flags as they are and leading dimensions equal to the stored row lengths. */
st_status ST_GPU(matmul)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *a = &c->in[0], *b = &c->in[1], *o = &c->out[0];
    int nd = o->ndim;
    int64_t M = o->shape[nd - 2], N = o->shape[nd - 1];
    int64_t K = a->shape[nd - (c->p.trans_a ? 2 : 1)], batch = 1;
    for (int i = 0; i < nd - 2; i++) batch *= o->shape[i];
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || batch > INT_MAX)
        return ST_GPU(host)->set_error(ST_ERR_UNSUPPORTED, __FILE__, __LINE__,
                                       "cuda: matmul dimensions beyond 2^31 (M %lld, N %lld, K %lld, batch %lld)",
                                       (long long)M, (long long)N, (long long)K, (long long)batch);
    cudaDataType_t t = o->dtype == ST_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    float alpha = c->p.alpha, beta = c->p.beta;
    long long stride_b = b->ndim == nd ? (long long)(K * N) : 0;
    BLAS_TRY(cublasGemmStridedBatchedEx(
        (cublasHandle_t)d->blas, c->p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, c->p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
        (int)N, (int)M, (int)K, &alpha, gpu_ptr(b), t, (int)(c->p.trans_b ? K : N), stride_b, gpu_ptr(a), t,
        (int)(c->p.trans_a ? M : K), (long long)(M * K), &beta, gpu_ptr(o), t, (int)N, (long long)(M * N),
        (int)batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ST_OK;
}
