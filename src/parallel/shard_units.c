/* The sharded engine's per-unit mode (st_shard_attach_graph): sharded parameters are all-gathered
 * one unit (a block of layers' parameters) at a time into a working slot just before the graph
 * uses them, and sharded gradients are reduce-scattered from a slot into the accumulator as soon
 * as backward has finished a unit, driven by the graph executor's unit hooks (graph.h). The full
 * parameter and gradient arenas of the set are released. The bytes moved are those of the
 * whole-arena path: the units' runs tile the padded vector (see shard_levels.c). With the balanced
 * layout and overlap on, the next unit's gather is started while the current one computes and a
 * unit's reduce-scatter runs while the previous one's backward computes (the collectives are
 * queued on shard_async.c's queue, advanced between graph nodes by the executor's progress hook);
 * each unit's collectives are shard_unit_ops.c's. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "shard_units.h"
#include "strata/ops.h"

void shard_layers_free(st_shard_state *s)
{
    shard_layers *l = s->lay;
    if (!l)
        return;
    for (int i = 0; i < l->n_params; i++) {
        st_tensor_destroy(l->pv ? l->pv[i] : NULL);
        st_tensor_destroy(l->gv ? l->gv[i] : NULL);
    }
    for (int i = 0; i < l->n_slots; i++)
        st_tensor_destroy(l->slot[i].t);
    st_tensor_destroy(l->ptail);
    st_tensor_destroy(l->gtail);
    if (l->plan) {
        st_graph_set_unit_hook(l->plan, NULL, NULL);
        st_graph_set_progress_hook(l->plan, NULL, NULL);
    }
    for (int d = 0; d < 2; d++)
        free(l->order[d]), free(l->at[d]);
    free(l->u), free(l->pv), free(l->gv), free(l->pv_slot), free(l->gv_slot);
    free(l->node), free(l->node_param), free(l->slot);
    free(l);
    s->lay = NULL;
}

/* views[i] (i in unit k) as parameter-shaped views of slot `slot`, unless they already are. */
static st_status unit_views(st_shard_state *s, int k, int slot, st_tensor **views, int *at)
{
    shard_layers *l = s->lay;
    for (int i = 0; i < l->n_params; i++) {
        if (s->map->unit_of[i] != k || at[i] == slot)
            continue;
        st_param_info info;
        st_tensor *piece = NULL, *v = NULL;
        ST_TRY(st_params_info(s->ps, i, &info));
        ST_TRY(shard_view(l->slot[slot].t, s->map->pos[i], info.numel, &piece));
        st_status st = st_tensor_reshape(piece, info.ndim, info.shape, &v);
        st_tensor_destroy(piece);
        ST_TRY(st);
        st_tensor_destroy(views[i]);
        views[i] = v;
        at[i] = slot;
    }
    return ST_OK;
}

/* Points unit k's parameter nodes at its slots (or at the set's tensors for a replicated kind). */
static st_status rebind(st_shard_state *s, int k, int grads)
{
    shard_layers *l = s->lay;
    for (int j = 0; j < l->n_nodes; j++) {
        int i = l->node_param[j];
        if (s->map->unit_of[i] != k)
            continue;
        st_tensor *pv = NULL, *gv = NULL;
        ST_TRY(st_params_get(s->ps, i, &pv, &gv));
        if (s->p.params)
            pv = l->pv[i];
        ST_TRY(st_graph_rebind_param(l->plan, l->node[j], pv, grads ? l->gv[i] : NULL));
    }
    return ST_OK;
}

/* The unit after k in direction `bwd`'s order, or -1: what to prefetch while k computes. Never
 * across a pass: a forward may be an evaluation with no backward after it, and the optimizer step
 * may change the parameters between a backward and the next forward. */
static int successor(const shard_layers *l, int k, int bwd)
{
    int i = l->at[bwd][k] + 1;
    return i < l->n_order[bwd] ? l->order[bwd][i] : -1;
}

/* Unit k is about to be used: its gather finished (started now unless prefetched), then, with
 * overlap, the next unit's gather started (when its slot is free: a unit still in use is never
 * overwritten), so that it moves while k computes. */
static st_status use_unit(st_shard_state *s, int k, int bwd)
{
    shard_layers *l = s->lay;
    if (!l->known && l->n_order[bwd] < l->n_units) { /* the first pass of each direction */
        l->at[bwd][k] = l->n_order[bwd];
        l->order[bwd][l->n_order[bwd]++] = k;
    }
    if (!l->u[k].pending)
        ST_TRY(shard_unit_gather_start(s, k, bwd));
    ST_TRY(shard_unit_gather_finish(s, k));
    ST_TRY(unit_views(s, k, l->u[k].pslot, l->pv, l->pv_slot));
    if (!s->overlap || !l->known || !s->map->balanced)
        return ST_OK;
    int n = successor(l, k, bwd);
    if (n >= 0 && l->u[n].pslot < 0 && !l->u[n].pending)
        ST_TRY(shard_unit_gather_start(s, n, bwd));
    return ST_OK;
}

