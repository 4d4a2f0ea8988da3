/* strata-bench's square and stream suites: st_matmul at square sizes (with the vendor's sgemm
 * beside each), and elementwise and row-wise ops over arrays far beyond the caches (the CPU
 * backend's targets of issue 3). Every timed call ends with st_device_sync. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

static st_tensor *new_tensor(st_device *dev, int ndim, const int64_t *shape, st_status *s)
{
    st_tensor *t = NULL;
    if (*s == ST_OK) *s = st_tensor_create(dev, ST_F32, ndim, shape, &t);
    return t;
}

/* ---- matmul ---- */

typedef struct mm_ctx {
    st_device *dev;
    st_tensor *a, *b, *c;
} mm_ctx;

static st_status run_matmul(void *p)
{
    mm_ctx *m = p;
    st_status s = st_matmul(m->c, m->a, m->b, 0, 0, 1.0f, 0.0f);
    return s == ST_OK ? st_device_sync(m->dev) : s;
}

void bench_square(const bench_config *cfg, bench_report *r, bench_device *d)
{
    static const int full[] = {256, 512, 1024, 2048, 4096}, quick[] = {256, 512, 1024};
    const int *sizes = cfg->quick ? quick : full;
    int count = cfg->quick ? 3 : 5, is_cpu = strcmp(d->backend, "cpu") == 0;
    for (int i = 0; i < count; i++) {
        int n = sizes[i];
        char size[64];
        snprintf(size, sizeof size, "%dx%dx%d f32", n, n, n);
        bench_row *row = bench_add_row(r, d, "square", "matmul", size, BENCH_GFLOPS, 2.0 * n * n * (double)n,
                                       12.0 * n * (double)n);
        if (!row) return;
        int index = (int)(row - r->rows), first = r->n_rows - 1;
        row->target = is_cpu && n >= 1024 ? 1 : 0;
        bench_progress(cfg, r, row);
        st_status s = ST_OK;
        int64_t shape[2] = {n, n};
        mm_ctx m = {d->dev, new_tensor(d->dev, 2, shape, &s), new_tensor(d->dev, 2, shape, &s),
                    new_tensor(d->dev, 2, shape, &s)};
        if (s == ST_OK) s = st_rand_uniform(m.a, 1, 0, -1.0f, 1.0f);
        if (s == ST_OK) s = st_rand_uniform(m.b, 2, 0, -1.0f, 1.0f);
        double before = is_cpu ? bench_fma_now(cfg, r) : 0.0;
        if (s == ST_OK) s = bench_time(cfg, run_matmul, &m, &r->rows[index].t);
        if (s != ST_OK) bench_row_fail(&r->rows[index], s);
        st_tensor_destroy(m.a);
        st_tensor_destroy(m.b);
        st_tensor_destroy(m.c);
        bench_ref_gemm(cfg, r, d, "square", n, n, n, 0, index);
        bench_ref_mkl_gemm(cfg, r, d, "square", n, n, n, 0);
        double after = is_cpu ? bench_fma_now(cfg, r) : 0.0;
        /* the rows of this size, Strata's and the vendor's, compared with the same yardstick */
        for (int x = first; x < r->n_rows; x++) r->rows[x].yardstick = before > after ? before : after;
    }
}

/* ---- elementwise and row-wise ops over cfg->stream_elems elements ---- */

typedef struct ew_ctx {
    st_device *dev;
    st_tensor *out, *a, *b; /* (n) */
    st_tensor *one;         /* a single element */
    st_status (*op)(struct ew_ctx *);
} ew_ctx;

static st_status op_add(ew_ctx *c) { return st_add(c->out, c->a, c->b); }
static st_status op_mul(ew_ctx *c) { return st_mul(c->out, c->a, c->b); }
static st_status op_scale(ew_ctx *c) { return st_scale(c->out, c->a, 2.0f, 1.0f); }
static st_status op_gelu(ew_ctx *c) { return st_gelu(c->out, c->a); }
static st_status op_copy(ew_ctx *c) { return st_copy(c->out, c->a); }
static st_status op_sumsq(ew_ctx *c) { return st_sumsq(c->one, c->a); }

/* arrays: how many n-element arrays one call streams (reads + writes), as the triad counts;
 * flops per element as docs/bench.md counts them. */
static const struct ew_case {
    const char *name;
    int arrays, target;
    double flops;
    st_status (*op)(ew_ctx *);
} ew_cases[] = {
    {"add", 3, 2, 1, op_add},   {"mul", 3, 2, 1, op_mul},   {"scale", 2, 2, 2, op_scale},
    {"gelu", 2, 2, 8, op_gelu}, {"copy", 2, 2, 0, op_copy}, {"sumsq", 1, 0, 2, op_sumsq},
};

static st_status run_ew(void *p)
{
    ew_ctx *c = p;
    st_status s = c->op(c);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

static st_status ew_setup(ew_ctx *c, st_device *dev, int64_t n)
{
    st_status s = ST_OK;
    int64_t one = 1;
    c->dev = dev;
    c->out = new_tensor(dev, 1, &n, &s);
    c->a = new_tensor(dev, 1, &n, &s);
    c->b = new_tensor(dev, 1, &n, &s);
    c->one = new_tensor(dev, 1, &one, &s);
    /* Fills touch every page once, before any timing. */
    if (s == ST_OK) s = st_rand_uniform(c->a, 3, 0, -2.0f, 2.0f);
    if (s == ST_OK) s = st_rand_uniform(c->b, 4, 0, -2.0f, 2.0f);
    if (s == ST_OK) s = st_fill(c->out, 0.0);
    if (s == ST_OK) s = st_device_sync(dev);
    return s;
}

static void ew_free(ew_ctx *c)
{
    st_tensor *all[] = {c->out, c->a, c->b, c->one};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) st_tensor_destroy(all[i]);
}

void bench_stream(const bench_config *cfg, bench_report *r, bench_device *d)
{
    st_device *dev = d->dev;
    int is_cpu = strcmp(d->backend, "cpu") == 0;
    int64_t n = cfg->stream_elems;
    ew_ctx c = {0};
    char setup_error[256] = "";
    st_status setup = ew_setup(&c, dev, n);
    if (setup != ST_OK) snprintf(setup_error, sizeof setup_error, "setup: %s", st_last_error());
    for (size_t i = 0; i < sizeof ew_cases / sizeof ew_cases[0]; i++) {
        const struct ew_case *e = &ew_cases[i];
        char size[40];
        snprintf(size, sizeof size, "%lldM f32, %d array%s", (long long)(n >> 20), e->arrays, e->arrays == 1 ? "" : "s");
        bench_row *row = bench_add_row(r, d, "stream", e->name, size, BENCH_GBPS, e->flops * (double)n,
                                       (double)e->arrays * (double)n * 4.0);
        if (!row) break;
        int index = (int)(row - r->rows);
        bench_progress(cfg, r, row);
        row->target = e->target;
        c.op = e->op;
        if (setup != ST_OK) {
            row->status = setup;
            snprintf(row->error, sizeof row->error, "%s", setup_error);
            continue;
        }
        double before = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        st_status s = bench_time(cfg, run_ew, &c, &r->rows[index].t);
        if (s != ST_OK) bench_row_fail(&r->rows[index], s);
        double after = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        r->rows[index].yardstick = before > after ? before : after;
    }
    ew_free(&c);
    bench_rowops(cfg, r, d); /* softmax, layernorm, cross-entropy and backwards: bench_rowops.c */
    bench_quant(cfg, r, d);  /* quantize, dequantize: bench_quant.c */
}
