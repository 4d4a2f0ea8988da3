/* Eager wrappers of the dense ops: matmul, reductions, softmax, layernorm, embedding,
 * cross-entropy, attention, AdamW. Each checks shapes and dtypes, handles empty tensors, and
 * hands contiguous operands to the backend. */
#include <math.h>
#include <string.h>
#include "dispatch.h"

#define OUTS(...) ((st_tensor *const[]){__VA_ARGS__})
#define INS(...) ((const st_tensor *const[]){__VA_ARGS__})

static int64_t rows_of(const st_tensor *t)
{
    int64_t r = 1;
    for (int i = 0; i + 1 < t->ndim; i++) r *= t->shape[i];
    return r;
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
        st_tensor_free(tt);
    }
    return st_tensor_ref(t, use);
}

st_status st_matmul(st_tensor *out, const st_tensor *a, const st_tensor *b, int trans_a,
                    int trans_b, float alpha, float beta)
{
    ST_TRY(st_check_tensors(ST_OP_MATMUL, OUTS(out), 1, INS(a, b), 2));
    ST_TRY(st_check_dtype(ST_OP_MATMUL, out, ST_MASK_F, "out"));
    if (a->dtype != out->dtype || b->dtype != out->dtype)
        return ST_ERR(ST_ERR_DTYPE, "matmul: a, b and out must share one dtype");
    int nd = out->ndim;
    if (nd < 2 || a->ndim != nd || (b->ndim != nd && b->ndim != 2))
        return ST_ERR(ST_ERR_SHAPE, "matmul: needs out and a of equal rank >= 2 and b of that rank or 2 (got %d, %d, %d)",
                      out->ndim, a->ndim, b->ndim);
    int64_t M = a->shape[nd - (trans_a ? 1 : 2)], K = a->shape[nd - (trans_a ? 2 : 1)];
    int64_t Kb = b->shape[b->ndim - (trans_b ? 1 : 2)], N = b->shape[b->ndim - (trans_b ? 2 : 1)];
    if (K != Kb || out->shape[nd - 2] != M || out->shape[nd - 1] != N)
        return ST_ERR(ST_ERR_SHAPE, "matmul: (%lld x %lld) @ (%lld x %lld) -> out (%lld x %lld)",
                      (long long)M, (long long)K, (long long)Kb, (long long)N,
                      (long long)out->shape[nd - 2], (long long)out->shape[nd - 1]);
    for (int i = 0; i < nd - 2; i++)
        if (a->shape[i] != out->shape[i] || (b->ndim == nd && b->shape[i] != out->shape[i]))
            return ST_ERR(ST_ERR_SHAPE, "matmul: batch dim %d differs between a, b and out", i);
    if (st_tensor_numel(out) == 0) return ST_OK;
    if (K == 0) return beta == 0.0f ? st_fill(out, 0.0) : st_scale(out, out, beta, 0.0f);
    st_tensor *ua = NULL, *ub = NULL;
    st_op_params p = {.alpha = alpha, .beta = beta, .trans_a = trans_a != 0, .trans_b = trans_b != 0};
    st_status s = matmul_operand(a, &p.trans_a, &ua);
    if (s == ST_OK) s = matmul_operand(b, &p.trans_b, &ub);
    if (s == ST_OK) s = st_run_dense(ST_OP_MATMUL, OUTS(out), 1, INS(ua, ub), 2, &p);
    st_tensor_free(ua);
    st_tensor_free(ub);
    return s;
}

static st_status reduce(st_op op, st_tensor *out, const st_tensor *in, int axis, double empty)
{
    ST_TRY(st_check_tensors(op, OUTS(out), 1, INS(in), 1));
    ST_TRY(st_check_dtype(op, in, ST_MASK_F, "in"));
    if (out->dtype != in->dtype) return ST_ERR(ST_ERR_DTYPE, "%s: out must have in's dtype", st_op_name(op));
    int a = axis < 0 ? axis + in->ndim : axis;
    if (a < 0 || a >= in->ndim)
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: axis %d out of range for %d dims", st_op_name(op), axis, in->ndim);
    int64_t keep[ST_MAX_DIMS], drop[ST_MAX_DIMS];
    for (int i = 0, j = 0; i < in->ndim; i++) {
        keep[i] = i == a ? 1 : in->shape[i];
        if (i != a) drop[j++] = in->shape[i];
    }
    if (st_check_shape(op, out, in->ndim, keep, "out") != ST_OK)
        ST_TRY(st_check_shape(op, out, in->ndim - 1, drop, "out (in's shape with the axis kept as 1 or removed)"));
    if (st_tensor_numel(out) == 0) return ST_OK;
    if (in->shape[a] == 0) return st_fill(out, empty);
    st_op_params p = {.axis = a};
    return st_run_dense(op, OUTS(out), 1, INS(in), 1, &p);
}

