/* layernorm over the last dim and its backward. Forward: one block per row, two passes (mean,
 * then the centred variance) for accuracy. Backward: dx one block per row; dw and db one
 * thread per column summing over rows with Kahan compensation (no atomics: deterministic). */
#include "gpu_common.cuh"

template <typename T>
__global__ void layernorm_kernel(T *y, float *mean, float *rstd, const T *x, const T *w, const T *b, int64_t rows,
                                 int64_t C, float eps)
{
    __shared__ float sh[32];
    GPU_ROW_STRIDE(r, rows) {
        const T *xr = x + r * C;
        float sum = 0.0f;
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x) sum += gpu_ld(xr, j);
        float m = gpu_block_sum(sum, sh) / (float)C;
        float var = 0.0f;
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
            float t = gpu_ld(xr, j) - m;
            var += t * t;
        }
        float rs = 1.0f / sqrtf(gpu_block_sum(var, sh) / (float)C + eps);
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
            gpu_st(y + r * C, j, (gpu_ld(xr, j) - m) * rs * gpu_ld(w, j) + gpu_ld(b, j));
        if (threadIdx.x == 0) {
            mean[r] = m;
            rstd[r] = rs;
        }
    }
}

template <typename T>
__global__ void layernorm_dx_kernel(T *dx, const T *dy, const T *x, const T *w, const float *mean, const float *rstd,
                                    int64_t rows, int64_t C)
{
    __shared__ float sh[32];
    GPU_ROW_STRIDE(r, rows) {
        const T *dyr = dy + r * C, *xr = x + r * C;
        float m = mean[r], rs = rstd[r], g_sum = 0.0f, gx_sum = 0.0f;
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
            float g = gpu_ld(dyr, j) * gpu_ld(w, j);
            g_sum += g;
            gx_sum += g * (gpu_ld(xr, j) - m) * rs;
        }
        float g_avg = gpu_block_sum(g_sum, sh) / (float)C;
        float gx_avg = gpu_block_sum(gx_sum, sh) / (float)C;
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
            float g = gpu_ld(dyr, j) * gpu_ld(w, j), xhat = (gpu_ld(xr, j) - m) * rs;
            gpu_st(dx + r * C, j, rs * (g - g_avg - xhat * gx_avg));
        }
    }
}

static __device__ __forceinline__ void kahan_add(float &sum, float &comp, float v)
{
    float y = v - comp, t = sum + y;
    comp = (t - sum) - y;
    sum = t;
}

template <typename T>
__global__ void layernorm_dwb_kernel(T *dw, T *db, const T *dy, const T *x, const float *mean, const float *rstd,
                                     int64_t rows, int64_t C)
{
    GPU_GRID_STRIDE(j, C) {
        float sw = 0.0f, cw = 0.0f, sb = 0.0f, cb = 0.0f;
        for (int64_t r = 0; r < rows; r++) {
            float g = gpu_ld(dy, r * C + j);
            kahan_add(sw, cw, g * (gpu_ld(x, r * C + j) - mean[r]) * rstd[r]);
            kahan_add(sb, cb, g);
        }
        gpu_st(dw, j, sw);
        gpu_st(db, j, sb);
    }
}

st_status ST_GPU(layernorm)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *x = &c->in[0];
    int64_t C = x->shape[x->ndim - 1], rows = gpu_numel(x) / C;
    GPU_DISPATCH_F(x->dtype, T, layernorm_kernel<T><<<gpu_rows_grid(rows), GPU_THREADS, 0, d->stream>>>(
                                    (T *)gpu_ptr(&c->out[0]), (float *)gpu_ptr(&c->out[1]), (float *)gpu_ptr(&c->out[2]),
                                    (const T *)gpu_ptr(x), (const T *)gpu_ptr(&c->in[1]), (const T *)gpu_ptr(&c->in[2]),
                                    rows, C, c->p.layernorm.eps));
    GPU_LAUNCHED("layernorm_kernel");
    return ST_OK;
}

/* Inputs (dout, x, w, mean, rstd), outputs (dx, dw, db). */
st_status ST_GPU(layernorm_backward)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *x = &c->in[1];
    int64_t C = x->shape[x->ndim - 1], rows = gpu_numel(x) / C;
    const float *mean = (const float *)gpu_ptr(&c->in[3]), *rstd = (const float *)gpu_ptr(&c->in[4]);
    GPU_DISPATCH_F(x->dtype, T, {
        const T *dy = (const T *)gpu_ptr(&c->in[0]), *xp = (const T *)gpu_ptr(x);
        layernorm_dx_kernel<T><<<gpu_rows_grid(rows), GPU_THREADS, 0, d->stream>>>(
            (T *)gpu_ptr(&c->out[0]), dy, xp, (const T *)gpu_ptr(&c->in[2]), mean, rstd, rows, C);
        layernorm_dwb_kernel<T><<<gpu_blocks(C, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
            (T *)gpu_ptr(&c->out[1]), (T *)gpu_ptr(&c->out[2]), dy, xp, mean, rstd, rows, C);
    });
    GPU_LAUNCHED("layernorm backward kernels");
    return ST_OK;
}
