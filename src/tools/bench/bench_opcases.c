/* strata-bench's model suites: every op of the op table at a GPT model's sizes, timed on one
 * device with the vendor reference beside each (the vendor gemm of the same shape for matmul, a
 * plain copy of the same bytes for the others). Everything about an op comes from its table row:
 * its cases (st_op_case_get), flops and bytes (st_op_cost), rate unit (ST_OPF_FLOP_RATE), and for a
 * backward op the forward call whose outputs it reads; the sizes come from the planner's model
 * description (st_plan_model_get). A new row is measured with no code here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#define TRY(expr)                           \
    do {                                    \
        st_status try_s_ = (expr);          \
        if (try_s_ != ST_OK) return try_s_; \
    } while (0)

typedef struct op_ctx {
    st_device *dev;
    const st_op_info *info;
    const st_op_case *cs;
    st_tensor *t[ST_MAX_OPERANDS];  /* the timed call's operands, outputs first */
    st_tensor *fwd[ST_MAX_OPERANDS]; /* a backward op: its forward call's operands */
} op_ctx;

static st_status run_op(void *p)
{
    op_ctx *c = p;
    const st_op_info *in = c->info;
    st_status s = st_op_run(in->op, c->t, in->n_out, (const st_tensor *const *)c->t + in->n_out, in->n_in,
                            &c->cs->params);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

/* Indices and targets spread over [0, V): host-made, then uploaded. */
static st_status fill_indices(st_tensor *t, int64_t V)
{
    int64_t n = st_tensor_numel(t);
    int32_t *host = malloc((size_t)(n ? n : 1) * sizeof *host);
    if (!host) return ST_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) host[i] = (int32_t)((i * 7919) % V);
    st_status s = st_tensor_write(t, host, (size_t)n * sizeof *host);
    free(host);
    return s;
}

/* Quantized payloads (i8): bytes spread over [-127, 127], host-made, then uploaded. */
static st_status fill_bytes(st_tensor *t)
{
    int64_t n = st_tensor_numel(t);
    int8_t *host = malloc((size_t)(n ? n : 1));
    if (!host) return ST_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) host[i] = (int8_t)((i * 7919) % 255 - 127);
    st_status s = st_tensor_write(t, host, (size_t)n);
    free(host);
    return s;
}

/* A tensor of `d` with values: positive floats (log, sqrt and rsqrt stay on their fast paths;
 * outputs are touched too), indices in [0, V) or i8 payloads. */
static st_status make(st_device *dev, const st_tensor_desc *d, int64_t V, uint64_t seed, st_tensor **out)
{
    TRY(st_tensor_create(dev, d->dtype, d->ndim, d->shape, out));
    if (d->dtype == ST_I8) return fill_bytes(*out);
    return d->dtype == ST_I32 ? fill_indices(*out, V) : st_rand_uniform(*out, seed, 0, 0.5f, 1.5f);
}

/* A backward op's inputs come from its forward call, run once here, so they hold real values
 * (softmax rows, layernorm statistics, attention's lse). */
static st_status prepare_backward(op_ctx *c, int k, const st_op_dims *dims)
{
    const st_op_info *fi = st_op_info_get(c->info->forward);
    st_op_case fc;
    TRY(st_op_case_get(fi->op, k, dims, &fc));
    for (int i = 0; i < fi->n_out + fi->n_in; i++) TRY(make(c->dev, &fc.operand[i], dims->V, (uint64_t)i + 11, &c->fwd[i]));
    TRY(st_op_run(fi->op, c->fwd, fi->n_out, (const st_tensor *const *)c->fwd + fi->n_out, fi->n_in, &fc.params));
    for (int r = 0; r < fi->n_reads; r++) {
        st_tensor **slot = &c->t[c->info->n_out + r];
        if (fi->reads[r] == ST_READ_DOUT) TRY(make(c->dev, &fc.operand[0], dims->V, 7, slot));
        else TRY(st_tensor_ref(c->fwd[fi->reads[r]], slot));
    }
    return ST_OK;
}

static st_status setup(op_ctx *c, int k, const st_op_dims *dims)
{
    const st_op_info *in = c->info;
    int backward = in->forward != ST_OP_NONE;
    for (int i = 0; i < in->n_out + (backward ? 0 : in->n_in); i++)
        TRY(make(c->dev, &c->cs->operand[i], dims->V, (uint64_t)i + 1, &c->t[i]));
    if (backward) TRY(prepare_backward(c, k, dims));
    return st_device_sync(c->dev);
}

/* "(256,3072) f32" of the case's largest operand, or for matmul "MxNxK[ B^T] f32 (label)", the
 * vendor gemm's shape. */
