/* The sharded engine's per-unit mode (st_shard_attach_graph): sharded parameters are all-gathered
 * one unit (a block of layers' parameters) at a time into a working slot just before the graph
 * uses them, and sharded gradients are reduce-scattered from a slot into the accumulator as soon
 * as backward has finished a unit, driven by the graph executor's unit hooks (graph.h). The full
 * parameter and gradient arenas of the set are released. The bytes moved are those of the
 * whole-arena path: the units' runs tile the padded vector (see shard_levels.c). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"
#include "shard_internal.h"
#include "strata/graph.h"
#include "strata/ops.h"

typedef struct shard_unit {
    int64_t (*run)[2];   /* [lo, hi) ranges of the padded vector, ascending */
    int64_t *run_pos;    /* where each run starts in the unit's slot */
    int nruns;
    int64_t numel;       /* slot length: the runs' total */
    int pslot, gslot;    /* slots held, -1 for none */
} shard_unit;

typedef struct shard_slot {
    st_tensor *t;
    int64_t len;
    int busy;
} shard_slot;

struct shard_layers {
    st_graph_plan *plan;
    int n_units, n_params, n_nodes, n_slots;
    shard_unit *u;
    int *unit_of;        /* per parameter */
    int64_t *pos;        /* per parameter: its offset in the unit's slot */
    st_tensor **pv, **gv;/* per parameter: views of the slot its unit holds now (owned) */
    int *pv_slot, *gv_slot;
    st_node *node;       /* parameter nodes of the plan ... */
    int *node_param;     /* ... and the parameter each is bound to */
    shard_slot *slot;    /* grows to the most slots live at once */
    uint64_t slot_bytes;
};

void shard_layers_free(st_shard_state *s)
{
    shard_layers *l = s->lay;
    if (!l)
        return;
    for (int i = 0; l->u && i < l->n_units; i++) {
        free(l->u[i].run);
        free(l->u[i].run_pos);
    }
    for (int i = 0; i < l->n_params; i++) {
        st_tensor_destroy(l->pv ? l->pv[i] : NULL);
        st_tensor_destroy(l->gv ? l->gv[i] : NULL);
    }
    for (int i = 0; i < l->n_slots; i++)
        st_tensor_destroy(l->slot[i].t);
    if (l->plan)
        st_graph_set_unit_hook(l->plan, NULL, NULL);
    free(l->u), free(l->unit_of), free(l->pos), free(l->pv), free(l->gv), free(l->pv_slot), free(l->gv_slot);
    free(l->node), free(l->node_param), free(l->slot);
    free(l);
    s->lay = NULL;
}

/* "<word>.<digits>." starts a layer's unit name; every other parameter is in the unit "". */
static size_t layer_prefix(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot[1] < '0' || dot[1] > '9')
        return 0;
    const char *q = dot + 1;
    while (*q >= '0' && *q <= '9')
        q++;
    return *q == '.' ? (size_t)(q + 1 - name) : 0;
}

/* Default units: the non-layer parameters form unit 0, then each layer prefix a unit in order. */
static st_status default_units(const st_params *ps, int *unit_of, int *n_units)
{
    int n = st_params_count(ps), count = 0, rest = -1;
    for (int i = 0; i < n; i++) {
        st_param_info a;
        ST_TRY(st_params_info(ps, i, &a));
        size_t k = layer_prefix(a.name);
        unit_of[i] = -1;
        for (int j = 0; j < i && unit_of[i] < 0; j++) {
            st_param_info b;
            ST_TRY(st_params_info(ps, j, &b));
            if (layer_prefix(b.name) == k && strncmp(a.name, b.name, k) == 0)
                unit_of[i] = unit_of[j];
        }
        if (unit_of[i] < 0)
            unit_of[i] = k == 0 && rest >= 0 ? rest : count++;
        if (k == 0)
            rest = unit_of[i];
    }
    *n_units = count;
    return ST_OK;
}