static st_status begin_backward(st_shard_state *s, int k)
{
    shard_layers *l = s->lay;
    shard_unit *u = &l->u[k];
    if (s->p.params)
        ST_TRY(use_unit(s, k, 1));
    if (s->p.grads) {
        if (u->gslot < 0)
            ST_TRY(shard_unit_acquire(s, s->map->u[k].numel, &u->gslot));
        ST_TRY(st_fill(l->slot[u->gslot].t, 0.0));
        ST_TRY(unit_views(s, k, u->gslot, l->gv, l->gv_slot));
    }
    return rebind(s, k, s->p.grads != ST_SHARD_NONE);
}

static st_status end_backward(st_shard_state *s, int k)
{
    shard_layers *l = s->lay;
    shard_unit *u = &l->u[k];
    int last = ++l->ended == l->n_units;
    if (last) {
        l->ended = 0;
        l->known = l->n_order[0] == l->n_units && l->n_order[1] == l->n_units;
    }
    shard_unit_drop(l, &u->pslot);
    if (s->p.grads && u->gslot >= 0)
        return shard_unit_reduce(s, k, last);
    return last && s->q ? shard_queue_wait(s->q, -1) : ST_OK;
}

static st_status unit_hook(void *ctx, st_graph_plan *plan, int k, st_graph_unit_event ev)
{
    (void)plan;
    st_shard_state *s = ctx;
    switch (ev) {
    case ST_GRAPH_UNIT_FORWARD_BEGIN:
        if (!s->p.params)
            return ST_OK;
        ST_TRY(use_unit(s, k, 0));
        return rebind(s, k, 0);
    case ST_GRAPH_UNIT_BACKWARD_BEGIN:
        return begin_backward(s, k);
    case ST_GRAPH_UNIT_BACKWARD_END:
        return end_backward(s, k);
    default:
        shard_unit_drop(s->lay, &s->lay->u[k].pslot);
        return ST_OK;
    }
}

static st_status progress_hook(void *ctx, st_graph_plan *plan)
{
    (void)plan;
    st_shard_state *s = ctx;
    return shard_queue_progress(s->q);
}

/* The plan's parameter nodes bound to each parameter's view; every unit must have one. */
static st_status find_nodes(st_shard_state *s, shard_layers *l)
{
    int cap = l->n_params;
    l->node = malloc(sizeof *l->node * (size_t)cap);
    l->node_param = malloc(sizeof *l->node_param * (size_t)cap);
    char *seen = calloc((size_t)l->n_units + 1, 1);
    st_status st = l->node && l->node_param && seen ? ST_OK
                   : ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    for (int i = 0; i < l->n_params && st == ST_OK; i++) {
        st_tensor *pv = NULL;
        st_params_get(s->ps, i, &pv, NULL);
        for (st_node n = st_graph_param_node(l->plan, pv, ST_NODE_NONE); n != ST_NODE_NONE && st == ST_OK;
             n = st_graph_param_node(l->plan, pv, n)) {
            if (l->n_nodes == cap) {
                cap *= 2;
                st_node *a = realloc(l->node, sizeof *a * (size_t)cap);
                int *b = a ? realloc(l->node_param, sizeof *b * (size_t)cap) : NULL;
                l->node = a ? a : l->node;
                l->node_param = b ? b : l->node_param;
                if (!a || !b)
                    st = ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
            }
            if (st == ST_OK) {
                l->node[l->n_nodes] = n;
                l->node_param[l->n_nodes++] = i;
                seen[s->map->unit_of[i]] = 1;
                st = st_graph_set_param_unit(l->plan, n, s->map->unit_of[i]);
            }
        }
    }
    for (int i = 0; i < l->n_params && st == ST_OK; i++)
        if (!seen[s->map->unit_of[i]]) {
            st_param_info info;
            st_params_info(s->ps, i, &info);
            st = ST_ERR(ST_ERR_INVALID_ARG, "st_shard_attach_graph: no parameter of unit %d (e.g. '%s') is bound "
                        "in the plan: its gradient would never be reduced", s->map->unit_of[i], info.name);
        }
    free(seen);
    return st;
}

/* The units: the layout's (st_shard_create's default grouping), or `units` when they differ and
 * the layout is contiguous (a balanced layout is fixed by the units it was built for). */
