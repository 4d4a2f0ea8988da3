/* Shape rules of the softmax, layernorm, embedding, cross_entropy and attention families, forward
 * and backward, with the run hooks of the backward ops whose outputs stay defined when their
 * inputs are empty (zero gradients). */
#include <string.h>
#include "op_rules.h"

/* x's shape without its last dim. */
static void leading(const st_tensor_desc *x, int *ndim, int64_t *shape)
{
    *ndim = x->ndim - 1;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)*ndim);
}

/* ---- softmax ---- */

static st_status softmax_shape(st_rule_ctx *c)
{
    const st_tensor_desc *x = &c->in[0];
    if (x->ndim < 1) return st_op_fail(c->info, ST_ERR_SHAPE, "needs at least one dim");
    if (c->p->softmax.causal && (x->ndim < 2 || x->shape[x->ndim - 1] < x->shape[x->ndim - 2]))
        return st_op_fail(c->info, ST_ERR_SHAPE, "causal mask needs (..., T, S) with S >= T");
    rule_set(c, 0, x->ndim, x->shape);
    return ST_OK;
}
const st_rule st_rule_softmax = {softmax_shape, NULL};

/* (dout, out) -> din */
static st_status softmax_bwd_shape(st_rule_ctx *c)
{
    const st_tensor_desc *dout = &c->in[0];
    if (dout->ndim < 1) return st_op_fail(c->info, ST_ERR_SHAPE, "needs at least one dim");
    ST_TRY(rule_expect(c, 1, dout->ndim, dout->shape, "dout's shape"));
    rule_set(c, 0, dout->ndim, dout->shape);
    return ST_OK;
}
const st_rule st_rule_softmax_bwd = {softmax_bwd_shape, NULL};

/* ---- layernorm ---- */

/* in (..., C), weight (C) and mean, rstd of one element per row (index i_w, i_mean of c->in). */
static st_status layernorm_inputs(st_rule_ctx *c, const st_tensor_desc *x, int i_w, int i_b)
{
    if (x->ndim < 1) return st_op_fail(c->info, ST_ERR_SHAPE, "needs at least one dim");
    int64_t C = x->shape[x->ndim - 1];
    ST_TRY(rule_expect(c, i_w, 1, &C, "shape"));
    if (i_b >= 0) ST_TRY(rule_expect(c, i_b, 1, &C, "shape"));
    if (C == 0 && st_desc_rows(x) > 0) return st_op_fail(c->info, ST_ERR_SHAPE, "rows of 0 elements have no mean");
    return ST_OK;
}

static st_status layernorm_shape(st_rule_ctx *c)
{
    const st_tensor_desc *x = &c->in[0];
    ST_TRY(layernorm_inputs(c, x, 1, 2));
    if (!(c->p->layernorm.eps >= 0.0f)) return st_op_fail(c->info, ST_ERR_INVALID_ARG, "eps must be >= 0");
    int nd;
    int64_t rows[ST_MAX_DIMS];
    leading(x, &nd, rows);
    rule_set(c, 0, x->ndim, x->shape);
    for (int k = 1; k < 3; k++) {
        rule_set(c, k, nd, rows);
        c->match[k] = ST_MATCH_NUMEL;
    }
    return ST_OK;
}
const st_rule st_rule_layernorm = {layernorm_shape, NULL};

/* (dout, in, weight, mean, rstd) -> din, dweight, dbias */
static st_status layernorm_bwd_shape(st_rule_ctx *c)
{
    const st_tensor_desc *x = &c->in[1];
    ST_TRY(layernorm_inputs(c, x, 2, -1));
    ST_TRY(rule_expect(c, 0, x->ndim, x->shape, "in's shape"));
    for (int i = 3; i < 5; i++)
        if (st_desc_numel(&c->in[i]) != st_desc_rows(x))
            return st_op_fail(c->info, ST_ERR_SHAPE, "%s needs %lld elements (one per row)",
                              c->info->operand[c->info->n_out + i].name, (long long)st_desc_rows(x));
    rule_set(c, 0, x->ndim, x->shape);
    for (int k = 1; k < 3; k++) rule_set(c, k, 1, &x->shape[x->ndim - 1]);
    return ST_OK;
}

/* No rows: dweight and dbias are sums over none. */
static st_status layernorm_bwd_run(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                                   const st_op_params *p)
{
    if (st_tensor_numel(ins[1]) != 0) return st_run_dense(info, outs, ins, p);
    ST_TRY(st_fill(outs[1], 0.0));
    return st_fill(outs[2], 0.0);
}
const st_rule st_rule_layernorm_bwd = {layernorm_bwd_shape, layernorm_bwd_run};

/* ---- embedding ---- */