st_status st_sum(st_tensor *out, const st_tensor *in, int axis) { return reduce(ST_OP_SUM, out, in, axis, 0.0); }
st_status st_mean(st_tensor *out, const st_tensor *in, int axis) { return reduce(ST_OP_MEAN, out, in, axis, NAN); }
st_status st_max(st_tensor *out, const st_tensor *in, int axis) { return reduce(ST_OP_MAX, out, in, axis, -INFINITY); }

st_status st_sumsq(st_tensor *out, const st_tensor *in)
{
    ST_TRY(st_check_tensors(ST_OP_SUMSQ, OUTS(out), 1, INS(in), 1));
    ST_TRY(st_check_dtype(ST_OP_SUMSQ, in, ST_MASK_F, "in"));
    ST_TRY(st_check_dtype(ST_OP_SUMSQ, out, ST_MASK_F32, "out"));
    if (st_tensor_numel(out) != 1) return ST_ERR(ST_ERR_SHAPE, "sumsq: out must hold exactly one element");
    if (st_tensor_numel(in) == 0) return st_fill(out, 0.0);
    return st_run_dense(ST_OP_SUMSQ, OUTS(out), 1, INS(in), 1, NULL);
}

st_status st_softmax(st_tensor *out, const st_tensor *in, int causal)
{
    ST_TRY(st_check_tensors(ST_OP_SOFTMAX, OUTS(out), 1, INS(in), 1));
    ST_TRY(st_check_dtype(ST_OP_SOFTMAX, in, ST_MASK_F, "in"));
    ST_TRY(st_check_same(ST_OP_SOFTMAX, in, out, "out"));
    if (in->ndim < 1) return ST_ERR(ST_ERR_SHAPE, "softmax: needs at least one dim");
    if (causal && (in->ndim < 2 || in->shape[in->ndim - 1] < in->shape[in->ndim - 2]))
        return ST_ERR(ST_ERR_SHAPE, "softmax: causal mask needs (..., T, S) with S >= T");
    if (st_tensor_numel(out) == 0) return ST_OK;
    st_op_params p = {.causal = causal != 0};
    return st_run_dense(ST_OP_SOFTMAX, OUTS(out), 1, INS(in), 1, &p);
}

st_status st_softmax_backward(st_tensor *din, const st_tensor *dout, const st_tensor *out)
{
    ST_TRY(st_check_tensors(ST_OP_SOFTMAX_BACKWARD, OUTS(din), 1, INS(dout, out), 2));
    ST_TRY(st_check_dtype(ST_OP_SOFTMAX_BACKWARD, din, ST_MASK_F, "din"));
    ST_TRY(st_check_same(ST_OP_SOFTMAX_BACKWARD, din, dout, "dout"));
    ST_TRY(st_check_same(ST_OP_SOFTMAX_BACKWARD, din, out, "out"));
    if (din->ndim < 1) return ST_ERR(ST_ERR_SHAPE, "softmax_backward: needs at least one dim");
    if (st_tensor_numel(din) == 0) return ST_OK;
    return st_run_dense(ST_OP_SOFTMAX_BACKWARD, OUTS(din), 1, INS(dout, out), 2, NULL);
}

