/* The CASES column: representative calls of every op at a GPT model's sizes (st_op_case_get),
 * which strata-bench measures at the tiny and gpt2-124m sizes and the conformance suite's
 * gradient checks run at a few elements. A backward op's cases are its forward op's, with the
 * backward call's operands. */
#include <stdio.h>
#include <string.h>
#include "op_impl.h"

typedef struct shape_lit {
    int ndim;
    int64_t d[ST_MAX_DIMS];
} shape_lit;

/* One case as the table writes it: its label (NULL: the row has none), params and the shapes of
 * the inputs (of the outputs for an op without inputs). */
typedef struct case_lit {
    const char *label;
    st_op_params params;
    int n;
    shape_lit shape[ST_MAX_OP_IN];
} case_lit;

#define ST_NARGS_(_1, _2, _3, _4, _5, _6, n, ...) n
#define ST_NARGS(...) ST_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)

/* The vocabulary of the CASES column, over the sizes `d`. */
#define B (d->B)
#define T (d->T)
#define C (d->C)
#define H (d->H)
#define V (d->V)
#define VP (d->Vp)
#define ROWS (B * T)
#define C4 (4 * C)
#define HD (C / H)
#define LOWP (d->lowp)
/* A parenthesised compound literal: a shape's commas stay out of the count of shapes. */
#define S(...) ((shape_lit){ST_NARGS(__VA_ARGS__), {__VA_ARGS__}})
#define NOP {0}
#define P(...) {__VA_ARGS__}
#define CASES(...) __VA_ARGS__
#define DERIVED {NULL, NOP, 0, {{0}}}

/* cases_<name>: case k of the row written into *out (params as the op's member); the number of
 * cases it has. */
#define CASE(label, params, ...) {label, params, ST_NARGS(__VA_ARGS__), {__VA_ARGS__}}
#define ROW_(F, ID, name, sig, rule, flags, PT, grad, flops, bytes, cases, doc)                \
    static int cases_##name(const st_op_dims *d, int k, case_lit *out)                          \
    {                                                                                           \
        struct lit {                                                                            \
            const char *label;                                                                  \
            PT params;                                                                          \
            int n;                                                                              \
            shape_lit shape[ST_MAX_OP_IN];                                                      \
        };                                                                                      \
        const struct lit all[] = {cases};                                                       \
        (void)d;                                                                                \
        int count = (int)(sizeof all / sizeof all[0]);                                          \
        if (count == 0 || !all[0].label) return 0; /* DERIVED, or an empty CASES() */          \
        if (k >= 0 && k < count) {                                                              \
            memset(out, 0, sizeof *out);                                                        \
            out->label = all[k].label;                                                          \
            memcpy(&out->params, &all[k].params, sizeof all[k].params);                         \
            out->n = all[k].n;                                                                  \
            memcpy(out->shape, all[k].shape, sizeof out->shape);                                \
        }                                                                                       \
        return count;                                                                           \
    }
ST_OP_TABLE(ROW_)
#undef ROW_
#undef CASE

typedef int (*case_fn)(const st_op_dims *d, int k, case_lit *out);
static const case_fn case_fns[ST_OP_COUNT] = {
#define ROW_(F, ID, name, ...) [ST_OP_##ID] = cases_##name,
    ST_OP_TABLE(ROW_)
#undef ROW_
};

#undef B
#undef T
#undef C
#undef H
#undef V
#undef VP

/* How many cases the row itself writes (0 for DERIVED), for op_info.c. */
int st_op_case_rows(st_op op)
{
    static const st_op_dims one = {1, 1, 1, 1, 1, 1, ST_F32};
    case_lit lit;
    return case_fns[op](&one, -1, &lit);
}

/* The dtype of an operand a case gives (outputs follow from the rule): f32 where allowed, else
 * the first dtype its mask allows. */
static st_dtype case_dtype(const st_op_info *in, int k)
{
    for (int hops = 0; in->operand[k].like >= 0 && hops < ST_MAX_OPERANDS; hops++) k = in->operand[k].like;
    unsigned m = in->operand[k].dtypes;
    if (m & (1u << ST_F32)) return ST_F32;
    for (int dt = 0; dt < ST_DTYPE_COUNT; dt++)
        if (m & (1u << dt)) return (st_dtype)dt;
    return ST_F32;
}

static st_status forward_case(const st_op_info *in, int k, const st_op_dims *d, st_op_case *out)
{
    case_lit lit;
    if (k < 0 || k >= case_fns[in->op](d, k, &lit))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_op_case_get: %s has no case %d", in->name, k);
    memset(out, 0, sizeof *out);
    snprintf(out->label, sizeof out->label, "%s", lit.label);
    out->params = lit.params;
    int first = in->n_in ? in->n_out : 0; /* the shapes given: the inputs, or the outputs */
    if (lit.n != (in->n_in ? in->n_in : in->n_out))
        return ST_ERR(ST_ERR_INTERNAL, "op table: %s's case %d gives %d shapes for %d operands", in->name, k,
                      lit.n, in->n_in ? in->n_in : in->n_out);
    for (int i = 0; i < lit.n; i++) {
        st_tensor_desc *t = &out->operand[first + i];
        t->dtype = case_dtype(in, first + i);
        t->ndim = lit.shape[i].ndim;
        memcpy(t->shape, lit.shape[i].d, sizeof t->shape);
    }
    if (!in->n_in) return ST_OK;
    st_tensor_desc outs[ST_MAX_OP_OUT];
    ST_TRY(st_op_infer(in->op, out->operand + in->n_out, in->n_in, &out->params, outs));
    memcpy(out->operand, outs, sizeof outs[0] * (size_t)in->n_out);
    return ST_OK;
}

/* A backward op's operands from its forward call: inputs dout and the reads, outputs the
 * gradients of the forward's float inputs. */
static st_status backward_case(const st_op_info *gi, int k, const st_op_dims *d, st_op_case *out)
{
    const st_op_info *fi = st_op_info_get(gi->forward);
    st_op_case fwd;
    ST_TRY(forward_case(fi, k, d, &fwd));
    memset(out, 0, sizeof *out);
    memcpy(out->label, fwd.label, sizeof out->label);
    if (gi->params_size) out->params = fwd.params;
    for (int i = 0; i < fi->n_reads; i++) {
        int r = fi->reads[i];
        out->operand[gi->n_out + i] = fwd.operand[r == ST_READ_DOUT ? 0 : r];
    }
    for (int i = 0, g = 0; i < fi->n_in && g < gi->n_out; i++) {
        const st_tensor_desc *x = &fwd.operand[fi->n_out + i];
        if (x->dtype == ST_F32 || x->dtype == ST_BF16) out->operand[g++] = *x;
    }
    return ST_OK;
}

st_status st_op_case_get(st_op op, int k, const st_op_dims *d, st_op_case *out)
{
    const st_op_info *in = st_op_info_get(op);
    if (!in || !d || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_op_case_get: invalid op, or NULL dims or out");
    if (in->error) return ST_ERR(ST_ERR_INTERNAL, "op table: %s: %s", in->name, in->error);
    return in->forward != ST_OP_NONE ? backward_case(in, k, d, out) : forward_case(in, k, d, out);
}
