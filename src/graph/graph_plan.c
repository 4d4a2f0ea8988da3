/* Graph compilation (st_graph_compile): which nodes need a gradient, how each gradient
 * contribution is handed over, the lifetime of every buffer over the forward+backward timeline,
 * and a greedy interval allocation of all of them into one arena tensor on the device.
 *
 * Timeline: node i runs its forward at step i and its gradient rule at step 2n-1-i. A buffer is
 * live over [first write, last read] (inclusive), and two buffers share memory only when their
 * intervals are disjoint, so no op ever reads memory that the same op writes. */
#include <stdlib.h>
#include <string.h>
#include "graph_internal.h"

#define G_ALIGN 256u

/* From the op table's reads: does op node nd's gradient read operand k (outputs first)? */
static int grad_reads(const g_node *nd, int k)
{
    const st_op_info *info = st_op_info_get(nd->op);
    for (int r = 0; r < info->n_reads; r++)
        if (info->reads[r] == k) return 1;
    return 0;
}

int g_grad_reads_input(const g_node *nd, int s)
{
    return nd->kind == G_OP && grad_reads(nd, 1 + nd->n_saved + s);
}

int g_needs_tmp(const st_graph_plan *p, int i, int s)
{
    const g_node *nd = &p->nodes[i];
    const st_op_info *info = st_op_info_get(nd->op);
    if (p->ex[i].mode[s] == G_ACCUMULATE) return !info->grad_accumulates;
    /* a backward op writes the gradient of every float input */
    return p->ex[i].mode[s] == G_NONE && info->grad == ST_GRAD_OP && g_is_float(p->nodes[nd->in[s]].dtype);
}

typedef struct buf {
    uint64_t bytes, off;
    int start, end;
    st_tensor **slot;
    st_dtype dt;
    int ndim;
    const int64_t *shape;
} buf;

typedef struct planner {
    st_graph_plan *p;
    int *end, *root, *grad_start;
    buf *bufs;
    int nb;
} planner;

static uint64_t nbytes(st_dtype dt, int ndim, const int64_t *shape)
{
    uint64_t b = st_dtype_size(dt);
    for (int i = 0; i < ndim; i++) b *= (uint64_t)shape[i];
    return (b + G_ALIGN - 1) / G_ALIGN * G_ALIGN;
}

static void add_buf(planner *pl, st_tensor **slot, st_dtype dt, int ndim, const int64_t *shape, int start, int end)
{
    pl->bufs[pl->nb++] = (buf){nbytes(dt, ndim, shape), 0, start, end, slot, dt, ndim, shape};
}

static void use(planner *pl, st_node j, int step)
{
    int r = pl->root[j];
    if (step > pl->end[r]) pl->end[r] = step;
}

/* needs_grad: on a path from a parameter with a gradient tensor to the loss. */
static st_status mark_needs_grad(st_graph_plan *p)
{
    int n = p->n;
    size_t cnt = n > 0 ? (size_t)n : 1;
    char *from_param = calloc(cnt, 1), *to_loss = calloc(cnt, 1);
    st_status s = ST_OK;
    if (!from_param || !to_loss) {
        s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_graph_compile: host allocation failed");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const g_node *nd = &p->nodes[i];
        from_param[i] = nd->kind == G_PARAM && nd->grad;
        for (int s = 0; s < nd->n_in; s++) from_param[i] |= from_param[nd->in[s]];
    }
    if (p->loss >= 0) to_loss[p->loss] = 1;
    for (int i = n - 1; i >= 0; i--)
        if (to_loss[i])
            for (int s = 0; s < p->nodes[i].n_in; s++) to_loss[p->nodes[i].in[s]] = 1;
    for (int i = 0; i < n && s == ST_OK; i++) {
        const g_node *nd = &p->nodes[i];
        p->ex[i].needs_grad = from_param[i] && to_loss[i];
        if (p->ex[i].needs_grad && nd->kind == G_OP && st_op_info_get(nd->op)->grad == ST_GRAD_NONE)
            s = ST_ERR(ST_ERR_INVALID_ARG, "st_graph_compile: %s #%d '%s' has no gradient, but lies between a "
                       "parameter and the loss", g_kind_name(nd), i, nd->name);
    }
out:
    free(from_param);
    free(to_loss);
    return s;
}

/* Contribution modes in backward order; grad_start[j] = step of j's first contribution. */
static void assign_modes(planner *pl)
{
    st_graph_plan *p = pl->p;
    int n = p->n;
    for (int i = n - 1; i >= 0; i--) {
        const g_node *nd = &p->nodes[i];
        if (!p->ex[i].needs_grad) continue;
        for (int s = 0; s < nd->n_in; s++) {
            st_node j = nd->in[s];
            if (!p->ex[j].needs_grad) continue;
            if (p->nodes[j].kind != G_PARAM && pl->grad_start[j] < 0) {
                p->ex[i].mode[s] = G_OVERWRITE;
                pl->grad_start[j] = 2 * n - 1 - i;
            } else {
                p->ex[i].mode[s] = G_ACCUMULATE;
            }
        }
    }
}