static void describe(const st_op_info *in, const st_op_case *cs, char *out, size_t size, int *gemm)
{
    if (in->op == ST_OP_MATMUL) {
        const st_tensor_desc *a = &cs->operand[1], *o = &cs->operand[0];
        gemm[0] = (int)o->shape[o->ndim - 2], gemm[1] = (int)o->shape[o->ndim - 1];
        gemm[2] = (int)a->shape[a->ndim - (cs->params.matmul.trans_a ? 2 : 1)], gemm[3] = cs->params.matmul.trans_b != 0;
        snprintf(out, size, "%dx%dx%d%s %s (%s)", gemm[0], gemm[1], gemm[2], gemm[3] ? " B^T" : "",
                 st_dtype_name(o->dtype), cs->label);
        return;
    }
    const st_tensor_desc *m = &cs->operand[0];
    for (int i = 1; i < in->n_out + in->n_in && m->dtype == ST_I8; i++) m = &cs->operand[i]; /* a float one */
    for (int i = 1; i < in->n_out + in->n_in; i++) {
        int64_t a = 1, b = 1;
        for (int d = 0; d < cs->operand[i].ndim; d++) a *= cs->operand[i].shape[d];
        for (int d = 0; d < m->ndim; d++) b *= m->shape[d];
        if (a > b) m = &cs->operand[i];
    }
    int len = snprintf(out, size, "(");
    for (int i = 0; i < m->ndim && len < (int)size; i++)
        len += snprintf(out + len, size - (size_t)len, "%s%lld", i ? "," : "", (long long)m->shape[i]);
    if (len < (int)size) snprintf(out + len, size - (size_t)len, ") %s%s%s", st_dtype_name(m->dtype), cs->label[0] ? " " : "", cs->label);
}

static void run_case(const bench_config *cfg, bench_report *r, bench_device *d, const char *suite,
                     const st_op_dims *dims, const st_op_info *info, int k)
{
    st_op_case cs;
    char shape[64] = "-";
    int gemm[4] = {0};
    double flops = 0, bytes = 0;
    st_status st = st_op_case_get(info->op, k, dims, &cs);
    if (st == ST_OK) st = st_op_cost(info->op, cs.operand, &cs.params, &flops, &bytes);
    if (st == ST_OK) describe(info, &cs, shape, sizeof shape, gemm);
    bench_unit unit = info->flags & ST_OPF_FLOP_RATE ? BENCH_GFLOPS : BENCH_GBPS;
    bench_row *row = bench_add_row(r, d, suite, info->name, shape, unit, flops, bytes);
    if (!row) return;
    int index = (int)(row - r->rows);
    bench_progress(cfg, r, row);
    op_ctx c = {.dev = d->dev, .info = info, .cs = &cs};
    if (st == ST_OK) st = setup(&c, k, dims);
    if (st == ST_OK) st = bench_time(cfg, run_op, &c, &r->rows[index].t);
    if (st != ST_OK) bench_row_fail(&r->rows[index], st);
    for (int i = 0; i < ST_MAX_OPERANDS; i++) {
        st_tensor_destroy(c.t[i]);
        st_tensor_destroy(c.fwd[i]);
    }
    if (st == ST_OK && info->op == ST_OP_MATMUL)
        bench_ref_gemm(cfg, r, d, suite, gemm[0], gemm[1], gemm[2], gemm[3], index);
    else if (st == ST_OK && unit == BENCH_GBPS)
        bench_ref_copy(cfg, r, d, suite, bytes, index);
}

/* B and T as strata-bench documents them: the tiny model's own context, and gpt2-124m at B = 4,
 * T = 64 so that a CPU finishes it in seconds; the vocabulary padded to 128 as the trainer's. */
static int model_dims(const char *model, st_op_dims *d)
{
    st_plan_model m;
    if (st_plan_model_get(model, &m) != ST_OK || !m.layers) return 0;
    int tiny = strcmp(model, "tiny") == 0;
    *d = (st_op_dims){tiny ? 8 : 4, tiny ? m.seq : 64, m.hidden, m.heads, m.vocab, (m.vocab + 127) / 128 * 128, ST_BF16};
    return 1;
}

void bench_model_ops(const bench_config *cfg, bench_report *r, bench_device *d, const char *model)
{
    st_op_dims dims;
    if (!model_dims(model, &dims)) {
        fprintf(stderr, "strata-bench: unknown model config '%s': %s\n", model, st_last_error());
        return;
    }
    for (int op = 0; op < ST_OP_COUNT; op++) {
        const st_op_info *info = st_op_info_get((st_op)op);
        for (int k = 0; k < info->n_cases; k++) run_case(cfg, r, d, model, &dims, info, k);
        if (info->n_cases > 0) continue;
        /* A row without a case (the op table's test fails on it too) shows instead of vanishing. */
        bench_row *row = bench_add_row(r, d, model, info->name, "-", BENCH_GBPS, 0, 0);
        if (!row) return;
        row->status = ST_ERR_UNSUPPORTED;
        snprintf(row->error, sizeof row->error, "the op table has no case for this op (CASES column)");
    }
}
