/* The copy family on CUDA and HIP: fill (p.value converted once on the host to out's storage
 * bits: f32, bf16 rounded to nearest even, or i32), copy (bit-exact, any dtype) and cast (f32 <->
 * bf16), all through strided views. */
#include <math.h>
#include <string.h>
#include "gpu_common.cuh"

template <typename U>
__global__ void fill_kernel(gpu_shape sh, gpu_sview o, U bits)
{
    GPU_GRID_STRIDE(i, sh.n) ((U *)o.p)[gpu_offset(sh, o.stride, i)] = bits;
}

static uint16_t host_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* i32 fill truncates toward zero like a C cast; NaN and out-of-range values saturate (a C cast
 * would be undefined). */
static uint32_t host_i32(double v)
{
    int32_t i = v != v ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
    uint32_t u;
    memcpy(&u, &i, 4);
    return u;
}

st_status ST_GPU(fill)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    gpu_shape sh;
    gpu_sview o;
    gpu_shape_of(&c->out[0], &sh);
    sh.contiguous = gpu_sview_of(&c->out[0], &o);
    unsigned grid = gpu_blocks(sh.n, GPU_THREADS);
    if (c->out[0].dtype == ST_BF16) {
        fill_kernel<uint16_t><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, host_bf16((float)c->p.fill.value));
    } else if (c->out[0].dtype == ST_I8) {
        double v = c->p.fill.value; /* saturating as i32's */
        int8_t i = v != v ? 0 : v >= 127.0 ? 127 : v <= -128.0 ? -128 : (int8_t)v;
        fill_kernel<uint8_t><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, (uint8_t)i);
    } else {
        float f = (float)c->p.fill.value;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        if (c->out[0].dtype == ST_I32) bits = host_i32(c->p.fill.value);
        fill_kernel<uint32_t><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, bits);
    }
    GPU_LAUNCHED("fill_kernel");
    return ST_OK;
}

template <typename U>
__global__ void copy_kernel(gpu_shape sh, gpu_sview o, gpu_sview a)
{
    GPU_GRID_STRIDE(i, sh.n)
    ((U *)o.p)[gpu_offset(sh, o.stride, i)] = ((const U *)a.p)[gpu_offset(sh, a.stride, i)];
}

template <typename TI, typename TO>
__global__ void cast_kernel(gpu_shape sh, gpu_sview o, gpu_sview a)
{
    GPU_GRID_STRIDE(i, sh.n)
    gpu_st((TO *)o.p, gpu_offset(sh, o.stride, i), gpu_ld((const TI *)a.p, gpu_offset(sh, a.stride, i)));
}

static st_status convert(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    gpu_shape sh;
    gpu_sview o, a;
    gpu_shape_of(&c->out[0], &sh);
    sh.contiguous = gpu_sview_of(&c->out[0], &o) & gpu_sview_of(&c->in[0], &a);
    unsigned grid = gpu_blocks(sh.n, GPU_THREADS);
    st_dtype from = c->in[0].dtype, to = c->out[0].dtype;
    if (from == to && to == ST_BF16) copy_kernel<uint16_t><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    else if (from == to && to == ST_I8) copy_kernel<uint8_t><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    else if (from == to) copy_kernel<uint32_t><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    else if (from == ST_F32) cast_kernel<float, gpu_bf16><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    else cast_kernel<gpu_bf16, float><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    GPU_LAUNCHED("copy_kernel/cast_kernel");
    return ST_OK;
}

st_status ST_GPU(copy)(void *ctx, int dev, const st_op_call *c) { return convert(ctx, dev, c); }
st_status ST_GPU(cast)(void *ctx, int dev, const st_op_call *c) { return convert(ctx, dev, c); }
