/* The one path of every eager op (st_op_run) and of shape inference (st_op_infer): operand
 * counts, devices and dtypes checked against the op's signature, shapes and params against its
 * rule, then the backend slot, with contiguous staging for the ops that are not strided. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "op_impl.h"

void st_desc_of(const st_tensor *t, st_tensor_desc *d)
{
    d->dtype = t->dtype;
    d->ndim = t->ndim;
    memcpy(d->shape, t->shape, sizeof d->shape);
}

int64_t st_desc_numel(const st_tensor_desc *d)
{
    int64_t n = 1;
    for (int i = 0; i < d->ndim; i++) n *= d->shape[i];
    return n;
}

int64_t st_desc_rows(const st_tensor_desc *d)
{
    int64_t r = 1;
    for (int i = 0; i + 1 < d->ndim; i++) r *= d->shape[i];
    return r;
}

const char *st_shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

st_status st_op_fail(const st_op_info *info, st_status s, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return st_set_error(s, __FILE__, __LINE__, "%s: %s", info->name, msg);
}

void st_op_params_load(const st_op_info *info, const void *params, st_op_params *out)
{
    memset(out, 0, sizeof *out);
    if (params && info->params_size) memcpy(out, params, info->params_size);
}

/* ---- dtypes: the signature ---- */

static st_dtype dtype_at(const st_rule_ctx *c, int k)
{
    return k < c->info->n_out ? c->out[k].dtype : c->in[k - c->info->n_out].dtype;
}

static st_status check_dtype(const st_rule_ctx *c, int k)
{
    const st_operand_info *o = &c->info->operand[k];
    st_dtype dt = dtype_at(c, k);
    /* an output whose dtype inference has not settled yet is checked after the rule */
    if (dt == ST_DTYPE_COUNT && !c->given && k < c->info->n_out) return ST_OK;
    if (o->like >= 0 && dtype_at(c, o->like) == ST_DTYPE_COUNT && !c->given) return ST_OK;
    if (o->like >= 0 && dt != dtype_at(c, o->like))
        return st_op_fail(c->info, ST_ERR_DTYPE, "%s is %s but %s is %s; they must have one dtype (cast first)", o->name,
                          st_dtype_name(dt), c->info->operand[o->like].name, st_dtype_name(dtype_at(c, o->like)));
    if (o->like < 0 && ((unsigned)dt >= ST_DTYPE_COUNT || !(o->dtypes & (1u << dt))))
        return st_op_fail(c->info, ST_ERR_DTYPE, "%s has dtype %s, which this op does not take (signature \"%s\")",
                          o->name, st_dtype_name(dt), c->info->signature);
    return ST_OK;
}

/* Inference: an output's dtype follows its `like`, a single allowed dtype, or an input that must
 * have its dtype; else the rule sets it (cast). ST_DTYPE_COUNT: not known yet. */
static st_dtype infer_dtype(const st_rule_ctx *c, int k, int depth)
{
    const st_op_info *in = c->info;
    const st_operand_info *o = &in->operand[k];
    if (k >= in->n_out) return c->in[k - in->n_out].dtype;
    if (depth > ST_MAX_OPERANDS) return ST_DTYPE_COUNT;
    if (o->like >= 0) return infer_dtype(c, o->like, depth + 1);
    if (o->dtypes && !(o->dtypes & (o->dtypes - 1))) return (st_dtype)__builtin_ctz(o->dtypes);
    for (int j = in->n_out; j < in->n_out + in->n_in; j++)
        if (in->operand[j].like == k) return c->in[j - in->n_out].dtype;
    return ST_DTYPE_COUNT;
}

/* ---- shapes: the rule, and how the caller's outputs must match it ---- */

static int broadcasts_to(const st_tensor_desc *x, int ndim, const int64_t *shape)
{
    if (x->ndim > ndim) return 0;
    for (int i = 0; i < x->ndim; i++) {
        int64_t s = x->shape[x->ndim - 1 - i];
        if (s != 1 && s != shape[ndim - 1 - i]) return 0;
    }
    return 1;
}

static int shape_eq(const st_tensor_desc *a, const st_tensor_desc *b)
{
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0;
}

