/* Eager ops: each call runs one op of the op table (op_table.h) on the device of its tensors.
 *
 * Conventions (llm.c's): outputs first, then inputs, then parameters. All tensors of one call
 * must live on the same device (ST_ERR_DEVICE otherwise; move them with st_tensor_to()).
 * Inputs may be any strided view; outputs may be views too (the core copies through a contiguous
 * temporary when a backend needs one). Elementwise ops (fill .. rsqrt) allow an output to be the
 * very same view as an input (in place); other overlaps are undefined.
 * bf16 operands are computed in f32 and rounded once on store.
 * Ops are queued on the device and may run asynchronously; st_tensor_read() and
 * st_device_sync() wait for them. Errors from the device may therefore surface at those calls.
 * Ops on empty tensors succeed and do nothing.
 */
#ifndef STRATA_OPS_H
#define STRATA_OPS_H

#include <stdint.h>
#include "strata/tensor.h"
#include "strata/op_table.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum st_op {
#define ST_OP_ENUM_(ID, name, ni, no, dt, strided, bwd) ST_OP_##ID,
    ST_OP_TABLE(ST_OP_ENUM_)
#undef ST_OP_ENUM_
    ST_OP_COUNT,
    ST_OP_NONE = -1
} st_op;

/* "matmul", ...; NULL for an invalid op. */
ST_API const char *st_op_name(st_op op);
/* Op by name; ST_OP_NONE if unknown. */
ST_API st_op st_op_from_name(const char *name);

/* ---- creation and movement ---- */
/* out[...] = value (converted to out's dtype). */
ST_API st_status st_fill(st_tensor *out, double value);
/* out = in; same device, shape and dtype; either may be strided. */
ST_API st_status st_copy(st_tensor *out, const st_tensor *in);
/* out = in converted between f32 and bf16 (round to nearest even). Same shape. */
ST_API st_status st_cast(st_tensor *out, const st_tensor *in);
/* Counter-based Philox4x32-10 random numbers. Element i (row-major) of the result depends only
 * on (seed, offset + i), so the same call gives the same numbers on every backend and any
 * slicing of a large draw into pieces is reproducible. Uniform in [lo, hi) in f32; a bf16 result
 * is the f32 value rounded, so it can equal hi. */
ST_API st_status st_rand_uniform(st_tensor *out, uint64_t seed, uint64_t offset, float lo, float hi);
/* Normal(mean, std) by Box-Muller on the same Philox stream. */
ST_API st_status st_rand_normal(st_tensor *out, uint64_t seed, uint64_t offset, float mean, float std);

/* ---- elementwise with numpy broadcasting: out's shape must equal broadcast(a, b) ---- */
ST_API st_status st_add(st_tensor *out, const st_tensor *a, const st_tensor *b);
ST_API st_status st_sub(st_tensor *out, const st_tensor *a, const st_tensor *b);
ST_API st_status st_mul(st_tensor *out, const st_tensor *a, const st_tensor *b);
ST_API st_status st_div(st_tensor *out, const st_tensor *a, const st_tensor *b);
/* out = alpha * in + beta; `in` broadcasts to out. */
ST_API st_status st_scale(st_tensor *out, const st_tensor *in, float alpha, float beta);

/* ---- elementwise unary: same shape (in broadcasts to out) ---- */
/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
ST_API st_status st_gelu(st_tensor *out, const st_tensor *in);
/* din = dout * gelu'(in). */
ST_API st_status st_gelu_backward(st_tensor *din, const st_tensor *dout, const st_tensor *in);
ST_API st_status st_relu(st_tensor *out, const st_tensor *in);
/* din = dout where in > 0, else 0. */
ST_API st_status st_relu_backward(st_tensor *din, const st_tensor *dout, const st_tensor *in);
ST_API st_status st_exp(st_tensor *out, const st_tensor *in);
ST_API st_status st_log(st_tensor *out, const st_tensor *in);
ST_API st_status st_tanh(st_tensor *out, const st_tensor *in);
ST_API st_status st_sqrt(st_tensor *out, const st_tensor *in);
ST_API st_status st_rsqrt(st_tensor *out, const st_tensor *in);

/* ---- matmul ----
 * out = alpha * op(a) @ op(b) + beta * out, op(x) = x or x^T (last two dims) per trans flag.
 * a: (..., M, K) [(..., K, M) transposed], b: (..., K, N) [(..., N, K)], out: (..., M, N).
 * Batch dims: equal in a, b and out, or b 2-d (a weight shared by the whole batch).
 * beta = 0 ignores out's previous contents (NaN included). */
ST_API st_status st_matmul(st_tensor *out, const st_tensor *a, const st_tensor *b, int trans_a,
                    int trans_b, float alpha, float beta);

