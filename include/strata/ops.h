/* Eager ops: each call runs one op of the op table (op_table.h) on the device of its tensors.
 *
 * Every op runs through one generic path, st_op_run(): operands outputs first, then inputs, in
 * the order of the op's signature, and a pointer to its parameters struct. The named functions
 * below (st_add, st_matmul, ...) are typed front doors to it. What each op computes is in
 * docs/OPS.md (generated from the table); st_op_info_get() gives a row of the table at run time.
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

#include <stddef.h>
#include <stdint.h>
#include "strata/tensor.h"
#include "strata/op_table.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum st_op {
#define ST_OP_ENUM_(F, ID, ...) ST_OP_##ID,
    ST_OP_TABLE(ST_OP_ENUM_)
#undef ST_OP_ENUM_
    ST_OP_COUNT,
    ST_OP_NONE = -1
} st_op;

/* The most operands one op has (attention_backward: 3 outputs, 6 inputs). */
#define ST_MAX_OP_IN 6
#define ST_MAX_OP_OUT 3
#define ST_MAX_OPERANDS (ST_MAX_OP_OUT + ST_MAX_OP_IN)

/* "matmul", ...; NULL for an invalid op. */
ST_API const char *st_op_name(st_op op);
/* Op by name; ST_OP_NONE if unknown. */
ST_API st_op st_op_from_name(const char *name);

/* ---- parameters: each op takes the struct its table row names ---- */
typedef struct st_no_params { int unused; } st_no_params;
/* fill */
typedef struct st_fill_params { double value; } st_fill_params;
/* cast: the dtype converted to (out's) */
typedef struct st_cast_params { st_dtype dtype; } st_cast_params;
/* rand_uniform: [a, b); rand_normal: mean a, std b. Element i draws counter offset + i. */
typedef struct st_rand_params {
    uint64_t seed, offset;
    float a, b;
} st_rand_params;
/* scale: alpha * x + beta */
typedef struct st_scale_params { float alpha, beta; } st_scale_params;
/* matmul: alpha * op(a) @ op(b) + beta * out */
typedef struct st_matmul_params {
    int trans_a, trans_b;
    float alpha, beta;
} st_matmul_params;
/* sum, mean, max: the reduced axis (negative counts from the end) */
typedef struct st_axis_params { int axis; } st_axis_params;
typedef struct st_softmax_params { int causal; } st_softmax_params;
typedef struct st_layernorm_params { float eps; } st_layernorm_params;
/* adamw: g = grad * grad_scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; mhat = m/(1-b1^step);
 * vhat = v/(1-b2^step); param -= lr (mhat / (sqrt(vhat) + eps) + weight_decay * param). */
typedef struct st_adamw_params {
    float lr, beta1, beta2, eps, weight_decay;
    float grad_scale; /* multiplies the gradient first (clipping, averaging); 1 for none */
    int64_t step;
} st_adamw_params;

/* quantize, dequantize: block-symmetric quantization (docs/OPS.md). bits 8: one int8 per element;
 * bits 4: two per byte of an i8 tensor (element 2i in the low nibble, 2i+1 in the high one, two's
 * complement in [-7, 7]; an odd count's last high nibble is 0). Blocks are consecutive runs of
 * `block` elements (the last may be shorter), each with one f32 scale. */
typedef struct st_quant_params {
    int bits;       /* 8 or 4 */
    int64_t block;  /* elements per scale, > 0; even when bits == 4 */
    int accumulate; /* dequantize only: out += q * scale instead of out = q * scale */
} st_quant_params;

/* Any op's parameters: one member per op, named after it, of the op's params type. */
typedef union st_op_params {
#define ST_OP_PARAMS_(F, ID, name, sig, rule, flags, P, ...) P name;
    ST_OP_TABLE(ST_OP_PARAMS_)
#undef ST_OP_PARAMS_
} st_op_params;

/* ---- the table at run time ---- */

/* An operand's dtype and shape, without data. */
typedef struct st_tensor_desc {
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} st_tensor_desc;

