/* Gradient rules: the VJPs of grad.h, composed from eager ops so they run on every backend, and
 * the table's gradient rules (st_grad_<name>, the rows whose GRAD column is VJP or VJP_ACC),
 * which the graph's backward pass calls through st_op_impl. */
#include <string.h>
#include "op_impl.h"

typedef struct {
    st_tensor *t[6];
    int n;
} temps;

static void temps_free(temps *tp)
{
    for (int i = 0; i < tp->n; i++) st_tensor_destroy(tp->t[i]);
    tp->n = 0;
}

static st_status temp(temps *tp, const st_tensor *like, int ndim, const int64_t *shape, st_tensor **out)
{
    if (tp->n == 6) return ST_ERR(ST_ERR_INTERNAL, "grad: too many temporaries");
    ST_TRY(st_tensor_create(like->storage->dev, like->dtype, ndim, shape, out));
    tp->t[tp->n++] = *out;
    return ST_OK;
}

/* dst = src summed over the dims where dst (aligned right) has size 1 or is missing: the
 * gradient of a broadcast. */
static st_status sum_to(st_tensor *dst, const st_tensor *src)
{
    if (dst->ndim == src->ndim && !memcmp(dst->shape, src->shape, sizeof(int64_t) * (size_t)src->ndim))
        return dst->dtype == src->dtype ? st_copy(dst, src) : st_cast(dst, src);
    temps tp = {0};
    st_status s = ST_OK;
    const st_tensor *cur = src;
    int lead = src->ndim - dst->ndim;
    if (lead < 0) return ST_ERR(ST_ERR_SHAPE, "gradient: cannot sum %d dims down to %d", src->ndim, dst->ndim);
    int64_t shape[ST_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    for (int i = 0; i < src->ndim && s == ST_OK; i++) {
        int64_t want = i < lead ? 1 : dst->shape[i - lead];
        if (shape[i] == want) continue;
        if (want != 1) {
            s = ST_ERR(ST_ERR_SHAPE, "gradient: dim %d of size %lld cannot sum to %lld", i,
                       (long long)shape[i], (long long)want);
            break;
        }
        st_tensor *next = NULL;
        shape[i] = 1;
        s = temp(&tp, src, src->ndim, shape, &next);
        if (s == ST_OK) s = st_sum(next, cur, i);
        cur = next;
    }
    st_tensor *flat = NULL;
    if (s == ST_OK) s = st_tensor_reshape(cur, dst->ndim, dst->shape, &flat);
    if (s == ST_OK) s = dst->dtype == flat->dtype ? st_copy(dst, flat) : st_cast(dst, flat);
    st_tensor_destroy(flat);
    temps_free(&tp);
    return s;
}

/* g = dout * f'(x) for the unary ops with a rule (shape of out, before the sum over broadcasts). */
typedef st_status (*unary_vjp)(st_tensor *g, temps *tp, const st_tensor *dout, const st_tensor *in,
                               const st_tensor *out);

static st_status vjp_exp(st_tensor *g, temps *tp, const st_tensor *dout, const st_tensor *in, const st_tensor *out)
{
    (void)tp, (void)in;
    return st_mul(g, dout, out); /* e^x */
}

static st_status vjp_log(st_tensor *g, temps *tp, const st_tensor *dout, const st_tensor *in, const st_tensor *out)
{
    (void)tp, (void)out;
    return st_div(g, dout, in); /* 1/x */
}

static st_status vjp_tanh(st_tensor *g, temps *tp, const st_tensor *dout, const st_tensor *in, const st_tensor *out)
{
    (void)tp, (void)in; /* 1 - tanh^2 */
    ST_TRY(st_mul(g, out, out));
    ST_TRY(st_scale(g, g, -1.0f, 1.0f));
    return st_mul(g, g, dout);
}

static st_status vjp_sqrt(st_tensor *g, temps *tp, const st_tensor *dout, const st_tensor *in, const st_tensor *out)
{
    (void)tp, (void)in; /* 1 / (2 sqrt x) */
    ST_TRY(st_div(g, dout, out));
    return st_scale(g, g, 0.5f, 0.0f);
}

static st_status vjp_rsqrt(st_tensor *g, temps *tp, const st_tensor *dout, const st_tensor *in, const st_tensor *out)
{
    (void)in; /* -x^-3/2 / 2 */
    st_tensor *h = NULL;
    ST_TRY(temp(tp, dout, out->ndim, out->shape, &h));
    ST_TRY(st_mul(h, out, out));
    ST_TRY(st_mul(h, h, out));
    ST_TRY(st_mul(g, h, dout));
    return st_scale(g, g, -0.5f, 0.0f);
}

static const struct {
    st_op op;
    unary_vjp fn;
} unary_vjps[] = {{ST_OP_EXP, vjp_exp}, {ST_OP_LOG, vjp_log}, {ST_OP_TANH, vjp_tanh},
                  {ST_OP_SQRT, vjp_sqrt}, {ST_OP_RSQRT, vjp_rsqrt}};

st_status st_vjp_unary(st_op op, st_tensor *din, const st_tensor *dout, const st_tensor *in,
                       const st_tensor *out)
{
    if (!din || !dout || !in || !out) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    unary_vjp fn = NULL;
    for (size_t i = 0; i < sizeof unary_vjps / sizeof unary_vjps[0]; i++)
        if (unary_vjps[i].op == op) fn = unary_vjps[i].fn;
    if (!fn)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_vjp_unary: op %s is not exp, log, tanh, sqrt or rsqrt",
                      st_op_name(op) ? st_op_name(op) : "?");
    temps tp = {0};
    st_tensor *g = NULL;
    st_status s = temp(&tp, dout, out->ndim, out->shape, &g);
    if (s == ST_OK) s = fn(g, &tp, dout, in, out);
    if (s == ST_OK) s = sum_to(din, g);
    temps_free(&tp);
    return s;
}

