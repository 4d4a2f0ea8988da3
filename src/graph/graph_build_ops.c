/* The graph's per-op builders (thin front doors to g_op, which checks through the op's rule) and
 * its view nodes (reshape, transpose, slice), which alias their input. */
#include <stdio.h>
#include <string.h>
#include "graph_internal.h"

#define NODES(...) ((const st_node[]){__VA_ARGS__})

st_node st_graph_add(st_graph *g, st_node a, st_node b) { return g_op(g, ST_OP_ADD, NODES(a, b), 2, NULL); }
st_node st_graph_sub(st_graph *g, st_node a, st_node b) { return g_op(g, ST_OP_SUB, NODES(a, b), 2, NULL); }
st_node st_graph_mul(st_graph *g, st_node a, st_node b) { return g_op(g, ST_OP_MUL, NODES(a, b), 2, NULL); }
st_node st_graph_div(st_graph *g, st_node a, st_node b) { return g_op(g, ST_OP_DIV, NODES(a, b), 2, NULL); }

st_node st_graph_scale(st_graph *g, st_node x, float alpha, float beta)
{
    return g_op(g, ST_OP_SCALE, &x, 1, &(st_scale_params){alpha, beta});
}

st_node st_graph_unary(st_graph *g, st_op op, st_node x)
{
    const st_op_info *info = st_op_info_get(op);
    if (!info || strcmp(info->rule, "unary") != 0) {
        if (g) g_fail(g, ST_ERR_INVALID_ARG, "unary", "op %s is not a unary elementwise op of the table",
                      info ? info->name : "(invalid)");
        return ST_NODE_NONE;
    }
    return g_op(g, op, &x, 1, NULL);
}

st_node st_graph_gelu(st_graph *g, st_node x) { return st_graph_unary(g, ST_OP_GELU, x); }
st_node st_graph_relu(st_graph *g, st_node x) { return st_graph_unary(g, ST_OP_RELU, x); }

st_node st_graph_matmul(st_graph *g, st_node a, st_node b, int trans_a, int trans_b)
{
    return g_op(g, ST_OP_MATMUL, NODES(a, b), 2, &(st_matmul_params){trans_a, trans_b, 1.0f, 0.0f});
}

static st_node reduce(st_graph *g, st_op op, st_node x, int axis)
{
    if (axis == ST_GRAPH_ALL_AXES) {
        x = st_graph_reshape(g, x, 1, (int64_t[]){-1});
        axis = 0;
    }
    return g_op(g, op, &x, 1, &(st_axis_params){axis});
}

st_node st_graph_sum(st_graph *g, st_node x, int axis) { return reduce(g, ST_OP_SUM, x, axis); }
st_node st_graph_mean(st_graph *g, st_node x, int axis) { return reduce(g, ST_OP_MEAN, x, axis); }

st_node st_graph_softmax(st_graph *g, st_node x, int causal)
{
    return g_op(g, ST_OP_SOFTMAX, &x, 1, &(st_softmax_params){causal != 0});
}

st_node st_graph_layernorm(st_graph *g, st_node x, st_node weight, st_node bias, float eps)
{
    return g_op(g, ST_OP_LAYERNORM, NODES(x, weight, bias), 3, &(st_layernorm_params){eps});
}

st_node st_graph_embedding(st_graph *g, st_node table, st_node idx)
{
    return g_op(g, ST_OP_EMBEDDING, NODES(table, idx), 2, NULL);
}

st_node st_graph_cross_entropy(st_graph *g, st_node logits, st_node targets)
{
    return g_op(g, ST_OP_CROSS_ENTROPY, NODES(logits, targets), 2, NULL);
}

st_node st_graph_attention(st_graph *g, st_node q, st_node k, st_node v)
{
    return g_op(g, ST_OP_ATTENTION, NODES(q, k, v), 3, NULL);
}

st_node st_graph_contiguous(st_graph *g, st_node x) { return g_op(g, ST_OP_COPY, &x, 1, NULL); }

st_node st_graph_cast(st_graph *g, st_node x, st_dtype dt)
{
    return g_op(g, ST_OP_CAST, &x, 1, &(st_cast_params){dt});
}

/* ---- views ---- */

static st_node done(st_graph *g, g_node *nd) { return nd ? g->n++ : ST_NODE_NONE; }

#define FAILF(...)                                                   \
    do {                                                             \
        g_fail(g, ST_ERR_SHAPE, g_kind_name(nd), __VA_ARGS__);       \
        return ST_NODE_NONE;                                         \
    } while (0)

g_node *g_new_view(st_graph *g, g_view kind, st_node x)
{
    g_node *nd = g_new_node(g, G_VIEW, g_view_name(kind), &x, 1);
    if (nd) nd->view.kind = kind;
    return nd;
}

st_status g_view_of(const g_node *nd, const st_tensor *x, st_tensor **out)
{
    switch (nd->view.kind) {
    case G_RESHAPE: return st_tensor_reshape(x, nd->ndim, nd->shape, out);
    case G_TRANSPOSE: return st_tensor_transpose(x, nd->view.axis, nd->view.axis1, out);
    case G_SLICE: return st_tensor_slice(x, nd->view.axis, nd->view.start, nd->view.len, 1, out);
    }
    return ST_ERR(ST_ERR_INTERNAL, "graph: unknown view kind %d", (int)nd->view.kind);
}

st_node st_graph_reshape(st_graph *g, st_node x, int ndim, const int64_t *shape)
{
    g_node *nd = g_new_view(g, G_RESHAPE, x);
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
    g_node *nd = g_new_view(g, G_TRANSPOSE, x);
    if (!nd) return ST_NODE_NONE;
    int a = axis0 < 0 ? axis0 + nd->ndim : axis0, b = axis1 < 0 ? axis1 + nd->ndim : axis1;
    if (a < 0 || a >= nd->ndim || b < 0 || b >= nd->ndim) FAILF("axes %d, %d out of range", axis0, axis1);
    nd->view.axis = a;
    nd->view.axis1 = b;
    int64_t t = nd->shape[a];
    nd->shape[a] = nd->shape[b];
    nd->shape[b] = t;
    return done(g, nd);
}

st_node st_graph_slice(st_graph *g, st_node x, int axis, int64_t start_at, int64_t len)
{
    g_node *nd = g_new_view(g, G_SLICE, x);
    if (!nd) return ST_NODE_NONE;
    int a = axis < 0 ? axis + nd->ndim : axis;
    if (a < 0 || a >= nd->ndim) FAILF("axis %d out of range", axis);
    if (start_at < 0 || len < 0 || start_at + len > nd->shape[a])
        FAILF("[%lld, %lld) outside dim %d of size %lld", (long long)start_at, (long long)(start_at + len), a,
              (long long)nd->shape[a]);
    nd->view.axis = a;
    nd->view.start = start_at;
    nd->view.len = len;
    nd->shape[a] = len;
    return done(g, nd);
}
