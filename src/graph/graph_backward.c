/* Gradient rules of the graph's nodes, from the op table: an op whose row names a backward op
 * runs it on the operands the row says it reads; one with a gradient rule calls the rule
 * (st_op_impl); views hand their gradient back through a view of the input's gradient. Each
 * input's share is written straight into its gradient (first contribution) or into a planned
 * temporary that is then added (later contributions, parameters); see g_mode. */
#include "graph_internal.h"

/* Where the rule of node i writes input s's gradient (NULL: nowhere). */
static st_tensor *dst(st_graph_plan *p, int i, int s)
{
    g_exec *ex = &p->ex[i];
    if (ex->mode[s] == G_OVERWRITE) return p->ex[p->nodes[i].in[s]].grad;
    return ex->tmp[s]; /* accumulate, or scratch for a gradient the backward op writes unasked */
}

/* Adds the temporaries of accumulating inputs into their gradients. */
static st_status finish(st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    for (int s = 0; s < nd->n_in; s++) {
        if (p->ex[i].mode[s] != G_ACCUMULATE || !g_needs_tmp(p, i, s)) continue;
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
    int slice = nd->view.kind == G_SLICE;
    if (ex->mode[0] == G_OVERWRITE && slice) ST_TRY(st_fill(gin, 0.0));
    ST_TRY(g_view_of(nd, gin, &v));
    st_status s = ex->mode[0] == G_OVERWRITE && !slice ? st_copy(v, ex->grad) : st_add(v, v, ex->grad);
    st_tensor_destroy(v);
    return s;
}

/* The forward operand k of node i (outputs first: value, then saved tensors). */
static const st_tensor *operand(const st_graph_plan *p, int i, int k)
{
    const g_node *nd = &p->nodes[i];
    int n_out = 1 + nd->n_saved;
    if (k < n_out) return k ? p->ex[i].saved[k - 1] : p->ex[i].value;
    return p->ex[nd->in[k - n_out]].value;
}

/* A backward op: inputs dout and the reads, outputs the gradients of the float inputs. */
static st_status backward_op(st_graph_plan *p, int i, const st_op_info *fi)
{
    const g_node *nd = &p->nodes[i];
    const st_op_info *gi = st_op_info_get(fi->backward);
    st_tensor *outs[ST_MAX_OP_OUT];
    const st_tensor *ins[ST_MAX_OP_IN];
    int n = 0, needed = 0;
    for (int s = 0; s < nd->n_in && n < ST_MAX_OP_OUT; s++) {
        if (!g_is_float(p->nodes[nd->in[s]].dtype)) continue;
        needed |= p->ex[i].mode[s] != G_NONE;
        outs[n++] = dst(p, i, s);
    }
    if (!needed) return ST_OK;
    for (int r = 0; r < fi->n_reads; r++)
        ins[r] = fi->reads[r] == ST_READ_DOUT ? p->ex[i].grad : operand(p, i, fi->reads[r]);
    return st_op_run(gi->op, outs, n, ins, fi->n_reads, gi->params_size ? &nd->params : NULL);
}

/* A gradient rule: every operand, and where each input's gradient goes. */
static st_status grad_rule(st_graph_plan *p, int i, const st_op_info *info)
{
    const g_node *nd = &p->nodes[i];
    st_grad_call g = {.info = info, .dout = p->ex[i].grad, .p = &nd->params};
    for (int s = 0; s < nd->n_in; s++) {
        g_mode m = p->ex[i].mode[s];
        g.in[s] = p->ex[nd->in[s]].value;
        g.accumulate[s] = m == G_ACCUMULATE && !g_needs_tmp(p, i, s);
        g.din[s] = m == G_NONE ? NULL : g.accumulate[s] ? p->ex[nd->in[s]].grad : dst(p, i, s);
    }
    for (int k = 0; k <= nd->n_saved; k++) g.out[k] = operand(p, i, k);
    return st_op_impl_get(nd->op)->grad(&g);
}

st_status g_backward_node(st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    if (nd->kind == G_VIEW) return view_rule(p, i);
    const st_op_info *info = st_op_info_get(nd->op);
    switch (info->grad) {
    case ST_GRAD_OP: ST_TRY(backward_op(p, i, info)); break;
    case ST_GRAD_RULE: ST_TRY(grad_rule(p, i, info)); break;
    case ST_GRAD_NONE: return ST_ERR(ST_ERR_INTERNAL, "graph: %s has no gradient", info->name);
    }
    return finish(p, i);
}