st_status st_vjp_binary(st_op op, st_tensor *da, st_tensor *db, const st_tensor *dout,
                        const st_tensor *a, const st_tensor *b)
{
    if (!dout || !a || !b) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    if (op != ST_OP_ADD && op != ST_OP_SUB && op != ST_OP_MUL && op != ST_OP_DIV)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_vjp_binary: op must be add, sub, mul or div");
    temps tp = {0};
    st_tensor *g = NULL;
    st_status s = temp(&tp, dout, dout->ndim, dout->shape, &g);
    if (s == ST_OK && da) {
        if (op == ST_OP_MUL) s = st_mul(g, dout, b);
        else if (op == ST_OP_DIV) s = st_div(g, dout, b);
        else s = st_copy(g, dout);
        if (s == ST_OK) s = sum_to(da, g);
    }
    if (s == ST_OK && db) {
        if (op == ST_OP_MUL) s = st_mul(g, dout, a);
        else if (op == ST_OP_SUB) s = st_scale(g, dout, -1.0f, 0.0f);
        else if (op == ST_OP_ADD) s = st_copy(g, dout);
        else { /* d(a/b)/db = -a/b^2 */
            s = st_div(g, dout, b);
            if (s == ST_OK) s = st_mul(g, g, a);
            if (s == ST_OK) s = st_div(g, g, b);
            if (s == ST_OK) s = st_scale(g, g, -1.0f, 0.0f);
        }
        if (s == ST_OK) s = sum_to(db, g);
    }
    temps_free(&tp);
    return s;
}

st_status st_vjp_scale(st_tensor *din, const st_tensor *dout, float alpha)
{
    if (!din || !dout) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    temps tp = {0};
    st_tensor *g = NULL;
    st_status s = temp(&tp, dout, dout->ndim, dout->shape, &g);
    if (s == ST_OK) s = st_scale(g, dout, alpha, 0.0f);
    if (s == ST_OK) s = sum_to(din, g);
    temps_free(&tp);
    return s;
}

st_status st_vjp_cast(st_tensor *din, const st_tensor *dout)
{
    if (!din || !dout) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    return din->dtype == dout->dtype ? st_copy(din, dout) : st_cast(din, dout);
}