/* weight/bias (C) with in's dtype, mean/rstd f32 with one element per row. */
static st_status check_ln_params(st_op op, const st_tensor *in, const st_tensor *w, const st_tensor *b,
                                 const st_tensor *mean, const st_tensor *rstd)
{
    if (in->ndim < 1) return ST_ERR(ST_ERR_SHAPE, "%s: needs at least one dim", st_op_name(op));
    int64_t C = in->shape[in->ndim - 1];
    ST_TRY(st_check_dtype(op, in, ST_MASK_F, "in"));
    ST_TRY(st_check_shape(op, w, 1, &C, "weight"));
    ST_TRY(st_check_shape(op, b, 1, &C, "bias"));
    if (w->dtype != in->dtype || b->dtype != in->dtype)
        return ST_ERR(ST_ERR_DTYPE, "%s: weight and bias must have in's dtype", st_op_name(op));
    ST_TRY(st_check_dtype(op, mean, ST_MASK_F32, "mean"));
    ST_TRY(st_check_dtype(op, rstd, ST_MASK_F32, "rstd"));
    if (st_tensor_numel(mean) != rows_of(in) || st_tensor_numel(rstd) != rows_of(in))
        return ST_ERR(ST_ERR_SHAPE, "%s: mean and rstd need %lld elements (one per row)",
                      st_op_name(op), (long long)rows_of(in));
    return ST_OK;
}

st_status st_layernorm(st_tensor *out, st_tensor *mean, st_tensor *rstd, const st_tensor *in,
                       const st_tensor *weight, const st_tensor *bias, float eps)
{
    ST_TRY(st_check_tensors(ST_OP_LAYERNORM, OUTS(out, mean, rstd), 3, INS(in, weight, bias), 3));
    ST_TRY(check_ln_params(ST_OP_LAYERNORM, in, weight, bias, mean, rstd));
    ST_TRY(st_check_same(ST_OP_LAYERNORM, in, out, "out"));
    if (!(eps >= 0.0f)) return ST_ERR(ST_ERR_INVALID_ARG, "layernorm: eps must be >= 0");
    if (in->shape[in->ndim - 1] == 0 && rows_of(in) > 0)
        return ST_ERR(ST_ERR_SHAPE, "layernorm: rows of 0 elements have no mean");
    if (st_tensor_numel(in) == 0) return ST_OK;
    st_op_params p = {.eps = eps};
    return st_run_dense(ST_OP_LAYERNORM, OUTS(out, mean, rstd), 3, INS(in, weight, bias), 3, &p);
}

st_status st_layernorm_backward(st_tensor *din, st_tensor *dweight, st_tensor *dbias,
                                const st_tensor *dout, const st_tensor *in, const st_tensor *weight,
                                const st_tensor *mean, const st_tensor *rstd)
{
    ST_TRY(st_check_tensors(ST_OP_LAYERNORM_BACKWARD, OUTS(din, dweight, dbias), 3,
                            INS(dout, in, weight, mean, rstd), 5));
    ST_TRY(check_ln_params(ST_OP_LAYERNORM_BACKWARD, in, weight, weight, mean, rstd));
    ST_TRY(st_check_same(ST_OP_LAYERNORM_BACKWARD, in, din, "din"));
    ST_TRY(st_check_same(ST_OP_LAYERNORM_BACKWARD, in, dout, "dout"));
    ST_TRY(st_check_same(ST_OP_LAYERNORM_BACKWARD, weight, dweight, "dweight"));
    ST_TRY(st_check_same(ST_OP_LAYERNORM_BACKWARD, weight, dbias, "dbias"));
    if (rows_of(in) == 0) {
        ST_TRY(st_fill(dweight, 0.0));
        return st_fill(dbias, 0.0);
    }
    if (st_tensor_numel(in) == 0) return ST_OK;
    return st_run_dense(ST_OP_LAYERNORM_BACKWARD, OUTS(din, dweight, dbias), 3,
                        INS(dout, in, weight, mean, rstd), 5, NULL);
}

/* rows (idx.shape..., C) for a table (V, C). */
static st_status check_embedding(st_op op, const st_tensor *table, const st_tensor *rows,
                                 const st_tensor *idx)
{
    ST_TRY(st_check_dtype(op, table, ST_MASK_F, "table"));
    ST_TRY(st_check_dtype(op, idx, ST_MASK_I32, "idx"));
    if (table->ndim != 2) return ST_ERR(ST_ERR_SHAPE, "%s: table must be (V, C)", st_op_name(op));
    if (idx->ndim + 1 > ST_MAX_DIMS) return ST_ERR(ST_ERR_SHAPE, "%s: idx has too many dims", st_op_name(op));
    int64_t shape[ST_MAX_DIMS];
    memcpy(shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim);
    shape[idx->ndim] = table->shape[1];
    ST_TRY(st_check_shape(op, rows, idx->ndim + 1, shape, "rows (idx.shape + [C])"));
    if (rows->dtype != table->dtype) return ST_ERR(ST_ERR_DTYPE, "%s: rows must have the table's dtype", st_op_name(op));
    return ST_OK;
}

