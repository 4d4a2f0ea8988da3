/* Parameter units of a compiled graph (graph.h): grouping parameter nodes, the schedule of when
 * each unit is first and last used in forward and backward, the hook calls the executors make
 * at those nodes, and rebinding a parameter node to other tensors. Not the engine that decides
 * what a unit's BEGIN/END does: that is the caller's hook (the sharded engine's, src/parallel). */
#include <stdlib.h>
#include <string.h>
#include "graph_internal.h"

enum { G_MAX_UNITS = 1 << 20 };

static int is_param(const st_graph_plan *p, st_node n)
{
    return p && n >= 0 && n < p->n && p->nodes[n].kind == G_PARAM;
}

/* The parameter node a node's value aliases (itself, or through views), or -1. */
static int root_param(const st_graph_plan *p, int i)
{
    while (p->nodes[i].kind == G_VIEW) i = p->nodes[i].in[0];
    return p->nodes[i].kind == G_PARAM ? i : -1;
}

static int unit_of(const st_graph_plan *p, int i)
{
    int r = root_param(p, i);
    return r >= 0 ? p->unit[r] : -1;
}

st_status st_graph_set_param_unit(st_graph_plan *p, st_node n, int unit)
{
    if (!is_param(p, n) || unit < -1 || unit > G_MAX_UNITS)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_set_param_unit: NULL plan, node %d not a parameter, or unit %d "
                      "outside [-1, %d]", (int)n, unit, G_MAX_UNITS);
    if (!p->unit) {
        p->unit = malloc(sizeof(int) * (size_t)p->n);
        if (!p->unit) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_graph_set_param_unit: host allocation failed");
        for (int i = 0; i < p->n; i++) p->unit[i] = -1;
    }
    p->unit[n] = unit;
    p->units_dirty = 1;
    return ST_OK;
}

st_status st_graph_set_unit_hook(st_graph_plan *p, st_graph_unit_hook fn, void *ctx)
{
    if (!p) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_set_unit_hook: NULL plan");
    p->hook = fn;
    p->hook_ctx = fn ? ctx : NULL;
    p->units_dirty = 1;
    return ST_OK;
}

st_status st_graph_set_progress_hook(st_graph_plan *p, st_graph_progress_hook fn, void *ctx)
{
    if (!p) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_set_progress_hook: NULL plan");
    p->progress = fn;
    p->progress_ctx = fn ? ctx : NULL;
    return ST_OK;
}

static st_status check_like(const st_graph_plan *p, const g_node *nd, const st_tensor *t, const char *what)
{
    if (st_tensor_dtype(t) != nd->dtype)
        return ST_ERR(ST_ERR_DTYPE, "st_graph_rebind_param: '%s' is %s, the %s %s", nd->name,
                      st_dtype_name(nd->dtype), what, st_dtype_name(st_tensor_dtype(t)));
    if (st_tensor_device(t) != p->dev)
        return ST_ERR(ST_ERR_DEVICE, "st_graph_rebind_param: '%s': %s on %s, plan on %s", nd->name, what,
                      st_device_label(st_tensor_device(t)), st_device_label(p->dev));
    if (t->ndim != nd->ndim || memcmp(t->shape, nd->shape, sizeof(int64_t) * (size_t)nd->ndim)) {
        char buf[96];
        return ST_ERR(ST_ERR_SHAPE, "st_graph_rebind_param: '%s' has %d dims, the %s is %s", nd->name, nd->ndim,
                      what, st_tensor_describe(t, buf, sizeof buf));
    }
    return ST_OK;
}

static st_status swap_ref(st_tensor **slot, st_tensor *t)
{
    st_tensor *ref = NULL;
    ST_TRY(st_tensor_ref(t, &ref));
    st_tensor_destroy(*slot);
    *slot = ref;
    return ST_OK;
}

st_status st_graph_rebind_param(st_graph_plan *p, st_node n, st_tensor *value, st_tensor *grad)
{
    if (!is_param(p, n) || !value)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_rebind_param: NULL plan or value, or node %d not a parameter",
                      (int)n);
    const g_node *nd = &p->nodes[n];
    int has_grad = grad && p->ex[n].grad;
    ST_TRY(check_like(p, nd, value, "value"));
    if (has_grad) ST_TRY(check_like(p, nd, grad, "gradient"));
    ST_TRY(swap_ref(&p->ex[n].value, value));
    if (has_grad) ST_TRY(swap_ref(&p->ex[n].grad, grad));
    /* views of views come later in node order, so one pass refreshes whole chains */
    for (int i = n + 1; i < p->n; i++)
        if (p->nodes[i].kind == G_VIEW && root_param(p, i) == n) ST_TRY(g_refresh_view(p, i));
    return ST_OK;
}

st_node st_graph_param_node(const st_graph_plan *p, const st_tensor *t, st_node after)
{
    if (!p || !t) return ST_NODE_NONE;
    for (int i = after < 0 ? 0 : after + 1; i < p->n; i++) {
        const st_tensor *v = p->ex[i].value;
        if (p->nodes[i].kind != G_PARAM || !v) continue;
        if (v->storage == t->storage && v->offset == t->offset && v->ndim == t->ndim &&
            !memcmp(v->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) &&
            !memcmp(v->stride, t->stride, sizeof(int64_t) * (size_t)t->ndim))
            return i;
    }
    return ST_NODE_NONE;
}

