/* CPU reductions: sum, mean, max along one axis, and sumsq over everything. Operands are
 * contiguous (the core stages them). Sums accumulate in double across 16 independent lanes, so
 * they vectorise without reassociation and stay accurate for long rows. */
#include <math.h>
#include <omp.h>
#include "cpu_strided.h"

enum { RED_SUM, RED_MEAN, RED_MAX };
#define RED_LANES 16

CPU_CLONES static double sum_f32(const float *restrict x, int64_t n, int squares)
{
    double acc[RED_LANES] = {0};
    int64_t i = 0;
    if (squares)
        for (; i + RED_LANES <= n; i += RED_LANES)
            for (int j = 0; j < RED_LANES; j++) acc[j] += (double)x[i + j] * x[i + j];
    else
        for (; i + RED_LANES <= n; i += RED_LANES)
            for (int j = 0; j < RED_LANES; j++) acc[j] += x[i + j];
    double s = 0;
    for (; i < n; i++) s += squares ? (double)x[i] * x[i] : x[i];
    for (int j = 0; j < RED_LANES; j++) s += acc[j];
    return s;
}

/* NaN is sticky: once a lane holds NaN, no comparison replaces it. */
CPU_CLONES static float max_f32(const float *restrict x, int64_t n, float m)
{
    float acc[RED_LANES];
    for (int j = 0; j < RED_LANES; j++) acc[j] = m;
    int64_t i = 0;
    for (; i + RED_LANES <= n; i += RED_LANES)
        for (int j = 0; j < RED_LANES; j++) {
            float v = x[i + j];
            acc[j] = (v > acc[j] || v != v) ? v : acc[j];
        }
    for (; i < n; i++) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
    for (int j = 0; j < RED_LANES; j++) m = (acc[j] > m || acc[j] != acc[j]) ? acc[j] : m;
    return m;
}

/* Contiguous x[0..n) of dtype dt, reduced; bf16 goes through an f32 tile. */
static double reduce_run(const void *x, st_dtype dt, int64_t n, int kind)
{
    double s = 0;
    float m = -INFINITY, tile[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t len = n - i < CPU_TILE ? n - i : CPU_TILE;
        if (dt == ST_BF16) cpu_bf16_to_f32_n(tile, (const uint16_t *)x + i, len);
        const float *p = dt == ST_BF16 ? tile : (const float *)x + i;
        if (kind == RED_MAX) m = max_f32(p, len, m);
        else s += sum_f32(p, len, 0);
    }
    return kind == RED_MAX ? m : s;
}

static void store_f(const st_view *y, int64_t i, double v)
{
    cpu_store(y, cpu_ptr(y), i, (float)v);
}

static double finish(int kind, double acc, int64_t n)
{
    return kind == RED_MEAN ? acc / (double)n : acc;
}

static double combine(int kind, double a, double b)
{
    if (kind != RED_MAX) return a + b;
    return (b > a || b != b) ? b : a;
}

/* inner == 1: each output reduces one contiguous row of n. Rows run in parallel when there are
 * enough of them; a few long rows are split across threads instead. */
static void reduce_rows(const st_view *x, const st_view *y, int64_t outer, int64_t n, int kind)
{
    const char *base = cpu_ptr(x);
    size_t es = st_dtype_size(x->dtype);
    int nt = omp_get_max_threads();
    if (outer >= nt || outer * n < CPU_PAR_MIN) {
#pragma omp parallel for schedule(static) if (outer * n >= CPU_PAR_MIN)
        for (int64_t o = 0; o < outer; o++)
            store_f(y, o, finish(kind, reduce_run(base + o * n * es, x->dtype, n, kind), n));
        return;
    }
    for (int64_t o = 0; o < outer; o++) {
        const char *row = base + o * n * es;
        double acc = kind == RED_MAX ? -INFINITY : 0.0;
#pragma omp parallel
        {
            int t = omp_get_thread_num(), k = omp_get_num_threads();
            int64_t chunk = (n + k - 1) / k, beg = t * chunk < n ? t * chunk : n;
            int64_t len = n - beg < chunk ? n - beg : chunk;
            double part = len > 0 ? reduce_run(row + beg * es, x->dtype, len, kind) : acc;
#pragma omp critical(st_cpu_reduce)
            acc = combine(kind, acc, part);
        }
        store_f(y, o, finish(kind, acc, n));
    }
}

