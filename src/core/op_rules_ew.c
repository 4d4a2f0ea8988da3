/* Shape rules of the copy, random and elementwise families (the RULE column): fill and rand
 * (the caller gives the output), cast (the input's shape), binary (out = broadcast(a, b)), and
 * copy, unary, unary_bwd and scale (the inputs broadcast to out). */
#include <math.h>
#include <string.h>
#include "op_rules.h"

/* Ops whose outputs are whatever the caller gives. */
static st_status given_outputs(st_rule_ctx *c)
{
    if (!c->given)
        return st_op_fail(c->info, ST_ERR_INVALID_ARG, "its outputs are not determined by its inputs");
    for (int k = 0; k < c->info->n_out; k++) rule_set(c, k, c->given[k].ndim, c->given[k].shape);
    return ST_OK;
}

static st_status fill_shape(st_rule_ctx *c) { return given_outputs(c); }
const st_rule st_rule_fill = {fill_shape, NULL};

static st_status rand_shape(st_rule_ctx *c)
{
    const st_rand_params *p = &c->p->rand_uniform;
    if (isnan(p->a) || isnan(p->b)) return st_op_fail(c->info, ST_ERR_INVALID_ARG, "NaN parameter");
    return given_outputs(c);
}
const st_rule st_rule_rand = {rand_shape, NULL};

/* cast: the input's shape exactly. */
static st_status cast_shape(st_rule_ctx *c)
{
    st_dtype to = c->given ? c->given[0].dtype : c->p->cast.dtype;
    if (to != ST_F32 && to != ST_BF16)
        return st_op_fail(c->info, ST_ERR_DTYPE, "cast to %s, need f32 or bf16", st_dtype_name(to));
    c->p->cast.dtype = to;
    c->out[0].dtype = to;
    rule_set(c, 0, c->in[0].ndim, c->in[0].shape);
    return ST_OK;
}
const st_rule st_rule_cast = {cast_shape, NULL};

/* numpy broadcasting of the inputs into out[0]. */
static st_status broadcast_inputs(st_rule_ctx *c)
{
    int nd = 0;
    for (int i = 0; i < c->info->n_in; i++) nd = c->in[i].ndim > nd ? c->in[i].ndim : nd;
    int64_t shape[ST_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        shape[d] = 1;
        for (int i = 0; i < c->info->n_in; i++) {
            const st_tensor_desc *x = &c->in[i];
            int xd = d - (nd - x->ndim);
            int64_t s = xd >= 0 ? x->shape[xd] : 1;
            if (s != shape[d] && s != 1 && shape[d] != 1)
                return st_op_fail(c->info, ST_ERR_SHAPE, "sizes %lld and %lld do not broadcast (dim %d)",
                                  (long long)shape[d], (long long)s, d);
            if (s != 1) shape[d] = s;
        }
    }
    rule_set(c, 0, nd, shape);
    return ST_OK;
}

/* add, sub, mul, div: out's shape is exactly the broadcast of a and b. */
static st_status binary_shape(st_rule_ctx *c) { return broadcast_inputs(c); }
const st_rule st_rule_binary = {binary_shape, NULL};

/* The unary ops, their backward ops, scale and copy: the inputs broadcast to out, whatever its
 * shape (a gradient summed to a scalar is copied out to every element this way). */
static st_status elementwise_shape(st_rule_ctx *c)
{
    if (c->given) {
        rule_set(c, 0, c->given[0].ndim, c->given[0].shape);
        c->match[0] = ST_MATCH_BCAST;
        return ST_OK;
    }
    return broadcast_inputs(c);
}
const st_rule st_rule_unary = {elementwise_shape, NULL};
const st_rule st_rule_unary_bwd = {elementwise_shape, NULL};
const st_rule st_rule_scale = {elementwise_shape, NULL};
const st_rule st_rule_copy = {elementwise_shape, NULL};