/* d op(x) computed into x's gradient, through a transposed view when x was transposed. */
static st_status matmul_into(st_tensor *dx, int trans, const st_tensor *l, const st_tensor *r,
                             int tl, int tr, float alpha, float beta)
{
    st_tensor *view = NULL;
    if (trans) ST_TRY(st_tensor_transpose(dx, -2, -1, &view));
    st_status s = st_matmul(view ? view : dx, l, r, tl, tr, alpha, beta);
    st_tensor_destroy(view);
    return s;
}

/* db for a 2-d b shared by a batch: the sum over the batch of op(a_i)^T dout_i, added to
 * beta * db. */
static st_status matmul_db_shared(st_tensor *db, const st_tensor *dout, const st_tensor *a,
                                  int ta, int tb, float alpha, float beta)
{
    int nd = a->ndim;
    int64_t nb = 1;
    for (int i = 0; i < nd - 2; i++) nb *= a->shape[i];
    int64_t sa[3] = {nb, a->shape[nd - 2], a->shape[nd - 1]};
    int64_t so[3] = {nb, dout->shape[nd - 2], dout->shape[nd - 1]};
    st_tensor *ca = NULL, *co = NULL, *a3 = NULL, *o3 = NULL;
    st_status s = st_tensor_contiguous(a, &ca);
    if (s == ST_OK) s = st_tensor_contiguous(dout, &co);
    if (s == ST_OK) s = st_tensor_reshape(ca, 3, sa, &a3);
    if (s == ST_OK) s = st_tensor_reshape(co, 3, so, &o3);
    if (s == ST_OK && nb == 0 && beta == 0.0f) s = st_fill(db, 0.0);
    for (int64_t i = 0; i < nb && s == ST_OK; i++) {
        st_tensor *ai = NULL, *oi = NULL, *a2 = NULL, *o2 = NULL;
        s = st_tensor_slice(a3, 0, i, 1, 1, &ai);
        if (s == ST_OK) s = st_tensor_slice(o3, 0, i, 1, 1, &oi);
        if (s == ST_OK) s = st_tensor_reshape(ai, 2, sa + 1, &a2);
        if (s == ST_OK) s = st_tensor_reshape(oi, 2, so + 1, &o2);
        if (s == ST_OK) s = matmul_into(db, tb, a2, o2, !ta, 0, alpha, i ? 1.0f : beta);
        st_tensor_destroy(ai);
        st_tensor_destroy(oi);
        st_tensor_destroy(a2);
        st_tensor_destroy(o2);
    }
    st_tensor_destroy(ca);
    st_tensor_destroy(co);
    st_tensor_destroy(a3);
    st_tensor_destroy(o3);
    return s;
}

st_status st_vjp_matmul(st_tensor *da, st_tensor *db, const st_tensor *dout, const st_tensor *a,
                        const st_tensor *b, int trans_a, int trans_b, float alpha)
{
    if (!dout || !a || !b) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    /* out = alpha op(a) op(b): d op(a) = alpha dout op(b)^T, d op(b) = alpha op(a)^T dout. */
    if (da) ST_TRY(matmul_into(da, trans_a, dout, b, 0, !trans_b, alpha, 0.0f));
    if (!db) return ST_OK;
    if (b->ndim == 2 && a->ndim > 2) return matmul_db_shared(db, dout, a, trans_a, trans_b, alpha, 0.0f);
    return matmul_into(db, trans_b, a, dout, !trans_a, 0, alpha, 0.0f);
}

/* x viewed as the 2-d (rows, last dim) matrix; a contiguous copy when its strides do not allow it. */
static st_status as_rows(const st_tensor *x, st_tensor **out)
{
    int64_t shape[2] = {-1, x->shape[x->ndim - 1]};
    if (st_tensor_reshape(x, 2, shape, out) == ST_OK) return ST_OK;
    st_tensor *c = NULL;
    ST_TRY(st_tensor_contiguous(x, &c));
    st_status s = st_tensor_reshape(c, 2, shape, out);
    st_tensor_destroy(c);
    return s;
}