/* ---- reductions ----
 * Along `axis` (negative counts from the end). out has in's shape with that dim either 1 or
 * removed. Accumulation in f32. max of an empty axis is -inf, sum 0, mean NaN. */
ST_API st_status st_sum(st_tensor *out, const st_tensor *in, int axis);
ST_API st_status st_mean(st_tensor *out, const st_tensor *in, int axis);
ST_API st_status st_max(st_tensor *out, const st_tensor *in, int axis);
/* out (one f32 element, any shape of numel 1) = sum of in^2 over all elements. */
ST_API st_status st_sumsq(st_tensor *out, const st_tensor *in);

/* ---- softmax over the last axis ----
 * causal != 0: for in of shape (..., T, S), row t keeps columns j <= t + (S - T), the rest
 * get probability 0 (rows of a causal attention matrix). */
ST_API st_status st_softmax(st_tensor *out, const st_tensor *in, int causal);
/* din = out * (dout - sum(dout * out)) row-wise, out being the softmax output. */
ST_API st_status st_softmax_backward(st_tensor *din, const st_tensor *dout, const st_tensor *out);

/* ---- layernorm over the last axis C ----
 * in (..., C), weight (C), bias (C); out like in; mean and rstd f32 with in's leading shape
 * (numel = rows), saved for the backward. */
ST_API st_status st_layernorm(st_tensor *out, st_tensor *mean, st_tensor *rstd, const st_tensor *in,
                       const st_tensor *weight, const st_tensor *bias, float eps);
/* din like in; dweight, dbias (C) are overwritten (not accumulated). */
ST_API st_status st_layernorm_backward(st_tensor *din, st_tensor *dweight, st_tensor *dbias,
                                const st_tensor *dout, const st_tensor *in,
                                const st_tensor *weight, const st_tensor *mean,
                                const st_tensor *rstd);

/* ---- embedding ----
 * table (V, C), idx i32 (...), out (..., C) = table[idx]. An index outside [0, V) is an error
 * (ST_ERR_INVALID_ARG) where the backend can check it cheaply (cpu); device backends never read
 * or write out of bounds and give zero rows for such indices. */
ST_API st_status st_embedding(st_tensor *out, const st_tensor *table, const st_tensor *idx);
/* dtable (V, C) overwritten with the scatter-add of dout (..., C) rows by idx. */
ST_API st_status st_embedding_backward(st_tensor *dtable, const st_tensor *dout, const st_tensor *idx);

/* ---- fused softmax + cross-entropy ----
 * logits (..., V), targets i32 (...): loss f32 (...) = -log softmax(logits)[target], probs f32
 * (..., V) = softmax(logits) saved for the backward. A negative target is ignored (loss 0,
 * zero gradient); a target >= V is treated like an out-of-range embedding index. */
ST_API st_status st_cross_entropy(st_tensor *loss, st_tensor *probs, const st_tensor *logits,
                           const st_tensor *targets);
/* dlogits (..., V) = (probs - onehot(target)) * dloss. */
ST_API st_status st_cross_entropy_backward(st_tensor *dlogits, const st_tensor *dloss,
                                    const st_tensor *probs, const st_tensor *targets);

/* ---- causal multi-head attention ----
 * q, k, v, out: (B, H, T, D); lse f32 (B, H, T) = log-sum-exp of each row of the scaled scores,
 * saved for the backward. out = softmax(mask(q k^T / sqrt(D))) v with the causal mask. */
ST_API st_status st_attention(st_tensor *out, st_tensor *lse, const st_tensor *q, const st_tensor *k,
                       const st_tensor *v);
/* dq, dk, dv (B, H, T, D), overwritten. */
ST_API st_status st_attention_backward(st_tensor *dq, st_tensor *dk, st_tensor *dv,
                                const st_tensor *dout, const st_tensor *q, const st_tensor *k,
                                const st_tensor *v, const st_tensor *out, const st_tensor *lse);

/* ---- fused AdamW (decoupled weight decay, bias correction), in place ----
 * param, m, v f32 (same shape), grad f32 or bf16 (same shape). g = grad * grad_scale;
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; mhat = m/(1-b1^step); vhat = v/(1-b2^step);
 * param -= lr (mhat / (sqrt(vhat) + eps) + weight_decay * param). step >= 1. */
typedef struct st_adamw_params {
    float lr, beta1, beta2, eps, weight_decay;
    float grad_scale; /* multiplies the gradient first (clipping, averaging); 1 for none */
    int64_t step;
} st_adamw_params;
ST_API st_status st_adamw(st_tensor *param, st_tensor *m, st_tensor *v, const st_tensor *grad,
                   const st_adamw_params *p);

#ifdef __cplusplus
}
#endif
#endif
