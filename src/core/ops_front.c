/* The typed front doors of ops.h: each packs its arguments in the op's signature order and
 * params struct and calls st_op_run, the one path every op takes. The elementwise family's
 * doors are generated from the table, so an elementwise row gets its st_<name> with no code. */
#include "op_impl.h"

#define OUTS(...) ((st_tensor *const[]){__VA_ARGS__})
#define INS(...) ((const st_tensor *const[]){__VA_ARGS__})

#define ST_FRONT_DEF_binary(ID, name)                                                          \
    st_status st_##name(st_tensor *out, const st_tensor *a, const st_tensor *b)                 \
    {                                                                                           \
        return st_op_run(ST_OP_##ID, OUTS(out), 1, INS(a, b), 2, NULL);                         \
    }
#define ST_FRONT_DEF_unary(ID, name)                                                           \
    st_status st_##name(st_tensor *out, const st_tensor *in)                                    \
    {                                                                                           \
        return st_op_run(ST_OP_##ID, OUTS(out), 1, INS(in), 1, NULL);                           \
    }
#define ST_FRONT_DEF_unary_bwd(ID, name)                                                       \
    st_status st_##name(st_tensor *din, const st_tensor *dout, const st_tensor *in)             \
    {                                                                                           \
        return st_op_run(ST_OP_##ID, OUTS(din), 1, INS(dout, in), 2, NULL);                     \
    }
#define ST_FRONT_DEF_scale(ID, name)
#define ST_FRONT_DEF_(F, ID, name, sig, rule, ...) ST_FRONT_DEF_##rule(ID, name)
ST_OPS_ELEMENTWISE(ST_FRONT_DEF_, elementwise)

st_status st_scale(st_tensor *out, const st_tensor *in, float alpha, float beta)
{
    return st_op_run(ST_OP_SCALE, OUTS(out), 1, INS(in), 1, &(st_scale_params){alpha, beta});
}

st_status st_fill(st_tensor *out, double value)
{
    return st_op_run(ST_OP_FILL, OUTS(out), 1, NULL, 0, &(st_fill_params){value});
}

st_status st_copy(st_tensor *out, const st_tensor *in)
{
    return st_op_run(ST_OP_COPY, OUTS(out), 1, INS(in), 1, NULL);
}

st_status st_cast(st_tensor *out, const st_tensor *in)
{
    return st_op_run(ST_OP_CAST, OUTS(out), 1, INS(in), 1, &(st_cast_params){out ? out->dtype : ST_F32});
}

st_status st_rand_uniform(st_tensor *out, uint64_t seed, uint64_t offset, float lo, float hi)
{
    return st_op_run(ST_OP_RAND_UNIFORM, OUTS(out), 1, NULL, 0, &(st_rand_params){seed, offset, lo, hi});
}

st_status st_rand_normal(st_tensor *out, uint64_t seed, uint64_t offset, float mean, float std)
{
    return st_op_run(ST_OP_RAND_NORMAL, OUTS(out), 1, NULL, 0, &(st_rand_params){seed, offset, mean, std});
}

st_status st_matmul(st_tensor *out, const st_tensor *a, const st_tensor *b, int trans_a, int trans_b,
                    float alpha, float beta)
{
    st_matmul_params p = {trans_a, trans_b, alpha, beta};
    return st_op_run(ST_OP_MATMUL, OUTS(out), 1, INS(a, b), 2, &p);
}

st_status st_sum(st_tensor *out, const st_tensor *in, int axis)
{
    return st_op_run(ST_OP_SUM, OUTS(out), 1, INS(in), 1, &(st_axis_params){axis});
}

st_status st_mean(st_tensor *out, const st_tensor *in, int axis)
{
    return st_op_run(ST_OP_MEAN, OUTS(out), 1, INS(in), 1, &(st_axis_params){axis});
}

st_status st_max(st_tensor *out, const st_tensor *in, int axis)
{
    return st_op_run(ST_OP_MAX, OUTS(out), 1, INS(in), 1, &(st_axis_params){axis});
}

st_status st_sumsq(st_tensor *out, const st_tensor *in)
{
    return st_op_run(ST_OP_SUMSQ, OUTS(out), 1, INS(in), 1, NULL);
}

st_status st_softmax(st_tensor *out, const st_tensor *in, int causal)
{
    return st_op_run(ST_OP_SOFTMAX, OUTS(out), 1, INS(in), 1, &(st_softmax_params){causal != 0});
}

st_status st_softmax_backward(st_tensor *din, const st_tensor *dout, const st_tensor *out)
{
    return st_op_run(ST_OP_SOFTMAX_BACKWARD, OUTS(din), 1, INS(dout, out), 2, NULL);
}

st_status st_layernorm(st_tensor *out, st_tensor *mean, st_tensor *rstd, const st_tensor *in,
                       const st_tensor *weight, const st_tensor *bias, float eps)
{
    return st_op_run(ST_OP_LAYERNORM, OUTS(out, mean, rstd), 3, INS(in, weight, bias), 3,
                     &(st_layernorm_params){eps});
}

st_status st_layernorm_backward(st_tensor *din, st_tensor *dweight, st_tensor *dbias, const st_tensor *dout,
                                const st_tensor *in, const st_tensor *weight, const st_tensor *mean,
                                const st_tensor *rstd)
{
    return st_op_run(ST_OP_LAYERNORM_BACKWARD, OUTS(din, dweight, dbias), 3, INS(dout, in, weight, mean, rstd), 5,
                     NULL);
}

st_status st_embedding(st_tensor *out, const st_tensor *table, const st_tensor *idx)
{
    return st_op_run(ST_OP_EMBEDDING, OUTS(out), 1, INS(table, idx), 2, NULL);
}

st_status st_embedding_backward(st_tensor *dtable, const st_tensor *dout, const st_tensor *idx)
{
    return st_op_run(ST_OP_EMBEDDING_BACKWARD, OUTS(dtable), 1, INS(dout, idx), 2, NULL);
}

st_status st_cross_entropy(st_tensor *loss, st_tensor *probs, const st_tensor *logits, const st_tensor *targets)
{
    return st_op_run(ST_OP_CROSS_ENTROPY, OUTS(loss, probs), 2, INS(logits, targets), 2, NULL);
}

st_status st_cross_entropy_backward(st_tensor *dlogits, const st_tensor *dloss, const st_tensor *probs,
                                    const st_tensor *targets)
{
    return st_op_run(ST_OP_CROSS_ENTROPY_BACKWARD, OUTS(dlogits), 1, INS(dloss, probs, targets), 3, NULL);
}

st_status st_attention(st_tensor *out, st_tensor *lse, const st_tensor *q, const st_tensor *k, const st_tensor *v)
{
    return st_op_run(ST_OP_ATTENTION, OUTS(out, lse), 2, INS(q, k, v), 3, NULL);
}

st_status st_attention_backward(st_tensor *dq, st_tensor *dk, st_tensor *dv, const st_tensor *dout,
                                const st_tensor *q, const st_tensor *k, const st_tensor *v,
                                const st_tensor *out, const st_tensor *lse)
{
    return st_op_run(ST_OP_ATTENTION_BACKWARD, OUTS(dq, dk, dv), 3, INS(dout, q, k, v, out, lse), 6, NULL);
}

st_status st_adamw(st_tensor *param, st_tensor *m, st_tensor *v, const st_tensor *grad, const st_adamw_params *p)
{
    return st_op_run(ST_OP_ADAMW, OUTS(param, m, v), 3, INS(grad), 1, p);
}

st_status st_quantize(const st_tensor *in, st_tensor *q, st_tensor *scale, int bits, int64_t block)
{
    st_quant_params p = {.bits = bits, .block = block, .accumulate = 0};
    return st_op_run(ST_OP_QUANTIZE, OUTS(q, scale), 2, INS(in), 1, &p);
}

st_status st_dequantize(const st_tensor *q, const st_tensor *scale, st_tensor *out, int bits, int64_t block,
                        int accumulate)
{
    st_quant_params p = {.bits = bits, .block = block, .accumulate = accumulate};
    return st_op_run(ST_OP_DEQUANTIZE, OUTS(out), 1, INS(q, scale), 2, &p);
}