typedef enum st_grad_kind {
    ST_GRAD_NONE,  /* not differentiable */
    ST_GRAD_OP,    /* a backward op of the table computes the input gradients */
    ST_GRAD_RULE   /* a gradient rule composed of other ops (src/core/grad_rules.c) */
} st_grad_kind;

/* One operand of an op's signature. */
typedef struct st_operand_info {
    const char *name;   /* "weight" */
    int output;         /* 1 for an output */
    unsigned dtypes;    /* allowed dtypes, bit 1u << dtype (0 when `like` is set) */
    int like;           /* index of the operand whose dtype this one must have, or -1 */
} st_operand_info;

/* In st_op_info.reads: the gradient of the op's first output. */
#define ST_READ_DOUT (-1)

/* A row of the op table (op_table.h explains the columns). Strings are static. */
typedef struct st_op_info {
    st_op op;
    const char *name, *family, *rule, *params_type, *signature, *doc;
    const char *flops_text, *bytes_text; /* the FLOPS and BYTES columns as written */
    int n_in, n_out;
    st_operand_info operand[ST_MAX_OPERANDS]; /* outputs first, then inputs */
    unsigned flags;                           /* ST_OPF_* */
    size_t params_size;                       /* bytes of the params struct; 0 for st_no_params */
    st_grad_kind grad;
    st_op backward;        /* ST_GRAD_OP: the op computing the input gradients, else ST_OP_NONE */
    st_op forward;         /* a backward op: the op whose gradients it computes, else ST_OP_NONE */
    int grad_accumulates;  /* ST_GRAD_RULE: the rule can add into an input's gradient itself */
    /* What the gradient reads of the forward call: ST_GRAD_OP, the backward op's inputs in order
     * (ST_READ_DOUT or an operand index); ST_GRAD_RULE, the operands the rule reads. */
    int n_reads;
    int reads[ST_MAX_OP_IN];
    unsigned dtype_variants; /* the dtypes the op is tested and measured in (a dtype mask) */
    int n_cases;             /* representative calls (st_op_case_get) */
    const char *error;       /* NULL, or the defect of this row: then every call of it fails */
} st_op_info;

/* The row of `op`, or NULL for an invalid op. */
ST_API const st_op_info *st_op_info_get(st_op op);

/* Runs `op` on the device of its tensors. outs[0 .. n_out) and ins[0 .. n_in) in the order of the
 * op's signature; params points to the op's params struct (ignored, and may be NULL, for
 * st_no_params ops). Checks the count, devices, dtypes and shapes of every operand and the
 * parameters, as the typed front doors below document. */
ST_API st_status st_op_run(st_op op, st_tensor *const *outs, int n_out, const st_tensor *const *ins,
                           int n_in, const void *params);
/* The outputs `op` gives for inputs `in` and params: dtypes and shapes (a reduction drops its
 * axis). Errors as st_op_run's checks; ST_ERR_INVALID_ARG for ops whose outputs are not
 * determined by their inputs (fill, rand_*). */
ST_API st_status st_op_infer(st_op op, const st_tensor_desc *in, int n_in, const void *params,
                             st_tensor_desc *out);
/* Flops and bytes one call counts (the table's FLOPS and BYTES columns), operands outputs first. */
ST_API st_status st_op_cost(st_op op, const st_tensor_desc *operands, const void *params,
                            double *flops, double *bytes);

/* The sizes of a GPT-style model that st_op_case_get evaluates a case at. */
typedef struct st_op_dims {
    int64_t B, T, C, H, V, Vp; /* batch, sequence, channels, heads, vocabulary (padded) */
    st_dtype lowp;             /* the low-precision dtype of casts (bf16; f32 for exact checks) */
} st_op_dims;
/* A representative call: every operand's dtype and shape, outputs first, and the params. */
typedef struct st_op_case {
    char label[32];
    st_op_params params;
    st_tensor_desc operand[ST_MAX_OPERANDS];
} st_op_case;
/* Case k (0 .. n_cases-1) of `op` at sizes d. A backward op's cases are its forward op's, with
 * the backward call's operands. Errors: ST_ERR_INVALID_ARG. */
