/* softmax over the last dim (optionally causal over (..., T, S)) and its backward. One block
 * per row; the reductions are the shared block reductions, correct for 32- and 64-wide warps. */
#include "gpu_common.cuh"

/* Row r of a causal (..., T, S) softmax sees columns j <= (r mod T) + S - T. */
template <typename T>
__global__ void softmax_kernel(T *y, const T *x, int64_t rows, int64_t S, int64_t T_, int causal)
{
    __shared__ float sh[32];
    GPU_ROW_STRIDE(r, rows) {
        const T *xr = x + r * S;
        T *yr = y + r * S;
        int64_t valid = causal ? r % T_ + S - T_ + 1 : S;
        float m = -INFINITY;
        for (int64_t j = threadIdx.x; j < valid; j += blockDim.x) m = gpu_max2(m, gpu_ld(xr, j));
        m = gpu_block_max(m, sh);
        float sum = 0.0f;
        for (int64_t j = threadIdx.x; j < valid; j += blockDim.x) sum += expf(gpu_ld(xr, j) - m);
        float inv = 1.0f / gpu_block_sum(sum, sh);
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x)
            gpu_st(yr, j, j < valid ? expf(gpu_ld(xr, j) - m) * inv : 0.0f);
    }
}

template <typename T>
__global__ void softmax_backward_kernel(T *dx, const T *dy, const T *y, int64_t rows, int64_t S)
{
    __shared__ float sh[32];
    GPU_ROW_STRIDE(r, rows) {
        const T *dyr = dy + r * S, *yr = y + r * S;
        float dot = 0.0f;
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x) dot += gpu_ld(dyr, j) * gpu_ld(yr, j);
        dot = gpu_block_sum(dot, sh);
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x)
            gpu_st(dx + r * S, j, gpu_ld(yr, j) * (gpu_ld(dyr, j) - dot));
    }
}

st_status ST_GPU(softmax)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *x = &c->in[0];
    int64_t S = x->shape[x->ndim - 1], rows = gpu_numel(x) / S;
    int64_t T_ = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
    GPU_DISPATCH_F(x->dtype, T, softmax_kernel<T><<<gpu_rows_grid(rows), GPU_THREADS, 0, d->stream>>>(
                                    (T *)gpu_ptr(&c->out[0]), (const T *)gpu_ptr(x), rows, S, T_, c->p.softmax.causal));
    GPU_LAUNCHED("softmax_kernel");
    return ST_OK;
}

st_status ST_GPU(softmax_backward)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *dy = &c->in[0];
    int64_t S = dy->shape[dy->ndim - 1], rows = gpu_numel(dy) / S;
    GPU_DISPATCH_F(dy->dtype, T, softmax_backward_kernel<T><<<gpu_rows_grid(rows), GPU_THREADS, 0, d->stream>>>(
                                     (T *)gpu_ptr(&c->out[0]), (const T *)gpu_ptr(dy), (const T *)gpu_ptr(&c->in[1]),
                                     rows, S));
    GPU_LAUNCHED("softmax_backward_kernel");
    return ST_OK;
}
