/* The row-major -> column-major argument mapping of matmul for a vendor BLAS, shared by the CUDA
 * plugin (cuBLAS, cuda_matmul.cu) and the HIP plugin when built with hipBLAS (kernels_hip/). */
#ifndef STRATA_GPU_GEMM_H
#define STRATA_GPU_GEMM_H

#include <limits.h>
#include "gpu_backend.h"

/* One strided-batched column-major GEMM: c = alpha * op(a) @ op(b) + beta * c. stride_a 0: one
 * matrix shared by every batch. The vendor handles beta == 0 without reading c (it may hold NaN). */
typedef struct gpu_gemm {
    int trans_a, trans_b;
    int m, n, k, batch;
    const void *a, *b;
    void *c;
    int lda, ldb, ldc;
    long long stride_a, stride_b, stride_c;
    float alpha, beta;
} gpu_gemm;

/* Row-major out (M, N) = op(a) @ op(b) is column-major out^T (N, M) = op(b)^T @ op(a)^T, and a
 * row-major matrix read column-major is its transpose: so the BLAS gets the user's b first, then
 * a, with the user's transpose flags as they are and leading dimensions equal to the stored row
 * lengths. The vendor APIs take int sizes, hence the 2^31 limit. */
static inline st_status gpu_gemm_plan(const st_op_call *c, gpu_gemm *g)
{
    const st_view *a = &c->in[0], *b = &c->in[1], *o = &c->out[0];
    int nd = o->ndim;
    int64_t M = o->shape[nd - 2], N = o->shape[nd - 1];
    int64_t K = a->shape[nd - (c->p.matmul.trans_a ? 2 : 1)], batch = 1;
    for (int i = 0; i < nd - 2; i++) batch *= o->shape[i];
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || batch > INT_MAX)
        return ST_GPU(host)->set_error(ST_ERR_UNSUPPORTED, __FILE__, __LINE__,
                                       ST_GPU_NAME ": matmul dimensions beyond 2^31 (M %lld, N %lld, K %lld, batch %lld)",
                                       (long long)M, (long long)N, (long long)K, (long long)batch);
    g->trans_a = c->p.matmul.trans_b;
    g->trans_b = c->p.matmul.trans_a;
    g->m = (int)N;
    g->n = (int)M;
    g->k = (int)K;
    g->batch = (int)batch;
    g->a = gpu_ptr(b);
    g->lda = (int)(c->p.matmul.trans_b ? K : N);
    g->stride_a = b->ndim == nd ? (long long)(K * N) : 0;
    g->b = gpu_ptr(a);
    g->ldb = (int)(c->p.matmul.trans_a ? M : K);
    g->stride_b = (long long)(M * K);
    g->c = gpu_ptr(o);
    g->ldc = (int)N;
    g->stride_c = (long long)(M * N);
    g->alpha = c->p.matmul.alpha;
    g->beta = c->p.matmul.beta;
    return ST_OK;
}

#endif