static st_status units_for(st_shard_state *s, const int *units)
{
    if (shard_map_same_units(s, s->map, units))
        return ST_OK;
    if (s->map->balanced)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_attach_graph: these units differ from the ones the balanced "
                      "layout was built with (st_shard_create groups by name; pass NULL)");
    shard_map *m = NULL;
    ST_TRY(shard_map_new(s, units, 0, &m));
    shard_map_free(s->map);
    s->map = m;
    return ST_OK;
}

/* T's buffers and the schedule's arrays. */
static st_status layers_extra(st_shard_state *s, shard_layers *l)
{
    int64_t R = s->map->R;
    if (s->map->balanced && R > 0) {
        ST_TRY(st_tensor_create(s->dev, ST_F32, 1, &R, &l->ptail));
        ST_TRY(st_tensor_create(s->dev, ST_F32, 1, &R, &l->gtail));
        ST_TRY(st_fill(l->gtail, 0.0));
        l->slot_bytes += 2 * (uint64_t)R * sizeof(float);
    }
    for (int d = 0; d < 2; d++) {
        l->order[d] = calloc((size_t)l->n_units + 1, sizeof(int));
        l->at[d] = calloc((size_t)l->n_units + 1, sizeof(int));
        if (!l->order[d] || !l->at[d])
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    }
    return s->map->balanced && !s->q ? shard_queue_new(s->c, &s->q) : ST_OK;
}

static st_status layers_new(st_shard_state *s, st_graph_plan *plan, const int *units, shard_layers **out)
{
    ST_TRY(units_for(s, units));
    shard_layers *l = calloc(1, sizeof *l);
    if (!l)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    s->lay = l;
    l->plan = plan;
    int n = l->n_params = st_params_count(s->ps);
    l->n_units = s->map->n_units;
    l->pv = calloc((size_t)n + 1, sizeof *l->pv);
    l->gv = calloc((size_t)n + 1, sizeof *l->gv);
    l->pv_slot = malloc(sizeof(int) * ((size_t)n + 1));
    l->gv_slot = malloc(sizeof(int) * ((size_t)n + 1));
    l->u = calloc((size_t)l->n_units + 1, sizeof *l->u);
    if (!l->pv || !l->gv || !l->pv_slot || !l->gv_slot || !l->u)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    for (int i = 0; i < n; i++)
        l->pv_slot[i] = l->gv_slot[i] = -1;
    for (int k = 0; k < l->n_units; k++)
        l->u[k].pslot = l->u[k].gslot = -1;
    ST_TRY(layers_extra(s, l));
    *out = l;
    return find_nodes(s, l);
}

/* Frees the arenas of the sharded kinds (and the engine's working views or padded copies of
 * them) and rebinds the plan's parameter nodes to the set's placeholders, so that nothing holds
 * the arenas any more. */
static st_status release(st_shard_state *s)
{
    int params = s->p.params != ST_SHARD_NONE, grads = s->p.grads != ST_SHARD_NONE;
    ST_TRY(st_params_release(s->ps, params, grads));
    if (params) {
        st_tensor_destroy(s->wp);
        s->wp = NULL;
    }
    if (grads) {
        st_tensor_destroy(s->wg);
        s->wg = NULL;
    }
    ST_TRY(st_params_flat(s->ps, &s->arena_p, &s->arena_g, NULL));
    shard_layers *l = s->lay;
    for (int j = 0; j < l->n_nodes; j++) {
        st_tensor *pv = NULL, *gv = NULL;
        ST_TRY(st_params_get(s->ps, l->node_param[j], &pv, &gv));
        ST_TRY(st_graph_rebind_param(l->plan, l->node[j], pv, gv));
    }
    return ST_OK;
}

st_status st_shard_attach_graph(st_shard_state *s, st_graph_plan *plan, const int *units)
{
    if (!s || !plan)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_attach_graph: NULL argument");
    if (s->lay)
        return ST_ERR(ST_ERR_UNSUPPORTED, "st_shard_attach_graph: a plan is already attached (one per engine)");
    if (!s->p.params && !s->p.grads)
        return ST_OK; /* replicated parameters and gradients: the arenas are the working state */
    shard_layers *l = NULL;
    st_status st = layers_new(s, plan, units, &l);
    if (st == ST_OK)
        st = st_graph_set_unit_hook(plan, unit_hook, s);
    if (st == ST_OK && s->q)
        st = st_graph_set_progress_hook(plan, progress_hook, s);
    if (st == ST_OK)
        st = release(s);
    if (st != ST_OK && !st_params_released(s->ps, 0) && !st_params_released(s->ps, 1))
        shard_layers_free(s);
    return st;
}

st_status st_shard_working_memory(const st_shard_state *s, uint64_t *bytes)
{
    if (!s || !bytes)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_working_memory: NULL argument");
    *bytes = s->lay ? s->lay->slot_bytes : 0;
    return ST_OK;
}