CPU_CLONES static void acc_sum(double *restrict acc, const float *restrict x, int64_t m)
{
    for (int64_t j = 0; j < m; j++) acc[j] += x[j];
}

CPU_CLONES static void acc_max(double *restrict acc, const float *restrict x, int64_t m)
{
    for (int64_t j = 0; j < m; j++) acc[j] = (x[j] > acc[j] || x[j] != x[j]) ? x[j] : acc[j];
}

/* inner > 1: y[o, j] reduces x[o, :, j]; work items are (o, tile of j), walking x row by row. */
static void reduce_cols(const st_view *x, const st_view *y, int64_t outer, int64_t n, int64_t inner, int kind)
{
    const char *base = cpu_ptr(x);
    size_t es = st_dtype_size(x->dtype);
    int64_t tiles = (inner + CPU_TILE - 1) / CPU_TILE;
#pragma omp parallel for schedule(static) if (outer * n * inner >= CPU_PAR_MIN)
    for (int64_t w = 0; w < outer * tiles; w++) {
        int64_t o = w / tiles, j0 = (w % tiles) * CPU_TILE;
        int64_t m = inner - j0 < CPU_TILE ? inner - j0 : CPU_TILE;
        double acc[CPU_TILE];
        float tile[CPU_TILE];
        for (int64_t j = 0; j < m; j++) acc[j] = kind == RED_MAX ? -INFINITY : 0.0;
        for (int64_t k = 0; k < n; k++) {
            const char *row = base + ((o * n + k) * inner + j0) * es;
            const float *p = (const float *)row;
            if (x->dtype == ST_BF16) {
                cpu_bf16_to_f32_n(tile, (const uint16_t *)row, m);
                p = tile;
            }
            if (kind == RED_MAX) acc_max(acc, p, m);
            else acc_sum(acc, p, m);
        }
        for (int64_t j = 0; j < m; j++) store_f(y, o * inner + j0 + j, finish(kind, acc[j], n));
    }
}

static st_status reduce(const st_op_call *c, int kind)
{
    const st_view *x = &c->in[0], *y = &c->out[0];
    int axis = c->p.sum.axis;
    if (axis < 0 || axis >= x->ndim)
        return ST_ERR(ST_ERR_INVALID_ARG, "cpu: %s axis %d of %d dims", st_op_name(c->op), axis, x->ndim);
    if ((x->dtype != ST_F32 && x->dtype != ST_BF16) || y->dtype != x->dtype)
        return ST_ERR(ST_ERR_DTYPE, "cpu: %s of %s into %s", st_op_name(c->op),
                      st_dtype_name(x->dtype), st_dtype_name(y->dtype));
    int64_t outer = 1, inner = 1, n = x->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    if (outer * n * inner == 0) return ST_OK;
    if (inner == 1) reduce_rows(x, y, outer, n, kind);
    else reduce_cols(x, y, outer, n, inner, kind);
    return ST_OK;
}

st_status st_cpu_sum(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    return reduce(c, RED_SUM);
}

st_status st_cpu_mean(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    return reduce(c, RED_MEAN);
}

st_status st_cpu_max(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    return reduce(c, RED_MAX);
}

st_status st_cpu_sumsq(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *x = &c->in[0];
    if ((x->dtype != ST_F32 && x->dtype != ST_BF16) || c->out[0].dtype != ST_F32)
        return ST_ERR(ST_ERR_DTYPE, "cpu: sumsq of %s into %s", st_dtype_name(x->dtype),
                      st_dtype_name(c->out[0].dtype));
    int64_t n = cpu_numel(x), tiles = (n + CPU_TILE - 1) / CPU_TILE;
    const char *base = cpu_ptr(x);
    size_t es = st_dtype_size(x->dtype);
    double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s) if (n >= CPU_PAR_MIN)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t len = n - t * CPU_TILE < CPU_TILE ? n - t * CPU_TILE : CPU_TILE;
        float tile[CPU_TILE];
        const float *p = (const float *)(base + t * CPU_TILE * es);
        if (x->dtype == ST_BF16) {
            cpu_bf16_to_f32_n(tile, (const uint16_t *)p, len);
            p = tile;
        }
        s += sum_f32(p, len, 1);
    }
    *(float *)cpu_ptr(&c->out[0]) = (float)s;
    return ST_OK;
}
