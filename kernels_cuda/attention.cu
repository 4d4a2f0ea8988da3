/* Causal scaled-dot-product attention over (B, H, T, D) and its backward, written for
 * correctness on any T and D rather than speed: one block per query (forward, dq) or key (dk,
 * dv) row; scores are recomputed instead of stored, keys are walked in chunks of blockDim whose
 * weights go through shared memory, and head dims wider than the block are done in slabs. */
#include "gpu_common.cuh"

#define ATT_THREADS 128

template <typename T>
static __device__ __forceinline__ float dot_sh(const float *a, const T *b, int64_t D)
{
    float s = 0.0f;
    for (int64_t d = 0; d < D; d++) s += a[d] * gpu_ld(b, d);
    return s;
}

template <typename T>
static __device__ __forceinline__ void load_row(float *dst, const T *src, int64_t D)
{
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) dst[d] = gpu_ld(src, d);
}

/* Shared memory: q row (D), chunk weights (blockDim). */
template <typename T>
__global__ void attention_kernel(T *o, float *lse, const T *q, const T *k, const T *v, int64_t rows, int64_t Tn,
                                 int64_t D, float scale)
{
    extern __shared__ float smem[];
    __shared__ float sh[32];
    float *qs = smem, *ps = smem + D;
    GPU_ROW_STRIDE(row, rows) {
        int64_t t = row % Tn, base = (row - t) * D;
        __syncthreads();
        load_row(qs, q + row * D, D);
        __syncthreads();
        float m = -INFINITY, l = 0.0f;
        for (int64_t j = threadIdx.x; j <= t; j += blockDim.x) {
            float s = dot_sh(qs, k + base + j * D, D) * scale;
            if (s > m) {
                l = l * expf(m - s) + 1.0f;
                m = s;
            } else {
                l += expf(s - m);
            }
        }
        float M = gpu_block_max(m, sh);
        float L = gpu_block_sum(m == -INFINITY ? 0.0f : l * expf(m - M), sh);
        float lse_t = M + logf(L);
        if (threadIdx.x == 0) lse[row] = lse_t;
        for (int64_t d0 = 0; d0 < D; d0 += blockDim.x) {
            int64_t d = d0 + threadIdx.x;
            float acc = 0.0f;
            for (int64_t j0 = 0; j0 <= t; j0 += blockDim.x) {
                int64_t j = j0 + threadIdx.x;
                __syncthreads();
                ps[threadIdx.x] = j <= t ? expf(dot_sh(qs, k + base + j * D, D) * scale - lse_t) : 0.0f;
                __syncthreads();
                int64_t n = t - j0 + 1 < (int64_t)blockDim.x ? t - j0 + 1 : blockDim.x;
                if (d < D)
                    for (int64_t jj = 0; jj < n; jj++) acc += ps[jj] * gpu_ld(v + base + (j0 + jj) * D, d);
            }
            if (d < D) gpu_st(o + row * D, d, acc);
        }
    }
}

/* dq for one query row; also stores D_t = dout_t . o_t for the dk/dv kernel.
 * Shared memory: q row, dout row (D each), chunk weights (blockDim). */
template <typename T>
__global__ void attention_dq_kernel(T *dq, float *dterm, const T *dout, const T *q, const T *k, const T *v, const T *o,
                                    const float *lse, int64_t rows, int64_t Tn, int64_t D, float scale)
{
    extern __shared__ float smem[];
    __shared__ float sh[32];
    float *qs = smem, *dos = smem + D, *ps = smem + 2 * D;
    GPU_ROW_STRIDE(row, rows) {
        int64_t t = row % Tn, base = (row - t) * D;
        __syncthreads();
        load_row(qs, q + row * D, D);
        load_row(dos, dout + row * D, D);
        float part = 0.0f;
        for (int64_t d = threadIdx.x; d < D; d += blockDim.x) part += gpu_ld(dout + row * D, d) * gpu_ld(o + row * D, d);
        float Dt = gpu_block_sum(part, sh); /* its barriers also publish qs and dos */
        if (threadIdx.x == 0) dterm[row] = Dt;
        for (int64_t d0 = 0; d0 < D; d0 += blockDim.x) {
            int64_t d = d0 + threadIdx.x;
            float acc = 0.0f;
            for (int64_t j0 = 0; j0 <= t; j0 += blockDim.x) {
                int64_t j = j0 + threadIdx.x;
                __syncthreads();
                float ds = 0.0f;
                if (j <= t) {
                    float p = expf(dot_sh(qs, k + base + j * D, D) * scale - lse[row]);
                    ds = p * (dot_sh(dos, v + base + j * D, D) - Dt);
                }
                ps[threadIdx.x] = ds;
                __syncthreads();
                int64_t n = t - j0 + 1 < (int64_t)blockDim.x ? t - j0 + 1 : blockDim.x;
                if (d < D)
                    for (int64_t jj = 0; jj < n; jj++) acc += ps[jj] * gpu_ld(k + base + (j0 + jj) * D, d);
            }
            if (d < D) gpu_st(dq + row * D, d, acc * scale);
        }
    }
}

/* dk and dv for one key row j, summing over the queries t >= j.
 * Shared memory: k row, v row (D each), dS and P of the chunk (blockDim each). */
