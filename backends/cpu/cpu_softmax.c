/* softmax (optionally causal) and its backward on the CPU, row by row over the last dim, in f32
 * with the row max subtracted before exp so that large logits cannot overflow. Memory sees one
 * read of each input row and one write of each output row: the max, the exps with their sum, and
 * the scaling are sweeps over a row that sits in L1/L2. bf16 rows are converted one at a time in a
 * per-thread scratch row (cpu_rowio.h). */
#include <omp.h>
#include <stdlib.h>
#include "cpu_rowio.h"
#include "cpu_vmath.h"

/* Rows are independent; below this many elements a parallel region costs more than it saves. */
#define SOFTMAX_PAR_MIN 32768

/* y[0..n) = softmax(x[0..n)); y[n..S) = 0 (the causally masked columns). */
CPU_CLONES static void softmax_row(float *restrict y, const float *restrict x, int64_t n, int64_t S)
{
    float mx = cpu_row_max(x, n);
    float inv = (float)(1.0 / cpu_row_exp_sum(y, x, mx, n));
#pragma omp simd
    for (int64_t j = 0; j < n; j++) y[j] *= inv;
    for (int64_t j = n; j < S; j++) y[j] = 0.0f;
}

st_status st_cpu_softmax(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *xv = &c->in[0], *yv = &c->out[0];
    int64_t S = xv->shape[xv->ndim - 1];
    int64_t T = xv->ndim >= 2 ? xv->shape[xv->ndim - 2] : 1;
    int64_t rows = cpu_numel(xv) / S;
    int causal = c->p.softmax.causal;
    int nt = rows * S > SOFTMAX_PAR_MIN ? omp_get_max_threads() : 1;
    int stream = cpu_stream_out(yv);
    float *scratch = cpu_row_scratch(nt, 2, S);
    if (!scratch) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu softmax: %d x 2 scratch rows of %lld", nt, (long long)S);
#pragma omp parallel num_threads(nt)
    {
        float *bx = scratch + 2 * S * omp_get_thread_num(), *by = bx + S;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            /* Causal row t sees columns j <= t + S - T (the last T of S keys line up with the queries). */
            int64_t n = causal ? r % T + S - T + 1 : S;
            float *y = cpu_row_out(yv, r * S, by, stream);
            cpu_row_prefetch(xv, (r + 1) * S, S);
            softmax_row(y, cpu_row_in(xv, r * S, S, bx), n, S);
            cpu_row_store(yv, r * S, S, y, stream);
        }
        cpu_stream_fence();
    }
    free(scratch);
    return ST_OK;
}

/* d = p * (g - sum(g * p)) over one row of S. */
CPU_CLONES static void softmax_backward_row(float *restrict d, const float *restrict g, const float *restrict p,
                                            int64_t S)
{
    float dot = (float)cpu_row_dot(g, p, S);
#pragma omp simd
    for (int64_t j = 0; j < S; j++) d[j] = p[j] * (g[j] - dot);
}

st_status st_cpu_softmax_backward(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *gv = &c->in[0], *pv = &c->in[1], *dv = &c->out[0];
    int64_t S = gv->shape[gv->ndim - 1];
    int64_t rows = cpu_numel(gv) / S;
    int nt = rows * S > SOFTMAX_PAR_MIN ? omp_get_max_threads() : 1;
    int stream = cpu_stream_out(dv);
    float *scratch = cpu_row_scratch(nt, 3, S);
    if (!scratch)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu softmax_backward: %d x 3 scratch rows of %lld", nt, (long long)S);
#pragma omp parallel num_threads(nt)
    {
        float *bg = scratch + 3 * S * omp_get_thread_num(), *bp = bg + S, *bd = bp + S;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            float *d = cpu_row_out(dv, r * S, bd, stream);
            cpu_row_prefetch(gv, (r + 1) * S, S);
            cpu_row_prefetch(pv, (r + 1) * S, S);
            softmax_backward_row(d, cpu_row_in(gv, r * S, S, bg), cpu_row_in(pv, r * S, S, bp), S);
            cpu_row_store(dv, r * S, S, d, stream);
        }
        cpu_stream_fence();
    }
    free(scratch);
    return ST_OK;
}
