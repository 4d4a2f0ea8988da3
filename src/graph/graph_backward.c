/* Gradient rules of the graph's nodes: ops with a backward op in the op table call it, the others
 * use the VJPs of grad.h; views hand their gradient back through a view of the input's gradient.
 * Each input's share is written straight into its gradient (first contribution) or into a planned
 * temporary that is then added (later contributions, parameters); see g_mode. */
#include "graph_internal.h"

/* Where the rule of node i writes input s's gradient (NULL: not needed). */
static st_tensor *dst(st_graph_plan *p, int i, int s)
{
    g_exec *ex = &p->ex[i];
    if (ex->mode[s] == G_OVERWRITE) return p->ex[p->nodes[i].in[s]].grad;
    return ex->tmp[s]; /* accumulate, or scratch for an unneeded output of a multi-output op */
}

/* Adds the temporaries of accumulating inputs into their gradients. */
static st_status finish(st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    for (int s = 0; s < nd->n_in; s++) {
        if (p->ex[i].mode[s] != G_ACCUMULATE || (s == 1 && g_matmul_db_direct(p, i))) continue;
        st_tensor *g = p->ex[nd->in[s]].grad;
        ST_TRY(st_add(g, g, p->ex[i].tmp[s]));
    }
    return ST_OK;
}

/* Views: the input's gradient seen through the same view takes dout. */
static st_status view_rule(st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    g_exec *ex = &p->ex[i];
    if (ex->mode[0] == G_NONE) return ST_OK;
    st_tensor *gin = p->ex[nd->in[0]].grad, *v = NULL;
    st_status s = ST_OK;
    if (ex->mode[0] == G_OVERWRITE && nd->kind == G_SLICE) s = st_fill(gin, 0.0);
    if (s != ST_OK) return s;
    if (nd->kind == G_RESHAPE) s = st_tensor_reshape(gin, nd->ndim, nd->shape, &v);
    else if (nd->kind == G_TRANSPOSE) s = st_tensor_transpose(gin, nd->attr.axis, nd->attr.axis1, &v);
    else s = st_tensor_slice(gin, nd->attr.axis, nd->attr.start, nd->attr.len, 1, &v);
    if (s == ST_OK && ex->mode[0] == G_OVERWRITE && nd->kind != G_SLICE) s = st_copy(v, ex->grad);
    else if (s == ST_OK) s = st_add(v, v, ex->grad);
    st_tensor_free(v);
    return s;
}

static st_status unary_rule(st_op op, st_tensor *din, const st_tensor *dout, const st_tensor *in,
                            const st_tensor *out)
{
    if (op == ST_OP_GELU) return st_gelu_backward(din, dout, in);
    if (op == ST_OP_RELU) return st_relu_backward(din, dout, in);
    return st_vjp_unary(op, din, dout, in, out);
}

int g_matmul_db_direct(const st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    return nd->kind == G_MATMUL && !nd->attr.ta && p->nodes[nd->in[1]].ndim == 2 && p->ex[i].mode[1] != G_NONE;
}

/* x viewed as the 2-d (rows, last dim) matrix; a contiguous copy when its strides do not allow it. */
static st_status as_rows(const st_tensor *x, st_tensor **out)
{
    int64_t shape[2] = {-1, x->shape[x->ndim - 1]};
    if (st_tensor_reshape(x, 2, shape, out) == ST_OK) return ST_OK;
    st_tensor *c = NULL;
    ST_TRY(st_tensor_contiguous(x, &c));
    st_status s = st_tensor_reshape(c, 2, shape, out);
    st_tensor_free(c);
    return s;
}

/* matmul with a 2-d b (a weight, shared by a's batch): db is ONE product over every row of the
 * batch, a^T dout (or dout^T a for a transposed b), and an accumulating db adds the product in
 * place (beta = 1). st_vjp_matmul would run one product of K = M rows per batch entry and go
 * through a temporary; for GPT-2's weights that tripled the backward's matmul time. */
