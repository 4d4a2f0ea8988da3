/* layernorm over the last dim and its backward on the CPU. Memory sees one read of each input row
 * and one write of each output row; the row's statistics are two sweeps over it while it sits in
 * L1 (mean, then squared deviations: accurate even when |mean| >> std, unlike sum and sum of
 * squares), with f32 vector partial sums handed to a double every CPU_SUM_BLOCK elements. bf16
 * rows are converted one at a time in a per-thread scratch row (cpu_rowio.h). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_rowio.h"
#include "cpu_vmath.h"

#define LN_PAR_MIN 16384
/* Rows whose dw/db terms gather in f32 before they are added to the thread's double sums. */
#define LN_FLUSH_ROWS 32

CPU_CLONES static void layernorm_row(float *restrict y, float *mean, float *rstd, const float *restrict x,
                                     const float *restrict w, const float *restrict b, int64_t C, float eps)
{
    float m = (float)(cpu_row_dot(x, NULL, C) / (double)C);
    float rs = (float)(1.0 / sqrt(cpu_row_sqdev(x, m, C) / (double)C + eps));
#pragma omp simd
    for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * rs * w[i] + b[i];
    *mean = m;
    *rstd = rs;
}

static void layernorm_rows(const st_op_call *c, const float *w, const float *b, int64_t rows, int64_t C,
                           float *scratch, int nt)
{
    const st_view *xv = &c->in[0], *yv = &c->out[0];
    float *mean = cpu_ptr(&c->out[1]), *rstd = cpu_ptr(&c->out[2]), eps = c->p.layernorm.eps;
    int stream = cpu_stream_out(yv);
#pragma omp parallel num_threads(nt)
    {
        float *bx = scratch + 2 * C * omp_get_thread_num(), *by = bx + C;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            float *y = cpu_row_out(yv, r * C, by, stream);
            cpu_row_prefetch(xv, (r + 1) * C, C);
            layernorm_row(y, mean + r, rstd + r, cpu_row_in(xv, r * C, C, bx), w, b, C, eps);
            cpu_row_store(yv, r * C, C, y, stream);
        }
        cpu_stream_fence();
    }
}

st_status st_cpu_layernorm(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    int64_t C = c->in[0].shape[c->in[0].ndim - 1];
    int64_t rows = cpu_numel(&c->in[0]) / C;
    int nt = rows * C > LN_PAR_MIN ? omp_get_max_threads() : 1;
    const float *w, *b;
    float *tw = NULL, *tb = NULL, *scratch = cpu_row_scratch(nt, 2, C);
    st_status s = scratch ? ST_OK
                          : ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu layernorm: %d x 2 scratch rows of %lld", nt,
                                   (long long)C);
    if (s == ST_OK) s = cpu_as_f32(&c->in[1], &w, &tw);
    if (s == ST_OK) s = cpu_as_f32(&c->in[2], &b, &tb);
    if (s == ST_OK) layernorm_rows(c, w, b, rows, C, scratch, nt);
    free(tw);
    free(tb);
    free(scratch);
    return s;
}

/* dx for one row, and this row's terms added to the thread's f32 dw/db partial sums. */
CPU_CLONES static void layernorm_backward_row(float *restrict dx, float *restrict dw, float *restrict db,
                                              const float *restrict g, const float *restrict x,
                                              const float *restrict w, float mean, float rstd, int64_t C)
{
    float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int64_t i = 0; i < C; i++) {
        float gw = g[i] * w[i];
        sum_g += gw;
        sum_gx += gw * ((x[i] - mean) * rstd);
    }
    float avg_g = sum_g / (float)C, avg_gx = sum_gx / (float)C;
#pragma omp simd
    for (int64_t i = 0; i < C; i++) {
        float xhat = (x[i] - mean) * rstd;
        dx[i] = rstd * (g[i] * w[i] - avg_g - xhat * avg_gx);
        dw[i] += g[i] * xhat;
        db[i] += g[i];
    }
}

/* f32 partials (pf) added into the double ones (pd) and cleared. */
CPU_CLONES static void flush_partials(double *restrict pd, float *restrict pf, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        pd[i] += pf[i];
        pf[i] = 0.0f;
    }
}