/* matmul's rule (VJP_ACC: each gradient is added into when asked, beta = 1). With a 2-d b (a
 * weight, shared by a's batch) and a not transposed, db is ONE product over every row of the
 * batch, a^T dout (or dout^T a for a transposed b): one product of K = M rows per batch entry, as
 * st_vjp_matmul does, tripled the backward's matmul time on GPT-2's weights. */
st_status st_grad_matmul(const st_grad_call *g)
{
    const st_matmul_params *p = &g->p->matmul;
    const st_tensor *a = g->in[0], *b = g->in[1], *dout = g->dout;
    int ta = p->trans_a != 0, tb = p->trans_b != 0;
    float beta_a = g->accumulate[0] ? 1.0f : 0.0f, beta_b = g->accumulate[1] ? 1.0f : 0.0f;
    if (g->din[0]) ST_TRY(matmul_into(g->din[0], ta, dout, b, 0, !tb, p->alpha, beta_a));
    st_tensor *db = g->din[1];
    if (!db) return ST_OK;
    if (b->ndim == 2 && !ta) {
        st_tensor *a2 = NULL, *g2 = NULL;
        st_status s = as_rows(a, &a2);
        if (s == ST_OK) s = as_rows(dout, &g2);
        if (s == ST_OK)
            s = tb ? st_matmul(db, g2, a2, 1, 0, p->alpha, beta_b) : st_matmul(db, a2, g2, 1, 0, p->alpha, beta_b);
        st_tensor_destroy(a2);
        st_tensor_destroy(g2);
        return s;
    }
    if (b->ndim == 2 && a->ndim > 2) return matmul_db_shared(db, dout, a, ta, tb, p->alpha, beta_b);
    return matmul_into(db, tb, a, dout, !ta, 0, p->alpha, beta_b);
}

/* dout viewed with in's rank (the reduced axis kept as size 1). */
static st_status keepdim_view(const st_tensor *dout, const st_tensor *in, int axis, st_tensor **out)
{
    int64_t shape[ST_MAX_DIMS];
    memcpy(shape, in->shape, sizeof shape);
    shape[axis] = 1;
    st_tensor *c = NULL;
    ST_TRY(st_tensor_contiguous(dout, &c));
    st_status s = st_tensor_reshape(c, in->ndim, shape, out);
    st_tensor_destroy(c);
    return s;
}

/* din from g (dout with the axis kept) for one reduction. */
typedef st_status (*reduce_vjp)(st_tensor *din, const st_tensor *g, const st_tensor *in, const st_tensor *out,
                                int axis);

static st_status vjp_sum(st_tensor *din, const st_tensor *g, const st_tensor *in, const st_tensor *out, int axis)
{
    (void)in, (void)out, (void)axis;
    return st_copy(din, g);
}

static st_status vjp_mean(st_tensor *din, const st_tensor *g, const st_tensor *in, const st_tensor *out, int axis)
{
    (void)out;
    return st_scale(din, g, in->shape[axis] ? 1.0f / (float)in->shape[axis] : 0.0f, 0.0f);
}

/* din = g where in == max, else 0. max - in is exactly 0 at the maxima and > 0 elsewhere, so
 * relu_backward(g, max - in) is g off the maxima; subtracting it leaves g on them. */
static st_status vjp_max(st_tensor *din, const st_tensor *g, const st_tensor *in, const st_tensor *out, int axis)
{
    st_tensor *m = NULL, *d = NULL;
    st_status s = keepdim_view(out, in, axis, &m);
    if (s == ST_OK) s = st_tensor_empty_like(in, -1, &d);
    if (s == ST_OK) s = st_sub(d, m, in);
    if (s == ST_OK) s = st_relu_backward(d, g, d);
    if (s == ST_OK) s = st_sub(din, g, d);
    st_tensor_destroy(m);
    st_tensor_destroy(d);
    return s;
}

static const struct {
    st_op op;
    reduce_vjp fn;
} reduce_vjps[] = {{ST_OP_SUM, vjp_sum}, {ST_OP_MEAN, vjp_mean}, {ST_OP_MAX, vjp_max}};

