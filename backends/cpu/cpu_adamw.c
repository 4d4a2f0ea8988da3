/* CPU fused AdamW: one pass over param, m, v (f32, in place) and grad (f32 or bf16). */
#include <math.h>
#include "cpu_strided.h"

typedef struct adamw_consts {
    float b1, b2, one_b1, one_b2, bc1, bc2, lr, eps, wd, gs;
} adamw_consts;

CPU_CLONES static void adamw_f32(float *restrict w, float *restrict m, float *restrict v,
                                 const float *restrict grad, int64_t n, const adamw_consts *k)
{
    const adamw_consts c = *k;
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] * c.gs;
        float mi = c.b1 * m[i] + c.one_b1 * g;
        float vi = c.b2 * v[i] + c.one_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / c.bc1, vhat = vi / c.bc2;
        w[i] -= c.lr * (mhat / (sqrtf(vhat) + c.eps) + c.wd * w[i]);
    }
}

st_status st_cpu_adamw(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *g = &c->in[0];
    for (int i = 0; i < 3; i++)
        if (c->out[i].dtype != ST_F32)
            return ST_ERR(ST_ERR_DTYPE, "cpu: adamw state %d is %s, not f32", i, st_dtype_name(c->out[i].dtype));
    if (g->dtype != ST_F32 && g->dtype != ST_BF16)
        return ST_ERR(ST_ERR_DTYPE, "cpu: adamw grad of %s", st_dtype_name(g->dtype));
    const st_adamw_params *p = &c->p.adamw;
    /* Bias corrections in double: 1 - b2^step is tiny for early steps with b2 near 1. */
    adamw_consts k = {
        .b1 = p->beta1, .b2 = p->beta2, .one_b1 = 1.0f - p->beta1, .one_b2 = 1.0f - p->beta2,
        .bc1 = (float)(1.0 - pow(p->beta1, (double)p->step)),
        .bc2 = (float)(1.0 - pow(p->beta2, (double)p->step)),
        .lr = p->lr, .eps = p->eps, .wd = p->weight_decay, .gs = p->grad_scale,
    };
    float *w = cpu_ptr(&c->out[0]), *m = cpu_ptr(&c->out[1]), *v = cpu_ptr(&c->out[2]);
    int64_t n = cpu_numel(&c->out[0]), tiles = (n + CPU_TILE - 1) / CPU_TILE;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i = t * CPU_TILE, len = n - i < CPU_TILE ? n - i : CPU_TILE;
        float tile[CPU_TILE];
        if (g->dtype == ST_BF16) cpu_bf16_to_f32_n(tile, (const uint16_t *)cpu_ptr(g) + i, len);
        const float *gp = g->dtype == ST_BF16 ? tile : (const float *)cpu_ptr(g) + i;
        adamw_f32(w + i, m + i, v + i, gp, len, &k);
    }
    return ST_OK;
}
