/* The op table: the one list of every op Strata has.
 *
 * Everything else is generated from it with X-macros: the st_op enum and names (ops.h), the
 * backend vtable slots (backend_abi.h), the OpenCL kernel file names, and the conformance test
 * list (tests/). Add an op here and the build tells you every place that still lacks it.
 *
 * ST_OP(ID, name, n_in, n_out, dtypes, strided, backward)
 *   ID, name  enum suffix (ST_OP_<ID>) and lower-case name (the public function is st_<name>)
 *   n_in      tensor inputs, n_out tensor outputs (in-place operands count as outputs)
 *   dtypes    float dtypes of the main operand: F = f32|bf16, F32 = f32 only, ALL = f32|bf16|i32
 *   strided   1: backends receive operands as arbitrary strided views (broadcast = stride 0)
 *             0: the core hands backends contiguous operands (copying when needed)
 *   backward  the op computing this op's input gradients, or NONE (gradient composed from other
 *             ops by the autograd rules, or not differentiable)
 */
#ifndef STRATA_OP_TABLE_H
#define STRATA_OP_TABLE_H

#define ST_OP_TABLE(ST_OP) \
    ST_OP(FILL,                   fill,                   0, 1, ALL, 1, NONE) \
    ST_OP(COPY,                   copy,                   1, 1, ALL, 1, NONE) \
    ST_OP(CAST,                   cast,                   1, 1, F,   1, NONE) \
    ST_OP(RAND_UNIFORM,           rand_uniform,           0, 1, F,   0, NONE) \
    ST_OP(RAND_NORMAL,            rand_normal,            0, 1, F,   0, NONE) \
    ST_OP(ADD,                    add,                    2, 1, F,   1, NONE) \
    ST_OP(SUB,                    sub,                    2, 1, F,   1, NONE) \
    ST_OP(MUL,                    mul,                    2, 1, F,   1, NONE) \
    ST_OP(DIV,                    div,                    2, 1, F,   1, NONE) \
    ST_OP(SCALE,                  scale,                  1, 1, F,   1, NONE) \
    ST_OP(GELU,                   gelu,                   1, 1, F,   1, GELU_BACKWARD) \
    ST_OP(GELU_BACKWARD,          gelu_backward,          2, 1, F,   1, NONE) \
    ST_OP(RELU,                   relu,                   1, 1, F,   1, RELU_BACKWARD) \
    ST_OP(RELU_BACKWARD,          relu_backward,          2, 1, F,   1, NONE) \
    ST_OP(EXP,                    exp,                    1, 1, F,   1, NONE) \
    ST_OP(LOG,                    log,                    1, 1, F,   1, NONE) \
    ST_OP(TANH,                   tanh,                   1, 1, F,   1, NONE) \
    ST_OP(SQRT,                   sqrt,                   1, 1, F,   1, NONE) \
    ST_OP(RSQRT,                  rsqrt,                  1, 1, F,   1, NONE) \
    ST_OP(MATMUL,                 matmul,                 2, 1, F,   0, NONE) \
    ST_OP(SUM,                    sum,                    1, 1, F,   0, NONE) \
    ST_OP(MEAN,                   mean,                   1, 1, F,   0, NONE) \
    ST_OP(MAX,                    max,                    1, 1, F,   0, NONE) \
    ST_OP(SUMSQ,                  sumsq,                  1, 1, F,   0, NONE) \
    ST_OP(SOFTMAX,                softmax,                1, 1, F,   0, SOFTMAX_BACKWARD) \
    ST_OP(SOFTMAX_BACKWARD,       softmax_backward,       2, 1, F,   0, NONE) \
    ST_OP(LAYERNORM,              layernorm,              3, 3, F,   0, LAYERNORM_BACKWARD) \
    ST_OP(LAYERNORM_BACKWARD,     layernorm_backward,     5, 3, F,   0, NONE) \
    ST_OP(EMBEDDING,              embedding,              2, 1, F,   0, EMBEDDING_BACKWARD) \
    ST_OP(EMBEDDING_BACKWARD,     embedding_backward,     2, 1, F,   0, NONE) \
    ST_OP(CROSS_ENTROPY,          cross_entropy,          2, 2, F,   0, CROSS_ENTROPY_BACKWARD) \
    ST_OP(CROSS_ENTROPY_BACKWARD, cross_entropy_backward, 3, 1, F,   0, NONE) \
    ST_OP(ATTENTION,              attention,              3, 2, F,   0, ATTENTION_BACKWARD) \
    ST_OP(ATTENTION_BACKWARD,     attention_backward,     6, 3, F,   0, NONE) \
    ST_OP(ADAMW,                  adamw,                  1, 3, F32, 0, NONE)

#endif
