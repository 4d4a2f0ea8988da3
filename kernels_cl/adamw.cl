/* adamw: fused AdamW update, in place on f32 param, m, v; grad f32 or bf16. The bias
 * corrections 1 - beta^step are computed once on the host in double. */
__kernel void st_adamw(__global float *param, long poff, __global float *m, long moff,
                       __global float *v, long voff, __global const void *grad, long goff,
                       long total, int dt, float lr, float b1, float b2, float eps, float wd,
                       float gscale, float bc1, float bc2)
{
    long i = get_global_id(0);
    if (i >= total) return;
    float g = st_ld(grad, dt, goff + i) * gscale;
    float mi = b1 * m[moff + i] + (1.0f - b1) * g;
    float vi = b2 * v[voff + i] + (1.0f - b2) * g * g;
    m[moff + i] = mi;
    v[voff + i] = vi;
    float p = param[poff + i];
    param[poff + i] = p - lr * ((mi / bc1) / (sqrt(vi / bc2) + eps) + wd * p);
}
