/* Shape rules of the matmul, reduce and adamw families, with their eager run hooks: matmul
 * hands transposed views to the backend as flags and handles K = 0; reductions over an empty
 * axis give their identity. */
#include <math.h>
#include <string.h>
#include "op_impl.h"
#include "op_rules.h"

/* ---- matmul ---- */

static st_status matmul_shape(st_rule_ctx *c)
{
    const st_tensor_desc *a = &c->in[0], *b = &c->in[1];
    const st_matmul_params *p = &c->p->matmul;
    int nd = a->ndim, ta = p->trans_a != 0, tb = p->trans_b != 0;
    if (nd < 2 || (b->ndim != nd && b->ndim != 2))
        return st_op_fail(c->info, ST_ERR_SHAPE, "needs a of rank >= 2 and b of a's rank or 2 (got %d and %d dims)",
                          a->ndim, b->ndim);
    int64_t M = a->shape[nd - (ta ? 1 : 2)], K = a->shape[nd - (ta ? 2 : 1)];
    int64_t Kb = b->shape[b->ndim - (tb ? 1 : 2)], N = b->shape[b->ndim - (tb ? 2 : 1)];
    if (K != Kb)
        return st_op_fail(c->info, ST_ERR_SHAPE, "inner dims differ: a gives K=%lld, b gives K=%lld ((%lld x %lld) @ (%lld x %lld))",
                          (long long)K, (long long)Kb, (long long)M, (long long)K, (long long)Kb, (long long)N);
    for (int i = 0; i < nd - 2; i++)
        if (b->ndim == nd && b->shape[i] != a->shape[i])
            return st_op_fail(c->info, ST_ERR_SHAPE, "batch dim %d differs between a and b; b must be 2-d or match", i);
    rule_set(c, 0, nd, a->shape);
    c->out[0].shape[nd - 2] = M;
    c->out[0].shape[nd - 1] = N;
    return ST_OK;
}

/* A transposed view of a contiguous matrix batch is passed as the contiguous original with the
 * transpose flag flipped, so BLAS reads it in place instead of the core copying it. */
static st_status matmul_operand(const st_tensor *t, int *trans, st_tensor **use)
{
    int n = t->ndim;
    if (!st_tensor_is_contiguous(t) && n >= 2) {
        st_tensor *tt = NULL;
        ST_TRY(st_tensor_transpose(t, n - 2, n - 1, &tt));
        if (st_tensor_is_contiguous(tt)) {
            *trans = !*trans;
            *use = tt;
            return ST_OK;
        }
        st_tensor_destroy(tt);
    }
    return st_tensor_ref(t, use);
}

static st_status matmul_run(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                            const st_op_params *p)
{
    const st_tensor *a = ins[0];
    st_op_params q = *p;
    q.matmul.trans_a = p->matmul.trans_a != 0;
    q.matmul.trans_b = p->matmul.trans_b != 0;
    if (a->shape[a->ndim - (q.matmul.trans_a ? 2 : 1)] == 0) /* K = 0: out = beta out */
        return q.matmul.beta == 0.0f ? st_fill(outs[0], 0.0) : st_scale(outs[0], outs[0], q.matmul.beta, 0.0f);
    st_tensor *ua = NULL, *ub = NULL;
    st_status s = matmul_operand(a, &q.matmul.trans_a, &ua);
    if (s == ST_OK) s = matmul_operand(ins[1], &q.matmul.trans_b, &ub);
    if (s == ST_OK) s = st_run_dense(info, outs, (const st_tensor *const[]){ua, ub}, &q);
    st_tensor_destroy(ua);
    st_tensor_destroy(ub);
    return s;
}
const st_rule st_rule_matmul = {matmul_shape, matmul_run};

/* ---- reductions ---- */

static st_status reduce_shape(st_rule_ctx *c)
{
    const st_tensor_desc *x = &c->in[0];
    int axis = c->p->sum.axis, a = axis < 0 ? axis + x->ndim : axis; /* sum, mean, max share st_axis_params */
    if (a < 0 || a >= x->ndim)
        return st_op_fail(c->info, ST_ERR_INVALID_ARG, "axis %d out of range for %d dims", axis, x->ndim);
    c->p->sum.axis = a;
    c->out[0].ndim = x->ndim - 1;
    for (int i = 0, j = 0; i < x->ndim; i++)
        if (i != a) c->out[0].shape[j++] = x->shape[i];
    c->match[0] = ST_MATCH_KEEPDIM;
    c->keep_axis = a;
    return ST_OK;
}

/* What a reduction over an empty axis gives: each reduction's identity. */
static const struct {
    st_op op;
    double value;
} empty_values[] = {{ST_OP_SUM, 0.0}, {ST_OP_MEAN, NAN}, {ST_OP_MAX, -INFINITY}};

static st_status reduce_run(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                            const st_op_params *p)
{
    if (ins[0]->shape[p->sum.axis] != 0) return st_run_dense(info, outs, ins, p);
    for (size_t i = 0; i < sizeof empty_values / sizeof empty_values[0]; i++)
        if (empty_values[i].op == info->op) return st_fill(outs[0], empty_values[i].value);
    return st_op_fail(info, ST_ERR_INTERNAL, "the reduce rule knows no value for an empty axis");
}
const st_rule st_rule_reduce = {reduce_shape, reduce_run};

static st_status sumsq_shape(st_rule_ctx *c)
{
    c->out[0].ndim = 0;
    c->match[0] = ST_MATCH_NUMEL;
    return ST_OK;
}

static st_status sumsq_run(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                           const st_op_params *p)
{
    return st_tensor_numel(ins[0]) ? st_run_dense(info, outs, ins, p) : st_fill(outs[0], 0.0);
}
const st_rule st_rule_sumsq = {sumsq_shape, sumsq_run};

/* ---- adamw: param, m, v updated in place from grad ---- */

static st_status adamw_shape(st_rule_ctx *c)
{
    const st_adamw_params *p = &c->p->adamw;
    if (p->step < 1 || !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) || !(p->eps >= 0) ||
        !isfinite(p->lr) || !isfinite(p->weight_decay) || !isfinite(p->grad_scale))
        return st_op_fail(c->info, ST_ERR_INVALID_ARG,
                          "needs step >= 1, betas in [0, 1), eps >= 0, finite lr, decay and scale");
    for (int k = 0; k < 3; k++) rule_set(c, k, c->in[0].ndim, c->in[0].shape);
    return ST_OK;
}
const st_rule st_rule_adamw = {adamw_shape, NULL};
