/* Running a compiled graph: input binding, view refresh, the forward pass and the backward
 * driver. Every value, saved tensor and gradient already has its place in the plan's arena, so
 * nothing here allocates device memory (only host handles for views). The per-op gradient rules
 * are in graph_backward.c. */
#include <string.h>
#include "graph_internal.h"

static int bad_node(const st_graph_plan *p, st_node n) { return !p || n < 0 || n >= p->n; }

st_status st_graph_bind(st_graph_plan *p, st_node n, st_tensor *t)
{
    if (bad_node(p, n) || !t) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_bind: NULL plan or tensor, or bad node %d", (int)n);
    const g_node *nd = &p->nodes[n];
    if (nd->kind != G_INPUT)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_bind: node #%d '%s' is a %s, not an input", (int)n, nd->name,
                      g_kind_name(nd));
    if (st_tensor_dtype(t) != nd->dtype)
        return ST_ERR(ST_ERR_DTYPE, "st_graph_bind: input '%s' is %s, the tensor %s", nd->name,
                      st_dtype_name(nd->dtype), st_dtype_name(st_tensor_dtype(t)));
    if (st_tensor_device(t) != p->dev)
        return ST_ERR(ST_ERR_DEVICE, "st_graph_bind: input '%s': tensor on %s, plan on %s", nd->name,
                      st_device_label(st_tensor_device(t)), st_device_label(p->dev));
    if (t->ndim != nd->ndim || memcmp(t->shape, nd->shape, sizeof(int64_t) * (size_t)nd->ndim)) {
        char buf[96];
        return ST_ERR(ST_ERR_SHAPE, "st_graph_bind: input '%s' has %d dims (%lld, ...), the tensor is %s",
                      nd->name, nd->ndim, nd->ndim ? (long long)nd->shape[0] : 0LL,
                      st_tensor_describe(t, buf, sizeof buf));
    }
    st_tensor *ref = NULL;
    ST_TRY(st_tensor_ref(t, &ref));
    st_tensor_destroy(p->ex[n].value);
    p->ex[n].value = ref;
    p->views_dirty = 1;
    return ST_OK;
}

st_status g_refresh_view(st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    const st_tensor *x = p->ex[nd->in[0]].value;
    st_tensor *v = NULL;
    st_status s = g_view_of(nd, x, &v);
    if (s != ST_OK)
        return ST_ERR(s, "graph: %s #%d '%s' cannot be a view of its input (%s); put st_graph_contiguous "
                      "before it", g_kind_name(nd), i, nd->name, st_last_error());
    st_tensor_destroy(p->ex[i].value);
    p->ex[i].value = v;
    return ST_OK;
}

st_status g_refresh_views(st_graph_plan *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].kind == G_VIEW) ST_TRY(g_refresh_view(p, i));
    p->views_dirty = 0;
    return ST_OK;
}

/* An op node runs its op eagerly: value and saved tensors are its outputs. */
static st_status forward_node(st_graph_plan *p, int i)
{
    const g_node *nd = &p->nodes[i];
    g_exec *ex = &p->ex[i];
    st_tensor *outs[ST_MAX_OP_OUT] = {ex->value, ex->saved[0], ex->saved[1]};
    const st_tensor *ins[ST_MAX_OP_IN];
    switch (nd->kind) {
    case G_INPUT:
        if (!ex->value) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_forward: input #%d '%s' is not bound", i, nd->name);
        return ST_OK;
    case G_PARAM:
    case G_VIEW: return ST_OK; /* nothing to compute */
    case G_OP:
        for (int s = 0; s < nd->n_in; s++) ins[s] = p->ex[nd->in[s]].value;
        return st_op_run(nd->op, outs, 1 + nd->n_saved, ins, nd->n_in, &nd->params);
    }
    return ST_ERR(ST_ERR_INTERNAL, "graph: unknown node kind %d", (int)nd->kind);
}

st_status st_graph_forward(st_graph_plan *p)
{
    if (!p) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_forward: NULL plan");
    p->forward_done = 0;
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].kind == G_INPUT && !p->ex[i].value)
            return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_forward: input #%d '%s' is not bound (st_graph_bind)", i,
                          p->nodes[i].name);
    if (p->views_dirty) ST_TRY(g_refresh_views(p));
    ST_TRY(g_units_prepare(p));
    if (p->profile) ST_TRY(g_prof_start(p));
    for (int i = 0; i < p->n; i++) {
        st_status s = g_units_fire(p, i, 0, 0);
        if (s == ST_OK) s = forward_node(p, i);
        if (s == ST_OK && p->profile && p->nodes[i].kind == G_OP) s = g_prof_stop(p, i, 0);
        if (s == ST_OK && p->progress && p->nodes[i].kind == G_OP) s = p->progress(p->progress_ctx, p);
        if (s == ST_OK) s = g_units_fire(p, i, 0, 1);
        if (s != ST_OK)
            return ST_ERR(s, "graph forward: %s #%d '%s': %s", g_kind_name(&p->nodes[i]), i, p->nodes[i].name,
                          st_last_error());
    }
    ST_TRY(g_units_fire_unused(p, 0));
    p->forward_done = 1;
    return ST_OK;
}

st_status st_graph_backward(st_graph_plan *p)
{
    if (!p) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_backward: NULL plan");
    if (p->loss < 0) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_backward: no loss node (st_graph_set_loss)");
    if (!p->forward_done) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_backward: run st_graph_forward first");
    ST_TRY(g_units_prepare(p));
    /* no parameter with a gradient feeds the loss: nothing to run, but units still get their pair */
    if (!p->ex[p->loss].needs_grad) return g_units_fire_unused(p, 1);
    if (p->profile) ST_TRY(g_prof_start(p));
    ST_TRY(st_fill(p->ex[p->loss].grad, 1.0));
    for (int i = p->n - 1; i >= 0; i--) {
        g_kind k = p->nodes[i].kind;
        if (!p->ex[i].needs_grad || k == G_PARAM || k == G_INPUT) continue;
        st_status s = g_units_fire(p, i, 1, 0);
        if (s == ST_OK) s = g_backward_node(p, i);
        if (s == ST_OK && p->profile) s = g_prof_stop(p, i, 1);
        if (s == ST_OK && p->progress) s = p->progress(p->progress_ctx, p);
        if (s == ST_OK) s = g_units_fire(p, i, 1, 1);
        if (s != ST_OK)
            return ST_ERR(s, "graph backward: %s #%d '%s': %s", g_kind_name(&p->nodes[i]), i, p->nodes[i].name,
                          st_last_error());
    }
    return g_units_fire_unused(p, 1);
}

const st_tensor *st_graph_value(const st_graph_plan *p, st_node n)
{
    return bad_node(p, n) ? NULL : p->ex[n].value;
}
