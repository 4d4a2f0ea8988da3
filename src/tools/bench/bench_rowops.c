/* strata-bench's row-op stream cases (issue 18 item 5): softmax, layernorm, cross-entropy and
 * their backwards over cfg->stream_elems f32 elements at the row lengths a GPT uses (softmax rows
 * of T = 1024, layernorm rows of C = 768, cross-entropy rows of V = 50304), each beside the triad
 * probe taken just before and after it. Bytes are the arrays a call must stream (the per-row
 * statistics and the weights are noise at these sizes); the target is 80 % of the triad. */
#include <stdio.h>
#include <string.h>
#include "bench.h"

typedef struct row_ctx {
    st_device *dev;
    st_tensor *x, *g, *y, *dx;          /* (rows, row) */
    st_tensor *mean, *rstd, *w, *bias;  /* (rows), (row) */
    st_tensor *dw, *db, *loss, *dloss, *tg;
    st_status (*op)(struct row_ctx *);
} row_ctx;

static st_status op_softmax(row_ctx *c) { return st_softmax(c->y, c->x, 0); }
static st_status op_softmax_bwd(row_ctx *c) { return st_softmax_backward(c->dx, c->g, c->y); }
static st_status op_layernorm(row_ctx *c) { return st_layernorm(c->y, c->mean, c->rstd, c->x, c->w, c->bias, 1e-5f); }
static st_status op_layernorm_bwd(row_ctx *c)
{
    return st_layernorm_backward(c->dx, c->dw, c->db, c->g, c->x, c->w, c->mean, c->rstd);
}
static st_status op_ce(row_ctx *c) { return st_cross_entropy(c->loss, c->y, c->x, c->tg); }
static st_status op_ce_bwd(row_ctx *c) { return st_cross_entropy_backward(c->dx, c->dloss, c->y, c->tg); }

/* arrays: n-element arrays streamed (reads + writes); prep: the forward run once before timing a
 * backward, so that it reads real softmax rows, statistics or probabilities. */
static const struct row_case {
    const char *name;
    int64_t row;
    int arrays;
    double flops;
    st_status (*op)(row_ctx *), (*prep)(row_ctx *);
} row_cases[] = {
    {"softmax", 1024, 2, 5, op_softmax, NULL},
    {"softmax_backward", 1024, 3, 3, op_softmax_bwd, op_softmax},
    {"layernorm", 768, 2, 8, op_layernorm, NULL},
    {"layernorm_backward", 768, 3, 12, op_layernorm_bwd, op_layernorm},
    {"cross_entropy", 50304, 2, 5, op_ce, NULL},
    {"cross_entropy_backward", 50304, 2, 1, op_ce_bwd, op_ce},
};

static st_status run_row(void *p)
{
    row_ctx *c = p;
    st_status s = c->op(c);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

static st_status make(st_device *dev, int ndim, const int64_t *shape, st_dtype dt, st_tensor **t)
{
    return st_tensor_create(dev, dt, ndim, shape, t);
}

static void row_free(row_ctx *c)
{
    st_tensor *all[] = {c->x, c->g, c->y, c->dx, c->mean, c->rstd, c->w, c->bias, c->dw, c->db, c->loss, c->dloss, c->tg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) st_tensor_destroy(all[i]);
    memset(c, 0, sizeof *c);
}

/* The case's tensors, every page touched (inputs random in [-2, 2)) before timing. */
static st_status row_setup(row_ctx *c, int64_t rows, int64_t row)
{
    int64_t shape[2] = {rows, row};
    st_status s = make(c->dev, 2, shape, ST_F32, &c->x);
    if (s == ST_OK) s = make(c->dev, 2, shape, ST_F32, &c->g);
    if (s == ST_OK) s = make(c->dev, 2, shape, ST_F32, &c->y);
    if (s == ST_OK) s = make(c->dev, 2, shape, ST_F32, &c->dx);
    if (s == ST_OK) s = st_rand_uniform(c->x, 3, 0, -2.0f, 2.0f);
    if (s == ST_OK) s = st_rand_uniform(c->g, 4, 0, -2.0f, 2.0f);
    if (s == ST_OK) s = st_fill(c->y, 0.0);
    if (s == ST_OK) s = st_fill(c->dx, 0.0);
    if (s == ST_OK) s = make(c->dev, 1, &rows, ST_F32, &c->mean);
    if (s == ST_OK) s = make(c->dev, 1, &rows, ST_F32, &c->rstd);
    if (s == ST_OK) s = make(c->dev, 1, &rows, ST_F32, &c->loss);
    if (s == ST_OK) s = make(c->dev, 1, &rows, ST_F32, &c->dloss);
    if (s == ST_OK) s = make(c->dev, 1, &rows, ST_I32, &c->tg);
    if (s == ST_OK) s = make(c->dev, 1, &row, ST_F32, &c->w);
    if (s == ST_OK) s = make(c->dev, 1, &row, ST_F32, &c->bias);
    if (s == ST_OK) s = make(c->dev, 1, &row, ST_F32, &c->dw);
    if (s == ST_OK) s = make(c->dev, 1, &row, ST_F32, &c->db);
    if (s == ST_OK) s = st_rand_uniform(c->w, 5, 0, 0.5f, 1.5f);
    if (s == ST_OK) s = st_rand_uniform(c->bias, 6, 0, -0.5f, 0.5f);
    if (s == ST_OK) s = st_rand_uniform(c->dloss, 7, 0, 0.5f, 1.5f);
    if (s == ST_OK) s = st_fill(c->tg, (double)(row / 3));
    if (s == ST_OK) s = st_device_sync(c->dev);
    return s;
}

static bench_row *add(bench_report *r, bench_device *d, const struct row_case *e, int64_t n)
{
    char size[48];
    snprintf(size, sizeof size, "%lldM f32, rows of %lld", (long long)(n >> 20), (long long)e->row);
    bench_row *row = bench_add_row(r, d, "stream", e->name, size, BENCH_GBPS, e->flops * (double)n,
                                   (double)e->arrays * (double)n * 4.0);
    if (row) row->target = 3;
    return row;
}

static void fail(bench_row *row, st_status s)
{
    row->status = s;
    snprintf(row->error, sizeof row->error, "setup: %s", st_last_error());
}

void bench_rowops(const bench_config *cfg, bench_report *r, bench_device *d)
{
    int is_cpu = strcmp(d->backend, "cpu") == 0;
    for (size_t i = 0; i < sizeof row_cases / sizeof row_cases[0]; i++) {
        const struct row_case *e = &row_cases[i];
        int64_t rows = cfg->stream_elems / e->row;
        bench_row *row = add(r, d, e, rows * e->row);
        if (!row) return;
        int index = (int)(row - r->rows);
        bench_progress(cfg, r, row);
        row_ctx c = {.dev = d->dev, .op = e->op};
        st_status s = row_setup(&c, rows, e->row);
        if (s == ST_OK && e->prep) s = e->prep(&c);
        if (s == ST_OK) s = st_device_sync(c.dev);
        if (s != ST_OK) {
            fail(&r->rows[index], s);
            row_free(&c);
            continue;
        }
        double before = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        s = bench_time(cfg, run_row, &c, &r->rows[index].t);
        if (s != ST_OK) bench_row_fail(&r->rows[index], s);
        double after = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        r->rows[index].yardstick = before > after ? before : after;
        row_free(&c);
    }
}
