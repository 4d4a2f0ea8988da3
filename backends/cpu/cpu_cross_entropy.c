/* cross_entropy (softmax + negative log-likelihood per row) and its backward on the CPU. The loss
 * is logsumexp - logit[target] with the row max factored out, never -log(prob), which would
 * underflow to +inf for confident wrong predictions. */
#include <stdlib.h>
#include "cpu_strided.h"
#include "cpu_vmath.h"

#define CE_PAR_MIN 32768

/* Negative targets mark ignored rows; targets >= V are errors, found before anything is written. */
static st_status check_targets(const char *op, const int32_t *tg, int64_t rows, int64_t V)
{
    for (int64_t r = 0; r < rows; r++)
        if (tg[r] >= V)
            return ST_ERR(ST_ERR_INVALID_ARG, "cpu %s: targets[%lld] = %d is >= the %lld classes", op,
                          (long long)r, (int)tg[r], (long long)V);
    return ST_OK;
}

CPU_CLONES static void ce_row(float *loss, float *probs, const float *x, int32_t target, int64_t V)
{
    float mx = cpu_row_max(x, V);
    double sum = cpu_row_exp_sum(probs, x, mx, V);
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < V; j++) probs[j] *= inv;
    *loss = target < 0 ? 0.0f : (float)(log(sum) + (double)mx - (double)x[target]);
}

st_status st_cpu_cross_entropy(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *lv = &c->in[0];
    int64_t V = lv->shape[lv->ndim - 1];
    int64_t rows = cpu_numel(lv) / V;
    const int32_t *tg = cpu_ptr(&c->in[1]);
    float *loss = cpu_ptr(&c->out[0]), *probs = cpu_ptr(&c->out[1]);
    ST_TRY(check_targets("cross_entropy", tg, rows, V));
    const float *x;
    float *tx;
    ST_TRY(cpu_as_f32(lv, &x, &tx));
#pragma omp parallel for schedule(static) if (rows * V > CE_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) ce_row(loss + r, probs + r * V, x + r * V, tg[r], V);
    free(tx);
    return ST_OK;
}

st_status st_cpu_cross_entropy_backward(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *dv = &c->out[0];
    int64_t V = dv->shape[dv->ndim - 1];
    int64_t rows = cpu_numel(dv) / V;
    const float *dloss = cpu_ptr(&c->in[0]), *probs = cpu_ptr(&c->in[1]);
    const int32_t *tg = cpu_ptr(&c->in[2]);
    ST_TRY(check_targets("cross_entropy_backward", tg, rows, V));
    float *dx, *tdx;
    ST_TRY(cpu_out_f32(dv, &dx, &tdx, 0));
#pragma omp parallel for schedule(static) if (rows * V > CE_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *d = dx + r * V;
        const float *p = probs + r * V;
        int32_t t = tg[r];
        float g = dloss[r];
        if (t < 0) {
            for (int64_t j = 0; j < V; j++) d[j] = 0.0f;
            continue;
        }
        for (int64_t j = 0; j < V; j++) d[j] = p[j] * g;
        d[t] = (p[t] - 1.0f) * g;
    }
    cpu_finish_f32(dv, tdx);
    return ST_OK;
}
