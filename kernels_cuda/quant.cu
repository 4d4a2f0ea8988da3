/* quantize, dequantize: block-symmetric int8 / int4 (two per byte, element 2j in the low nibble).
 * quantize runs one thread block per quantization block: the block's amax is one block reduction
 * of the bit patterns |x| as unsigned integers (NaN sorts above inf, which fmaxf would drop), then
 * every thread quantizes its elements with rintf (half to even). f32 division is IEEE-rounded
 * with nvcc's and hipcc's defaults (-prec-div=true; HIP's correctly rounded fdiv), as on the CPU. */
#include "gpu_common.cuh"

static __device__ __forceinline__ uint32_t abs_bits(const float *x, int64_t i) { return __float_as_uint(x[i]) & 0x7fffffffu; }
static __device__ __forceinline__ uint32_t abs_bits(const gpu_bf16 *x, int64_t i)
{
    return ((uint32_t)x[i].bits << 16) & 0x7fffffffu;
}

/* Unsigned max over the thread block, returned to every thread; `sh` is __shared__ uint32_t[32]. */
static __device__ __forceinline__ uint32_t block_umax(uint32_t v, uint32_t *sh)
{
    int lane = threadIdx.x % ST_WARP, warp = threadIdx.x / ST_WARP, nw = blockDim.x / ST_WARP;
    for (int o = ST_WARP / 2; o > 0; o >>= 1) v = max(v, (uint32_t)ST_SHFL_XOR(v, o, ST_WARP));
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0u;
    for (int o = ST_WARP / 2; o > 0; o >>= 1) v = max(v, (uint32_t)ST_SHFL_XOR(v, o, ST_WARP));
    return v;
}

static __device__ __forceinline__ int quant_one(float x, float pre, float inv, float qmax)
{
    float t = rintf(__fmul_rn(__fmul_rn(x, pre), inv));
    return (int)fminf(fmaxf(t, -qmax), qmax);
}

template <typename T>
__global__ void quantize_kernel(int8_t *q, float *scale, const T *x, int64_t n, int64_t block, int bits)
{
    __shared__ uint32_t sh[32];
    int64_t nb = (n + block - 1) / block;
    GPU_ROW_STRIDE(g, nb) {
        int64_t i0 = g * block, len = n - i0 < block ? n - i0 : block;
        uint32_t m = 0;
        for (int64_t k = threadIdx.x; k < len; k += blockDim.x) m = max(m, abs_bits(x, i0 + k));
        uint32_t abits = block_umax(m, sh);
        float qmax = bits == 8 ? 127.0f : 7.0f, amax = __uint_as_float(abits);
        if (threadIdx.x == 0) scale[g] = amax / qmax; /* NaN and inf pass through */
        bool zero = abits >= 0x7f800000u || abits == 0; /* non-finite or all-zero block: q all 0 */
        float pre = amax < 0x1p-60f ? 0x1p64f : 1.0f;
        float inv = zero ? 0.0f : qmax / (amax * pre);
        if (bits == 8) {
            for (int64_t k = threadIdx.x; k < len; k += blockDim.x)
                q[i0 + k] = zero ? 0 : (int8_t)quant_one(gpu_ld(x, i0 + k), pre, inv, qmax);
        } else {
            for (int64_t j = threadIdx.x; 2 * j < len; j += blockDim.x) {
                int lo = zero ? 0 : quant_one(gpu_ld(x, i0 + 2 * j), pre, inv, qmax);
                int hi = zero || 2 * j + 1 >= len ? 0 : quant_one(gpu_ld(x, i0 + 2 * j + 1), pre, inv, qmax);
                q[i0 / 2 + j] = (int8_t)((lo & 15) | ((hi & 15) << 4));
            }
        }
    }
}

/* Element i's payload as an integer: int8, or a sign-extended nibble. */
static __device__ __forceinline__ int q_at(const int8_t *q, int64_t i, int bits)
{
    int8_t b = q[bits == 8 ? i : i / 2];
    uint32_t nib = ((uint32_t)(uint8_t)b >> ((i & 1) * 4)) & 15u;
    return bits == 8 ? (int)b : (int)(nib ^ 8u) - 8;
}

template <typename T>
static __device__ __forceinline__ void dequantize_one(T *out, const int8_t *q, int64_t i, int bits, float s, int acc)
{
    float y = __fmul_rn((float)q_at(q, i, bits), s);
    gpu_st(out, i, acc ? gpu_ld(out, i) + y : y);
}

/* Blocks of at least a thread block's size: one thread block per quantization block (its scale read
 * once, no division per element). */
template <typename T>
__global__ void dequantize_blocks_kernel(T *out, const int8_t *q, const float *scale, int64_t n, int64_t block,
                                         int bits, int acc)
{
    int64_t nb = (n + block - 1) / block;
    GPU_ROW_STRIDE(g, nb) {
        int64_t i0 = g * block, e = n - i0 < block ? n : i0 + block;
        float s = scale[g];
        for (int64_t i = i0 + threadIdx.x; i < e; i += blockDim.x) dequantize_one(out, q, i, bits, s, acc);
    }
}

/* Smaller blocks: one thread per element. */
template <typename T>
__global__ void dequantize_kernel(T *out, const int8_t *q, const float *scale, int64_t n, int64_t block, int bits,
                                  int acc)
{
    GPU_GRID_STRIDE(i, n) dequantize_one(out, q, i, bits, scale[i / block], acc);
}

/* Outputs (q, scale), input in. */
st_status ST_GPU(quantize)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_quant_params *p = &c->p.quantize;
    int64_t n = gpu_numel(&c->in[0]), nb = (n + p->block - 1) / p->block;
    GPU_DISPATCH_F(c->in[0].dtype, T, quantize_kernel<T><<<gpu_rows_grid(nb), GPU_THREADS, 0, d->stream>>>(
                                          (int8_t *)gpu_ptr(&c->out[0]), (float *)gpu_ptr(&c->out[1]),
                                          (const T *)gpu_ptr(&c->in[0]), n, p->block, p->bits));
    GPU_LAUNCHED("quantize_kernel");
    return ST_OK;
}

/* Output out, inputs (q, scale). */
st_status ST_GPU(dequantize)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_quant_params *p = &c->p.dequantize;
    int64_t n = gpu_numel(&c->out[0]);
    int64_t nb = (n + p->block - 1) / p->block;
    const int8_t *q = (const int8_t *)gpu_ptr(&c->in[0]);
    const float *scale = (const float *)gpu_ptr(&c->in[1]);
    int acc = p->accumulate != 0;
    if (p->block >= GPU_THREADS)
        GPU_DISPATCH_F(c->out[0].dtype, T, dequantize_blocks_kernel<T><<<gpu_rows_grid(nb), GPU_THREADS, 0, d->stream>>>(
                                               (T *)gpu_ptr(&c->out[0]), q, scale, n, p->block, p->bits, acc));
    else
        GPU_DISPATCH_F(c->out[0].dtype, T, dequantize_kernel<T><<<gpu_blocks(n, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
                                               (T *)gpu_ptr(&c->out[0]), q, scale, n, p->block, p->bits, acc));
    GPU_LAUNCHED("dequantize_kernel");
    return ST_OK;
}
