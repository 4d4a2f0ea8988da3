/* Graph construction of the structured ops (matmul, reductions, layernorm, embedding,
 * cross-entropy, attention) and of the view nodes, with their shape inference. The elementwise
 * builders and the shared helpers are in graph_build.c. */
#include <stdio.h>
#include <string.h>
#include "graph_internal.h"

static st_node done(st_graph *g, g_node *nd) { return nd ? g->n++ : ST_NODE_NONE; }

static st_node fail(st_graph *g, g_node *nd, st_status s, const char *msg)
{
    g_fail(g, s, g_kind_name(nd), "%s", msg);
    return ST_NODE_NONE;
}

static int is_float_node(const g_node *nd) { return g_is_float(nd->dtype); }

#define FAILF(...)                                                   \
    do {                                                             \
        char m_[320];                                                \
        snprintf(m_, sizeof m_, __VA_ARGS__);                        \
        return fail(g, nd, ST_ERR_SHAPE, m_);                        \
    } while (0)

st_node st_graph_matmul(st_graph *g, st_node a, st_node b, int trans_a, int trans_b)
{
    g_node *nd = g_new_node(g, G_MATMUL, (st_node[]){a, b}, 2);
    if (!nd) return ST_NODE_NONE;
    const g_node *na = &g->nodes[a], *nb = &g->nodes[b];
    if (!is_float_node(na) || na->dtype != nb->dtype)
        return fail(g, nd, ST_ERR_DTYPE, "operands need one float dtype");
    nd->attr.ta = trans_a;
    nd->attr.tb = trans_b;
    if (na->ndim < 2 || nb->ndim < 2) FAILF("operands have %d and %d dims, need >= 2", na->ndim, nb->ndim);
    int pa = na->ndim, pb = nb->ndim;
    int64_t m = trans_a ? na->shape[pa - 1] : na->shape[pa - 2];
    int64_t ka = trans_a ? na->shape[pa - 2] : na->shape[pa - 1];
    int64_t kb = trans_b ? nb->shape[pb - 1] : nb->shape[pb - 2];
    int64_t n = trans_b ? nb->shape[pb - 2] : nb->shape[pb - 1];
    if (ka != kb) FAILF("inner dims differ: a gives K=%lld, b gives K=%lld", (long long)ka, (long long)kb);
    if (pb != 2 && (pb != pa || memcmp(na->shape, nb->shape, sizeof(int64_t) * (size_t)(pa - 2))))
        FAILF("batch dims of a (%d dims) and b (%d dims) differ; b must be 2-d or match", pa, pb);
    nd->shape[pa - 2] = m;
    nd->shape[pa - 1] = n;
    return done(g, nd);
}

static st_node reduce(st_graph *g, g_kind kind, st_node x, int axis)
{
    if (axis == ST_GRAPH_ALL_AXES) x = st_graph_reshape(g, x, 1, (int64_t[]){-1});
    g_node *nd = g_new_node(g, kind, &x, 1);
    if (!nd) return ST_NODE_NONE;
    if (!is_float_node(&g->nodes[x])) return fail(g, nd, ST_ERR_DTYPE, "operand is not f32 or bf16");
    int a = axis == ST_GRAPH_ALL_AXES ? 0 : axis < 0 ? axis + nd->ndim : axis;
    if (a < 0 || a >= nd->ndim) FAILF("axis %d out of range for %d dims", axis, nd->ndim);
    nd->attr.axis = a;
    for (int i = a; i < nd->ndim - 1; i++) nd->shape[i] = nd->shape[i + 1];
    nd->ndim--;
    return done(g, nd);
}

st_node st_graph_sum(st_graph *g, st_node x, int axis) { return reduce(g, G_SUM, x, axis); }
st_node st_graph_mean(st_graph *g, st_node x, int axis) { return reduce(g, G_MEAN, x, axis); }

/* Rows of (..., C): the leading shape, saved as f32 statistics. */
static void save_rows(g_node *nd, int slot, const g_node *x, int drop_last)
{
    nd->saved_ndim[slot] = x->ndim - drop_last;
    memcpy(nd->saved_shape[slot], x->shape, sizeof nd->saved_shape[slot]);
    if (nd->n_saved <= slot) nd->n_saved = slot + 1;
}

st_node st_graph_layernorm(st_graph *g, st_node x, st_node weight, st_node bias, float eps)
{
    g_node *nd = g_new_node(g, G_LAYERNORM, (st_node[]){x, weight, bias}, 3);
    if (!nd) return ST_NODE_NONE;
    const g_node *nx = &g->nodes[x], *nw = &g->nodes[weight], *nb = &g->nodes[bias];
    if (!is_float_node(nx) || nw->dtype != nx->dtype || nb->dtype != nx->dtype)
        return fail(g, nd, ST_ERR_DTYPE, "x, weight and bias need one float dtype");
    if (nx->ndim < 1) FAILF("x is 0-dim");
    int64_t c = nx->shape[nx->ndim - 1];
    if (nw->ndim != 1 || nw->shape[0] != c || nb->ndim != 1 || nb->shape[0] != c)
        FAILF("weight and bias must be (%lld) like x's last dim", (long long)c);
    nd->attr.eps = eps;
    save_rows(nd, 0, nx, 1);
    save_rows(nd, 1, nx, 1);
    return done(g, nd);
}