st_status st_embedding(st_tensor *out, const st_tensor *table, const st_tensor *idx)
{
    ST_TRY(st_check_tensors(ST_OP_EMBEDDING, OUTS(out), 1, INS(table, idx), 2));
    ST_TRY(check_embedding(ST_OP_EMBEDDING, table, out, idx));
    if (st_tensor_numel(out) == 0) return ST_OK;
    return st_run_dense(ST_OP_EMBEDDING, OUTS(out), 1, INS(table, idx), 2, NULL);
}

st_status st_embedding_backward(st_tensor *dtable, const st_tensor *dout, const st_tensor *idx)
{
    ST_TRY(st_check_tensors(ST_OP_EMBEDDING_BACKWARD, OUTS(dtable), 1, INS(dout, idx), 2));
    ST_TRY(check_embedding(ST_OP_EMBEDDING_BACKWARD, dtable, dout, idx));
    if (st_tensor_numel(dtable) == 0) return ST_OK;
    if (st_tensor_numel(idx) == 0 || dtable->shape[1] == 0) return st_fill(dtable, 0.0);
    return st_run_dense(ST_OP_EMBEDDING_BACKWARD, OUTS(dtable), 1, INS(dout, idx), 2, NULL);
}

/* logits-like (..., V) float, targets i32 (...), per-row f32 tensor (...). */
static st_status check_ce(st_op op, const st_tensor *logits, const st_tensor *targets,
                          const st_tensor *rowwise, const st_tensor *probs)
{
    if (logits->ndim < 1) return ST_ERR(ST_ERR_SHAPE, "%s: logits need a class dim", st_op_name(op));
    ST_TRY(st_check_dtype(op, logits, ST_MASK_F, "logits"));
    ST_TRY(st_check_dtype(op, targets, ST_MASK_I32, "targets"));
    ST_TRY(st_check_dtype(op, rowwise, ST_MASK_F32, "loss"));
    ST_TRY(st_check_dtype(op, probs, ST_MASK_F32, "probs"));
    ST_TRY(st_check_shape(op, targets, logits->ndim - 1, logits->shape, "targets (logits without the class dim)"));
    ST_TRY(st_check_shape(op, rowwise, logits->ndim - 1, logits->shape, "loss (logits without the class dim)"));
    ST_TRY(st_check_shape(op, probs, logits->ndim, logits->shape, "probs"));
    if (logits->shape[logits->ndim - 1] == 0 && rows_of(logits) > 0)
        return ST_ERR(ST_ERR_SHAPE, "%s: zero classes", st_op_name(op));
    return ST_OK;
}

st_status st_cross_entropy(st_tensor *loss, st_tensor *probs, const st_tensor *logits,
                           const st_tensor *targets)
{
    ST_TRY(st_check_tensors(ST_OP_CROSS_ENTROPY, OUTS(loss, probs), 2, INS(logits, targets), 2));
    ST_TRY(check_ce(ST_OP_CROSS_ENTROPY, logits, targets, loss, probs));
    if (st_tensor_numel(logits) == 0) return ST_OK;
    return st_run_dense(ST_OP_CROSS_ENTROPY, OUTS(loss, probs), 2, INS(logits, targets), 2, NULL);
}

st_status st_cross_entropy_backward(st_tensor *dlogits, const st_tensor *dloss,
                                    const st_tensor *probs, const st_tensor *targets)
{
    ST_TRY(st_check_tensors(ST_OP_CROSS_ENTROPY_BACKWARD, OUTS(dlogits), 1, INS(dloss, probs, targets), 3));
    ST_TRY(check_ce(ST_OP_CROSS_ENTROPY_BACKWARD, dlogits, targets, dloss, probs));
    if (st_tensor_numel(dlogits) == 0) return ST_OK;
    return st_run_dense(ST_OP_CROSS_ENTROPY_BACKWARD, OUTS(dlogits), 1, INS(dloss, probs, targets), 3, NULL);
}

