/* The op table: the one description of every op Strata has, and everything a client needs to
 * know about it. Nothing else lists the ops: the st_op enum and names, the params union, the
 * eager checks, the graph's nodes and gradients, the memory planner's lifetimes, the backend
 * vtable slots, the benchmark's cases and rates, the conformance and gradient test lists and
 * docs/OPS.md's table are all generated from it or look it up (st_op_info_get, ops.h).
 * docs/ARCHITECTURE.md ("Adding an op") walks through adding a row.
 *
 * Rows are grouped by family: the file every backend keeps the family's ops in
 * (backends/cpu/cpu_<family>.c, backends/opencl/cl_<family>.c + kernels_cl/<family>.cl,
 * kernels_cuda/<family>.cu, which the HIP plugin compiles too). The order of the rows is the
 * order of the st_op enum.
 *
 * X(FAMILY, ID, name, SIGNATURE, RULE, FLAGS, PARAMS, GRAD, FLOPS, BYTES, CASES, DOC)
 *   FAMILY, ID, name  family token, enum suffix (ST_OP_<ID>) and lower-case name
 *   SIGNATURE  operands and their dtypes, outputs first: "out:f <- a:out b:out". Each operand
 *              is NAME:DTYPES where DTYPES is a dtype's name (f32, bf16, i32, i8), f (f32|bf16),
 *              any (f32|bf16|i32|i8), or the name of another operand whose dtype it must have.
 *   RULE       the shape rule (src/core/op_rules*.c, st_rule_<RULE>): checks shapes and parameters
 *              and infers the outputs from the inputs. Ops of one rule share a signature shape.
 *   FLAGS      ST_OPF_STRIDED: backends receive arbitrary strided views (broadcast = stride 0);
 *              otherwise contiguous operands. ST_OPF_INPLACE: the outputs are read and written.
 *              ST_OPF_FLOP_RATE: the benchmark rates it in GFLOP/s (else GB/s).
 *   PARAMS     its parameters struct (ops.h); st_no_params for none
 *   GRAD       NOGRAD; BWD(OP, "reads"): the backward op OP, whose inputs are "reads" (dout and
 *              this op's operands by name, in OP's order) and whose outputs are the gradients of
 *              this op's float inputs, in order; VJP("reads"): a gradient rule st_grad_<name>
 *              (src/core/grad_rules.c) reading the operands named; VJP_ACC("reads"): the same,
 *              and the rule can add into an input's gradient itself (no temporary)
 *   FLOPS      flops of one call as an expression of the operands: N(x) elements of x,
 *              DIM(x, i) its dim i (negative from the end)
 *   BYTES      bytes one call moves: ALL (every operand once, in-place outputs twice) or an
 *              expression with BYTES(x)
 *   CASES      representative calls at a GPT model's sizes, for the benchmark and the gradient
 *              checks: CASES(CASE(label, params, shapes...), ...) with params NOP or P(fields)
 *              and the inputs' shapes S(...) (the outputs' for an op without inputs) over
 *              B, T, ROWS = B T, C, C4 = 4 C, H, HD = C / H, V, VP (V padded); LOWP is the
 *              low-precision dtype. DERIVED: a backward op, measured on its forward's cases.
 *   DOC        what one call computes, for docs/OPS.md
 */
#ifndef STRATA_OP_TABLE_H
#define STRATA_OP_TABLE_H

#define ST_OP_TABLE(X)                                                                         \
    ST_OPS_COPY(X, copy) ST_OPS_RANDOM(X, random) ST_OPS_ELEMENTWISE(X, elementwise)            \
    ST_OPS_MATMUL(X, matmul) ST_OPS_REDUCE(X, reduce) ST_OPS_SOFTMAX(X, softmax)                \
    ST_OPS_LAYERNORM(X, layernorm) ST_OPS_EMBEDDING(X, embedding)                               \
    ST_OPS_CROSS_ENTROPY(X, cross_entropy) ST_OPS_ATTENTION(X, attention) ST_OPS_ADAMW(X, adamw)                     \
    ST_OPS_QUANT(X, quant)

/* Raw element moves: i32, i8 and NaN payloads pass unchanged. */
#define ST_OPS_COPY(X, F)                                                                      \
    X(F, FILL, fill, "out:any <-", fill, ST_OPF_STRIDED, st_fill_params, NOGRAD, 0, ALL,         \
      CASES(CASE("", P(.value = 0.5), S(ROWS, C))),                                             \
      "p.value converted to out's dtype; i32 and i8 saturate, NaN gives 0")                   \
    X(F, COPY, copy, "out:any <- in:out", copy, ST_OPF_STRIDED, st_no_params, VJP(""), 0, ALL,   \
      CASES(CASE("", NOP, S(ROWS, C))), "in")                                                   \
    X(F, CAST, cast, "out:f <- in:f", cast, ST_OPF_STRIDED, st_cast_params, VJP(""), 0, ALL,     \
      CASES(CASE("", P(.dtype = LOWP), S(ROWS, C))),                                            \
      "in converted to p.dtype (out's), rounding to nearest even")