static st_status check_given(const st_rule_ctx *c, int k)
{
    const st_tensor_desc *g = &c->given[k], *want = &c->out[k];
    const char *name = c->info->operand[k].name, *how = "";
    int ok = shape_eq(g, want);
    if (c->match[k] == ST_MATCH_NUMEL) {
        ok = st_desc_numel(g) == st_desc_numel(want);
        how = " (any shape of as many elements)";
    } else if (c->match[k] == ST_MATCH_KEEPDIM && !ok) {
        const st_tensor_desc *x = &c->in[0];
        ok = g->ndim == x->ndim;
        for (int i = 0; ok && i < x->ndim; i++) ok = g->shape[i] == (i == c->keep_axis ? 1 : x->shape[i]);
        how = " (the input's shape with the axis removed or kept as 1)";
    } else if (c->match[k] == ST_MATCH_BCAST) {
        ok = 1;
        for (int i = 0; ok && i < c->info->n_in; i++) ok = broadcasts_to(&c->in[i], g->ndim, g->shape);
        if (ok) return ST_OK;
        char got[64];
        return st_op_fail(c->info, ST_ERR_SHAPE, "the inputs do not broadcast to %s's shape %s", name,
                          st_shape_str(g->ndim, g->shape, got, sizeof got));
    }
    if (ok) return ST_OK;
    char got[64], exp[64];
    return st_op_fail(c->info, ST_ERR_SHAPE, "%s is %s%s, expected shape %s%s", name, st_dtype_name(g->dtype),
                      st_shape_str(g->ndim, g->shape, got, sizeof got), st_shape_str(want->ndim, want->shape, exp, sizeof exp),
                      how);
}

st_status st_op_check(st_rule_ctx *c)
{
    const st_op_info *in = c->info;
    if (in->error) return st_op_fail(in, ST_ERR_INTERNAL, "defective op table row: %s", in->error);
    for (int k = 0; k < in->n_out; k++) {
        c->match[k] = ST_MATCH_EXACT;
        c->out[k].dtype = c->given ? c->given[k].dtype : infer_dtype(c, k, 0);
    }
    for (int k = 0; k < in->n_out + in->n_in; k++) ST_TRY(check_dtype(c, k));
    ST_TRY(st_op_impl_get(in->op)->rule->shape(c));
    for (int k = 0; k < in->n_out; k++) {
        if (c->given) {
            ST_TRY(check_given(c, k));
            continue;
        }
        if ((unsigned)c->out[k].dtype >= ST_DTYPE_COUNT)
            return st_op_fail(in, ST_ERR_INTERNAL, "the rule left the dtype of %s open", in->operand[k].name);
        ST_TRY(check_dtype(c, k));
    }
    return ST_OK;
}

