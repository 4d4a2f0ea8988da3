/* softmax (optionally causal) and its backward on the CPU, row by row over the last dim, in f32
 * with the row max subtracted before exp so that large logits cannot overflow. */
#include <stdlib.h>
#include "cpu_strided.h"
#include "cpu_vmath.h"

/* Rows are independent; below this many elements a parallel region costs more than it saves. */
#define SOFTMAX_PAR_MIN 32768

/* y[0..n) = softmax(x[0..n)); y[n..S) = 0 (the causally masked columns). */
CPU_CLONES static void softmax_row(float *y, const float *x, int64_t n, int64_t S)
{
    float mx = cpu_row_max(x, n);
    float inv = (float)(1.0 / cpu_row_exp_sum(y, x, mx, n));
    for (int64_t j = 0; j < n; j++) y[j] *= inv;
    for (int64_t j = n; j < S; j++) y[j] = 0.0f;
}

st_status st_cpu_softmax(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *xv = &c->in[0];
    int64_t S = xv->shape[xv->ndim - 1];
    int64_t T = xv->ndim >= 2 ? xv->shape[xv->ndim - 2] : 1;
    int64_t rows = cpu_numel(xv) / S;
    int causal = c->p.softmax.causal;
    const float *x;
    float *y, *tx, *ty;
    ST_TRY(cpu_as_f32(xv, &x, &tx));
    st_status s = cpu_out_f32(&c->out[0], &y, &ty, 0);
    if (s != ST_OK) {
        free(tx);
        return s;
    }
#pragma omp parallel for schedule(static) if (rows * S > SOFTMAX_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        /* Causal row t sees columns j <= t + S - T (the last T of S keys line up with the queries). */
        int64_t n = causal ? r % T + S - T + 1 : S;
        softmax_row(y + r * S, x + r * S, n, S);
    }
    cpu_finish_f32(&c->out[0], ty);
    free(tx);
    return ST_OK;
}

/* d = p * (g - sum(g * p)) over one row of S. */
CPU_CLONES static void softmax_backward_row(float *d, const float *g, const float *p, int64_t S)
{
    float dot = (float)cpu_row_dot(g, p, S);
    for (int64_t j = 0; j < S; j++) d[j] = p[j] * (g[j] - dot);
}

st_status st_cpu_softmax_backward(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *dv = &c->in[0];
    int64_t S = dv->shape[dv->ndim - 1];
    int64_t rows = cpu_numel(dv) / S;
    const float *dout, *y;
    float *dx, *tdout, *ty = NULL, *tdx = NULL;
    ST_TRY(cpu_as_f32(dv, &dout, &tdout));
    st_status s = cpu_as_f32(&c->in[1], &y, &ty);
    if (s == ST_OK) s = cpu_out_f32(&c->out[0], &dx, &tdx, 0);
    if (s == ST_OK) {
#pragma omp parallel for schedule(static) if (rows * S > SOFTMAX_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) softmax_backward_row(dx + r * S, dout + r * S, y + r * S, S);
        cpu_finish_f32(&c->out[0], tdx);
    }
    free(tdout);
    free(ty);
    return s;
}
