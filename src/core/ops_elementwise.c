/* Eager wrappers of the elementwise ops: fill, copy, cast, random, binary, unary. */
#include <string.h>
#include "dispatch.h"

st_status st_fill(st_tensor *out, double value)
{
    st_tensor *outs[1] = {out};
    ST_TRY(st_check_tensors(ST_OP_FILL, outs, 1, NULL, 0));
    st_op_params p = {.value = value};
    return st_run_strided(ST_OP_FILL, out, NULL, 0, &p);
}

st_status st_copy(st_tensor *out, const st_tensor *in)
{
    st_tensor *outs[1] = {out};
    const st_tensor *ins[1] = {in};
    ST_TRY(st_check_tensors(ST_OP_COPY, outs, 1, ins, 1));
    if (out->dtype != in->dtype)
        return ST_ERR(ST_ERR_DTYPE, "copy: %s into %s; use st_cast", st_dtype_name(in->dtype),
                      st_dtype_name(out->dtype));
    return st_run_strided(ST_OP_COPY, out, ins, 1, NULL);
}

st_status st_cast(st_tensor *out, const st_tensor *in)
{
    st_tensor *outs[1] = {out};
    const st_tensor *ins[1] = {in};
    ST_TRY(st_check_tensors(ST_OP_CAST, outs, 1, ins, 1));
    ST_TRY(st_check_dtype(ST_OP_CAST, out, ST_MASK_F, "out"));
    ST_TRY(st_check_dtype(ST_OP_CAST, in, ST_MASK_F, "in"));
    ST_TRY(st_check_shape(ST_OP_CAST, in, out->ndim, out->shape, "in"));
    return st_run_strided(ST_OP_CAST, out, ins, 1, NULL);
}

static st_status rand_op(st_op op, st_tensor *out, uint64_t seed, uint64_t offset, float a, float b)
{
    st_tensor *outs[1] = {out};
    ST_TRY(st_check_tensors(op, outs, 1, NULL, 0));
    ST_TRY(st_check_dtype(op, out, ST_MASK_F, "out"));
    if (!(a == a) || !(b == b)) return ST_ERR(ST_ERR_INVALID_ARG, "%s: NaN parameter", st_op_name(op));
    st_op_params p = {.seed = seed, .offset = offset, .a = a, .b = b};
    if (st_tensor_numel(out) == 0) return ST_OK;
    return st_run_dense(op, outs, 1, NULL, 0, &p);
}

st_status st_rand_uniform(st_tensor *out, uint64_t seed, uint64_t offset, float lo, float hi)
{
    return rand_op(ST_OP_RAND_UNIFORM, out, seed, offset, lo, hi);
}

st_status st_rand_normal(st_tensor *out, uint64_t seed, uint64_t offset, float mean, float std)
{
    return rand_op(ST_OP_RAND_NORMAL, out, seed, offset, mean, std);
}

/* Elementwise op whose inputs all share out's dtype and broadcast to out's shape. */
static st_status elementwise(st_op op, st_tensor *out, const st_tensor *const *ins, int n,
                             const st_op_params *p)
{
    st_tensor *outs[1] = {out};
    ST_TRY(st_check_tensors(op, outs, 1, ins, n));
    ST_TRY(st_check_dtype(op, out, ST_MASK_F, "out"));
    for (int i = 0; i < n; i++)
        if (ins[i]->dtype != out->dtype)
            return ST_ERR(ST_ERR_DTYPE, "%s: input %d is %s but out is %s; cast first",
                          st_op_name(op), i, st_dtype_name(ins[i]->dtype), st_dtype_name(out->dtype));
    return st_run_strided(op, out, ins, n, p);
}

/* Binary ops: out's shape must be exactly the broadcast of a's and b's. */
static st_status binary(st_op op, st_tensor *out, const st_tensor *a, const st_tensor *b)
{
    const st_tensor *ins[2] = {a, b};
    st_tensor *outs[1] = {out};
    ST_TRY(st_check_tensors(op, outs, 1, ins, 2));
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[ST_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return ST_ERR(ST_ERR_SHAPE, "%s: sizes %lld and %lld do not broadcast (dim %d)",
                          st_op_name(op), (long long)sa, (long long)sb, i);
        shape[i] = sa == 1 ? sb : sa;
    }
    ST_TRY(st_check_shape(op, out, nd, shape, "out (must be the broadcast of a and b)"));
    return elementwise(op, out, ins, 2, NULL);
}

st_status st_add(st_tensor *out, const st_tensor *a, const st_tensor *b) { return binary(ST_OP_ADD, out, a, b); }
st_status st_sub(st_tensor *out, const st_tensor *a, const st_tensor *b) { return binary(ST_OP_SUB, out, a, b); }
st_status st_mul(st_tensor *out, const st_tensor *a, const st_tensor *b) { return binary(ST_OP_MUL, out, a, b); }
st_status st_div(st_tensor *out, const st_tensor *a, const st_tensor *b) { return binary(ST_OP_DIV, out, a, b); }

st_status st_scale(st_tensor *out, const st_tensor *in, float alpha, float beta)
{
    const st_tensor *ins[1] = {in};
    st_op_params p = {.alpha = alpha, .beta = beta};
    return elementwise(ST_OP_SCALE, out, ins, 1, &p);
}

static st_status unary(st_op op, st_tensor *out, const st_tensor *in)
{
    const st_tensor *ins[1] = {in};
    return elementwise(op, out, ins, 1, NULL);
}

st_status st_gelu(st_tensor *out, const st_tensor *in) { return unary(ST_OP_GELU, out, in); }
st_status st_relu(st_tensor *out, const st_tensor *in) { return unary(ST_OP_RELU, out, in); }
st_status st_exp(st_tensor *out, const st_tensor *in) { return unary(ST_OP_EXP, out, in); }
st_status st_log(st_tensor *out, const st_tensor *in) { return unary(ST_OP_LOG, out, in); }
st_status st_tanh(st_tensor *out, const st_tensor *in) { return unary(ST_OP_TANH, out, in); }
st_status st_sqrt(st_tensor *out, const st_tensor *in) { return unary(ST_OP_SQRT, out, in); }
st_status st_rsqrt(st_tensor *out, const st_tensor *in) { return unary(ST_OP_RSQRT, out, in); }

st_status st_gelu_backward(st_tensor *din, const st_tensor *dout, const st_tensor *in)
{
    const st_tensor *ins[2] = {dout, in};
    return elementwise(ST_OP_GELU_BACKWARD, din, ins, 2, NULL);
}

st_status st_relu_backward(st_tensor *din, const st_tensor *dout, const st_tensor *in)
{
    const st_tensor *ins[2] = {dout, in};
    return elementwise(ST_OP_RELU_BACKWARD, din, ins, 2, NULL);
}