st_node st_graph_embedding(st_graph *g, st_node table, st_node idx)
{
    g_node *nd = g_new_node(g, G_EMBEDDING, (st_node[]){table, idx}, 2);
    if (!nd) return ST_NODE_NONE;
    const g_node *nt = &g->nodes[table], *ni = &g->nodes[idx];
    if (!is_float_node(nt) || ni->dtype != ST_I32)
        return fail(g, nd, ST_ERR_DTYPE, "need a float table and i32 indices");
    if (nt->ndim != 2) FAILF("table has %d dims, need (V, C)", nt->ndim);
    if (ni->ndim + 1 > ST_MAX_DIMS) FAILF("indices have too many dims (%d)", ni->ndim);
    if (ni->kind != G_INPUT) return fail(g, nd, ST_ERR_INVALID_ARG, "indices must be an input node");
    nd->ndim = ni->ndim + 1;
    memcpy(nd->shape, ni->shape, sizeof(int64_t) * (size_t)ni->ndim);
    nd->shape[ni->ndim] = nt->shape[1];
    return done(g, nd);
}

st_node st_graph_cross_entropy(st_graph *g, st_node logits, st_node targets)
{
    g_node *nd = g_new_node(g, G_CROSS_ENTROPY, (st_node[]){logits, targets}, 2);
    if (!nd) return ST_NODE_NONE;
    const g_node *nl = &g->nodes[logits], *nt = &g->nodes[targets];
    if (!is_float_node(nl) || nt->dtype != ST_I32)
        return fail(g, nd, ST_ERR_DTYPE, "need float logits and i32 targets");
    if (nt->kind != G_INPUT) return fail(g, nd, ST_ERR_INVALID_ARG, "targets must be an input node");
    if (nl->ndim < 1 || nt->ndim != nl->ndim - 1 ||
        memcmp(nt->shape, nl->shape, sizeof(int64_t) * (size_t)nt->ndim))
        FAILF("targets must have the logits' shape without the last (class) dim");
    nd->dtype = ST_F32;
    nd->ndim = nt->ndim;
    memcpy(nd->shape, nt->shape, sizeof nd->shape);
    save_rows(nd, 0, nl, 0); /* probs (..., V) */
    return done(g, nd);
}

st_node st_graph_attention(st_graph *g, st_node q, st_node k, st_node v)
{
    g_node *nd = g_new_node(g, G_ATTENTION, (st_node[]){q, k, v}, 3);
    if (!nd) return ST_NODE_NONE;
    const g_node *nq = &g->nodes[q], *nk = &g->nodes[k], *nv = &g->nodes[v];
    if (!is_float_node(nq) || nk->dtype != nq->dtype || nv->dtype != nq->dtype)
        return fail(g, nd, ST_ERR_DTYPE, "q, k, v need one float dtype");
    if (nq->ndim != 4 || nk->ndim != 4 || nv->ndim != 4 ||
        memcmp(nq->shape, nk->shape, sizeof nq->shape) || memcmp(nq->shape, nv->shape, sizeof nq->shape))
        FAILF("q, k, v must all be (B, H, T, D) of one shape");
    save_rows(nd, 0, nq, 1); /* lse (B, H, T) */
    return done(g, nd);
}

/* ---- views ---- */

st_node st_graph_reshape(st_graph *g, st_node x, int ndim, const int64_t *shape)
{
    g_node *nd = g_new_node(g, G_RESHAPE, &x, 1);
    if (!nd) return ST_NODE_NONE;
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim && !shape)) FAILF("bad ndim %d", ndim);
    int64_t total = 1, known = 1;
    for (int i = 0; i < nd->ndim; i++) total *= nd->shape[i];
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1 && infer < 0) infer = i;
        else if (shape[i] < 0) FAILF("bad size %lld in dim %d", (long long)shape[i], i);
        else known *= shape[i];
    }
    for (int i = 0; i < ndim; i++) nd->shape[i] = shape[i];
    if (infer >= 0) nd->shape[infer] = known ? total / known : 0;
    if (infer >= 0 ? (known == 0 || total % known) : known != total)
        FAILF("%lld elements cannot take the new shape", (long long)total);
    nd->ndim = ndim;
    return done(g, nd);
}

st_node st_graph_transpose(st_graph *g, st_node x, int axis0, int axis1)
{
    g_node *nd = g_new_node(g, G_TRANSPOSE, &x, 1);
    if (!nd) return ST_NODE_NONE;
    int a = axis0 < 0 ? axis0 + nd->ndim : axis0, b = axis1 < 0 ? axis1 + nd->ndim : axis1;
    if (a < 0 || a >= nd->ndim || b < 0 || b >= nd->ndim) FAILF("axes %d, %d out of range", axis0, axis1);
    nd->attr.axis = a;
    nd->attr.axis1 = b;
    int64_t t = nd->shape[a];
    nd->shape[a] = nd->shape[b];
    nd->shape[b] = t;
    return done(g, nd);
}

st_node st_graph_slice(st_graph *g, st_node x, int axis, int64_t start_at, int64_t len)
{
    g_node *nd = g_new_node(g, G_SLICE, &x, 1);
    if (!nd) return ST_NODE_NONE;
    int a = axis < 0 ? axis + nd->ndim : axis;
    if (a < 0 || a >= nd->ndim) FAILF("axis %d out of range", axis);
    if (start_at < 0 || len < 0 || start_at + len > nd->shape[a])
        FAILF("[%lld, %lld) outside dim %d of size %lld", (long long)start_at, (long long)(start_at + len), a,
              (long long)nd->shape[a]);
    nd->attr.axis = a;
    nd->attr.start = start_at;
    nd->attr.len = len;
    nd->shape[a] = len;
    return done(g, nd);
}
