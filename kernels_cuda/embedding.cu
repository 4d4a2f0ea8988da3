/* embedding (row gather) and its backward (scatter-add). Indices outside [0, V) give a zero
 * row forward and are skipped backward: device backends never fault on bad indices. The
 * backward adds into an f32 buffer with atomics (the dtable itself when it is f32, else a
 * scratch buffer cast to bf16 afterwards), so summation order may vary from run to run. */
#include "gpu_common.cuh"

template <typename T>
__global__ void embedding_kernel(T *y, const T *table, const int32_t *idx, int64_t n, int64_t V, int64_t C)
{
    GPU_GRID_STRIDE(i, n * C) {
        int64_t row = i / C, j = i % C;
        int32_t v = idx[row];
        gpu_st(y, i, v >= 0 && v < V ? gpu_ld(table, (int64_t)v * C + j) : 0.0f);
    }
}

__global__ void zero_kernel(float *p, int64_t n)
{
    GPU_GRID_STRIDE(i, n) p[i] = 0.0f;
}

template <typename T>
__global__ void embedding_scatter_kernel(float *acc, const T *dy, const int32_t *idx, int64_t n, int64_t V, int64_t C)
{
    GPU_GRID_STRIDE(i, n * C) {
        int32_t v = idx[i / C];
        if (v >= 0 && v < V) atomicAdd(acc + (int64_t)v * C + i % C, gpu_ld(dy, i));
    }
}

__global__ void to_bf16_kernel(gpu_bf16 *out, const float *in, int64_t n)
{
    GPU_GRID_STRIDE(i, n) gpu_st(out, i, in[i]);
}

st_status ST_GPU(embedding)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *table = &c->in[0], *idx = &c->in[1];
    int64_t V = table->shape[0], C = table->shape[1], n = gpu_numel(idx);
    GPU_DISPATCH_F(table->dtype, T, embedding_kernel<T><<<gpu_blocks(n * C, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
                                        (T *)gpu_ptr(&c->out[0]), (const T *)gpu_ptr(table),
                                        (const int32_t *)gpu_ptr(idx), n, V, C));
    GPU_LAUNCHED("embedding_kernel");
    return ST_OK;
}

/* Inputs (dout, idx), output dtable (V, C). */
st_status ST_GPU(embedding_backward)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *dy = &c->in[0], *idx = &c->in[1], *dt = &c->out[0];
    int64_t V = dt->shape[0], C = dt->shape[1], n = gpu_numel(idx);
    gpu_block *tmp = NULL;
    float *acc = (float *)gpu_ptr(dt);
    if (dt->dtype == ST_BF16) {
        s = ST_GPU(scratch)(ctx, dev, (size_t)(V * C) * sizeof(float), &tmp);
        if (s != ST_OK) return s;
        acc = (float *)tmp->ptr;
    }
    zero_kernel<<<gpu_blocks(V * C, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(acc, V * C);
    GPU_DISPATCH_F(dy->dtype, T, embedding_scatter_kernel<T><<<gpu_blocks(n * C, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
                                     acc, (const T *)gpu_ptr(dy), (const int32_t *)gpu_ptr(idx), n, V, C));
    if (tmp) {
        to_bf16_kernel<<<gpu_blocks(V * C, GPU_THREADS), GPU_THREADS, 0, d->stream>>>((gpu_bf16 *)gpu_ptr(dt), acc, V * C);
        ST_GPU(scratch_free)(ctx, dev, tmp);
    }
    GPU_LAUNCHED("embedding backward kernels");
    return ST_OK;
}
