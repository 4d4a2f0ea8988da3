/* The op table at run time: st_op_info rows built once from op_table.h (the signature and
 * gradient strings parsed, every cross-reference between rows resolved) and checked, so that a
 * defective row is reported by st_op_info's error field and refused at every call instead of
 * misbehaving. tests/api/test_op_table.c fails, naming the op, while any row has an error. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "op_impl.h"

#define F_MASK ((1u << ST_F32) | (1u << ST_BF16))

typedef struct grad_spec {
    st_grad_kind kind;
    st_op backward;
    int accumulates;
    const char *reads;
} grad_spec;

typedef struct row {
    const char *name, *family, *rule_name, *params_type, *signature, *doc, *flops, *bytes;
    unsigned flags;
    size_t params_size; /* sizeof the struct, st_no_params's too */
    grad_spec grad;
    st_op_impl impl;
} row;

#define NOGRAD {ST_GRAD_NONE, ST_OP_NONE, 0, ""}
#define BWD(op, reads) {ST_GRAD_OP, ST_OP_##op, 0, reads}
#define VJP(reads) {ST_GRAD_RULE, ST_OP_NONE, 0, reads}
#define VJP_ACC(reads) {ST_GRAD_RULE, ST_OP_NONE, 1, reads}
#define GRAD_FN_NOGRAD(name) NULL
#define GRAD_FN_BWD(op, reads) GRAD_FN_NOGRAD
#define GRAD_FN_VJP(reads) GRAD_FN_RULE
#define GRAD_FN_VJP_ACC(reads) GRAD_FN_RULE
#define GRAD_FN_RULE(name) st_grad_##name
#define ROW_(F, ID, name, sig, rule, flags, P, grad, flops, bytes, cases, doc)                 \
    [ST_OP_##ID] = {#name, #F, #rule, #P, sig, doc, #flops, #bytes, flags, sizeof(P), grad,    \
                    {&st_rule_##rule, GRAD_FN_##grad(name)}},
static const row rows[ST_OP_COUNT] = {ST_OP_TABLE(ROW_)};
#undef ROW_

static st_op_info infos[ST_OP_COUNT];
static char names[ST_OP_COUNT][ST_MAX_OPERANDS][24];
static char errors[ST_OP_COUNT][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int defect(st_op op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int defect(st_op op, const char *fmt, ...)
{
    if (infos[op].error) return 0; /* the first defect of a row is the one reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errors[op], sizeof errors[op], fmt, ap);
    va_end(ap);
    infos[op].error = errors[op];
    return 0;
}

static int operand_index(const st_op_info *in, const char *name, size_t len)
{
    for (int k = 0; k < in->n_in + in->n_out; k++)
        if (strlen(in->operand[k].name) == len && strncmp(in->operand[k].name, name, len) == 0) return k;
    return -1;
}

/* "f", "any" or a dtype's name: its mask; 0 for anything else (another operand's name). */
static unsigned dtype_mask(const char *s, size_t len)
{
    if (len == 1 && s[0] == 'f') return F_MASK;
    if (len == 3 && strncmp(s, "any", 3) == 0) return F_MASK | (1u << ST_I32) | (1u << ST_I8);
    for (int dt = 0; dt < ST_DTYPE_COUNT; dt++)
        if (strlen(st_dtype_name((st_dtype)dt)) == len && strncmp(st_dtype_name((st_dtype)dt), s, len) == 0)
            return 1u << dt;
    return 0;
}

/* "out:f <- a:out b:out": names first, then each DTYPES (a name may be used before it is seen). */
static int parse_signature(st_op op)
{
    st_op_info *in = &infos[op];
    const char *s = rows[op].signature, *specs[ST_MAX_OPERANDS];
    size_t spec_len[ST_MAX_OPERANDS];
    int outputs = 1, n = 0;
    while (*s) {
        while (*s == ' ') s++;
        size_t len = strcspn(s, " ");
        if (!len) break;
        if (len == 2 && strncmp(s, "<-", 2) == 0) {
            if (!outputs) return defect(op, "signature \"%s\" has two \"<-\"", rows[op].signature);
            outputs = 0;
        } else {
            const char *colon = memchr(s, ':', len);
            if (!colon || colon == s || colon + 1 == s + len)
                return defect(op, "signature operand \"%.*s\" is not NAME:DTYPES", (int)len, s);
            if (n == ST_MAX_OPERANDS || (outputs ? in->n_out == ST_MAX_OP_OUT : in->n_in == ST_MAX_OP_IN))
                return defect(op, "signature \"%s\" has too many operands", rows[op].signature);
            if (operand_index(in, s, (size_t)(colon - s)) >= 0)
                return defect(op, "signature names \"%.*s\" twice", (int)(colon - s), s);
            snprintf(names[op][n], sizeof names[op][n], "%.*s", (int)(colon - s), s);
            in->operand[n] = (st_operand_info){names[op][n], outputs, 0, -1};
            specs[n] = colon + 1;
            spec_len[n] = (size_t)(s + len - colon - 1);
            n++;
            if (outputs) in->n_out++;
            else in->n_in++;
        }
        s += len;
    }
    if (outputs || in->n_out == 0) return defect(op, "signature \"%s\" needs OUTPUTS <- INPUTS", rows[op].signature);
    for (int k = 0; k < n; k++) {
        in->operand[k].dtypes = dtype_mask(specs[k], spec_len[k]);
        if (in->operand[k].dtypes) continue;
        in->operand[k].like = operand_index(in, specs[k], spec_len[k]);
        if (in->operand[k].like < 0 || in->operand[k].like == k)
            return defect(op, "operand %s: \"%.*s\" is neither a dtype nor another operand", in->operand[k].name,
                          (int)spec_len[k], specs[k]);
    }
    return 1;
}

/* The dtype mask operand k finally refers to; 0 for a cycle of `like`s. */
static unsigned resolved_mask(const st_op_info *in, int k)
{
    for (int hops = 0; hops <= ST_MAX_OPERANDS; hops++) {
        if (in->operand[k].like < 0) return in->operand[k].dtypes;
        k = in->operand[k].like;
    }
    return 0;
}

static int is_float_input(const st_op_info *in, int k)
{
    unsigned m = resolved_mask(in, k);
    return m && (m & ~F_MASK) == 0;
}

/* "dout in weight": operand indices, and ST_READ_DOUT for "dout" (a backward op's first input). */
static int parse_reads(st_op op, int allow_dout)
{
    st_op_info *in = &infos[op];
    for (const char *s = rows[op].grad.reads; *s;) {
        while (*s == ' ') s++;
        size_t len = strcspn(s, " ");
        if (!len) break;
        int dout = len == 4 && strncmp(s, "dout", 4) == 0, k = dout ? ST_READ_DOUT : operand_index(in, s, len);
        if (dout && !allow_dout) return defect(op, "a gradient rule reads operands, not dout");
        if (!dout && k < 0) return defect(op, "the gradient reads \"%.*s\", which is not an operand", (int)len, s);
        if (in->n_reads == ST_MAX_OP_IN) return defect(op, "the gradient reads more than %d operands", ST_MAX_OP_IN);
        in->reads[in->n_reads++] = k;
        s += len;
    }
    return 1;
}

static void fill_row(st_op op)
{
    const row *r = &rows[op];
    st_op_info *in = &infos[op];
    *in = (st_op_info){.op = op, .name = r->name, .family = r->family, .rule = r->rule_name,
                       .params_type = r->params_type, .signature = r->signature, .doc = r->doc,
                       .flops_text = r->flops, .bytes_text = r->bytes, .flags = r->flags,
                       .params_size = strcmp(r->params_type, "st_no_params") ? r->params_size : 0,
                       .grad = r->grad.kind, .backward = r->grad.backward,
                       .forward = ST_OP_NONE, .grad_accumulates = r->grad.accumulates};
    if (!parse_signature(op)) return;
    for (int k = 0; k < in->n_in + in->n_out; k++)
        if (!resolved_mask(in, k)) {
            defect(op, "operand %s: its dtype refers around in a circle", in->operand[k].name);
            return;
        }
    if (in->grad != ST_GRAD_NONE && !parse_reads(op, in->grad == ST_GRAD_OP)) return;
    if ((in->flags & ST_OPF_STRIDED) && in->n_out != 1) defect(op, "a strided op has exactly one output");
    /* The dtypes the op is tested and measured in: its first free choice of several dtypes. */
    in->dtype_variants = resolved_mask(in, 0);
    for (int k = 0; k < in->n_in + in->n_out; k++)
        if (in->operand[k].like < 0 && (in->operand[k].dtypes & (in->operand[k].dtypes - 1))) {
            in->dtype_variants = in->operand[k].dtypes;
            break;
        }
}

/* A backward op's contract with its forward op F: its inputs are F's reads, its outputs the
 * gradients of F's float inputs, its params none or F's, and no gradient of its own. */
static void link_backward(st_op f)
{
    st_op_info *fi = &infos[f];
    st_op g = fi->backward;
    if (fi->grad != ST_GRAD_OP || fi->error) return;
    if ((int)g < 0 || g >= ST_OP_COUNT || g == f) {
        defect(f, "its backward op is not another op of the table");
        return;
    }
    st_op_info *gi = &infos[g];
    int floats = 0;
    for (int k = 0; k < fi->n_in; k++) floats += is_float_input(fi, fi->n_out + k);
    if (gi->forward != ST_OP_NONE) defect(g, "it is the backward op of both %s and %s", st_op_name(gi->forward), fi->name);
    gi->forward = f;
    if (gi->n_in != fi->n_reads)
        defect(f, "its backward op %s takes %d inputs, the row's reads name %d", gi->name, gi->n_in, fi->n_reads);
    if (gi->n_out != floats)
        defect(f, "its backward op %s gives %d gradients for %d float inputs", gi->name, gi->n_out, floats);
    if (gi->params_size && strcmp(gi->params_type, fi->params_type) != 0)
        defect(g, "a backward op takes no params or its forward op's (%s), not %s", fi->params_type, gi->params_type);
    if (gi->grad != ST_GRAD_NONE) defect(g, "a backward op has no gradient of its own");
}

int st_op_case_rows(st_op op); /* op_cases.c */

static void init(void)
{
    for (int op = 0; op < ST_OP_COUNT; op++) fill_row((st_op)op);
    for (int op = 0; op < ST_OP_COUNT; op++) link_backward((st_op)op);
    for (int op = 0; op < ST_OP_COUNT; op++) {
        st_op_info *in = &infos[op];
        int own = st_op_case_rows((st_op)op);
        if (in->forward != ST_OP_NONE) {
            in->n_cases = st_op_case_rows(in->forward);
            if (own) defect((st_op)op, "a backward op is measured on its forward op's cases (DERIVED)");
        } else {
            in->n_cases = own;
            if (!own) defect((st_op)op, "no CASE: the benchmark and the gradient checks need one");
        }
    }
}

void st_op_table_init(void) { pthread_once(&once, init); }

const st_op_info *st_op_info_get(st_op op)
{
    if ((int)op < 0 || op >= ST_OP_COUNT) return NULL;
    st_op_table_init();
    return &infos[op];
}

const st_op_impl *st_op_impl_get(st_op op) { return &rows[op].impl; }

const char *st_op_name(st_op op) { return (int)op >= 0 && op < ST_OP_COUNT ? rows[op].name : NULL; }

st_op st_op_from_name(const char *name)
{
    for (int i = 0; name && i < ST_OP_COUNT; i++)
        if (strcmp(rows[i].name, name) == 0) return (st_op)i;
    return ST_OP_NONE;
}