/* q-like tensors (B, H, T, D) of one dtype, lse f32 (B, H, T). */
static st_status check_attention(st_op op, const st_tensor *const *qs, int n, const st_tensor *lse)
{
    const st_tensor *q = qs[0];
    if (q->ndim != 4) return ST_ERR(ST_ERR_SHAPE, "%s: q must be (B, H, T, D)", st_op_name(op));
    ST_TRY(st_check_dtype(op, q, ST_MASK_F, "q"));
    for (int i = 1; i < n; i++) ST_TRY(st_check_same(op, q, qs[i], "operand (must match q)"));
    ST_TRY(st_check_dtype(op, lse, ST_MASK_F32, "lse"));
    ST_TRY(st_check_shape(op, lse, 3, q->shape, "lse (B, H, T)"));
    if (q->shape[3] == 0 && st_tensor_numel(lse) > 0) return ST_ERR(ST_ERR_SHAPE, "%s: head size 0", st_op_name(op));
    return ST_OK;
}

st_status st_attention(st_tensor *out, st_tensor *lse, const st_tensor *q, const st_tensor *k,
                       const st_tensor *v)
{
    ST_TRY(st_check_tensors(ST_OP_ATTENTION, OUTS(out, lse), 2, INS(q, k, v), 3));
    ST_TRY(check_attention(ST_OP_ATTENTION, INS(q, k, v, out), 4, lse));
    if (st_tensor_numel(q) == 0) return ST_OK;
    return st_run_dense(ST_OP_ATTENTION, OUTS(out, lse), 2, INS(q, k, v), 3, NULL);
}

st_status st_attention_backward(st_tensor *dq, st_tensor *dk, st_tensor *dv, const st_tensor *dout,
                                const st_tensor *q, const st_tensor *k, const st_tensor *v,
                                const st_tensor *out, const st_tensor *lse)
{
    ST_TRY(st_check_tensors(ST_OP_ATTENTION_BACKWARD, OUTS(dq, dk, dv), 3, INS(dout, q, k, v, out, lse), 6));
    ST_TRY(check_attention(ST_OP_ATTENTION_BACKWARD, INS(q, k, v, out, dout, dq, dk, dv), 8, lse));
    if (st_tensor_numel(q) == 0) return ST_OK;
    return st_run_dense(ST_OP_ATTENTION_BACKWARD, OUTS(dq, dk, dv), 3, INS(dout, q, k, v, out, lse), 6, NULL);
}

st_status st_adamw(st_tensor *param, st_tensor *m, st_tensor *v, const st_tensor *grad,
                   const st_adamw_params *p)
{
    ST_TRY(st_check_tensors(ST_OP_ADAMW, OUTS(param, m, v), 3, INS(grad), 1));
    if (!p) return ST_ERR(ST_ERR_INVALID_ARG, "adamw: NULL parameters");
    ST_TRY(st_check_dtype(ST_OP_ADAMW, param, ST_MASK_F32, "param"));
    ST_TRY(st_check_same(ST_OP_ADAMW, param, m, "m"));
    ST_TRY(st_check_same(ST_OP_ADAMW, param, v, "v"));
    ST_TRY(st_check_dtype(ST_OP_ADAMW, grad, ST_MASK_F, "grad"));
    ST_TRY(st_check_shape(ST_OP_ADAMW, grad, param->ndim, param->shape, "grad"));
    if (p->step < 1 || !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) ||
        !(p->eps >= 0) || !isfinite(p->lr) || !isfinite(p->weight_decay) || !isfinite(p->grad_scale))
        return ST_ERR(ST_ERR_INVALID_ARG, "adamw: needs step >= 1, betas in [0, 1), eps >= 0, finite lr, decay and scale");
    if (st_tensor_numel(param) == 0) return ST_OK;
    st_op_params op = {.adamw = *p};
    return st_run_dense(ST_OP_ADAMW, OUTS(param, m, v), 3, INS(grad), 1, &op);
}