st_status st_op_infer(st_op op, const st_tensor_desc *ins, int n_in, const void *params, st_tensor_desc *out)
{
    const st_op_info *info = st_op_info_get(op);
    if (!info || (n_in && !ins) || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_op_infer: invalid op, or NULL inputs or out");
    if (n_in != info->n_in) return st_op_fail(info, ST_ERR_INVALID_ARG, "takes %d inputs, not %d", info->n_in, n_in);
    if (info->params_size && !params) return st_op_fail(info, ST_ERR_INVALID_ARG, "NULL parameters");
    st_op_params p;
    st_op_params_load(info, params, &p);
    st_rule_ctx c = {.info = info, .p = &p};
    memcpy(c.in, ins, sizeof ins[0] * (size_t)n_in);
    ST_TRY(st_op_check(&c));
    memcpy(out, c.out, sizeof out[0] * (size_t)info->n_out);
    return ST_OK;
}

/* ---- dispatch ---- */

/* An expanded view writes one element from several positions: refuse it as an output. */
static st_status check_writable(const st_op_info *info, const st_tensor *t)
{
    if (st_tensor_numel(t) == 0) return ST_OK;
    for (int i = 0; i < t->ndim; i++)
        if (t->stride[i] == 0 && t->shape[i] > 1)
            return st_op_fail(info, ST_ERR_INVALID_ARG, "output is a broadcast (expanded) view; write into a real tensor");
    return ST_OK;
}

st_status st_dispatch(st_device *dev, st_op_call *call)
{
    return dev->be->iface->op[call->op](dev->be->ctx, dev->index, call);
}

st_status st_run_strided(const st_op_info *info, st_tensor *out, const st_tensor *const *ins, const st_op_params *p)
{
    st_op_call call = {.op = info->op, .n_in = info->n_in, .n_out = 1, .p = *p};
    st_view_of(out, &call.out[0]);
    for (int i = 0; i < info->n_in; i++) ST_TRY(st_view_broadcast(ins[i], out->ndim, out->shape, &call.in[i]));
    if (st_tensor_numel(out) == 0) return ST_OK;
    return st_dispatch(out->storage->dev, &call);
}

st_status st_run_dense(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins, const st_op_params *p)
{
    st_tensor *tin[ST_MAX_OP_IN] = {0}, *tout[ST_MAX_OP_OUT] = {0};
    st_op_call call = {.op = info->op, .n_in = info->n_in, .n_out = info->n_out, .p = *p};
    st_status s = ST_OK;
    for (int i = 0; i < info->n_in && s == ST_OK; i++) {
        s = st_tensor_contiguous(ins[i], &tin[i]);
        if (s == ST_OK) st_view_of(tin[i], &call.in[i]);
    }
    /* Non-contiguous outputs compute into a contiguous copy (read-write ops see old contents). */
    for (int i = 0; i < info->n_out && s == ST_OK; i++) {
        s = st_tensor_contiguous(outs[i], &tout[i]);
        if (s == ST_OK) st_view_of(tout[i], &call.out[i]);
    }
    if (s == ST_OK) s = st_dispatch(outs[0]->storage->dev, &call);
    for (int i = 0; i < info->n_out && s == ST_OK; i++)
        if (tout[i]->storage != outs[i]->storage) s = st_copy(outs[i], tout[i]);
    for (int i = 0; i < info->n_in; i++) st_tensor_destroy(tin[i]);
    for (int i = 0; i < info->n_out; i++) st_tensor_destroy(tout[i]);
    return s;
}

st_status st_run_generic(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                         const st_op_params *p)
{
    if (info->flags & ST_OPF_STRIDED) return st_run_strided(info, outs[0], ins, p);
    return st_run_dense(info, outs, ins, p);
}

/* Non-NULL, and every operand on one device. */
static st_status check_operands(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins)
{
    const st_tensor *first = NULL;
    for (int k = 0; k < info->n_out + info->n_in; k++) {
        const st_tensor *t = k < info->n_out ? outs[k] : ins[k - info->n_out];
        if (!t) return st_op_fail(info, ST_ERR_INVALID_ARG, "%s is NULL", info->operand[k].name);
        if (!first) first = t;
        else if (t->storage->dev != first->storage->dev)
            return st_op_fail(info, ST_ERR_DEVICE, "tensors on %s and %s; move them to one device first",
                              first->storage->dev->label, t->storage->dev->label);
    }
    return ST_OK;
}

st_status st_op_run(st_op op, st_tensor *const *outs, int n_out, const st_tensor *const *ins, int n_in,
                    const void *params)
{
    const st_op_info *info = st_op_info_get(op);
    if (!info) return ST_ERR(ST_ERR_INVALID_ARG, "st_op_run: op %d is not an op of the table", (int)op);
    if (n_out != info->n_out || n_in != info->n_in || (n_out && !outs) || (n_in && !ins))
        return st_op_fail(info, ST_ERR_INVALID_ARG, "takes %d outputs and %d inputs (\"%s\"), not %d and %d",
                          info->n_out, info->n_in, info->signature, n_out, n_in);
    ST_TRY(check_operands(info, outs, ins));
    if (info->params_size && !params) return st_op_fail(info, ST_ERR_INVALID_ARG, "NULL parameters");
    st_op_params p;
    st_op_params_load(info, params, &p);
    st_tensor_desc given[ST_MAX_OP_OUT];
    st_rule_ctx c = {.info = info, .p = &p, .given = given};
    for (int k = 0; k < n_out; k++) st_desc_of(outs[k], &given[k]);
    for (int k = 0; k < n_in; k++) st_desc_of(ins[k], &c.in[k]);
    ST_TRY(st_op_check(&c));
    int empty = 1;
    for (int k = 0; k < n_out; k++) {
        ST_TRY(check_writable(info, outs[k]));
        empty &= st_tensor_numel(outs[k]) == 0;
    }
    if (empty) return ST_OK;
    const st_rule *rule = st_op_impl_get(op)->rule;
    return rule->run ? rule->run(info, outs, ins, &p) : st_run_generic(info, outs, ins, &p);
}
