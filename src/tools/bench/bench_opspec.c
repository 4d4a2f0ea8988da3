/* strata-bench's op cases at a model's shapes: for each op of the op table, the operands it gets
 * where the GPT-2 trainer calls it (B rows of T tokens, C channels, H heads, vocabulary V), and
 * the flops and bytes one call counts (docs/bench.md gives the formulas). */
#include <stdio.h>
#include <string.h>
#include "bench_opspec.h"

/* Roles of the operands: read, written, or read and written (counted twice in the bytes). */
enum { IN = 0, OUT = 1, INOUT = 2 };

static void operand(bench_opspec *s, int role, st_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    bench_operand *o = &s->t[s->n++];
    int64_t dims[4] = {d0, d1, d2, d3};
    o->role = role;
    o->dt = dt;
    o->ndim = ndim;
    for (int i = 0; i < 4; i++) o->shape[i] = i < ndim ? dims[i] : 1;
}

static double numel(const bench_operand *o)
{
    double n = 1;
    for (int i = 0; i < o->ndim; i++) n *= (double)o->shape[i];
    return n;
}

/* Bytes of every operand once (twice when read and written), flops per element of `main`. */
static void count(bench_opspec *s, int main, double flops_per_elem)
{
    s->bytes = 0;
    for (int i = 0; i < s->n; i++)
        s->bytes += numel(&s->t[i]) * (double)st_dtype_size(s->t[i].dt) * (s->t[i].role == INOUT ? 2 : 1);
    s->flops = flops_per_elem * numel(&s->t[main]);
}

static void describe(bench_opspec *s, int main)
{
    const bench_operand *o = &s->t[main];
    int len = snprintf(s->shape, sizeof s->shape, "(");
    for (int i = 0; i < o->ndim && len < (int)sizeof s->shape; i++)
        len += snprintf(s->shape + len, sizeof s->shape - (size_t)len, "%s%lld", i ? "," : "", (long long)o->shape[i]);
    if (len < (int)sizeof s->shape) snprintf(s->shape + len, sizeof s->shape - (size_t)len, ") %s", st_dtype_name(o->dt));
}

/* Flops per element of the strided ops (a transcendental function counts as one). */
static double elementwise_flops(st_op op)
{
    switch (op) {
    case ST_OP_FILL: case ST_OP_COPY: case ST_OP_CAST: case ST_OP_RAND_UNIFORM: case ST_OP_RAND_NORMAL: return 0;
    case ST_OP_SCALE: return 2;
    case ST_OP_GELU: return 8;
    case ST_OP_GELU_BACKWARD: return 16;
    default: return 1;
    }
}

/* fill .. rsqrt: activations (B T, C) for the residual-stream ops, (B T, 4C) for the MLP's. */
static int elementwise_spec(st_op op, const bench_dims *d, bench_opspec *s)
{
    int64_t rows = d->B * d->T, wide = 4 * d->C;
    int n_in = 1;
    switch (op) {
    case ST_OP_FILL: case ST_OP_RAND_UNIFORM: case ST_OP_RAND_NORMAL: n_in = 0; wide = d->C; break;
    case ST_OP_COPY: case ST_OP_SCALE: wide = d->C; break;
    case ST_OP_CAST: wide = d->C; break;
    case ST_OP_ADD: case ST_OP_SUB: case ST_OP_MUL: case ST_OP_DIV: n_in = 2; wide = d->C; break;
    case ST_OP_GELU_BACKWARD: case ST_OP_RELU_BACKWARD: n_in = 2; break;
    case ST_OP_GELU: case ST_OP_RELU: case ST_OP_EXP: case ST_OP_LOG: case ST_OP_TANH: case ST_OP_SQRT:
    case ST_OP_RSQRT: break;
    default: return 0;
    }
    operand(s, OUT, op == ST_OP_CAST ? ST_BF16 : ST_F32, 2, rows, wide, 1, 1);
    for (int i = 0; i < n_in; i++) operand(s, IN, ST_F32, 2, rows, wide, 1, 1);
    count(s, 0, elementwise_flops(op));
    describe(s, 0);
    return 1;
}

