/* Device-side helpers shared by every kernel of the CUDA and HIP plugins: bf16 storage, 4-d
 * strided addressing, warp/block reductions templated on the warp width (32 on NVIDIA, 64 on
 * CDNA: ST_WARP comes from the vendor header), and launch sizing. */
#ifndef STRATA_GPU_COMMON_CUH
#define STRATA_GPU_COMMON_CUH

#include "gpu_backend.h"

#define GPU_THREADS 256
#define GPU_MAX_BLOCKS (1 << 20) /* grid-stride loops cover the rest */

/* bf16 is the upper half of an f32; stores round to nearest even and keep NaN a NaN, bit for bit
 * like the CPU backend. */
struct gpu_bf16 {
    uint16_t bits;
};

static __device__ __forceinline__ float gpu_ld(const float *p, int64_t i) { return p[i]; }
static __device__ __forceinline__ float gpu_ld(const gpu_bf16 *p, int64_t i)
{
    return __uint_as_float((uint32_t)p[i].bits << 16);
}
static __device__ __forceinline__ void gpu_st(float *p, int64_t i, float x) { p[i] = x; }
static __device__ __forceinline__ void gpu_st(gpu_bf16 *p, int64_t i, float x)
{
    uint32_t u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        p[i].bits = (uint16_t)((u >> 16) | 0x40);
        return;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    p[i].bits = (uint16_t)(u >> 16);
}

/* A strided operand of an elementwise op, dims padded to 4 (leading size-1 dims). */
struct gpu_sview {
    void *p;
    int64_t stride[4];
};
struct gpu_shape {
    int64_t n;
    int64_t dim[4];
    int contiguous; /* every operand is the plain row-major layout: index = linear index */
};

/* Host side: fills `s` from the output view and reports whether `v` is row-major dense. */
static inline int gpu_sview_of(const st_view *v, gpu_sview *s)
{
    int pad = 4 - v->ndim, dense = 1;
    int64_t expect = 1;
    for (int i = 3; i >= 0; i--) {
        int64_t size = i >= pad ? v->shape[i - pad] : 1, st = i >= pad ? v->stride[i - pad] : 0;
        s->stride[i] = st;
        if (size != 1 && st != expect) dense = 0;
        expect *= size;
    }
    s->p = gpu_ptr(v);
    return dense;
}
static inline void gpu_shape_of(const st_view *v, gpu_shape *s)
{
    int pad = 4 - v->ndim;
    for (int i = 0; i < 4; i++) s->dim[i] = i >= pad ? v->shape[i - pad] : 1;
    s->n = s->dim[0] * s->dim[1] * s->dim[2] * s->dim[3];
    s->contiguous = 0;
}

/* Element offset of linear index `i` (row-major over `sh`) in an operand with strides `st`. */
static __device__ __forceinline__ int64_t gpu_offset(const gpu_shape &sh, const int64_t *st, int64_t i)
{
    if (sh.contiguous) return i;
    int64_t i3 = i % sh.dim[3], r = i / sh.dim[3];
    int64_t i2 = r % sh.dim[2];
    r /= sh.dim[2];
    int64_t i1 = r % sh.dim[1], i0 = r / sh.dim[1];
    return i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3];
}

static inline unsigned gpu_blocks(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > GPU_MAX_BLOCKS ? GPU_MAX_BLOCKS : b);
}
/* One block per row, rows beyond the grid handled by striding over blockIdx. */
static inline unsigned gpu_rows_grid(int64_t rows) { return (unsigned)(rows > GPU_MAX_BLOCKS ? GPU_MAX_BLOCKS : rows); }
#define GPU_ROW_STRIDE(r, rows) for (int64_t r = blockIdx.x; r < (rows); r += gridDim.x)

#define GPU_GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

template <int W>
static __device__ __forceinline__ float gpu_warp_sum(float v)
{
    for (int o = W / 2; o > 0; o >>= 1) v += ST_SHFL_XOR(v, o, W);
    return v;
}
/* max that propagates NaN from either side (fmaxf would drop it). */
static __device__ __forceinline__ float gpu_max2(float a, float b) { return (a > b || a != a) ? a : b; }

template <int W>
static __device__ __forceinline__ float gpu_warp_max(float v)
{
    for (int o = W / 2; o > 0; o >>= 1) v = gpu_max2(v, ST_SHFL_XOR(v, o, W));
    return v;
}

/* Block-wide sum/max returned to every thread. blockDim.x must be a multiple of the warp width
 * and at most 32 warps; `sh` is __shared__ float[32]. The leading barrier lets a caller reuse
 * `sh` for consecutive reductions. */
static __device__ __forceinline__ float gpu_block_sum(float v, float *sh)
{
    int lane = threadIdx.x % ST_WARP, warp = threadIdx.x / ST_WARP, nw = blockDim.x / ST_WARP;
    v = gpu_warp_sum<ST_WARP>(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return gpu_warp_sum<ST_WARP>(lane < nw ? sh[lane] : 0.0f);
}
static __device__ __forceinline__ float gpu_block_max(float v, float *sh)
{
    int lane = threadIdx.x % ST_WARP, warp = threadIdx.x / ST_WARP, nw = blockDim.x / ST_WARP;
    v = gpu_warp_max<ST_WARP>(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return gpu_warp_max<ST_WARP>(lane < nw ? sh[lane] : -INFINITY);
}

/* Runs the statements with the type T bound to float or gpu_bf16 after `dtype`. */
#define GPU_DISPATCH_F(dtype, T, ...)        \
    do {                                     \
        if ((dtype) == ST_BF16) {            \
            typedef gpu_bf16 T;              \
            __VA_ARGS__;                     \
        } else {                             \
            typedef float T;                 \
            __VA_ARGS__;                     \
        }                                    \
    } while (0)

#endif