typedef struct ln_bwd {
    const st_view *gv, *xv, *dxv;
    const float *w, *mean, *rstd;
    int64_t rows, C;
} ln_bwd;

/* One thread's rows: dx, and its dw/db sums in pd (2C doubles) via f32 blocks of rows. */
static void layernorm_backward_thread(const ln_bwd *a, double *pd, float *scr)
{
    int64_t C = a->C;
    float *pf = scr, *bg = scr + 2 * C, *bx = bg + C, *bd = bx + C;
    memset(pf, 0, sizeof(float) * 2 * (size_t)C);
    int64_t n = 0;
    int stream = cpu_stream_out(a->dxv);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < a->rows; r++) {
        float *dx = cpu_row_out(a->dxv, r * C, bd, stream);
        cpu_row_prefetch(a->gv, (r + 1) * C, C);
        cpu_row_prefetch(a->xv, (r + 1) * C, C);
        layernorm_backward_row(dx, pf, pf + C, cpu_row_in(a->gv, r * C, C, bg), cpu_row_in(a->xv, r * C, C, bx),
                               a->w, a->mean[r], a->rstd[r], C);
        cpu_row_store(a->dxv, r * C, C, dx, stream);
        if (++n % LN_FLUSH_ROWS == 0) flush_partials(pd, pf, 2 * C);
    }
    cpu_stream_fence();
    flush_partials(pd, pf, 2 * C);
}

/* dw, db = sums over rows: each thread's partial sums (double, as there may be many rows) in its
 * slice of `part`, added at the end. scratch: 5 rows of C floats a thread. */
static void layernorm_backward_rows(const ln_bwd *a, float *dw, float *db, double *part, float *scratch, int nt)
{
    int64_t C = a->C;
    memset(part, 0, sizeof(double) * 2 * (size_t)C * (size_t)nt);
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        layernorm_backward_thread(a, part + 2 * C * t, scratch + 5 * C * t);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t i = 0; i < C; i++) {
            double sw = 0.0, sb = 0.0;
            for (int k = 0; k < nt; k++) {
                sw += part[2 * C * k + i];
                sb += part[2 * C * k + C + i];
            }
            dw[i] = (float)sw;
            db[i] = (float)sb;
        }
    }
}

st_status st_cpu_layernorm_backward(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    int64_t C = c->in[1].shape[c->in[1].ndim - 1];
    int64_t rows = cpu_numel(&c->in[1]) / C;
    int nt = rows * C > LN_PAR_MIN ? omp_get_max_threads() : 1;
    const float *w = NULL, *mean = NULL, *rstd = NULL;
    float *tw = NULL, *tm = NULL, *tr = NULL, *dw, *db, *tdw = NULL, *tdb = NULL;
    double *part = malloc(sizeof(double) * 2 * (size_t)C * (size_t)nt);
    float *scratch = cpu_row_scratch(nt, 5, C);
    st_status s = part && scratch ? ST_OK
                                  : ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu layernorm_backward: %d x %lld partial sums",
                                           nt, (long long)C);
    if (s == ST_OK) s = cpu_as_f32(&c->in[2], &w, &tw);
    if (s == ST_OK) s = cpu_as_f32(&c->in[3], &mean, &tm);
    if (s == ST_OK) s = cpu_as_f32(&c->in[4], &rstd, &tr);
    if (s == ST_OK) s = cpu_out_f32(&c->out[1], &dw, &tdw, 0);
    if (s == ST_OK) s = cpu_out_f32(&c->out[2], &db, &tdb, 0);
    if (s == ST_OK) {
        ln_bwd a = {&c->in[0], &c->in[1], &c->out[0], w, mean, rstd, rows, C};
        layernorm_backward_rows(&a, dw, db, part, scratch, nt);
        cpu_finish_f32(&c->out[1], tdw);
        cpu_finish_f32(&c->out[2], tdb);
    } else {
        free(tdw);
        free(tdb);
    }
    free(tw);
    free(tm);
    free(tr);
    free(part);
    free(scratch);
    return s;
}
