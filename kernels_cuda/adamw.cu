/* AdamW, one thread per parameter: param, m, v f32 in place, grad f32 or bf16. The bias
 * corrections 1 - beta^step are computed once on the host in double. */
#include <math.h>
#include "gpu_common.cuh"

template <typename T>
__global__ void adamw_kernel(float *param, float *m, float *v, const T *grad, int64_t n, st_adamw_params p, float bc1,
                             float bc2)
{
    GPU_GRID_STRIDE(i, n) {
        float g = gpu_ld(grad, i) * p.grad_scale;
        float mi = p.beta1 * m[i] + (1.0f - p.beta1) * g;
        float vi = p.beta2 * v[i] + (1.0f - p.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / bc1, vhat = vi / bc2;
        param[i] -= p.lr * (mhat / (sqrtf(vhat) + p.eps) + p.weight_decay * param[i]);
    }
}

/* Outputs (param, m, v), input grad. */
st_status ST_GPU(adamw)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_adamw_params *p = &c->p.adamw;
    int64_t n = gpu_numel(&c->out[0]);
    float bc1 = (float)(1.0 - pow((double)p->beta1, (double)p->step));
    float bc2 = (float)(1.0 - pow((double)p->beta2, (double)p->step));
    GPU_DISPATCH_F(c->in[0].dtype, T, adamw_kernel<T><<<gpu_blocks(n, GPU_THREADS), GPU_THREADS, 0, d->stream>>>(
                                          (float *)gpu_ptr(&c->out[0]), (float *)gpu_ptr(&c->out[1]),
                                          (float *)gpu_ptr(&c->out[2]), (const T *)gpu_ptr(&c->in[0]), n, *p, bc1, bc2));
    GPU_LAUNCHED("adamw_kernel");
    return ST_OK;
}