/* Last use of every forward value: forward consumers, backward reads, kept nodes. */
static void value_ends(planner *pl)
{
    st_graph_plan *p = pl->p;
    int n = p->n;
    for (int i = 0; i < n; i++) {
        const g_node *nd = &p->nodes[i];
        pl->root[i] = nd->kind == G_VIEW ? pl->root[nd->in[0]] : i;
        pl->end[i] = i;
        for (int s = 0; s < nd->n_in; s++) use(pl, nd->in[s], i);
        if (nd->keep || i == p->loss) use(pl, i, 2 * n);
        if (!p->ex[i].needs_grad || nd->kind != G_OP) continue;
        for (int s = 0; s < nd->n_in; s++)
            if (g_grad_reads_input(nd, s)) use(pl, nd->in[s], 2 * n - 1 - i);
        if (grad_reads(nd, 0)) use(pl, i, 2 * n - 1 - i);
    }
}

static void collect(planner *pl)
{
    st_graph_plan *p = pl->p;
    int n = p->n;
    for (int i = 0; i < n; i++) {
        g_node *nd = &p->nodes[i];
        g_exec *ex = &p->ex[i];
        int bwd = 2 * n - 1 - i, leaf = nd->kind == G_INPUT || nd->kind == G_PARAM;
        if (nd->kind == G_OP) add_buf(pl, &ex->value, nd->dtype, nd->ndim, nd->shape, i, pl->end[i]);
        for (int k = 0; k < nd->n_saved; k++)
            add_buf(pl, &ex->saved[k], nd->saved[k].dtype, nd->saved[k].ndim, nd->saved[k].shape, i,
                    ex->needs_grad ? bwd : i);
        if (!ex->needs_grad) continue;
        if (!leaf) {
            int start = i == p->loss ? bwd : pl->grad_start[i];
            add_buf(pl, &ex->grad, nd->dtype, nd->ndim, nd->shape, start < 0 ? bwd : start, bwd);
        }
        if (nd->kind != G_OP) continue; /* views accumulate in place through a view */
        for (int s = 0; s < nd->n_in; s++) {
            const g_node *in = &p->nodes[nd->in[s]];
            if (g_needs_tmp(p, i, s)) add_buf(pl, &ex->tmp[s], in->dtype, in->ndim, in->shape, bwd, bwd);
        }
    }
}

static int by_size_desc(const void *x, const void *y)
{
    const buf *a = *(const buf *const *)x, *b = *(const buf *const *)y;
    if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
    return a->start - b->start;
}

static int by_off(const void *x, const void *y)
{
    const buf *a = *(const buf *const *)x, *b = *(const buf *const *)y;
    return a->off < b->off ? -1 : a->off > b->off;
}

/* Largest first, each at the lowest offset free of every placed buffer live at the same time. */
static st_status allocate(planner *pl, uint64_t *arena_bytes)
{
    int nb = pl->nb;
    buf **order = malloc(sizeof *order * (size_t)(nb ? nb : 1));
    buf **live = malloc(sizeof *live * (size_t)(nb ? nb : 1));
    if (!order || !live) {
        free(order);
        free(live);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_graph_compile: host allocation failed");
    }
    for (int i = 0; i < nb; i++) order[i] = &pl->bufs[i];
    qsort(order, (size_t)nb, sizeof *order, by_size_desc);
    uint64_t top = 0;
    for (int i = 0; i < nb; i++) {
        buf *b = order[i];
        int nl = 0;
        for (int k = 0; k < i; k++)
            if (order[k]->start <= b->end && b->start <= order[k]->end) live[nl++] = order[k];
        qsort(live, (size_t)nl, sizeof *live, by_off);
        uint64_t off = 0;
        for (int k = 0; k < nl && live[k]->off < off + b->bytes; k++)
            if (live[k]->off + live[k]->bytes > off) off = live[k]->off + live[k]->bytes;
        b->off = off;
        if (off + b->bytes > top) top = off + b->bytes;
    }
    free(order);
    free(live);
    *arena_bytes = top;
    return ST_OK;
}

static st_status make_views(planner *pl)
{
    st_graph_plan *p = pl->p;
    uint64_t words = p->mem.arena_bytes / 4;
    ST_TRY(st_tensor_create(p->dev, ST_F32, 1, (int64_t[]){(int64_t)(words ? words : 1)}, &p->arena));
    for (int i = 0; i < pl->nb; i++) {
        buf *b = &pl->bufs[i];
        ST_TRY(g_arena_view(p->arena, b->dt, b->ndim, b->shape, b->off, b->slot));
    }
    for (int i = 0; i < p->n; i++) {
        g_node *nd = &p->nodes[i];
        if (nd->kind != G_PARAM) continue;
        ST_TRY(st_tensor_ref(nd->value, &p->ex[i].value));
        if (p->ex[i].needs_grad) ST_TRY(st_tensor_ref(nd->grad, &p->ex[i].grad));
    }
    return ST_OK;
}