static int by_offset(const void *x, const void *y)
{
    const int64_t *a = x, *b = y; /* (offset, index) pairs */
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

/* Appends [lo, hi) to unit u's runs (merged with the last when contiguous), or only counts. */
static void add_run(shard_unit *u, int64_t lo, int64_t hi, int fill)
{
    if (lo >= hi)
        return;
    if (u->nruns && u->numel == lo) { /* numel tracks the last run's end while building */
        if (fill)
            u->run[u->nruns - 1][1] = hi;
        u->numel = hi;
        return;
    }
    if (fill) {
        u->run[u->nruns][0] = lo;
        u->run[u->nruns][1] = hi;
    }
    u->nruns++;
    u->numel = hi;
}

/* Each parameter owns [its offset, the next parameter's offset), the last one up to L, so the
 * units' runs tile the padded vector [0, L). Two passes: count the runs, then fill them. */
static st_status build_runs(st_shard_state *s, shard_layers *l)
{
    int n = l->n_params;
    int64_t (*ord)[2] = malloc(sizeof *ord * (size_t)n);
    if (!ord)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    for (int i = 0; i < n; i++) {
        st_param_info info;
        st_params_info(s->ps, i, &info);
        ord[i][0] = info.offset;
        ord[i][1] = i;
    }
    qsort(ord, (size_t)n, sizeof *ord, by_offset);
    st_status st = ST_OK;
    for (int pass = 0; pass < 2 && st == ST_OK; pass++) {
        for (int k = 0; k < l->n_units; k++) {
            shard_unit *u = &l->u[k];
            if (pass == 1) {
                u->run = malloc(sizeof *u->run * (size_t)u->nruns);
                u->run_pos = malloc(sizeof *u->run_pos * (size_t)u->nruns);
                if (!u->run || !u->run_pos)
                    st = ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
            }
            u->nruns = 0;
            u->numel = -1;
        }
        for (int j = 0; j < n && st == ST_OK; j++) {
            int64_t lo = j == 0 ? 0 : ord[j][0], hi = j + 1 < n ? ord[j + 1][0] : s->L;
            add_run(&l->u[l->unit_of[ord[j][1]]], lo, hi, pass);
        }
    }
    free(ord);
    ST_TRY(st);
    for (int k = 0; k < l->n_units; k++) {
        shard_unit *u = &l->u[k];
        u->numel = 0;
        for (int r = 0; r < u->nruns; r++) {
            u->run_pos[r] = u->numel;
            u->numel += u->run[r][1] - u->run[r][0];
        }
    }
    for (int i = 0; i < n; i++) {
        st_param_info info;
        st_params_info(s->ps, i, &info);
        const shard_unit *u = &l->u[l->unit_of[i]];
        for (int r = 0; r < u->nruns; r++)
            if (info.offset >= u->run[r][0] && info.offset < u->run[r][1])
                l->pos[i] = u->run_pos[r] + info.offset - u->run[r][0];
    }
    return ST_OK;
}

/* The smallest free slot of at least `need` elements, or a new one of exactly that. */
static st_status acquire(st_shard_state *s, int64_t need, int *out)
{
    shard_layers *l = s->lay;
    int best = -1;
    for (int i = 0; i < l->n_slots; i++)
        if (!l->slot[i].busy && l->slot[i].len >= need && (best < 0 || l->slot[i].len < l->slot[best].len))
            best = i;
    if (best < 0) {
        shard_slot *grown = realloc(l->slot, sizeof *grown * (size_t)(l->n_slots + 1));
        if (!grown)
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: host allocation failed");
        l->slot = grown;
        best = l->n_slots;
        l->slot[best] = (shard_slot){NULL, need, 0};
        ST_TRY(st_tensor_create(s->dev, ST_F32, 1, &need, &l->slot[best].t));
        l->n_slots++;
        l->slot_bytes += (uint64_t)need * sizeof(float);
    }
    l->slot[best].busy = 1;
    *out = best;
    return ST_OK;
}

static void drop(shard_layers *l, int *slot)
{
    if (*slot >= 0)
        l->slot[*slot].busy = 0;
    *slot = -1;
}

/* views[i] (i in unit k) as parameter-shaped views of slot `slot`, unless they already are. */
static st_status unit_views(st_shard_state *s, int k, int slot, st_tensor **views, int *at)
{
    shard_layers *l = s->lay;
    for (int i = 0; i < l->n_params; i++) {
        if (l->unit_of[i] != k || at[i] == slot)
            continue;
        st_param_info info;
        st_tensor *piece = NULL, *v = NULL;
        ST_TRY(st_params_info(s->ps, i, &info));
        ST_TRY(shard_view(l->slot[slot].t, l->pos[i], info.numel, &piece));
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
        if (l->unit_of[i] != k)
            continue;
        st_tensor *pv = NULL, *gv = NULL;
        ST_TRY(st_params_get(s->ps, i, &pv, &gv));
        if (s->p.params)
            pv = l->pv[i];
        ST_TRY(st_graph_rebind_param(l->plan, l->node[j], pv, grads ? l->gv[i] : NULL));
    }
    return ST_OK;
}

/* Unit k's full parameters into a slot: this rank's pieces of its runs from the params shard (or,
 * for backward with a secondary copy, from that copy), all-gathered run by run. The forward
 * gather refreshes the secondary copy's share of the unit (no traffic). */
static st_status gather_unit(st_shard_state *s, int k, int backward)
{
    shard_layers *l = s->lay;
    shard_unit *u = &l->u[k];
    int from_sec = backward && s->sec;
    st_tensor *src = from_sec ? s->sec : s->pshard;
    int64_t off = from_sec ? s->off_s : s->off_p, len = from_sec ? s->len_s : s->len_p;
    int scope = from_sec ? (int)s->p.secondary : (int)s->p.params;
    if (u->pslot < 0)
        ST_TRY(acquire(s, u->numel, &u->pslot));
    st_tensor *slot = l->slot[u->pslot].t;
    for (int r = 0; r < u->nruns; r++) {
        int64_t a = u->run[r][0], b = u->run[r][1], pos = u->run_pos[r];
        int64_t lo = a > off ? a : off, hi = b < off + len ? b : off + len;
        if (hi > lo)
            ST_TRY(shard_copy_range(slot, pos + lo - a, src, lo - off, hi - lo));
        st_tensor *run = NULL;
        ST_TRY(shard_view(slot, pos, b - a, &run));
        st_status st = shard_all_gather_run(s->c, run, a, s->L, 0, scope);
        st_tensor_destroy(run);
        ST_TRY(st);
        lo = a > s->off_s ? a : s->off_s;
        hi = b < s->off_s + s->len_s ? b : s->off_s + s->len_s;
        if (!backward && s->sec && hi > lo)
            ST_TRY(shard_copy_range(s->sec, lo - s->off_s, slot, pos + lo - a, hi - lo));
    }
    return unit_views(s, k, u->pslot, l->pv, l->pv_slot);
}

/* Unit k's gradient, complete for this backward: reduce-scattered run by run over the grads
 * scope, this rank's pieces added into the accumulator. */
static st_status reduce_unit(st_shard_state *s, int k)
{
    shard_layers *l = s->lay;
    shard_unit *u = &l->u[k];
    int64_t off_g = shard_offset(s->c, s->L, 0, (int)s->p.grads);
    for (int r = 0; r < u->nruns; r++) {
        int64_t a = u->run[r][0], b = u->run[r][1], start = 0, kept = 0;
        st_tensor *run = NULL, *mine = NULL, *acc = NULL;
        ST_TRY(shard_view(l->slot[u->gslot].t, u->run_pos[r], b - a, &run));
        st_status st = shard_reduce_scatter_run(s->c, run, a, s->L, 0, (int)s->p.grads, &start, &kept);
        if (st == ST_OK && kept > 0)
            st = shard_view(run, 0, kept, &mine);
        if (st == ST_OK && kept > 0)
            st = shard_view(s->acc, start - off_g, kept, &acc);
        if (st == ST_OK && kept > 0)
            st = st_add(acc, acc, mine);
        st_tensor_destroy(run);
        st_tensor_destroy(mine);
        st_tensor_destroy(acc);
        ST_TRY(st);
    }
    return ST_OK;
}

static st_status begin_backward(st_shard_state *s, int k)
{
    shard_layers *l = s->lay;
    shard_unit *u = &l->u[k];
    if (s->p.params)
        ST_TRY(gather_unit(s, k, 1));
    if (s->p.grads) {
        if (u->gslot < 0)
            ST_TRY(acquire(s, u->numel, &u->gslot));
        ST_TRY(st_fill(l->slot[u->gslot].t, 0.0));
        ST_TRY(unit_views(s, k, u->gslot, l->gv, l->gv_slot));
    }
    return rebind(s, k, s->p.grads != ST_SHARD_NONE);
}

static st_status unit_hook(void *ctx, st_graph_plan *plan, int k, st_graph_unit_event ev)
{
    (void)plan;
    st_shard_state *s = ctx;
    shard_unit *u = &s->lay->u[k];
    switch (ev) {
    case ST_GRAPH_UNIT_FORWARD_BEGIN:
        if (!s->p.params)
            return ST_OK;
        ST_TRY(gather_unit(s, k, 0));
        return rebind(s, k, 0);
    case ST_GRAPH_UNIT_BACKWARD_BEGIN:
        return begin_backward(s, k);
    case ST_GRAPH_UNIT_BACKWARD_END:
        if (s->p.grads && u->gslot >= 0)
            ST_TRY(reduce_unit(s, k));
        drop(s->lay, &u->gslot);
        drop(s->lay, &u->pslot);
        return ST_OK;
    default:
        drop(s->lay, &u->pslot);
        return ST_OK;
    }
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
                seen[l->unit_of[i]] = 1;
                st = st_graph_set_param_unit(l->plan, n, l->unit_of[i]);
            }
        }
    }
    for (int i = 0; i < l->n_params && st == ST_OK; i++)
        if (!seen[l->unit_of[i]]) {
            st_param_info info;
            st_params_info(s->ps, i, &info);
            st = ST_ERR(ST_ERR_INVALID_ARG, "st_shard_attach_graph: no parameter of unit %d (e.g. '%s') is bound "
                        "in the plan: its gradient would never be reduced", l->unit_of[i], info.name);
        }
    free(seen);
    return st;
}

