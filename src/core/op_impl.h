/* The op table inside the core: the shape rules (op_rules_*.c), the gradient rules
 * (grad_rules.c) and the generic run path (op_run.c) that st_op_info rows point to. Not a
 * public header: the public view of a row is st_op_info (ops.h). */
#ifndef STRATA_OP_IMPL_H
#define STRATA_OP_IMPL_H

#include "internal.h"

/* How a caller's output must match the shape a rule infers. */
typedef enum st_match {
    ST_MATCH_EXACT,   /* the same shape */
    ST_MATCH_NUMEL,   /* any shape of the same element count (layernorm's mean, sumsq's one element) */
    ST_MATCH_KEEPDIM, /* the shape, or the input's shape with the reduced axis kept as 1 */
    ST_MATCH_BCAST    /* any shape every input broadcasts to (the unary elementwise ops) */
} st_match;

/* What a shape rule works on. In inference (graph building, st_op_infer) only the inputs are
 * known; eagerly, the caller's outputs are in `given` too. The rule checks the inputs and the
 * params (it may normalise them, e.g. a negative axis) and sets each output's shape, and how a
 * given output must match it; dtypes are resolved from the signature before it runs. */
typedef struct st_rule_ctx {
    const st_op_info *info;
    st_op_params *p;
    st_tensor_desc in[ST_MAX_OP_IN];
    st_tensor_desc out[ST_MAX_OP_OUT];
    st_match match[ST_MAX_OP_OUT];
    int keep_axis;                 /* ST_MATCH_KEEPDIM: the axis */
    const st_tensor_desc *given;   /* eager: the caller's outputs; NULL when inferring */
} st_rule_ctx;

/* A shape rule: the RULE column of the table names one (st_rule_<name>). `run`, optional, replaces
 * the generic dispatch of an eager call once every check passed: degenerate inputs (a reduction
 * over an empty axis) and operand preparation (matmul's transposed views). */
typedef struct st_rule {
    st_status (*shape)(st_rule_ctx *c);
    st_status (*run)(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                     const st_op_params *p);
} st_rule;

/* A gradient rule's call (the VJP column): input gradients from the output's gradient. din[k]
 * NULL: not needed. accumulate[k]: add into din[k] instead of overwriting it (only asked of rules
 * whose row says VJP_ACC). Every forward operand is given; only those the row's reads name hold
 * their values (the others may have been overwritten and are there for their shapes). */
typedef struct st_grad_call {
    const st_op_info *info;
    st_tensor *din[ST_MAX_OP_IN];
    int accumulate[ST_MAX_OP_IN];
    const st_tensor *dout;
    const st_tensor *in[ST_MAX_OP_IN];
    const st_tensor *out[ST_MAX_OP_OUT];
    const st_op_params *p;
} st_grad_call;
typedef st_status (*st_grad_fn)(const st_grad_call *g);

/* Declarations from the table: every RULE column names a rule, every VJP row a gradient rule. */
#define ST_IMPL_RULE_DECL_(F, ID, name, sig, rule, ...) extern const st_rule st_rule_##rule;
ST_OP_TABLE(ST_IMPL_RULE_DECL_)
#undef ST_IMPL_RULE_DECL_
#define ST_IMPL_GRAD_DECL_NOGRAD(name)
#define ST_IMPL_GRAD_DECL_BWD(op, reads) ST_IMPL_GRAD_DECL_NOGRAD
#define ST_IMPL_GRAD_DECL_VJP(reads) ST_IMPL_GRAD_DECL_FN
#define ST_IMPL_GRAD_DECL_VJP_ACC(reads) ST_IMPL_GRAD_DECL_FN
#define ST_IMPL_GRAD_DECL_FN(name) st_status st_grad_##name(const st_grad_call *g);
#define ST_IMPL_GRAD_DECL_(F, ID, name, sig, rule, flags, P, grad, ...) ST_IMPL_GRAD_DECL_##grad(name)
ST_OP_TABLE(ST_IMPL_GRAD_DECL_)
#undef ST_IMPL_GRAD_DECL_

/* The core's side of a row: its rule and gradient rule (NULL when the row has none). */
typedef struct st_op_impl {
    const st_rule *rule;
    st_grad_fn grad;
} st_op_impl;
/* Never NULL for a valid op (the caller checked it). */
const st_op_impl *st_op_impl_get(st_op op);

/* Copies the caller's params (NULL allowed for st_no_params ops) into a zeroed union. */
void st_op_params_load(const st_op_info *info, const void *params, st_op_params *out);

/* Fills `d` from a tensor. */
void st_desc_of(const st_tensor *t, st_tensor_desc *d);
int64_t st_desc_numel(const st_tensor_desc *d);
/* Rows of a (..., C) operand: the product of every dim but the last. */
int64_t st_desc_rows(const st_tensor_desc *d);
/* "[3,4]" into buf. */
const char *st_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* The rule's checks and inference on the descriptions in c (op_run.c): dtypes resolved, the rule
 * run, the given outputs compared with what it inferred. */
st_status st_op_check(st_rule_ctx *c);
/* Records a failure of op `info` with its name prefixed ("matmul: ..."). */
st_status st_op_fail(const st_op_info *info, st_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The two generic dispatch paths after the checks (op_run.c): strided ops get every operand
 * broadcast to the output; the others contiguous operands, staged through copies. */
st_status st_run_strided(const st_op_info *info, st_tensor *out, const st_tensor *const *ins,
                         const st_op_params *p);
st_status st_run_dense(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                       const st_op_params *p);
/* The generic dispatch of `info`'s op (strided or dense after its flags). */
st_status st_run_generic(const st_op_info *info, st_tensor *const *outs, const st_tensor *const *ins,
                         const st_op_params *p);

/* Table validation (op_info.c), for st_op_info's error field. */
void st_op_table_init(void);

#endif
