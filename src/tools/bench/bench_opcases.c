/* strata-bench's model suites: every op of the op table at the shapes the GPT-2 trainer gives it
 * for a named config (bench_opspec.c), timed on one device with the vendor reference beside each
 * (the vendor gemm of the same shape for matmul, a plain copy of the same bytes for the others). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_opspec.h"
#include "gpt2.h"

typedef struct op_ctx {
    st_device *dev;
    const bench_opspec *s;
    st_tensor *t[BENCH_MAX_OPERANDS];
} op_ctx;

typedef st_status (*unary_fn)(st_tensor *, const st_tensor *);
typedef st_status (*binary_fn)(st_tensor *, const st_tensor *, const st_tensor *);

static st_status call_elementwise(const bench_opspec *s, st_tensor **t)
{
    static const struct { st_op op; unary_fn f; } unary[] = {
        {ST_OP_COPY, st_copy}, {ST_OP_CAST, st_cast}, {ST_OP_GELU, st_gelu}, {ST_OP_RELU, st_relu},
        {ST_OP_EXP, st_exp}, {ST_OP_LOG, st_log}, {ST_OP_TANH, st_tanh}, {ST_OP_SQRT, st_sqrt},
        {ST_OP_RSQRT, st_rsqrt}};
    static const struct { st_op op; binary_fn f; } binary[] = {
        {ST_OP_ADD, st_add}, {ST_OP_SUB, st_sub}, {ST_OP_MUL, st_mul}, {ST_OP_DIV, st_div},
        {ST_OP_GELU_BACKWARD, st_gelu_backward}, {ST_OP_RELU_BACKWARD, st_relu_backward}};
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++)
        if (unary[i].op == s->op) return unary[i].f(t[0], t[1]);
    for (size_t i = 0; i < sizeof binary / sizeof binary[0]; i++)
        if (binary[i].op == s->op) return binary[i].f(t[0], t[1], t[2]);
    return ST_ERR_UNSUPPORTED;
}

static st_status call_op(const bench_opspec *s, st_tensor **t)
{
    static const st_adamw_params adamw = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 1};
    switch (s->op) {
    case ST_OP_FILL: return st_fill(t[0], 0.5);
    case ST_OP_RAND_UNIFORM: return st_rand_uniform(t[0], 7, 0, -1.0f, 1.0f);
    case ST_OP_RAND_NORMAL: return st_rand_normal(t[0], 7, 0, 0.0f, 0.02f);
    case ST_OP_SCALE: return st_scale(t[0], t[1], 2.0f, 1.0f);
    case ST_OP_MATMUL: return st_matmul(t[0], t[1], t[2], 0, s->trans_b, 1.0f, 0.0f);
    case ST_OP_SUM: return st_sum(t[0], t[1], s->axis);
    case ST_OP_MEAN: return st_mean(t[0], t[1], s->axis);
    case ST_OP_MAX: return st_max(t[0], t[1], s->axis);
    case ST_OP_SUMSQ: return st_sumsq(t[0], t[1]);
    case ST_OP_SOFTMAX: return st_softmax(t[0], t[1], 1);
    case ST_OP_SOFTMAX_BACKWARD: return st_softmax_backward(t[0], t[1], t[2]);
    case ST_OP_LAYERNORM: return st_layernorm(t[0], t[1], t[2], t[3], t[4], t[5], 1e-5f);
    case ST_OP_LAYERNORM_BACKWARD: return st_layernorm_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
    case ST_OP_EMBEDDING: return st_embedding(t[0], t[1], t[2]);
    case ST_OP_EMBEDDING_BACKWARD: return st_embedding_backward(t[0], t[1], t[2]);
    case ST_OP_CROSS_ENTROPY: return st_cross_entropy(t[0], t[1], t[2], t[3]);
    case ST_OP_CROSS_ENTROPY_BACKWARD: return st_cross_entropy_backward(t[0], t[1], t[2], t[3]);
    case ST_OP_ATTENTION: return st_attention(t[0], t[1], t[2], t[3], t[4]);
    case ST_OP_ATTENTION_BACKWARD: return st_attention_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]);
    case ST_OP_ADAMW: return st_adamw(t[0], t[1], t[2], t[3], &adamw);
    default: return call_elementwise(s, t);
    }
}

static st_status run_op(void *p)
{
    op_ctx *c = p;
    st_status s = call_op(c->s, c->t);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

/* Indices and targets spread over [0, V): host-made, then uploaded. */
static st_status fill_indices(st_tensor *t, int64_t V)
{
    int64_t n = st_tensor_numel(t);
    int32_t *host = malloc((size_t)n * sizeof *host);
    if (!host) return ST_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) host[i] = (int32_t)((i * 7919) % V);
    st_status s = st_tensor_write(t, host, (size_t)n * sizeof *host);
    free(host);
    return s;
}

