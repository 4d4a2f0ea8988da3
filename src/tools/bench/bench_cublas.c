/* strata-bench's CUDA baselines, built when CMake finds the CUDA toolkit with cuBLAS (and
 * STRATA_WITH_CUDA is not OFF): cuBLAS SGEMM and a device-to-device cudaMemcpy as the copy
 * reference, on the CUDA device whose index is Strata's. There is no FMA probe kernel here (it
 * would need nvcc or NVRTC): give --peak-gflops for CUDA devices. */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

typedef struct raw_cuda {
    cublasHandle_t h;
    int index;
} raw_cuda;

static int cuda_fail(bench_device *d, const char *what, cudaError_t e)
{
    snprintf(d->vendor_error, sizeof d->vendor_error, "%s: %s", what, cudaGetErrorString(e));
    return 0;
}

static int cublas_open(bench_device *d)
{
    raw_cuda *r = calloc(1, sizeof *r);
    int runtime = 0, driver = 0, version = 0;
    if (!r) return 0;
    r->index = d->props.index;
    cudaError_t e = cudaSetDevice(r->index);
    cublasStatus_t s = e == cudaSuccess ? cublasCreate(&r->h) : CUBLAS_STATUS_NOT_INITIALIZED;
    if (e != cudaSuccess || s != CUBLAS_STATUS_SUCCESS) {
        snprintf(d->vendor_info, sizeof d->vendor_info, "cuBLAS: %s",
                 e != cudaSuccess ? cudaGetErrorString(e) : cublasGetStatusString(s));
        free(r);
        return 0;
    }
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    cublasGetVersion(r->h, &version);
    snprintf(d->vendor_info, sizeof d->vendor_info, "cuBLAS %d, CUDA runtime %d, driver %d", version, runtime, driver);
    d->vctx = r;
    return 1;
}

static void cublas_close(bench_device *d)
{
    raw_cuda *r = d->vctx;
    if (!r) return;
    cublasDestroy(r->h);
    free(r);
    d->vctx = NULL;
}

typedef struct cu_call {
    raw_cuda *r;
    bench_device *d;
    float *a, *b, *c;
    int m, n, k, trans_b;
    size_t bytes;
} cu_call;

/* Row-major C = A B is column-major C^T = B^T A^T: swap the operands, keep the leading dims. */
static st_status run_sgemm(void *p)
{
    cu_call *c = p;
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t s = cublasSgemm(c->r->h, c->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, c->n, c->m, c->k,
                                   &one, c->b, c->trans_b ? c->k : c->n, c->a, c->k, &zero, c->c, c->n);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(c->d->vendor_error, sizeof c->d->vendor_error, "cublasSgemm: %s", cublasGetStatusString(s));
        return ST_ERR_BACKEND;
    }
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? ST_OK : (cuda_fail(c->d, "cudaDeviceSynchronize", e), ST_ERR_BACKEND);
}

static st_status run_copy(void *p)
{
    cu_call *c = p;
    cudaError_t e = cudaMemcpy(c->c, c->a, c->bytes, cudaMemcpyDeviceToDevice);
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    return e == cudaSuccess ? ST_OK : (cuda_fail(c->d, "cudaMemcpy", e), ST_ERR_BACKEND);
}

static void release(cu_call *c)
{
    cudaFree(c->a);
    cudaFree(c->b);
    cudaFree(c->c);
}

static st_status cublas_gemm(bench_device *d, const bench_config *cfg, int m, int n, int k, int trans_b,
                             bench_stats *t)
{
    cu_call c = {d->vctx, d, NULL, NULL, NULL, m, n, k, trans_b, 0};
    cudaError_t e = cudaSetDevice(c.r->index);
    if (e == cudaSuccess) e = cudaMalloc((void **)&c.a, (size_t)m * k * 4);
    if (e == cudaSuccess) e = cudaMalloc((void **)&c.b, (size_t)k * n * 4);
    if (e == cudaSuccess) e = cudaMalloc((void **)&c.c, (size_t)m * n * 4);
    if (e == cudaSuccess) e = cudaMemset(c.a, 0, (size_t)m * k * 4);
    if (e == cudaSuccess) e = cudaMemset(c.b, 0, (size_t)k * n * 4);
    st_status s = e == cudaSuccess ? bench_time(cfg, run_sgemm, &c, t) : (cuda_fail(d, "buffers", e), ST_ERR_BACKEND);
    release(&c);
    return s;
}

static st_status cublas_copy(bench_device *d, const bench_config *cfg, double bytes, bench_stats *t)
{
    cu_call c = {d->vctx, d, NULL, NULL, NULL, 0, 0, 0, 0, (size_t)(bytes / 2.0)};
    if (c.bytes == 0) c.bytes = 4;
    cudaError_t e = cudaSetDevice(c.r->index);
    if (e == cudaSuccess) e = cudaMalloc((void **)&c.a, c.bytes);
    if (e == cudaSuccess) e = cudaMalloc((void **)&c.c, c.bytes);
    if (e == cudaSuccess) e = cudaMemset(c.a, 0, c.bytes);
    st_status s = e == cudaSuccess ? bench_time(cfg, run_copy, &c, t) : (cuda_fail(d, "buffers", e), ST_ERR_BACKEND);
    release(&c);
    return s;
}

__attribute__((visibility("default"))) const bench_vendor bench_vendor_cublas = {"cublas_sgemm", "copy_kernel", cublas_open, cublas_gemm, cublas_copy,
                                          NULL, cublas_close};
