/* cross_entropy (softmax probabilities and -log p[target] per row) and its backward. Targets
 * outside [0, V) mark an ignored row: loss 0 and zero gradient, never an out-of-range read. */
#include "gpu_common.cuh"

template <typename T>
__global__ void cross_entropy_kernel(float *loss, float *probs, const T *logits, const int32_t *targets, int64_t rows,
                                     int64_t V)
{
    __shared__ float sh[32];
    GPU_ROW_STRIDE(r, rows) {
        const T *x = logits + r * V;
        float m = -INFINITY;
        for (int64_t j = threadIdx.x; j < V; j += blockDim.x) m = gpu_max2(m, gpu_ld(x, j));
        m = gpu_block_max(m, sh);
        float sum = 0.0f;
        for (int64_t j = threadIdx.x; j < V; j += blockDim.x) sum += expf(gpu_ld(x, j) - m);
        sum = gpu_block_sum(sum, sh);
        float inv = 1.0f / sum;
        for (int64_t j = threadIdx.x; j < V; j += blockDim.x) probs[r * V + j] = expf(gpu_ld(x, j) - m) * inv;
        if (threadIdx.x == 0) {
            int32_t t = targets[r];
            loss[r] = t >= 0 && t < V ? m + logf(sum) - gpu_ld(x, t) : 0.0f;
        }
    }
}

template <typename T>
__global__ void cross_entropy_backward_kernel(T *dx, const float *dloss, const float *probs, const int32_t *targets,
                                              int64_t rows, int64_t V)
{
    GPU_GRID_STRIDE(i, rows * V) {
        int64_t r = i / V, j = i % V;
        int32_t t = targets[r];
        float g = t >= 0 && t < V ? (probs[i] - (j == t ? 1.0f : 0.0f)) * dloss[r] : 0.0f;
        gpu_st(dx, i, g);
    }
}

st_status ST_GPU(cross_entropy)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *x = &c->in[0];
    int64_t V = x->shape[x->ndim - 1], rows = gpu_numel(x) / V;
    GPU_DISPATCH_F(x->dtype, T, cross_entropy_kernel<T><<<gpu_rows_grid(rows), GPU_THREADS, 0, d->stream>>>(
                                    (float *)gpu_ptr(&c->out[0]), (float *)gpu_ptr(&c->out[1]), (const T *)gpu_ptr(x),
                                    (const int32_t *)gpu_ptr(&c->in[1]), rows, V));
    GPU_LAUNCHED("cross_entropy_kernel");
    return ST_OK;
}

/* Inputs (dloss, probs, targets), output dlogits with the logits' dtype. */
st_status ST_GPU(cross_entropy_backward)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *dx = &c->out[0];
    int64_t V = dx->shape[dx->ndim - 1], rows = gpu_numel(dx) / V;
    GPU_DISPATCH_F(dx->dtype, T, cross_entropy_backward_kernel<T><<<gpu_blocks(rows * V, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
                                     (T *)gpu_ptr(dx), (const float *)gpu_ptr(&c->in[0]), (const float *)gpu_ptr(&c->in[1]),
                                     (const int32_t *)gpu_ptr(&c->in[2]), rows, V));
    GPU_LAUNCHED("cross_entropy_backward_kernel");
    return ST_OK;
}