static st_status matmul_rule(st_graph_plan *p, int i, st_tensor *d0)
{
    const g_node *nd = &p->nodes[i];
    const g_exec *ex = &p->ex[i];
    const st_tensor *a = p->ex[nd->in[0]].value, *b = p->ex[nd->in[1]].value;
    if (!g_matmul_db_direct(p, i)) return st_vjp_matmul(d0, dst(p, i, 1), ex->grad, a, b, nd->attr.ta, nd->attr.tb, 1.0f);
    if (d0) ST_TRY(st_vjp_matmul(d0, NULL, ex->grad, a, b, 0, nd->attr.tb, 1.0f));
    st_tensor *db = p->ex[nd->in[1]].grad, *a2 = NULL, *g2 = NULL;
    float beta = ex->mode[1] == G_ACCUMULATE ? 1.0f : 0.0f;
    st_status s = as_rows(a, &a2);
    if (s == ST_OK) s = as_rows(ex->grad, &g2);
    if (s == ST_OK) s = nd->attr.tb ? st_matmul(db, g2, a2, 1, 0, 1.0f, beta) : st_matmul(db, a2, g2, 1, 0, 1.0f, beta);
    st_tensor_free(a2);
    st_tensor_free(g2);
    return s;
}

static const st_op binary_op[] = {[G_ADD] = ST_OP_ADD, [G_SUB] = ST_OP_SUB, [G_MUL] = ST_OP_MUL,
                                  [G_DIV] = ST_OP_DIV};

static st_status rule(st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    g_exec *ex = &p->ex[i];
    const st_tensor *x0 = nd->n_in > 0 ? p->ex[nd->in[0]].value : NULL;
    const st_tensor *x1 = nd->n_in > 1 ? p->ex[nd->in[1]].value : NULL;
    const st_tensor *x2 = nd->n_in > 2 ? p->ex[nd->in[2]].value : NULL;
    st_tensor *d0 = nd->n_in > 0 ? dst(p, i, 0) : NULL, *d1 = nd->n_in > 1 ? dst(p, i, 1) : NULL;
    st_tensor *d2 = nd->n_in > 2 ? dst(p, i, 2) : NULL;
    const st_tensor *dout = ex->grad, *out = ex->value;
    switch (nd->kind) {
    case G_ADD: case G_SUB: case G_MUL: case G_DIV:
        return st_vjp_binary(binary_op[nd->kind], d0, d1, dout, x0, x1);
    case G_SCALE: return d0 ? st_vjp_scale(d0, dout, nd->attr.alpha) : ST_OK;
    case G_UNARY: return d0 ? unary_rule(nd->attr.op, d0, dout, x0, out) : ST_OK;
    case G_MATMUL: return matmul_rule(p, i, d0);
    case G_SUM: return d0 ? st_vjp_reduce(ST_OP_SUM, d0, dout, x0, out, nd->attr.axis) : ST_OK;
    case G_MEAN: return d0 ? st_vjp_reduce(ST_OP_MEAN, d0, dout, x0, out, nd->attr.axis) : ST_OK;
    case G_SOFTMAX: return d0 ? st_softmax_backward(d0, dout, out) : ST_OK;
    case G_LAYERNORM:
        return st_layernorm_backward(d0, d1, d2, dout, x0, x1, ex->saved[0], ex->saved[1]);
    case G_EMBEDDING: return d0 ? st_embedding_backward(d0, dout, x1) : ST_OK;
    case G_CROSS_ENTROPY: return d0 ? st_cross_entropy_backward(d0, dout, ex->saved[0], x1) : ST_OK;
    case G_ATTENTION: return st_attention_backward(d0, d1, d2, dout, x0, x1, x2, out, ex->saved[0]);
    case G_COPY: return d0 ? st_vjp_cast(d0, dout) : ST_OK;
    default: return ST_ERR(ST_ERR_INTERNAL, "graph: no gradient rule for %s", g_kind_name(nd));
    }
}

st_status g_backward_node(st_graph_plan *p, int i)
{
    if (g_is_view(p->nodes[i].kind)) return view_rule(p, i);
    ST_TRY(rule(p, i));
    return finish(p, i);
}