/* Counter-based Philox4x32-10: element i depends only on (p.seed, p.offset + i). */
#define ST_OPS_RANDOM(X, F)                                                                    \
    X(F, RAND_UNIFORM, rand_uniform, "out:f <-", rand, 0, st_rand_params, NOGRAD, 0, ALL,       \
      CASES(CASE("", P(.seed = 7, .a = -1.0f, .b = 1.0f), S(ROWS, C))), "uniform in [p.a, p.b)") \
    X(F, RAND_NORMAL, rand_normal, "out:f <-", rand, 0, st_rand_params, NOGRAD, 0, ALL,         \
      CASES(CASE("", P(.seed = 7, .a = 0.0f, .b = 0.02f), S(ROWS, C))),                         \
      "normal(mean p.a, std p.b) by Box-Muller")

/* f32 arithmetic on f32 or bf16 storage. Unary ops: out = f(in); their backward ops take
 * (dout, in) and give dout * f'(in). */
#define ST_OPS_ELEMENTWISE(X, F)                                                               \
    X(F, ADD, add, "out:f <- a:out b:out", binary, ST_OPF_STRIDED, st_no_params, VJP(""),       \
      N(out), ALL, CASES(CASE("", NOP, S(ROWS, C), S(ROWS, C))), "a + b")                       \
    X(F, SUB, sub, "out:f <- a:out b:out", binary, ST_OPF_STRIDED, st_no_params, VJP(""),       \
      N(out), ALL, CASES(CASE("", NOP, S(ROWS, C), S(ROWS, C))), "a - b")                       \
    X(F, MUL, mul, "out:f <- a:out b:out", binary, ST_OPF_STRIDED, st_no_params, VJP("a b"),    \
      N(out), ALL, CASES(CASE("", NOP, S(ROWS, C), S(ROWS, C))), "a * b")                       \
    X(F, DIV, div, "out:f <- a:out b:out", binary, ST_OPF_STRIDED, st_no_params, VJP("a b"),    \
      N(out), ALL, CASES(CASE("", NOP, S(ROWS, C), S(ROWS, C))), "a / b")                       \
    X(F, SCALE, scale, "out:f <- in:out", scale, ST_OPF_STRIDED, st_scale_params, VJP(""),      \
      2 * N(out), ALL, CASES(CASE("", P(.alpha = 2.0f, .beta = 1.0f), S(ROWS, C))),             \
      "p.alpha * in + p.beta")                                                                  \
    X(F, GELU, gelu, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params,                    \
      BWD(GELU_BACKWARD, "dout in"), 8 * N(out), ALL, CASES(CASE("", NOP, S(ROWS, C4))),        \
      "0.5 in (1 + tanh(sqrt(2/pi) (in + 0.044715 in^3)))")                                     \
    X(F, GELU_BACKWARD, gelu_backward, "din:f <- dout:din in:din", unary_bwd, ST_OPF_STRIDED,   \
      st_no_params, NOGRAD, 16 * N(din), ALL, DERIVED, "dout * gelu'(in)")                      \
    X(F, RELU, relu, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params,                    \
      BWD(RELU_BACKWARD, "dout in"), N(out), ALL, CASES(CASE("", NOP, S(ROWS, C4))),            \
      "max(in, 0); NaN stays NaN")                                                              \
    X(F, RELU_BACKWARD, relu_backward, "din:f <- dout:din in:din", unary_bwd, ST_OPF_STRIDED,   \
      st_no_params, NOGRAD, N(din), ALL, DERIVED, "in > 0 ? dout : 0")                          \
    X(F, EXP, exp, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params, VJP("out"), N(out),  \
      ALL, CASES(CASE("", NOP, S(ROWS, C4))), "e^in")                                           \
    X(F, LOG, log, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params, VJP("in"), N(out),   \
      ALL, CASES(CASE("", NOP, S(ROWS, C4))), "natural logarithm")                              \
    X(F, TANH, tanh, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params, VJP("out"),        \
      N(out), ALL, CASES(CASE("", NOP, S(ROWS, C4))), "tanh(in)")                               \
    X(F, SQRT, sqrt, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params, VJP("out"),        \
      N(out), ALL, CASES(CASE("", NOP, S(ROWS, C4))), "sqrt(in)")                               \
    X(F, RSQRT, rsqrt, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params, VJP("out"),      \
      N(out), ALL, CASES(CASE("", NOP, S(ROWS, C4))), "1 / sqrt(in)")                           \
    X(F, SILU, silu, "out:f <- in:out", unary, ST_OPF_STRIDED, st_no_params,                    \
      BWD(SILU_BACKWARD, "dout in"), 4 * N(out), ALL, CASES(CASE("", NOP, S(ROWS, C4))),        \
      "in sigmoid(in) = in / (1 + e^-in)")                                                      \
    X(F, SILU_BACKWARD, silu_backward, "din:f <- dout:din in:din", unary_bwd, ST_OPF_STRIDED,   \
      st_no_params, NOGRAD, 8 * N(din), ALL, DERIVED, "dout * silu'(in)")

