/* The FLOPS and BYTES columns: what one call of an op counts, as expressions of its operands'
 * shapes (st_op_cost). docs/bench.md explains the conventions: a multiply-add is 2 flops, a
 * transcendental function 1; bytes count every operand once, an in-place output twice. */
#include <math.h>
#include <string.h>
#include "op_impl.h"

typedef struct cost_ctx {
    const st_op_info *info;
    const st_tensor_desc *operand;
    int bad; /* a column named an operand the signature lacks */
} cost_ctx;

static const st_tensor_desc *named(cost_ctx *c, const char *name)
{
    for (int k = 0; k < c->info->n_in + c->info->n_out; k++)
        if (strcmp(c->info->operand[k].name, name) == 0) return &c->operand[k];
    c->bad = 1;
    return NULL;
}

static double numel_of(cost_ctx *c, const char *name)
{
    const st_tensor_desc *t = named(c, name);
    return t ? (double)st_desc_numel(t) : NAN;
}

static double dim_of(cost_ctx *c, const char *name, int i)
{
    const st_tensor_desc *t = named(c, name);
    if (!t) return NAN;
    int a = i < 0 ? i + t->ndim : i;
    if (a < 0 || a >= t->ndim) {
        c->bad = 1;
        return NAN;
    }
    return (double)t->shape[a];
}

static double bytes_of(cost_ctx *c, const char *name)
{
    const st_tensor_desc *t = named(c, name);
    return t ? (double)st_desc_numel(t) * (double)st_dtype_size(t->dtype) : NAN;
}

/* ALL: every operand once; the outputs of an in-place op are read and written. */
static double all_bytes(cost_ctx *c)
{
    double b = 0;
    for (int k = 0; k < c->info->n_in + c->info->n_out; k++) {
        double once = (double)st_desc_numel(&c->operand[k]) * (double)st_dtype_size(c->operand[k].dtype);
        b += once * (k < c->info->n_out && (c->info->flags & ST_OPF_INPLACE) ? 2 : 1);
    }
    return b;
}

#define N(x) numel_of(c, #x)
#define DIM(x, i) dim_of(c, #x, i)
#define BYTES(x) bytes_of(c, #x)
#define ALL all_bytes(c)
#define ROW_(F, ID, name, sig, rule, flags, P, grad, flops, bytes, ...)                        \
    static double flops_##name(cost_ctx *c) { (void)c; return (double)(flops); }                \
    static double bytes_##name(cost_ctx *c) { (void)c; return (double)(bytes); }
ST_OP_TABLE(ROW_)
#undef ROW_

typedef double (*cost_fn)(cost_ctx *c);
static const cost_fn flops_fns[ST_OP_COUNT] = {
#define ROW_(F, ID, name, ...) [ST_OP_##ID] = flops_##name,
    ST_OP_TABLE(ROW_)
#undef ROW_
};
static const cost_fn bytes_fns[ST_OP_COUNT] = {
#define ROW_(F, ID, name, ...) [ST_OP_##ID] = bytes_##name,
    ST_OP_TABLE(ROW_)
#undef ROW_
};

st_status st_op_cost(st_op op, const st_tensor_desc *operands, const void *params, double *flops,
                     double *bytes)
{
    const st_op_info *in = st_op_info_get(op);
    (void)params; /* no column reads the params yet; the argument keeps the door open */
    if (!in || !operands || !flops || !bytes)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_op_cost: invalid op, or NULL operands or results");
    if (in->error) return ST_ERR(ST_ERR_INTERNAL, "op table: %s: %s", in->name, in->error);
    cost_ctx c = {in, operands, 0};
    *flops = flops_fns[op](&c);
    *bytes = bytes_fns[op](&c);
    if (c.bad || !isfinite(*flops) || !isfinite(*bytes))
        return ST_ERR(ST_ERR_INTERNAL, "op table: %s: FLOPS \"%s\" or BYTES \"%s\" names no operand of \"%s\"",
                      in->name, in->flops_text, in->bytes_text, in->signature);
    return ST_OK;
}