ST_API st_status st_op_case_get(st_op op, int k, const st_op_dims *d, st_op_case *out);

/* ---- creation and movement ---- */
/* out[...] = value (converted to out's dtype; i32 and i8 saturate, NaN gives 0). */
ST_API st_status st_fill(st_tensor *out, double value);
/* out = in; same device and dtype, in broadcasting to out; either may be strided. */
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

/* ---- elementwise, one function per op of the table's elementwise family ----
 * st_<op>(out, a, b)       binary ops (add, sub, mul, div): out's shape must equal broadcast(a, b)
 * st_<op>(out, in)         unary ops (gelu, relu, exp, log, tanh, sqrt, rsqrt, ...): in broadcasts to out
 * st_<op>(din, dout, in)   their backward ops (gelu_backward, relu_backward, ...): din = dout * op'(in)
 * Operands share out's dtype (f32 or bf16). The formulas are in docs/OPS.md. */
#define ST_OP_FRONT_binary(name) \
    ST_API st_status st_##name(st_tensor *out, const st_tensor *a, const st_tensor *b);
#define ST_OP_FRONT_unary(name) ST_API st_status st_##name(st_tensor *out, const st_tensor *in);
#define ST_OP_FRONT_unary_bwd(name) \
    ST_API st_status st_##name(st_tensor *din, const st_tensor *dout, const st_tensor *in);
#define ST_OP_FRONT_scale(name)
#define ST_OP_FRONT_(F, ID, name, sig, rule, ...) ST_OP_FRONT_##rule(name)
ST_OPS_ELEMENTWISE(ST_OP_FRONT_, elementwise)
/* out = alpha * in + beta; `in` broadcasts to out. */
ST_API st_status st_scale(st_tensor *out, const st_tensor *in, float alpha, float beta);

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
 * param, m, v f32 (same shape), grad f32 or bf16 (same shape), p as st_adamw_params above;
 * step >= 1. */
ST_API st_status st_adamw(st_tensor *param, st_tensor *m, st_tensor *v, const st_tensor *grad,
                   const st_adamw_params *p);

/* ---- block-symmetric quantization (ZeRO++'s qwZ and qgZ) ----
 * st_quantize: in (f32 or bf16, n elements) -> q (i8; n elements for bits 8, ceil(n/2) bytes for
 * bits 4, any shape of that many) and scale (f32, ceil(n/block) elements). Per block: amax =
 * max |x|, scale = amax / qmax (qmax 127 or 7), q = clamp(rint(x * (qmax / amax)), -qmax, qmax)
 * rounding half to even; amax 0 gives scale 0 and q 0. Non-finite input is never hidden: a block
 * holding a NaN gets scale NaN, one whose amax is inf gets scale inf (its q are 0), so whatever
 * is dequantized from that block is non-finite too.
 * st_dequantize: out (f32 or bf16, n elements) = q * scale per block, or += with accumulate.
 * bits and block must be the ones q was made with. Errors: ST_ERR_INVALID_ARG for bits other
 * than 8 or 4, block <= 0 or odd with bits 4; ST_ERR_SHAPE / ST_ERR_DTYPE for operands that do
 * not fit (each message names the op and the value). */
/* The block size (elements per scale) Strata's quantized collectives use unless told otherwise:
 * DeepSpeed's qwZ (CUDAQuantizer) aims at groups of 4K elements (at most 8000) and picks 4096 for
 * every power-of-two tensor size. */
#define ST_QUANT_BLOCK_DEFAULT 4096
ST_API st_status st_quantize(const st_tensor *in, st_tensor *q, st_tensor *scale, int bits, int64_t block);
ST_API st_status st_dequantize(const st_tensor *q, const st_tensor *scale, st_tensor *out, int bits, int64_t block,
                               int accumulate);
/* Bytes of n elements quantized to `bits` in blocks of `block`: the payload (n or ceil(n/2)) plus
 * 4 per scale, what a quantized collective puts on the wire. 0 for invalid arguments. */
ST_API int64_t st_quant_bytes(int64_t n, int bits, int64_t block);

#ifdef __cplusplus
}
#endif
#endif