static st_status layers_new(st_shard_state *s, st_graph_plan *plan, const int *units, shard_layers **out)
{
    shard_layers *l = calloc(1, sizeof *l);
    if (!l)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    s->lay = l;
    l->plan = plan;
    int n = l->n_params = st_params_count(s->ps);
    l->unit_of = malloc(sizeof(int) * (size_t)n);
    l->pos = calloc((size_t)n, sizeof(int64_t));
    l->pv = calloc((size_t)n, sizeof *l->pv);
    l->gv = calloc((size_t)n, sizeof *l->gv);
    l->pv_slot = malloc(sizeof(int) * (size_t)n);
    l->gv_slot = malloc(sizeof(int) * (size_t)n);
    if (!l->unit_of || !l->pos || !l->pv || !l->gv || !l->pv_slot || !l->gv_slot)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    for (int i = 0; i < n; i++)
        l->pv_slot[i] = l->gv_slot[i] = -1;
    if (units) {
        for (int i = 0; i < n; i++) {
            if (units[i] < 0 || units[i] >= n)
                return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_attach_graph: unit %d of parameter %d outside [0, %d)",
                              units[i], i, n);
            l->unit_of[i] = units[i];
            l->n_units = units[i] + 1 > l->n_units ? units[i] + 1 : l->n_units;
        }
    } else {
        ST_TRY(default_units(s->ps, l->unit_of, &l->n_units));
    }
    l->u = calloc((size_t)l->n_units, sizeof *l->u);
    if (!l->u)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_attach_graph: host allocation failed");
    for (int k = 0; k < l->n_units; k++)
        l->u[k].pslot = l->u[k].gslot = -1;
    ST_TRY(build_runs(s, l));
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
