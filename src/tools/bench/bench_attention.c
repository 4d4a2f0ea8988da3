/* strata-bench's attention suite (issue 18 item 3): causal attention forward, backward and both
 * at the gpt2-124m shape at its full context (H = 12, T = 1024, D = 64; B = 1 and 4), in GFLOP/s
 * as the op table counts them, each beside the FMA probe taken around it and against the device's
 * own matmul (st_matmul) of 1024^3 measured in the same run. */
#include <stdio.h>
#include <string.h>
#include "bench.h"

typedef struct att_ctx {
    st_device *dev;
    st_tensor *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv, *a, *b, *c;
    int fwd, bwd;
} att_ctx;

static st_status run_att(void *p)
{
    att_ctx *c = p;
    st_status s = ST_OK;
    if (c->fwd) s = st_attention(c->o, c->lse, c->q, c->k, c->v);
    if (s == ST_OK && c->bwd) s = st_attention_backward(c->dq, c->dk, c->dv, c->dout, c->q, c->k, c->v, c->o, c->lse);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

static st_status run_mm(void *p)
{
    att_ctx *c = p;
    st_status s = st_matmul(c->c, c->a, c->b, 0, 0, 1.0f, 0.0f);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

static void att_free(att_ctx *c)
{
    st_tensor *all[] = {c->q, c->k, c->v, c->o, c->lse, c->dout, c->dq, c->dk, c->dv, c->a, c->b, c->c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) st_tensor_destroy(all[i]);
}

static st_status att_setup(att_ctx *c, int64_t B)
{
    int64_t s4[4] = {B, 12, 1024, 64};
    st_tensor **t4[] = {&c->q, &c->k, &c->v, &c->o, &c->dout, &c->dq, &c->dk, &c->dv};
    st_status s = ST_OK;
    for (int i = 0; i < 8 && s == ST_OK; i++) s = st_tensor_create(c->dev, ST_F32, 4, s4, t4[i]);
    if (s == ST_OK) s = st_tensor_create(c->dev, ST_F32, 3, s4, &c->lse);
    for (int i = 0; i < 3 && s == ST_OK; i++) s = st_rand_uniform(*t4[i], (uint64_t)i + 21, 0, -1.0f, 1.0f);
    if (s == ST_OK) s = st_rand_uniform(c->dout, 24, 0, -1.0f, 1.0f);
    if (s == ST_OK) s = st_attention(c->o, c->lse, c->q, c->k, c->v); /* real o and lse for the backward */
    if (s == ST_OK) s = st_device_sync(c->dev);
    return s;
}

/* Flops of the forward (which = 0) or backward (1) at batch B, from the op table. */
static double att_flops(int64_t B, int which)
{
    st_tensor_desc d[9];
    for (int i = 0; i < 9; i++) d[i] = (st_tensor_desc){ST_F32, 4, {B, 12, 1024, 64}};
    d[which ? 8 : 1].ndim = 3;
    double f = 0, bytes = 0;
    if (st_op_cost(which ? ST_OP_ATTENTION_BACKWARD : ST_OP_ATTENTION, d, NULL, &f, &bytes) != ST_OK) st_clear_error();
    return f;
}

static int timed(const bench_config *cfg, bench_report *r, bench_device *d, att_ctx *c, const char *op,
                 const char *shape, double flops, st_status (*fn)(void *), int ref_index)
{
    bench_row *row = bench_add_row(r, d, "attention", op, shape, BENCH_GFLOPS, flops, 0);
    if (!row) return -1;
    int index = (int)(row - r->rows), is_cpu = strcmp(d->backend, "cpu") == 0;
    bench_progress(cfg, r, row);
    double before = is_cpu ? bench_fma_now(cfg, r) : 0.0;
    st_status s = bench_time(cfg, fn, c, &r->rows[index].t);
    if (s != ST_OK) bench_row_fail(&r->rows[index], s);
    double after = is_cpu ? bench_fma_now(cfg, r) : 0.0;
    row = &r->rows[index];
    row->yardstick = before > after ? before : after;
    if (ref_index >= 0 && r->rows[ref_index].status == ST_OK) {
        snprintf(row->ref, sizeof row->ref, "%s", r->rows[ref_index].op);
        row->ref_rate = bench_rate(&r->rows[ref_index], r->rows[ref_index].t.median);
    }
    return index;
}

/* The device's matmul at 1024^3: the GEMM rate attention is compared with. */
static int matmul_ref(const bench_config *cfg, bench_report *r, bench_device *d)
{
    int64_t shape[2] = {1024, 1024};
    att_ctx c = {.dev = d->dev};
    st_status s = st_tensor_create(d->dev, ST_F32, 2, shape, &c.a);
    if (s == ST_OK) s = st_tensor_create(d->dev, ST_F32, 2, shape, &c.b);
    if (s == ST_OK) s = st_tensor_create(d->dev, ST_F32, 2, shape, &c.c);
    if (s == ST_OK) s = st_rand_uniform(c.a, 31, 0, -1.0f, 1.0f);
    if (s == ST_OK) s = st_rand_uniform(c.b, 32, 0, -1.0f, 1.0f);
    int index = s == ST_OK ? timed(cfg, r, d, &c, "matmul", "1024x1024x1024 f32 (gemm rate)", 2.0 * 1024 * 1024 * 1024.0,
                                   run_mm, -1)
                           : -1;
    if (index >= 0) r->rows[index].baseline = 1;
    att_free(&c);
    return index;
}

void bench_attention(const bench_config *cfg, bench_report *r, bench_device *d)
{
    int ref = matmul_ref(cfg, r, d);
    static const int64_t batches[] = {1, 4};
    for (int i = 0; i < (cfg->quick ? 1 : 2); i++) {
        int64_t B = batches[i];
        char shape[64];
        snprintf(shape, sizeof shape, "(%lld,12,1024,64) f32 causal", (long long)B);
        att_ctx c = {.dev = d->dev};
        st_status s = att_setup(&c, B);
        double ff = att_flops(B, 0), fb = att_flops(B, 1);
        static const struct { const char *op; int fwd, bwd; } parts[] = {
            {"attention", 1, 0}, {"attention_backward", 0, 1}, {"attention+backward", 1, 1}};
        for (int p = 0; p < 3; p++) {
            c.fwd = parts[p].fwd, c.bwd = parts[p].bwd;
            double flops = (c.fwd ? ff : 0) + (c.bwd ? fb : 0);
            if (s != ST_OK) {
                bench_row *row = bench_add_row(r, d, "attention", parts[p].op, shape, BENCH_GFLOPS, flops, 0);
                if (row) bench_row_fail(row, s);
                continue;
            }
            int index = timed(cfg, r, d, &c, parts[p].op, shape, flops, run_att, ref);
            if (index >= 0 && p == 2 && strcmp(d->backend, "cpu") == 0) r->rows[index].target = 4;
        }
        att_free(&c);
    }
}