/* rows (idx.shape + [C]) for a table (V, C). */
static st_status embedding_rows(st_rule_ctx *c, const st_tensor_desc *table, const st_tensor_desc *idx,
                                st_tensor_desc *rows)
{
    if (table->ndim != 2) return st_op_fail(c->info, ST_ERR_SHAPE, "the table must be (V, C)");
    if (idx->ndim + 1 > ST_MAX_DIMS) return st_op_fail(c->info, ST_ERR_SHAPE, "idx has too many dims");
    rows->ndim = idx->ndim + 1;
    memcpy(rows->shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim);
    rows->shape[idx->ndim] = table->shape[1];
    return ST_OK;
}

static st_status embedding_shape(st_rule_ctx *c)
{
    st_tensor_desc rows = {0};
    ST_TRY(embedding_rows(c, &c->in[0], &c->in[1], &rows));
    rule_set(c, 0, rows.ndim, rows.shape);
    return ST_OK;
}
const st_rule st_rule_embedding = {embedding_shape, NULL};

/* (dout, idx) -> dtable: the table's rows come from the caller. */
static st_status embedding_bwd_shape(st_rule_ctx *c)
{
    if (!c->given) return st_op_fail(c->info, ST_ERR_INVALID_ARG, "the table's size is not determined by the inputs");
    st_tensor_desc rows = {0};
    ST_TRY(embedding_rows(c, &c->given[0], &c->in[1], &rows));
    ST_TRY(rule_expect(c, 0, rows.ndim, rows.shape, "idx.shape + [C]"));
    rule_set(c, 0, c->given[0].ndim, c->given[0].shape);
    return ST_OK;
}

static st_status embedding_bwd_run(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                                   const st_op_params *p)
{
    return st_tensor_numel(ins[1]) ? st_run_dense(info, outs, ins, p) : st_fill(outs[0], 0.0);
}
const st_rule st_rule_embedding_bwd = {embedding_bwd_shape, embedding_bwd_run};

/* ---- cross-entropy ---- */

/* logits-like (..., V) and a per-row operand (input i_row) of its leading shape; i_tgt targets. */
static st_status xent_inputs(st_rule_ctx *c, const st_tensor_desc *logits, int i_tgt, int i_row)
{
    if (logits->ndim < 1) return st_op_fail(c->info, ST_ERR_SHAPE, "logits need a class dim");
    ST_TRY(rule_expect(c, i_tgt, logits->ndim - 1, logits->shape, "the logits' shape without the class dim"));
    if (i_row >= 0) ST_TRY(rule_expect(c, i_row, logits->ndim - 1, logits->shape, "the logits' shape without the class dim"));
    if (logits->shape[logits->ndim - 1] == 0 && st_desc_rows(logits) > 0)
        return st_op_fail(c->info, ST_ERR_SHAPE, "zero classes");
    return ST_OK;
}

static st_status xent_shape(st_rule_ctx *c)
{
    const st_tensor_desc *logits = &c->in[0];
    ST_TRY(xent_inputs(c, logits, 1, -1));
    rule_set(c, 0, logits->ndim - 1, logits->shape);
    rule_set(c, 1, logits->ndim, logits->shape);
    return ST_OK;
}
const st_rule st_rule_xent = {xent_shape, NULL};

/* (dloss, probs, targets) -> dlogits */
static st_status xent_bwd_shape(st_rule_ctx *c)
{
    const st_tensor_desc *probs = &c->in[1];
    ST_TRY(xent_inputs(c, probs, 2, 0));
    rule_set(c, 0, probs->ndim, probs->shape);
    return ST_OK;
}
const st_rule st_rule_xent_bwd = {xent_bwd_shape, NULL};

/* ---- attention ---- */

/* q (B, H, T, D) at input i_q, inputs [first, last] of q's shape. */
static st_status attention_inputs(st_rule_ctx *c, int i_q, int first, int last)
{
    const st_tensor_desc *q = &c->in[i_q];
    if (q->ndim != 4) return st_op_fail(c->info, ST_ERR_SHAPE, "q must be (B, H, T, D)");
    for (int i = first; i <= last; i++)
        if (i != i_q) ST_TRY(rule_expect(c, i, 4, q->shape, "q's shape"));
    if (q->shape[3] == 0 && q->shape[0] * q->shape[1] * q->shape[2] > 0)
        return st_op_fail(c->info, ST_ERR_SHAPE, "head size 0");
    return ST_OK;
}

static st_status attention_shape(st_rule_ctx *c)
{
    ST_TRY(attention_inputs(c, 0, 0, 2));
    rule_set(c, 0, 4, c->in[0].shape);
    rule_set(c, 1, 3, c->in[0].shape);
    return ST_OK;
}
const st_rule st_rule_attention = {attention_shape, NULL};

/* (dout, q, k, v, out, lse) -> dq, dk, dv */
static st_status attention_bwd_shape(st_rule_ctx *c)
{
    ST_TRY(attention_inputs(c, 1, 0, 4));
    ST_TRY(rule_expect(c, 5, 3, c->in[1].shape, "(B, H, T)"));
    for (int k = 0; k < 3; k++) rule_set(c, k, 4, c->in[1].shape);
    return ST_OK;
}
const st_rule st_rule_attention_bwd = {attention_bwd_shape, NULL};
