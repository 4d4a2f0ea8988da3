/* The strided elementwise machinery behind add..rsqrt, gelu and relu: one grid-stride kernel
 * templated on the storage type and on the op's functor, over operands of one shape whose
 * strides may differ (0 = broadcast). Dense operands skip the index arithmetic. */
#ifndef STRATA_GPU_ELEMENTWISE_CUH
#define STRATA_GPU_ELEMENTWISE_CUH

#include "gpu_common.cuh"

template <typename T, int NIN, typename F>
__global__ void gpu_ew_kernel(gpu_shape sh, gpu_sview o, gpu_sview a, gpu_sview b, F f)
{
    GPU_GRID_STRIDE(i, sh.n) {
        float x = gpu_ld((const T *)a.p, gpu_offset(sh, a.stride, i));
        float y = NIN > 1 ? gpu_ld((const T *)b.p, gpu_offset(sh, b.stride, i)) : 0.0f;
        gpu_st((T *)o.p, gpu_offset(sh, o.stride, i), f(x, y));
    }
}

/* Runs functor `f(x, y)` (y = 0 for one input) over call `c`, whose operands share out's dtype. */
template <typename F>
static st_status gpu_elementwise(void *ctx, int dev, const st_op_call *c, F f)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    gpu_shape sh;
    gpu_sview o, a, b;
    gpu_shape_of(&c->out[0], &sh);
    int dense = gpu_sview_of(&c->out[0], &o) & gpu_sview_of(&c->in[0], &a);
    if (c->n_in > 1) dense &= gpu_sview_of(&c->in[1], &b);
    else b = a;
    sh.contiguous = dense;
    unsigned grid = gpu_blocks(sh.n, GPU_THREADS);
    if (c->n_in > 1)
        GPU_DISPATCH_F(c->out[0].dtype, T, gpu_ew_kernel<T, 2><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a, b, f));
    else
        GPU_DISPATCH_F(c->out[0].dtype, T, gpu_ew_kernel<T, 1><<<grid, GPU_THREADS, 0, d->stream>>>(sh, o, a, b, f));
    GPU_LAUNCHED("gpu_ew_kernel");
    return ST_OK;
}

/* Defines st_<vendor>_<name> for an op whose result is the expression `expr` of x (and y). */
#define GPU_EW_OP(name, expr)                                                \
    struct gpu_##name##_fn {                                                 \
        float alpha, beta;                                                   \
        __device__ float operator()(float x, float y) const                  \
        {                                                                    \
            (void)y;                                                         \
            return expr;                                                     \
        }                                                                    \
    };                                                                       \
    st_status ST_GPU(name)(void *ctx, int dev, const st_op_call *c)          \
    {                                                                        \
        gpu_##name##_fn f = {c->p.scale.alpha, c->p.scale.beta};                         \
        return gpu_elementwise(ctx, dev, c, f);                              \
    }

#endif