st_status st_vjp_reduce(st_op op, st_tensor *din, const st_tensor *dout, const st_tensor *in,
                        const st_tensor *out, int axis)
{
    if (!din || !dout || !in || !out) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    int a = axis < 0 ? axis + in->ndim : axis;
    if (a < 0 || a >= in->ndim) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: axis %d out of range", axis);
    reduce_vjp fn = NULL;
    for (size_t i = 0; i < sizeof reduce_vjps / sizeof reduce_vjps[0]; i++)
        if (reduce_vjps[i].op == op) fn = reduce_vjps[i].fn;
    if (!fn) return ST_ERR(ST_ERR_INVALID_ARG, "st_vjp_reduce: op must be sum, mean or max");
    st_tensor *g = NULL;
    st_status s = keepdim_view(dout, in, a, &g);
    if (s == ST_OK) s = fn(din, g, in, out, a);
    st_tensor_destroy(g);
    return s;
}

st_status st_vjp_sumsq(st_tensor *din, const st_tensor *dout, const st_tensor *in)
{
    if (!din || !dout || !in) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    if (st_tensor_numel(dout) != 1) return ST_ERR(ST_ERR_SHAPE, "st_vjp_sumsq: dout must hold one element");
    st_tensor *c = NULL, *scalar = NULL, *cast = NULL;
    st_status s = st_tensor_contiguous(dout, &c);
    if (s == ST_OK) s = st_tensor_reshape(c, 0, NULL, &scalar);
    if (s == ST_OK && scalar->dtype != in->dtype) {
        s = st_tensor_create(in->storage->dev, in->dtype, 0, NULL, &cast);
        if (s == ST_OK) s = st_cast(cast, scalar);
    }
    if (s == ST_OK) s = st_mul(din, in, cast ? cast : scalar);
    if (s == ST_OK) s = st_scale(din, din, 2.0f, 0.0f);
    st_tensor_destroy(c);
    st_tensor_destroy(scalar);
    st_tensor_destroy(cast);
    return s;
}

/* ---- the table's gradient rules (GRAD column VJP): the VJPs above on a st_grad_call ---- */

#define BINARY_RULE(name)                                                                      \
    st_status st_grad_##name(const st_grad_call *g)                                            \
    {                                                                                          \
        if (!g->din[0] && !g->din[1]) return ST_OK;                                            \
        return st_vjp_binary(g->info->op, g->din[0], g->din[1], g->dout, g->in[0], g->in[1]);  \
    }
BINARY_RULE(add)
BINARY_RULE(sub)
BINARY_RULE(mul)
BINARY_RULE(div)

#define UNARY_RULE(name)                                                                       \
    st_status st_grad_##name(const st_grad_call *g)                                            \
    {                                                                                          \
        return g->din[0] ? st_vjp_unary(g->info->op, g->din[0], g->dout, g->in[0], g->out[0]) : ST_OK; \
    }
UNARY_RULE(exp)
UNARY_RULE(log)
UNARY_RULE(tanh)
UNARY_RULE(sqrt)
UNARY_RULE(rsqrt)

#define REDUCE_RULE(name)                                                                      \
    st_status st_grad_##name(const st_grad_call *g)                                            \
    {                                                                                          \
        if (!g->din[0]) return ST_OK;                                                          \
        return st_vjp_reduce(g->info->op, g->din[0], g->dout, g->in[0], g->out[0], g->p->sum.axis); \
    }
REDUCE_RULE(sum)
REDUCE_RULE(mean)
REDUCE_RULE(max)

st_status st_grad_sumsq(const st_grad_call *g)
{
    return g->din[0] ? st_vjp_sumsq(g->din[0], g->dout, g->in[0]) : ST_OK;
}

st_status st_grad_scale(const st_grad_call *g)
{
    return g->din[0] ? st_vjp_scale(g->din[0], g->dout, g->p->scale.alpha) : ST_OK;
}

st_status st_grad_copy(const st_grad_call *g) { return g->din[0] ? st_vjp_cast(g->din[0], g->dout) : ST_OK; }
st_status st_grad_cast(const st_grad_call *g) { return g->din[0] ? st_vjp_cast(g->din[0], g->dout) : ST_OK; }