/* Whether node i's gradient rule reads a value of, or hands a gradient to, unit u's parameters. */
static int bwd_touches(const st_graph_plan *p, int i, int u)
{
    const g_node *nd = &p->nodes[i];
    for (int s = 0; s < nd->n_in; s++)
        if (unit_of(p, nd->in[s]) == u && (g_grad_reads_input(nd, s) || p->ex[i].mode[s] != G_NONE)) return 1;
    return 0;
}

static void widen(int *first, int *last, int i)
{
    if (*first < 0 || i < *first) *first = i;
    if (*last < 0 || i > *last) *last = i;
}

/* The schedule: forward readers are the computing nodes with an input in the unit; backward
 * users the nodes whose rule runs (needs_grad) and touches the unit. bwd_first is the highest
 * index (backward runs in reverse), bwd_last the lowest. */
static void schedule(st_graph_plan *p)
{
    for (int u = 0; u < p->n_units; u++) p->fwd_first[u] = p->fwd_last[u] = p->bwd_first[u] = p->bwd_last[u] = -1;
    if (!p->n_units) return;
    for (int i = 0; i < p->n; i++) {
        const g_node *nd = &p->nodes[i];
        if (nd->kind != G_OP) continue;
        for (int s = 0; s < nd->n_in; s++) {
            int u = unit_of(p, nd->in[s]);
            if (u >= 0) widen(&p->fwd_first[u], &p->fwd_last[u], i);
        }
    }
    for (int i = 0; i < p->n; i++) {
        const g_node *nd = &p->nodes[i];
        if (!p->ex[i].needs_grad || nd->kind == G_PARAM || nd->kind == G_INPUT) continue;
        for (int s = 0; s < nd->n_in; s++) {
            int u = unit_of(p, nd->in[s]);
            if (u >= 0 && bwd_touches(p, i, u)) widen(&p->bwd_last[u], &p->bwd_first[u], i);
        }
    }
}

st_status g_units_prepare(st_graph_plan *p)
{
    if (!p->hook || !p->units_dirty) return ST_OK;
    int n_units = 0;
    for (int i = 0; p->unit && i < p->n; i++)
        if (p->unit[i] + 1 > n_units) n_units = p->unit[i] + 1;
    free(p->fwd_first);
    p->fwd_first = n_units ? malloc(sizeof(int) * 4 * (size_t)n_units) : NULL;
    if (n_units && !p->fwd_first) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "graph units: host allocation failed");
    p->n_units = n_units;
    p->fwd_last = p->fwd_first + n_units;
    p->bwd_first = p->fwd_last + n_units;
    p->bwd_last = p->bwd_first + n_units;
    /* a unit number nobody uses has no parameter node: it gets no events */
    schedule(p);
    p->units_dirty = 0;
    return ST_OK;
}

static int has_node(const st_graph_plan *p, int u)
{
    for (int i = 0; i < p->n; i++)
        if (p->unit[i] == u) return 1;
    return 0;
}

static st_status call(st_graph_plan *p, int u, int backward, int end)
{
    st_graph_unit_event ev = backward ? (end ? ST_GRAPH_UNIT_BACKWARD_END : ST_GRAPH_UNIT_BACKWARD_BEGIN)
                                      : (end ? ST_GRAPH_UNIT_FORWARD_END : ST_GRAPH_UNIT_FORWARD_BEGIN);
    double t0 = 0;
    int timed = p->profile && p->trace;
    if (timed) ST_TRY(g_prof_hook_begin(p, &t0));
    st_status s = p->hook(p->hook_ctx, p, u, ev);
    if (s != ST_OK) return ST_ERR(s, "unit %d hook: %s", u, st_last_error());
    return timed ? g_prof_hook_end(p, t0, u, ev) : ST_OK;
}

st_status g_units_fire(st_graph_plan *p, int i, int backward, int end)
{
    if (!p->hook) return ST_OK;
    const int *at = backward ? (end ? p->bwd_last : p->bwd_first) : (end ? p->fwd_last : p->fwd_first);
    for (int u = 0; u < p->n_units; u++)
        if (at[u] == i) ST_TRY(call(p, u, backward, end));
    return ST_OK;
}

st_status g_units_fire_unused(st_graph_plan *p, int backward)
{
    if (!p->hook) return ST_OK;
    const int *first = backward ? p->bwd_first : p->fwd_first;
    for (int u = 0; u < p->n_units; u++)
        if (first[u] < 0 && has_node(p, u)) {
            ST_TRY(call(p, u, backward, 0));
            ST_TRY(call(p, u, backward, 1));
        }
    return ST_OK;
}

void g_units_free(st_graph_plan *p)
{
    free(p->unit);
    free(p->fwd_first);
    p->unit = p->fwd_first = p->fwd_last = p->bwd_first = p->bwd_last = NULL;
}
