/* layernorm over the last dim and its backward on the CPU: f32 data, row sums in double. The
 * variance takes two passes (mean, then squared deviations), accurate even when |mean| >> std. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_ops.h"

#define LN_PAR_MIN 16384

/* An operand list staged to f32 (see cpu_as_f32), freed together. */
typedef struct staged {
    const float *p[5];
    float *tmp[5];
    int n;
} staged;

static st_status stage_inputs(const st_op_call *c, int n, staged *s)
{
    memset(s, 0, sizeof *s);
    for (s->n = 0; s->n < n; s->n++) ST_TRY(cpu_as_f32(&c->in[s->n], &s->p[s->n], &s->tmp[s->n]));
    return ST_OK;
}

static void unstage(staged *s)
{
    for (int i = 0; i < 5; i++) free(s->tmp[i]);
}

static void layernorm_row(float *y, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int64_t C, float eps)
{
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < C; i++) sum += x[i];
    float m = (float)(sum / (double)C);
    double var = 0.0;
#pragma omp simd reduction(+ : var)
    for (int64_t i = 0; i < C; i++) var += ((double)x[i] - m) * ((double)x[i] - m);
    float rs = (float)(1.0 / sqrt(var / (double)C + eps));
    for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * rs * w[i] + b[i];
    *mean = m;
    *rstd = rs;
}

st_status st_cpu_layernorm(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    int64_t C = c->in[0].shape[c->in[0].ndim - 1];
    int64_t rows = cpu_numel(&c->in[0]) / C;
    float *mean = cpu_ptr(&c->out[1]), *rstd = cpu_ptr(&c->out[2]);
    staged in;
    float *y, *ty;
    st_status s = stage_inputs(c, 3, &in);
    if (s == ST_OK) s = cpu_out_f32(&c->out[0], &y, &ty, 0);
    if (s == ST_OK) {
        const float *x = in.p[0], *w = in.p[1], *b = in.p[2];
        float eps = c->p.layernorm.eps;
#pragma omp parallel for schedule(static) if (rows * C > LN_PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            layernorm_row(y + r * C, mean + r, rstd + r, x + r * C, w, b, C, eps);
        cpu_finish_f32(&c->out[0], ty);
    }
    unstage(&in);
    return s;
}

/* dx for one row, and this row's terms added to the thread's dw/db partial sums. */
static void layernorm_backward_row(float *dx, double *dw, double *db, const float *g, const float *x,
                                   const float *w, float mean, float rstd, int64_t C)
{
    double sum_g = 0.0, sum_gx = 0.0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int64_t i = 0; i < C; i++) {
        float gw = g[i] * w[i];
        sum_g += gw;
        sum_gx += (double)gw * ((x[i] - mean) * rstd);
    }
    float avg_g = (float)(sum_g / (double)C), avg_gx = (float)(sum_gx / (double)C);
    for (int64_t i = 0; i < C; i++) {
        float xhat = (x[i] - mean) * rstd;
        dx[i] = rstd * (g[i] * w[i] - avg_g - xhat * avg_gx);
        dw[i] += (double)g[i] * xhat;
        db[i] += g[i];
    }
}

/* dw, db = sums over rows: each thread keeps partial sums (double, as there may be many rows) of
 * its rows in its slice of `part`, and the slices are added at the end. */
static void layernorm_backward_rows(float *dx, float *dw, float *db, const staged *in, int64_t rows,
                                    int64_t C, double *part, int nt)
{
    const float *g = in->p[0], *x = in->p[1], *w = in->p[2], *mean = in->p[3], *rstd = in->p[4];
    memset(part, 0, sizeof(double) * 2 * (size_t)C * (size_t)nt);
#pragma omp parallel num_threads(nt)
    {
        double *pw = part + 2 * C * omp_get_thread_num(), *pb = pw + C;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++)
            layernorm_backward_row(dx + r * C, pw, pb, g + r * C, x + r * C, w, mean[r], rstd[r], C);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < C; i++) {
            double sw = 0.0, sb = 0.0;
            for (int t = 0; t < nt; t++) {
                sw += part[2 * C * t + i];
                sb += part[2 * C * t + C + i];
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
    staged in = {0};
    float *dx, *dw, *db, *tdx = NULL, *tdw = NULL, *tdb = NULL;
    double *part = malloc(sizeof(double) * 2 * (size_t)C * (size_t)nt);
    st_status s = part ? stage_inputs(c, 5, &in)
                       : ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu layernorm_backward: %d x %lld partial sums", nt,
                                (long long)C);
    if (s == ST_OK) s = cpu_out_f32(&c->out[0], &dx, &tdx, 0);
    if (s == ST_OK) s = cpu_out_f32(&c->out[1], &dw, &tdw, 0);
    if (s == ST_OK) s = cpu_out_f32(&c->out[2], &db, &tdb, 0);
    if (s == ST_OK) {
        layernorm_backward_rows(dx, dw, db, &in, rows, C, part, nt);
        cpu_finish_f32(&c->out[0], tdx);
        cpu_finish_f32(&c->out[1], tdw);
        cpu_finish_f32(&c->out[2], tdb);
    } else {
        free(tdx);
        free(tdw);
        free(tdb);
    }
    unstage(&in);
    free(part);
    return s;
}
