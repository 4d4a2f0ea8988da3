/* rand_uniform and rand_normal: Philox4x32-10 keyed by the seed and counted by p.offset + i,
 * bit-identical to the docs/OPS.md formulas (and so to every other backend). The final affine
 * step is rounded like two separate f32 operations, never fused into an FMA, because the CPU
 * backend does not fuse it either. */
#include "gpu_common.cuh"

struct philox_out {
    uint32_t c0, c1;
};

static __device__ __forceinline__ philox_out philox(uint64_t seed, uint64_t n)
{
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint32_t c0 = (uint32_t)n, c1 = (uint32_t)(n >> 32), c2 = 0, c3 = 0;
    for (int r = 0; r < 10; r++) {
        uint32_t lo0 = 0xD2511F53u * c0, hi0 = __umulhi(0xD2511F53u, c0);
        uint32_t lo1 = 0xCD9E8D57u * c2, hi1 = __umulhi(0xCD9E8D57u, c2);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    philox_out o = {c0, c1};
    return o;
}

/* a + s * u rounded after the multiply and after the add. */
static __device__ __forceinline__ float affine_rn(float a, float s, float u)
{
#if defined(__HIPCC__)
#pragma clang fp contract(off)
    return a + s * u;
#else
    return __fadd_rn(a, __fmul_rn(s, u));
#endif
}

template <typename T>
__global__ void rand_uniform_kernel(T *out, int64_t n, uint64_t seed, uint64_t offset, float a, float b)
{
    GPU_GRID_STRIDE(i, n) {
        philox_out r = philox(seed, offset + (uint64_t)i);
        float u = (float)(r.c0 >> 8) * 0x1p-24f;
        gpu_st(out, i, affine_rn(a, b - a, u));
    }
}

/* Box-Muller in double and rounded once to f32, so that the result does not depend on the
 * accuracy of one vendor's single-precision log/cos. */
template <typename T>
__global__ void rand_normal_kernel(T *out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std)
{
    GPU_GRID_STRIDE(i, n) {
        philox_out r = philox(seed, offset + (uint64_t)i);
        float u1 = (float)((r.c0 >> 8) + 1) * 0x1p-24f, u2 = (float)(r.c1 >> 8) * 0x1p-24f;
        float z = (float)(sqrt(-2.0 * log((double)u1)) * cos(6.283185307179586 * (double)u2));
        gpu_st(out, i, affine_rn(mean, std, z));
    }
}

/* One launcher for both draws: they differ only in the kernel. */
template <bool NORMAL>
static st_status rand_fill(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *o = &c->out[0];
    int64_t n = gpu_numel(o);
    GPU_DISPATCH_F(o->dtype, T, {
        auto kernel = NORMAL ? rand_normal_kernel<T> : rand_uniform_kernel<T>;
        kernel<<<gpu_blocks(n, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
            (T *)gpu_ptr(o), n, c->p.rand_uniform.seed, c->p.rand_uniform.offset, c->p.rand_uniform.a, c->p.rand_uniform.b);
    });
    if (NORMAL) GPU_LAUNCHED("rand_normal_kernel");
    else GPU_LAUNCHED("rand_uniform_kernel");
    return ST_OK;
}

st_status ST_GPU(rand_uniform)(void *ctx, int dev, const st_op_call *c) { return rand_fill<false>(ctx, dev, c); }
st_status ST_GPU(rand_normal)(void *ctx, int dev, const st_op_call *c) { return rand_fill<true>(ctx, dev, c); }