template <typename T>
__global__ void attention_dkv_kernel(T *dk, T *dv, const T *dout, const T *q, const T *k, const T *v, const float *lse,
                                     const float *dterm, int64_t rows, int64_t Tn, int64_t D, float scale)
{
    extern __shared__ float smem[];
    float *ks = smem, *vs = smem + D, *dss = smem + 2 * D, *pps = dss + blockDim.x;
    GPU_ROW_STRIDE(row, rows) {
        int64_t j = row % Tn, base = (row - j) * D, qrow0 = row - j;
        __syncthreads();
        load_row(ks, k + row * D, D);
        load_row(vs, v + row * D, D);
        for (int64_t d0 = 0; d0 < D; d0 += blockDim.x) {
            int64_t d = d0 + threadIdx.x;
            float ak = 0.0f, av = 0.0f;
            for (int64_t t0 = j; t0 < Tn; t0 += blockDim.x) {
                int64_t t = t0 + threadIdx.x;
                __syncthreads();
                float p = 0.0f, ds = 0.0f;
                if (t < Tn) {
                    p = expf(dot_sh(ks, q + base + t * D, D) * scale - lse[qrow0 + t]);
                    ds = p * (dot_sh(vs, dout + base + t * D, D) - dterm[qrow0 + t]);
                }
                dss[threadIdx.x] = ds;
                pps[threadIdx.x] = p;
                __syncthreads();
                int64_t n = Tn - t0 < (int64_t)blockDim.x ? Tn - t0 : blockDim.x;
                if (d < D)
                    for (int64_t tt = 0; tt < n; tt++) {
                        ak += dss[tt] * gpu_ld(q + base + (t0 + tt) * D, d);
                        av += pps[tt] * gpu_ld(dout + base + (t0 + tt) * D, d);
                    }
            }
            if (d < D) {
                gpu_st(dk + row * D, d, ak * scale);
                gpu_st(dv + row * D, d, av);
            }
        }
    }
}

static st_status shared_fits(int64_t floats)
{
    if (floats * (int64_t)sizeof(float) <= 48 * 1024) return ST_OK;
    return ST_GPU(host)->set_error(ST_ERR_UNSUPPORTED, __FILE__, __LINE__,
                                   "%s: attention head size too large for this kernel's shared memory (%lld floats)",
                                   ST_GPU_NAME, (long long)floats);
}

st_status ST_GPU(attention)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    const st_view *q = &c->in[0];
    int64_t Tn = q->shape[2], D = q->shape[3], rows = gpu_numel(q) / D;
    st_status s = shared_fits(D + ATT_THREADS);
    if (s == ST_OK) s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    size_t shm = (size_t)(D + ATT_THREADS) * sizeof(float);
    GPU_DISPATCH_F(q->dtype, T, attention_kernel<T><<<gpu_rows_grid(rows), ATT_THREADS, shm, d->stream>>>(
                                    (T *)gpu_ptr(&c->out[0]), (float *)gpu_ptr(&c->out[1]), (const T *)gpu_ptr(q),
                                    (const T *)gpu_ptr(&c->in[1]), (const T *)gpu_ptr(&c->in[2]), rows, Tn, D,
                                    1.0f / sqrtf((float)D)));
    GPU_LAUNCHED("attention_kernel");
    return ST_OK;
}

/* Inputs (dout, q, k, v, o, lse), outputs (dq, dk, dv). */
st_status ST_GPU(attention_backward)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    gpu_block *dterm = NULL;
    const st_view *q = &c->in[1];
    int64_t Tn = q->shape[2], D = q->shape[3], rows = gpu_numel(q) / D;
    st_status s = shared_fits(2 * D + 2 * ATT_THREADS);
    if (s == ST_OK) s = ST_GPU(enter)(ctx, dev, &d);
    if (s == ST_OK) s = ST_GPU(scratch)(ctx, dev, (size_t)rows * sizeof(float), &dterm);
    if (s != ST_OK) return s;
    float scale = 1.0f / sqrtf((float)D);
    const float *lse = (const float *)gpu_ptr(&c->in[5]);
    GPU_DISPATCH_F(q->dtype, T, {
        const T *dout = (const T *)gpu_ptr(&c->in[0]), *qp = (const T *)gpu_ptr(q);
        const T *k = (const T *)gpu_ptr(&c->in[2]), *v = (const T *)gpu_ptr(&c->in[3]);
        attention_dq_kernel<T><<<gpu_rows_grid(rows), ATT_THREADS, (size_t)(2 * D + ATT_THREADS) * sizeof(float),
                                 d->stream>>>((T *)gpu_ptr(&c->out[0]), (float *)dterm->ptr, dout, qp, k, v,
                                              (const T *)gpu_ptr(&c->in[4]), lse, rows, Tn, D, scale);
        attention_dkv_kernel<T><<<gpu_rows_grid(rows), ATT_THREADS, (size_t)(2 * D + 2 * ATT_THREADS) * sizeof(float),
                                  d->stream>>>((T *)gpu_ptr(&c->out[1]), (T *)gpu_ptr(&c->out[2]), dout, qp, k, v, lse,
                                               (const float *)dterm->ptr, rows, Tn, D, scale);
    });
    ST_GPU(scratch_free)(ctx, dev, dterm);
    GPU_LAUNCHED("attention backward kernels");
    return ST_OK;
}
