/* sum, mean, max along one axis and sumsq over everything. The axis splits x into
 * (outer, n, inner): with inner == 1 each row is one block's tree reduction; otherwise one
 * thread per output walks its column with Kahan summation, so long axes keep f32 accuracy. */
#include "gpu_common.cuh"

enum { RED_SUM, RED_MEAN, RED_MAX };

template <typename T>
__global__ void reduce_rows_kernel(T *y, const T *x, int64_t rows, int64_t n, int kind)
{
    __shared__ float sh[32];
    GPU_ROW_STRIDE(r, rows) {
        const T *row = x + r * n;
        float acc = kind == RED_MAX ? -INFINITY : 0.0f;
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
            acc = kind == RED_MAX ? gpu_max2(acc, gpu_ld(row, k)) : acc + gpu_ld(row, k);
        acc = kind == RED_MAX ? gpu_block_max(acc, sh) : gpu_block_sum(acc, sh);
        if (threadIdx.x == 0) gpu_st(y, r, kind == RED_MEAN ? acc / (float)n : acc);
    }
}

template <typename T>
__global__ void reduce_cols_kernel(T *y, const T *x, int64_t outer, int64_t n, int64_t inner, int kind)
{
    GPU_GRID_STRIDE(i, outer * inner) {
        int64_t o = i / inner, j = i % inner;
        const T *col = x + o * n * inner + j;
        float acc = kind == RED_MAX ? -INFINITY : 0.0f, comp = 0.0f;
        for (int64_t k = 0; k < n; k++) {
            float v = gpu_ld(col, k * inner);
            if (kind == RED_MAX) {
                acc = gpu_max2(acc, v);
            } else {
                float yk = v - comp, t = acc + yk;
                comp = (t - acc) - yk;
                acc = t;
            }
        }
        gpu_st(y, i, kind == RED_MEAN ? acc / (float)n : acc);
    }
}

static st_status reduce_axis(void *ctx, int dev, const st_op_call *c, int kind)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *x = &c->in[0];
    int64_t outer = 1, inner = 1, n = x->shape[c->p.sum.axis];
    for (int i = 0; i < c->p.sum.axis; i++) outer *= x->shape[i];
    for (int i = c->p.sum.axis + 1; i < x->ndim; i++) inner *= x->shape[i];
    if (inner == 1)
        GPU_DISPATCH_F(x->dtype, T, reduce_rows_kernel<T><<<gpu_rows_grid(outer), GPU_THREADS, 0, d->stream>>>(
                                        (T *)gpu_ptr(&c->out[0]), (const T *)gpu_ptr(x), outer, n, kind));
    else
        GPU_DISPATCH_F(x->dtype, T, reduce_cols_kernel<T><<<gpu_blocks(outer * inner, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
                                        (T *)gpu_ptr(&c->out[0]), (const T *)gpu_ptr(x), outer, n, inner, kind));
    GPU_LAUNCHED("reduce_kernel");
    return ST_OK;
}

st_status ST_GPU(sum)(void *ctx, int dev, const st_op_call *c) { return reduce_axis(ctx, dev, c, RED_SUM); }
st_status ST_GPU(mean)(void *ctx, int dev, const st_op_call *c) { return reduce_axis(ctx, dev, c, RED_MEAN); }
st_status ST_GPU(max)(void *ctx, int dev, const st_op_call *c) { return reduce_axis(ctx, dev, c, RED_MAX); }

#define SUMSQ_BLOCKS 1024

/* Pass 1: one partial per block; pass 2: one block adds the partials in a fixed order, so the
 * result does not depend on scheduling (no atomics). */
template <typename T>
__global__ void sumsq_partial_kernel(float *part, const T *x, int64_t n)
{
    __shared__ float sh[32];
    float acc = 0.0f;
    GPU_GRID_STRIDE(i, n) {
        float v = gpu_ld(x, i);
        acc += v * v;
    }
    acc = gpu_block_sum(acc, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

__global__ void sumsq_final_kernel(float *out, const float *part, int n)
{
    __shared__ float sh[32];
    float acc = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += part[i];
    acc = gpu_block_sum(acc, sh);
    if (threadIdx.x == 0) *out = acc;
}

st_status ST_GPU(sumsq)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    gpu_block *part;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s == ST_OK) s = ST_GPU(scratch)(ctx, dev, SUMSQ_BLOCKS * sizeof(float), &part);
    if (s != ST_OK) return s;
    const st_view *x = &c->in[0];
    int64_t n = gpu_numel(x);
    unsigned blocks = gpu_blocks(n, GPU_THREADS);
    if (blocks > SUMSQ_BLOCKS) blocks = SUMSQ_BLOCKS;
    GPU_DISPATCH_F(x->dtype, T, sumsq_partial_kernel<T><<<blocks, GPU_THREADS, 0, d->stream>>>(
                                    (float *)part->ptr, (const T *)gpu_ptr(x), n));
    sumsq_final_kernel<<<1, GPU_THREADS, 0, d->stream>>>((float *)gpu_ptr(&c->out[0]), (const float *)part->ptr,
                                                         (int)blocks);
    ST_GPU(scratch_free)(ctx, dev, part);
    GPU_LAUNCHED("sumsq kernels");
    return ST_OK;
}
