/* copy (bit-exact, any dtype) and cast (f32 <-> bf16) between strided views. */
#include "gpu_common.cuh"

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
    else if (from == to) copy_kernel<uint32_t><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    else if (from == ST_F32) cast_kernel<float, gpu_bf16><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    else cast_kernel<gpu_bf16, float><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a);
    GPU_LAUNCHED("copy_kernel/cast_kernel");
    return ST_OK;
}

st_status ST_GPU(copy)(void *ctx, int dev, const st_op_call *c) { return convert(ctx, dev, c); }
st_status ST_GPU(cast)(void *ctx, int dev, const st_op_call *c) { return convert(ctx, dev, c); }