st_status g_arena_view(st_tensor *arena, st_dtype dt, int ndim, const int64_t *shape, uint64_t off,
                       st_tensor **out)
{
    st_tensor *t = malloc(sizeof *t);
    if (!t) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "graph: host allocation of a view handle failed");
    *t = *arena;
    t->storage->refs++;
    t->dtype = dt;
    t->ndim = ndim;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = stride;
        stride *= shape[i];
    }
    t->offset = (int64_t)(off / st_dtype_size(dt));
    *out = t;
    return ST_OK;
}

static st_status plan_memory(st_graph_plan *p)
{
    int n = p->n;
    planner pl = {.p = p};
    pl.end = malloc(sizeof(int) * (size_t)n);
    pl.root = malloc(sizeof(int) * (size_t)n);
    pl.grad_start = malloc(sizeof(int) * (size_t)n);
    pl.bufs = malloc(sizeof(buf) * (size_t)n * (2 + G_MAX_SAVED + ST_MAX_OP_IN));
    st_status s = ST_OK;
    if (!pl.end || !pl.root || !pl.grad_start || !pl.bufs) {
        s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_graph_compile: host allocation failed");
        goto out;
    }
    for (int i = 0; i < n; i++) pl.grad_start[i] = -1;
    s = mark_needs_grad(p);
    if (s != ST_OK) goto out;
    assign_modes(&pl);
    value_ends(&pl);
    collect(&pl);
    p->mem.buffers = pl.nb;
    for (int i = 0; i < pl.nb; i++) p->mem.unshared_bytes += pl.bufs[i].bytes;
    s = allocate(&pl, &p->mem.arena_bytes);
    if (s == ST_OK) s = make_views(&pl);
out:
    free(pl.end);
    free(pl.root);
    free(pl.grad_start);
    free(pl.bufs);
    return s;
}

static st_status check_devices(const st_graph *g, st_device *dev)
{
    for (int i = 0; i < g->n; i++) {
        const g_node *nd = &g->nodes[i];
        if (nd->kind == G_PARAM && (st_tensor_device(nd->value) != dev || (nd->grad && st_tensor_device(nd->grad) != dev)))
            return ST_ERR(ST_ERR_DEVICE, "st_graph_compile: parameter #%d '%s' lives on %s, the plan on %s", i,
                          nd->name, st_device_label(st_tensor_device(nd->value)), st_device_label(dev));
    }
    return ST_OK;
}

st_status st_graph_compile(const st_graph *g, st_device *dev, st_graph_plan **out)
{
    if (!g || !dev || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_compile: NULL graph, device or out");
    if (g->status != ST_OK)
        return ST_ERR(g->status, "st_graph_compile: the graph has a build error (%s); see the first "
                      "ST_NODE_NONE returned while building", st_status_string(g->status));
    ST_TRY(check_devices(g, dev));
    st_graph_plan *p = calloc(1, sizeof *p);
    if (!p) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_graph_compile: host allocation failed");
    p->n = g->n;
    p->loss = g->loss;
    p->dev = dev;
    p->views_dirty = 1;
    p->nodes = malloc(sizeof *p->nodes * (size_t)(g->n ? g->n : 1));
    p->ex = calloc((size_t)(g->n ? g->n : 1), sizeof *p->ex);
    if (!p->nodes || !p->ex) {
        st_graph_plan_destroy(p);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_graph_compile: host allocation failed");
    }
    memcpy(p->nodes, g->nodes, sizeof *p->nodes * (size_t)g->n);
    for (int i = 0; i < p->n; i++) p->nodes[i].value = p->nodes[i].grad = NULL;
    for (int i = 0; i < p->n; i++) /* the plan's copies borrow the graph's params until make_views */
        if (p->nodes[i].kind == G_PARAM) {
            p->nodes[i].value = g->nodes[i].value;
            p->nodes[i].grad = g->nodes[i].grad;
        }
    st_status s = plan_memory(p);
    for (int i = 0; i < p->n; i++) p->nodes[i].value = p->nodes[i].grad = NULL;
    if (s != ST_OK) {
        st_graph_plan_destroy(p);
        return s;
    }
    *out = p;
    return ST_OK;
}

void st_graph_plan_destroy(st_graph_plan *p)
{
    if (!p) return;
    for (int i = 0; p->ex && i < p->n; i++) {
        g_exec *ex = &p->ex[i];
        st_tensor_destroy(ex->value);
        st_tensor_destroy(ex->grad);
        for (int k = 0; k < G_MAX_SAVED; k++) st_tensor_destroy(ex->saved[k]);
        for (int k = 0; k < ST_MAX_OP_IN; k++) st_tensor_destroy(ex->tmp[k]);
    }
    st_tensor_destroy(p->arena);
    g_units_free(p);
    free(p->nodes);
    free(p->ex);
    free(p);
}

st_status st_graph_memory_get(const st_graph_plan *p, st_graph_memory *out)
{
    if (!p || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_memory_get: NULL plan or out");
    *out = p->mem;
    return ST_OK;
}
