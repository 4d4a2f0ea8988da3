/* cross_entropy (softmax + negative log-likelihood per row) and its backward on the CPU. The loss
 * is logsumexp - logit[target] with the row max factored out, never -log(prob), which would
 * underflow to +inf for confident wrong predictions. Memory sees one read of the logits and one
 * write of the probabilities (the max, exps with their sum and the scaling sweep a row held in
 * L2); bf16 logits are converted a row at a time in a per-thread scratch row. */
#include <omp.h>
#include <stdlib.h>
#include "cpu_rowio.h"
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

CPU_CLONES static void ce_row(float *loss, float *restrict probs, const float *restrict x, int32_t target,
                              int64_t V)
{
    float mx = cpu_row_max(x, V);
    double sum = cpu_row_exp_sum(probs, x, mx, V);
    float inv = (float)(1.0 / sum);
#pragma omp simd
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
    int nt = rows * V > CE_PAR_MIN ? omp_get_max_threads() : 1;
    int stream = cpu_stream_out(&c->out[1]), per = (lv->dtype != ST_F32) + stream;
    float *scratch = per ? cpu_row_scratch(nt, per, V) : NULL;
    if (per && !scratch)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu cross_entropy: %d x %d scratch rows of %lld", nt, per, (long long)V);
#pragma omp parallel num_threads(nt)
    {
        float *bx = scratch ? scratch + per * V * omp_get_thread_num() : NULL, *bp = scratch ? bx + (per - 1) * V : NULL;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            float *p = stream ? bp : probs + r * V;
            ce_row(loss + r, p, cpu_row_in(lv, r * V, V, bx), tg[r], V);
            if (stream) cpu_stream_copy(probs + r * V, p, V);
        }
        cpu_stream_fence();
    }
    free(scratch);
    return ST_OK;
}

/* d = (p - onehot(t)) g over one row; t < 0: zeros. */
CPU_CLONES static void ce_backward_row(float *restrict d, const float *restrict p, int32_t t, float g, int64_t V)
{
    if (t < 0) {
        for (int64_t j = 0; j < V; j++) d[j] = 0.0f;
        return;
    }
#pragma omp simd
    for (int64_t j = 0; j < V; j++) d[j] = p[j] * g;
    d[t] = (p[t] - 1.0f) * g;
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
    int nt = rows * V > CE_PAR_MIN ? omp_get_max_threads() : 1;
    int stream = cpu_stream_out(dv);
    float *scratch = dv->dtype == ST_F32 && !stream ? NULL : cpu_row_scratch(nt, 1, V);
    if ((dv->dtype != ST_F32 || stream) && !scratch)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu cross_entropy_backward: %d scratch rows of %lld", nt, (long long)V);
#pragma omp parallel num_threads(nt)
    {
        float *bd = scratch ? scratch + V * omp_get_thread_num() : NULL;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            float *d = cpu_row_out(dv, r * V, bd, stream);
            ce_backward_row(d, probs + r * V, tg[r], dloss[r], V);
            cpu_row_store(dv, r * V, V, d, stream);
        }
        cpu_stream_fence();
    }
    free(scratch);
    return ST_OK;
}