/* The saved tensors of a backward come from its forward, so the backward sees real values. */
static st_status prepare_backward(const bench_opspec *s, st_tensor **t, st_device *dev)
{
    st_tensor *tmp[3] = {NULL, NULL, NULL};
    st_status st = ST_OK;
    switch (s->op) {
    case ST_OP_SOFTMAX_BACKWARD: st = st_softmax(t[2], t[1], 1); break;
    case ST_OP_ATTENTION_BACKWARD: st = st_attention(t[7], t[8], t[4], t[5], t[6]); break;
    case ST_OP_LAYERNORM_BACKWARD:
        st = st_tensor_create(dev, ST_F32, s->t[4].ndim, s->t[4].shape, &tmp[0]);
        if (!st) st = st_tensor_create(dev, ST_F32, 1, s->t[5].shape, &tmp[1]);
        if (!st) st = st_fill(tmp[1], 0.0);
        if (!st) st = st_layernorm(tmp[0], t[6], t[7], t[4], t[5], tmp[1], 1e-5f);
        break;
    case ST_OP_CROSS_ENTROPY_BACKWARD:
        st = st_tensor_create(dev, ST_F32, 1, s->t[1].shape, &tmp[0]);
        if (!st) st = st_tensor_create(dev, ST_F32, 2, s->t[2].shape, &tmp[1]);
        if (!st) st = st_rand_uniform(tmp[1], 11, 0, -4.0f, 4.0f);
        if (!st) st = st_cross_entropy(tmp[0], t[2], tmp[1], t[3]);
        break;
    default: break;
    }
    if (!st) st = st_device_sync(dev);
    for (int i = 0; i < 3; i++) st_tensor_free(tmp[i]);
    return st;
}

static st_status setup(op_ctx *c, const bench_opspec *s, const bench_dims *d)
{
    st_status st = ST_OK;
    for (int i = 0; i < s->n && st == ST_OK; i++) {
        const bench_operand *o = &s->t[i];
        st = st_tensor_create(c->dev, o->dt, o->ndim, o->shape, &c->t[i]);
        if (st) break;
        /* Positive inputs keep log, sqrt and rsqrt on their fast paths; outputs are touched too. */
        if (o->dt == ST_I32) st = fill_indices(c->t[i], d->V);
        else st = st_rand_uniform(c->t[i], (uint64_t)i + 1, 0, 0.5f, 1.5f);
    }
    return st ? st : prepare_backward(s, c->t, c->dev);
}

static void run_case(const bench_config *cfg, bench_report *r, bench_device *d, const bench_dims *dims,
                     const bench_opspec *s)
{
    bench_row *row = bench_add_row(r, d, dims->name, st_op_name(s->op), s->shape, s->unit, s->flops, s->bytes);
    if (!row) return;
    int index = (int)(row - r->rows);
    bench_progress(cfg, r, row);
    op_ctx c = {d->dev, s, {NULL}};
    st_status st = setup(&c, s, dims);
    if (st == ST_OK) st = bench_time(cfg, run_op, &c, &r->rows[index].t);
    if (st != ST_OK) bench_row_fail(&r->rows[index], st);
    for (int i = 0; i < s->n; i++) st_tensor_free(c.t[i]);
    if (s->op == ST_OP_MATMUL)
        bench_ref_gemm(cfg, r, d, dims->name, s->gemm_m, s->gemm_n, s->gemm_k, s->trans_b, index);
    else if (s->unit == BENCH_GBPS)
        bench_ref_copy(cfg, r, d, dims->name, s->bytes, index);
}

void bench_model_ops(const bench_config *cfg, bench_report *r, bench_device *d, const char *model)
{
    gpt2_config g;
    if (gpt2_config_named(model, &g) != ST_OK) {
        fprintf(stderr, "strata-bench: unknown model config '%s'\n", model);
        return;
    }
    /* B and T as strata-bench documents them: the tiny config's own context, and gpt2-124m at
     * B=4, T=64 so that a CPU finishes it in seconds. */
    int tiny = strcmp(model, "tiny") == 0;
    bench_dims dims = {model, tiny ? 8 : 4, tiny ? g.T : 64, g.C, g.H, g.V, g.Vp};
    for (int op = 0; op < ST_OP_COUNT; op++) {
        bench_opspec s;
        int variant = 0;
        for (; bench_opspec_make((st_op)op, variant, &dims, &s); variant++) run_case(cfg, r, d, &dims, &s);
        if (variant > 0) continue;
        /* An op added to the table without a case here shows up instead of vanishing. */
        bench_row *row = bench_add_row(r, d, model, st_op_name((st_op)op), "-", BENCH_GBPS, 0, 0);
        if (!row) return;
        row->status = ST_ERR_UNSUPPORTED;
        snprintf(row->error, sizeof row->error, "strata-bench has no case for this op (bench_opspec.c)");
    }
}