#define ST_OPS_MATMUL(X, F)                                                                    \
    X(F, MATMUL, matmul, "out:f <- a:out b:out", matmul, ST_OPF_FLOP_RATE, st_matmul_params,    \
      VJP_ACC("a b"), 2 * N(a) * DIM(out, -1), ALL,                                             \
      CASES(CASE("c_fc", P(.alpha = 1.0f), S(ROWS, C), S(C, C4)),                               \
            CASE("lm_head", P(.trans_b = 1, .alpha = 1.0f), S(ROWS, C), S(VP, C))),             \
      "p.alpha op(a) @ op(b) + p.beta out; op transposes the last two dims per p.trans_a/b")

/* Along p.axis, accumulating in f32. */
#define ST_OPS_REDUCE(X, F)                                                                    \
    X(F, SUM, sum, "out:in <- in:f", reduce, 0, st_axis_params, VJP(""), N(in), ALL,            \
      CASES(CASE("", P(.axis = 0), S(ROWS, C4))), "sum along p.axis (0 when empty)")            \
    X(F, MEAN, mean, "out:in <- in:f", reduce, 0, st_axis_params, VJP(""), N(in), ALL,          \
      CASES(CASE("", P(.axis = 0), S(ROWS, C4))), "mean along p.axis (NaN when empty)")         \
    X(F, MAX, max, "out:in <- in:f", reduce, 0, st_axis_params, VJP("in out"), N(in), ALL,      \
      CASES(CASE("", P(.axis = 0), S(ROWS, C4))), "max along p.axis (-inf when empty; NaN wins)") \
    X(F, SUMSQ, sumsq, "out:f32 <- in:f", sumsq, 0, st_no_params, VJP("in"), 2 * N(in), ALL,    \
      CASES(CASE("", NOP, S(ROWS, C4))), "sum of in^2 over every element (out: one element)")

/* Over the last dim. */
#define ST_OPS_SOFTMAX(X, F)                                                                   \
    X(F, SOFTMAX, softmax, "out:in <- in:f", softmax, 0, st_softmax_params,                     \
      BWD(SOFTMAX_BACKWARD, "dout out"), 5 * N(out), ALL,                                       \
      CASES(CASE("", P(.causal = 1), S(B, H, T, T))),                                           \
      "row-wise softmax; p.causal: in (..., T, S) keeps columns j <= t + S - T")               \
    X(F, SOFTMAX_BACKWARD, softmax_backward, "din:f <- dout:din out:din", softmax_bwd, 0,       \
      st_no_params, NOGRAD, 4 * N(din), ALL, DERIVED, "out * (dout - sum_row(dout * out))")

#define ST_OPS_LAYERNORM(X, F)                                                                 \
    X(F, LAYERNORM, layernorm, "out:in mean:f32 rstd:f32 <- in:f weight:in bias:in",            \
      layernorm, 0, st_layernorm_params, BWD(LAYERNORM_BACKWARD, "dout in weight mean rstd"),   \
      8 * N(out), ALL, CASES(CASE("", P(.eps = 1e-5f), S(ROWS, C), S(C), S(C))),                \
      "(in - mean) rstd weight + bias over the last dim; mean, rstd per row")                  \
    X(F, LAYERNORM_BACKWARD, layernorm_backward,                                                \
      "din:in dweight:in dbias:in <- dout:in in:f weight:in mean:f32 rstd:f32", layernorm_bwd,  \
      0, st_no_params, NOGRAD, 12 * N(din), ALL, DERIVED,                                       \
      "din, and dweight, dbias summed over rows (overwritten)")

#define ST_OPS_EMBEDDING(X, F)                                                                 \
    X(F, EMBEDDING, embedding, "out:table <- table:f idx:i32", embedding, 0, st_no_params,      \
      BWD(EMBEDDING_BACKWARD, "dout idx"), 0, 2 * BYTES(out) + BYTES(idx),                      \
      CASES(CASE("", NOP, S(VP, C), S(B, T))), "out[n] = table[idx[n]]")                        \
    X(F, EMBEDDING_BACKWARD, embedding_backward, "dtable:f <- dout:dtable idx:i32",             \
      embedding_bwd, 0, st_no_params, NOGRAD, N(dout), ALL, DERIVED,                            \
      "dtable = 0, then dtable[idx[n]] += dout[n]")

