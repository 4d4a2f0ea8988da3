/* embedding (row gather) and its backward (scatter-add) on the CPU. Every index is checked before
 * any output is written, so a bad index leaves the outputs untouched. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_ops.h"

#define EMB_PAR_MIN 32768

static st_status check_indices(const char *op, const int32_t *idx, int64_t n, int64_t V)
{
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= V)
            return ST_ERR(ST_ERR_INVALID_ARG, "cpu %s: idx[%lld] = %d is outside [0, %lld)", op,
                          (long long)i, (int)idx[i], (long long)V);
    return ST_OK;
}

st_status st_cpu_embedding(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *table = &c->in[0];
    int64_t V = table->shape[0], C = table->shape[1];
    int64_t n = cpu_numel(&c->in[1]);
    const int32_t *idx = cpu_ptr(&c->in[1]);
    ST_TRY(check_indices("embedding", idx, n, V));
    /* out has the table's dtype, so rows are copied as bytes whatever the dtype. */
    size_t row = (size_t)C * st_dtype_size(table->dtype);
    const char *src = cpu_ptr(table);
    char *dst = cpu_ptr(&c->out[0]);
#pragma omp parallel for schedule(static) if (n * C > EMB_PAR_MIN)
    for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * row, src + (size_t)idx[i] * row, row);
    return ST_OK;
}

/* dtable[idx[i]] += dout[i] for every i. Each thread owns a slice of the columns, so repeated
 * indices never race and the sums keep their row order (deterministic). */
static void scatter_add(float *dtable, const float *dout, const int32_t *idx, int64_t n, int64_t C)
{
#pragma omp parallel if (n * C > EMB_PAR_MIN)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        /* Slices start on 16-float (64-byte) boundaries so threads do not share cache lines. */
        int64_t blocks = (C + 15) / 16;
        int64_t c0 = blocks * t / nt * 16, c1 = blocks * (t + 1) / nt * 16;
        if (c1 > C) c1 = C;
        for (int64_t i = 0; i < n && c0 < c1; i++) {
            float *d = dtable + idx[i] * C;
            const float *g = dout + i * C;
#pragma omp simd
            for (int64_t j = c0; j < c1; j++) d[j] += g[j];
        }
    }
}

st_status st_cpu_embedding_backward(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *dtv = &c->out[0];
    int64_t V = dtv->shape[0], C = dtv->shape[1];
    int64_t n = cpu_numel(&c->in[1]);
    const int32_t *idx = cpu_ptr(&c->in[1]);
    ST_TRY(check_indices("embedding_backward", idx, n, V));
    const float *dout;
    float *tdout, *dtable, *tdt;
    ST_TRY(cpu_as_f32(&c->in[0], &dout, &tdout));
    st_status s = cpu_out_f32(dtv, &dtable, &tdt, 0);
    if (s == ST_OK) {
        int64_t total = V * C;
#pragma omp parallel for schedule(static) if (total > EMB_PAR_MIN)
        for (int64_t i = 0; i < total; i++) dtable[i] = 0.0f;
        scatter_add(dtable, dout, idx, n, C);
        cpu_finish_f32(dtv, tdt);
    }
    free(tdout);
    return s;
}
