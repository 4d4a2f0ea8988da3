/* Gradient rules (grad.h): VJPs of the ops that have no backward op of their own, composed from
 * eager ops so they run on every backend. The building blocks of autograd. */
#include <string.h>
#include "dispatch.h"

typedef struct {
    st_tensor *t[6];
    int n;
} temps;

static void temps_free(temps *tp)
{
    for (int i = 0; i < tp->n; i++) st_tensor_free(tp->t[i]);
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
    st_tensor_free(flat);
    temps_free(&tp);
    return s;
}

st_status st_vjp_unary(st_op op, st_tensor *din, const st_tensor *dout, const st_tensor *in,
                       const st_tensor *out)
{
    if (!din || !dout || !in || !out) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    temps tp = {0};
    st_tensor *g = NULL, *h = NULL;
    st_status s = temp(&tp, dout, out->ndim, out->shape, &g);
    if (s == ST_OK) switch (op) {
    case ST_OP_EXP: s = st_mul(g, dout, out); break;                 /* e^x */
    case ST_OP_LOG: s = st_div(g, dout, in); break;                  /* 1/x */
    case ST_OP_TANH:                                                 /* 1 - tanh^2 */
        s = st_mul(g, out, out);
        if (s == ST_OK) s = st_scale(g, g, -1.0f, 1.0f);
        if (s == ST_OK) s = st_mul(g, g, dout);
        break;
    case ST_OP_SQRT:                                                 /* 1 / (2 sqrt x) */
        s = st_div(g, dout, out);
        if (s == ST_OK) s = st_scale(g, g, 0.5f, 0.0f);
        break;
    case ST_OP_RSQRT:                                                /* -x^-3/2 / 2 */
        s = temp(&tp, dout, out->ndim, out->shape, &h);
        if (s == ST_OK) s = st_mul(h, out, out);
        if (s == ST_OK) s = st_mul(h, h, out);
        if (s == ST_OK) s = st_mul(g, h, dout);
        if (s == ST_OK) s = st_scale(g, g, -0.5f, 0.0f);
        break;
    default:
        s = ST_ERR(ST_ERR_INVALID_ARG, "st_vjp_unary: op %s is not exp, log, tanh, sqrt or rsqrt",
                   st_op_name(op) ? st_op_name(op) : "?");
    }
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
    st_tensor_free(view);
    return s;
}

/* db for a 2-d b shared by a batch: the sum over the batch of op(a_i)^T dout_i. */
static st_status matmul_db_shared(st_tensor *db, const st_tensor *dout, const st_tensor *a,
                                  int ta, int tb, float alpha)
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
    if (s == ST_OK && nb == 0) s = st_fill(db, 0.0);
    for (int64_t i = 0; i < nb && s == ST_OK; i++) {
        st_tensor *ai = NULL, *oi = NULL, *a2 = NULL, *o2 = NULL;
        s = st_tensor_slice(a3, 0, i, 1, 1, &ai);
        if (s == ST_OK) s = st_tensor_slice(o3, 0, i, 1, 1, &oi);
        if (s == ST_OK) s = st_tensor_reshape(ai, 2, sa + 1, &a2);
        if (s == ST_OK) s = st_tensor_reshape(oi, 2, so + 1, &o2);
        if (s == ST_OK) s = matmul_into(db, tb, a2, o2, !ta, 0, alpha, i ? 1.0f : 0.0f);
        st_tensor_free(ai);
        st_tensor_free(oi);
        st_tensor_free(a2);
        st_tensor_free(o2);
    }
    st_tensor_free(ca);
    st_tensor_free(co);
    st_tensor_free(a3);
    st_tensor_free(o3);
    return s;
}

st_status st_vjp_matmul(st_tensor *da, st_tensor *db, const st_tensor *dout, const st_tensor *a,
                        const st_tensor *b, int trans_a, int trans_b, float alpha)
{
    if (!dout || !a || !b) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    /* out = alpha op(a) op(b): d op(a) = alpha dout op(b)^T, d op(b) = alpha op(a)^T dout. */
    if (da) ST_TRY(matmul_into(da, trans_a, dout, b, 0, !trans_b, alpha, 0.0f));
    if (!db) return ST_OK;
    if (b->ndim == 2 && a->ndim > 2) return matmul_db_shared(db, dout, a, trans_a, trans_b, alpha);
    return matmul_into(db, trans_b, a, dout, !trans_a, 0, alpha, 0.0f);
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
    st_tensor_free(c);
    return s;
}

st_status st_vjp_reduce(st_op op, st_tensor *din, const st_tensor *dout, const st_tensor *in,
                        const st_tensor *out, int axis)
{
    if (!din || !dout || !in || !out) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: NULL tensor");
    int a = axis < 0 ? axis + in->ndim : axis;
    if (a < 0 || a >= in->ndim) return ST_ERR(ST_ERR_INVALID_ARG, "vjp: axis %d out of range", axis);
    st_tensor *g = NULL, *m = NULL, *d = NULL;
    st_status s = keepdim_view(dout, in, a, &g);
    if (s == ST_OK) switch (op) {
    case ST_OP_SUM: s = st_copy(din, g); break;
    case ST_OP_MEAN: s = st_scale(din, g, in->shape[a] ? 1.0f / (float)in->shape[a] : 0.0f, 0.0f); break;
    case ST_OP_MAX:
        /* din = g where in == max, else 0. max - in is exactly 0 at the maxima and > 0 elsewhere,
         * so relu_backward(g, max - in) is g off the maxima; subtracting it leaves g on them. */
        s = keepdim_view(out, in, a, &m);
        if (s == ST_OK) s = st_tensor_empty_like(in, -1, &d);
        if (s == ST_OK) s = st_sub(d, m, in);
        if (s == ST_OK) s = st_relu_backward(d, g, d);
        if (s == ST_OK) s = st_sub(din, g, d);
        break;
    default: s = ST_ERR(ST_ERR_INVALID_ARG, "st_vjp_reduce: op must be sum, mean or max");
    }
    st_tensor_free(g);
    st_tensor_free(m);
    st_tensor_free(d);
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
    st_tensor_free(c);
    st_tensor_free(scalar);
    st_tensor_free(cast);
    return s;
}