/* matmul variants: 0 the MLP's c_fc (B T, C) x (C, 4C), 1 the tied LM head (B T, C) x (Vp, C)^T. */
static int matmul_spec(int variant, const bench_dims *d, bench_opspec *s)
{
    int64_t m = d->B * d->T, k = d->C, n = variant == 0 ? 4 * d->C : d->Vp;
    if (variant > 1) return 0;
    operand(s, OUT, ST_F32, 2, m, n, 1, 1);
    operand(s, IN, ST_F32, 2, m, k, 1, 1);
    if (variant == 0) operand(s, IN, ST_F32, 2, k, n, 1, 1);
    else operand(s, IN, ST_F32, 2, n, k, 1, 1);
    count(s, 0, 0);
    s->flops = 2.0 * (double)m * (double)n * (double)k;
    s->unit = BENCH_GFLOPS;
    s->trans_b = variant == 1;
    s->gemm_m = (int)m, s->gemm_n = (int)n, s->gemm_k = (int)k;
    snprintf(s->shape, sizeof s->shape, "%lldx%lldx%lld%s f32 (%s)", (long long)m, (long long)n, (long long)k,
             variant ? " B^T" : "", variant ? "lm_head" : "c_fc");
    return 1;
}

/* attention: q, k, v (B, H, T, D). Forward two T x T x D products, backward four, each halved
 * by the causal mask: 2 B H T^2 D and 4 B H T^2 D flops. */
static int attention_spec(st_op op, const bench_dims *d, bench_opspec *s)
{
    int64_t D = d->C / d->H;
    int fwd = op == ST_OP_ATTENTION;
    if (!fwd) {
        for (int i = 0; i < 3; i++) operand(s, OUT, ST_F32, 4, d->B, d->H, d->T, D);
        operand(s, IN, ST_F32, 4, d->B, d->H, d->T, D); /* dout */
    } else {
        operand(s, OUT, ST_F32, 4, d->B, d->H, d->T, D);
        operand(s, OUT, ST_F32, 3, d->B, d->H, d->T, 1);
    }
    for (int i = 0; i < 3; i++) operand(s, IN, ST_F32, 4, d->B, d->H, d->T, D); /* q, k, v */
    if (!fwd) {
        operand(s, IN, ST_F32, 4, d->B, d->H, d->T, D); /* out */
        operand(s, IN, ST_F32, 3, d->B, d->H, d->T, 1); /* lse */
    }
    count(s, 0, 0);
    s->flops = (fwd ? 2.0 : 4.0) * (double)d->B * d->H * (double)d->T * (double)d->T * (double)D;
    s->unit = BENCH_GFLOPS;
    describe(s, fwd ? 2 : 4);
    return 1;
}

/* The row-wise and index ops at the shapes the trainer gives them. */
static int dense_spec(st_op op, const bench_dims *d, bench_opspec *s)
{
    int64_t BT = d->B * d->T, C = d->C, W = 4 * d->C;
    switch (op) {
    case ST_OP_SUM: case ST_OP_MEAN: case ST_OP_MAX: /* a bias gradient: (B T, 4C) summed over rows */
        operand(s, OUT, ST_F32, 1, W, 1, 1, 1);
        operand(s, IN, ST_F32, 2, BT, W, 1, 1);
        s->axis = 0;
        count(s, 1, 1);
        break;
    case ST_OP_SUMSQ: /* a global-norm term over a (B T, 4C) gradient */
        operand(s, OUT, ST_F32, 1, 1, 1, 1, 1);
        operand(s, IN, ST_F32, 2, BT, W, 1, 1);
        count(s, 1, 2);
        break;
    case ST_OP_SOFTMAX: case ST_OP_SOFTMAX_BACKWARD: /* causal attention rows (B, H, T, T) */
        for (int i = 0; i < (op == ST_OP_SOFTMAX ? 2 : 3); i++) operand(s, i ? IN : OUT, ST_F32, 4, d->B, d->H, d->T, d->T);
        count(s, 0, op == ST_OP_SOFTMAX ? 5 : 4);
        break;
    case ST_OP_LAYERNORM:
        operand(s, OUT, ST_F32, 2, BT, C, 1, 1);
        operand(s, OUT, ST_F32, 1, BT, 1, 1, 1);
        operand(s, OUT, ST_F32, 1, BT, 1, 1, 1);
        operand(s, IN, ST_F32, 2, BT, C, 1, 1);
        operand(s, IN, ST_F32, 1, C, 1, 1, 1);
        operand(s, IN, ST_F32, 1, C, 1, 1, 1);
        count(s, 0, 8);
        break;
    case ST_OP_LAYERNORM_BACKWARD:
        operand(s, OUT, ST_F32, 2, BT, C, 1, 1);
        operand(s, OUT, ST_F32, 1, C, 1, 1, 1);
        operand(s, OUT, ST_F32, 1, C, 1, 1, 1);
        operand(s, IN, ST_F32, 2, BT, C, 1, 1);
        operand(s, IN, ST_F32, 2, BT, C, 1, 1);
        operand(s, IN, ST_F32, 1, C, 1, 1, 1);
        operand(s, IN, ST_F32, 1, BT, 1, 1, 1);
        operand(s, IN, ST_F32, 1, BT, 1, 1, 1);
        count(s, 0, 12);
        break;
    default: return 0;
    }
    describe(s, s->t[0].ndim >= 2 ? 0 : 1);
    return 1;
}