#define ST_OPS_CROSS_ENTROPY(X, F)                                                             \
    X(F, CROSS_ENTROPY, cross_entropy, "loss:f32 probs:f32 <- logits:f targets:i32", xent, 0,   \
      st_no_params, BWD(CROSS_ENTROPY_BACKWARD, "dout probs targets"), 5 * N(logits), ALL,      \
      CASES(CASE("", NOP, S(ROWS, V), S(ROWS))),                                                \
      "probs = softmax(logits), loss = -log probs[target]; target < 0: loss 0")                \
    X(F, CROSS_ENTROPY_BACKWARD, cross_entropy_backward,                                        \
      "dlogits:f <- dloss:f32 probs:f32 targets:i32", xent_bwd, 0, st_no_params, NOGRAD,        \
      2 * N(dlogits), ALL, DERIVED, "(probs - onehot(target)) * dloss")

#define ST_OPS_ATTENTION(X, F)                                                                 \
    X(F, ATTENTION, attention, "out:q lse:f32 <- q:f k:q v:q", attention, ST_OPF_FLOP_RATE,     \
      st_no_params, BWD(ATTENTION_BACKWARD, "dout q k v out lse"), 2 * N(q) * DIM(q, 2), ALL,   \
      CASES(CASE("", NOP, S(B, H, T, HD), S(B, H, T, HD), S(B, H, T, HD))),                     \
      "causal softmax(q k^T / sqrt(D)) v over (B, H, T, D); lse per row")                      \
    X(F, ATTENTION_BACKWARD, attention_backward,                                                \
      "dq:q dk:q dv:q <- dout:q q:f k:q v:q out:q lse:f32", attention_bwd, ST_OPF_FLOP_RATE,    \
      st_no_params, NOGRAD, 4 * N(q) * DIM(q, 2), ALL, DERIVED, "dq, dk, dv (overwritten)")

#define ST_OPS_ADAMW(X, F)                                                                     \
    X(F, ADAMW, adamw, "param:f32 m:f32 v:f32 <- grad:f", adamw, ST_OPF_INPLACE,                \
      st_adamw_params, NOGRAD, 15 * N(param), ALL,                                              \
      CASES(CASE("", P(.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,                \
                       .weight_decay = 0.1f, .grad_scale = 1.0f, .step = 1), S(C, C4))),         \
      "AdamW step with bias correction and decoupled weight decay, in place")

/* Block-symmetric quantization (ZeRO++'s qwZ and qgZ): blocks of p.block elements, one f32 scale
 * each, payload int8 (p.bits 8) or int4 packed two per byte (p.bits 4). */
#define ST_OPS_QUANT(X, F)                                                                     \
    X(F, QUANTIZE, quantize, "q:i8 scale:f32 <- in:f", quantize, 0, st_quant_params, NOGRAD,    \
      3 * N(in), ALL,                                                                           \
      CASES(CASE("int8", P(.bits = 8, .block = ST_QUANT_BLOCK_DEFAULT), S(ROWS, C4)),           \
            CASE("int4", P(.bits = 4, .block = ST_QUANT_BLOCK_DEFAULT), S(ROWS, C4))),          \
      "per block of p.block: scale = amax / qmax, q = rint(in qmax / amax), amax = max abs(in), "\
      "qmax 127 (p.bits 8) or 7 (4, two per byte); NaN or inf in a block: scale NaN or inf, q 0") \
    X(F, DEQUANTIZE, dequantize, "out:f <- q:i8 scale:f32", dequantize, 0, st_quant_params,     \
      NOGRAD, N(out), ALL,                                                                      \
      CASES(CASE("int8", P(.bits = 8, .block = ST_QUANT_BLOCK_DEFAULT), S(ROWS * C4),           \
                 S((ROWS * C4 + ST_QUANT_BLOCK_DEFAULT - 1) / ST_QUANT_BLOCK_DEFAULT)),         \
            CASE("int4", P(.bits = 4, .block = ST_QUANT_BLOCK_DEFAULT), S(ROWS * C4 / 2),       \
                 S((ROWS * C4 + ST_QUANT_BLOCK_DEFAULT - 1) / ST_QUANT_BLOCK_DEFAULT))),        \
      "q scale per block; p.accumulate: out += q scale")

/* Flags (the FLAGS column). */
#define ST_OPF_STRIDED 1u
#define ST_OPF_INPLACE 2u
#define ST_OPF_FLOP_RATE 4u

#endif