/* Embedding, cross-entropy and AdamW. */
static int model_spec(st_op op, const bench_dims *d, bench_opspec *s)
{
    int64_t BT = d->B * d->T, C = d->C;
    switch (op) {
    case ST_OP_EMBEDDING: /* wte rows gathered: only the B T rows read count, not the table */
        operand(s, OUT, ST_F32, 3, d->B, d->T, C, 1);
        operand(s, IN, ST_F32, 2, d->Vp, C, 1, 1);
        operand(s, IN, ST_I32, 2, d->B, d->T, 1, 1);
        count(s, 0, 0);
        s->bytes -= (double)(d->Vp - BT) * (double)C * 4.0;
        break;
    case ST_OP_EMBEDDING_BACKWARD: /* the table is overwritten, then B T rows accumulated */
        operand(s, OUT, ST_F32, 2, d->Vp, C, 1, 1);
        operand(s, IN, ST_F32, 3, d->B, d->T, C, 1);
        operand(s, IN, ST_I32, 2, d->B, d->T, 1, 1);
        count(s, 1, 1);
        break;
    case ST_OP_CROSS_ENTROPY:
        operand(s, OUT, ST_F32, 1, BT, 1, 1, 1);
        operand(s, OUT, ST_F32, 2, BT, d->V, 1, 1);
        operand(s, IN, ST_F32, 2, BT, d->V, 1, 1);
        operand(s, IN, ST_I32, 1, BT, 1, 1, 1);
        count(s, 2, 5);
        break;
    case ST_OP_CROSS_ENTROPY_BACKWARD:
        operand(s, OUT, ST_F32, 2, BT, d->V, 1, 1);
        operand(s, IN, ST_F32, 1, BT, 1, 1, 1);
        operand(s, IN, ST_F32, 2, BT, d->V, 1, 1);
        operand(s, IN, ST_I32, 1, BT, 1, 1, 1);
        count(s, 0, 2);
        break;
    case ST_OP_ADAMW: /* one c_fc weight (C, 4C): param, m, v read and written, grad read */
        for (int i = 0; i < 3; i++) operand(s, INOUT, ST_F32, 2, C, 4 * C, 1, 1);
        operand(s, IN, ST_F32, 2, C, 4 * C, 1, 1);
        count(s, 0, 15);
        break;
    default: return 0;
    }
    describe(s, op == ST_OP_EMBEDDING_BACKWARD ? 1 : op == ST_OP_CROSS_ENTROPY ? 2 : 0);
    return 1;
}

int bench_opspec_make(st_op op, int variant, const bench_dims *d, bench_opspec *s)
{
    memset(s, 0, sizeof *s);
    s->op = op;
    s->unit = BENCH_GBPS;
    s->axis = -1;
    if (op == ST_OP_MATMUL) return matmul_spec(variant, d, s);
    if (variant > 0) return 0;
    if (op == ST_OP_ATTENTION || op == ST_OP_ATTENTION_BACKWARD) return attention_spec(op, d, s);
    return elementwise_spec(op, d, s) || dense_spec(op, d, s) || model_spec(op, d, s);
}
