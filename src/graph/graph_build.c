/* Graph construction (graph.h): leaves and op nodes, whose shapes and dtypes come from the op's
 * rule in the table, the same check the eager call makes. Errors are recorded in the graph
 * (first one kept) so a model is built in straight-line code and checked once; see graph.h. The
 * per-op builders and views are in graph_build_ops.c; running the graph is graph_exec.c and
 * graph_backward.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph_internal.h"

const char *g_view_name(g_view v)
{
    static const char *const names[] = {[G_RESHAPE] = "reshape", [G_TRANSPOSE] = "transpose", [G_SLICE] = "slice"};
    return names[v];
}

const char *g_kind_name(const g_node *nd)
{
    switch (nd->kind) {
    case G_INPUT: return "input";
    case G_PARAM: return "param";
    case G_VIEW: return g_view_name(nd->view.kind);
    case G_OP: return st_op_name(nd->op);
    }
    return "?";
}

int g_is_float(st_dtype dt) { return dt == ST_F32 || dt == ST_BF16; }

st_status g_fail(st_graph *g, st_status s, const char *what, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g->status == ST_OK) g->status = s;
    return ST_ERR(s, "graph: %s #%d: %s", what, g ? g->n : -1, msg);
}

st_status st_graph_create(st_graph **out)
{
    if (!out) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_create: NULL out");
    st_graph *g = calloc(1, sizeof *g);
    if (!g) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_graph_create: host allocation failed");
    g->loss = ST_NODE_NONE;
    *out = g;
    return ST_OK;
}

void st_graph_destroy(st_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        st_tensor_destroy(g->nodes[i].value);
        st_tensor_destroy(g->nodes[i].grad);
    }
    free(g->nodes);
    free(g);
}

st_status st_graph_status(const st_graph *g) { return g ? g->status : ST_ERR_INVALID_ARG; }
int st_graph_node_count(const st_graph *g) { return g ? g->n : 0; }

static const g_node *node_at(const st_graph *g, st_node n)
{
    return g && n >= 0 && n < g->n ? &g->nodes[n] : NULL;
}

int st_graph_node_shape(const st_graph *g, st_node n, int64_t *shape)
{
    const g_node *nd = node_at(g, n);
    if (!nd) return 0;
    if (shape) memcpy(shape, nd->shape, sizeof(int64_t) * (size_t)nd->ndim);
    return nd->ndim;
}

st_dtype st_graph_node_dtype(const st_graph *g, st_node n)
{
    const g_node *nd = node_at(g, n);
    return nd ? nd->dtype : ST_DTYPE_COUNT;
}

st_node st_graph_name(st_graph *g, st_node n, const char *name)
{
    if (g && n >= 0 && n < g->n && name) snprintf(g->nodes[n].name, sizeof g->nodes[n].name, "%s", name);
    return n;
}

/* A new node of `kind` on inputs `in`, with the first input's dtype and shape. NULL when an
 * input is bad (an earlier error: quietly; an out-of-range index: recorded). */
g_node *g_new_node(st_graph *g, g_kind kind, const char *what, const st_node *in, int n_in)
{
    if (!g) return NULL;
    for (int i = 0; i < n_in; i++) {
        if (in && in[i] >= 0 && in[i] < g->n) continue;
        if (!in || in[i] != ST_NODE_NONE || g->status == ST_OK)
            g_fail(g, ST_ERR_INVALID_ARG, what, "input %d is node %d, not a node of this graph", i,
                   in ? (int)in[i] : -1);
        return NULL;
    }
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        g_node *nodes = realloc(g->nodes, sizeof *nodes * (size_t)cap);
        if (!nodes) {
            g_fail(g, ST_ERR_OUT_OF_MEMORY, what, "host allocation failed");
            return NULL;
        }
        g->nodes = nodes;
        g->cap = cap;
    }
    g_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->n_in = n_in;
    for (int i = 0; i < n_in; i++) nd->in[i] = in[i];
    if (n_in) {
        const g_node *a = &g->nodes[in[0]];
        nd->dtype = a->dtype;
        nd->ndim = a->ndim;
        memcpy(nd->shape, a->shape, sizeof nd->shape);
    }
    return nd;
}

/* Records error `s` for the node in construction (it is not committed). */
static st_node reject(st_graph *g, g_node *nd, st_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static st_node reject(st_graph *g, g_node *nd, st_status s, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_fail(g, s, g_kind_name(nd), "%s", msg);
    return ST_NODE_NONE;
}

static int shape_ok(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim && !shape)) return 0;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return 0;
    return 1;
}

st_node st_graph_input(st_graph *g, const char *name, st_dtype dt, int ndim, const int64_t *shape)
{
    g_node *nd = g_new_node(g, G_INPUT, "input", NULL, 0);
    if (!nd) return ST_NODE_NONE;
    if (name) snprintf(nd->name, sizeof nd->name, "%s", name);
    if (!shape_ok(ndim, shape) || st_dtype_size(dt) == 0)
        return reject(g, nd, ST_ERR_INVALID_ARG, "bad dtype %d or shape (ndim %d)", (int)dt, ndim);
    nd->dtype = dt;
    nd->ndim = ndim;
    for (int i = 0; i < ndim; i++) nd->shape[i] = shape[i];
    return g->n++;
}

st_node st_graph_param(st_graph *g, const char *name, st_tensor *value, st_tensor *grad)
{
    g_node *nd = g_new_node(g, G_PARAM, "param", NULL, 0);
    if (!nd) return ST_NODE_NONE;
    if (name) snprintf(nd->name, sizeof nd->name, "%s", name);
    if (!value) return reject(g, nd, ST_ERR_INVALID_ARG, "NULL value tensor");
    nd->dtype = st_tensor_dtype(value);
    nd->ndim = st_tensor_ndim(value);
    for (int i = 0; i < nd->ndim; i++) nd->shape[i] = st_tensor_dim(value, i);
    if (grad && (st_tensor_dtype(grad) != nd->dtype || st_tensor_ndim(grad) != nd->ndim ||
                 memcmp(grad->shape, value->shape, sizeof(int64_t) * (size_t)nd->ndim)))
        return reject(g, nd, ST_ERR_SHAPE, "gradient tensor does not match the value's dtype and shape");
    if (grad && grad->storage->dev != value->storage->dev)
        return reject(g, nd, ST_ERR_DEVICE, "gradient and value on different devices");
    if (st_tensor_ref(value, &nd->value) != ST_OK || (grad && st_tensor_ref(grad, &nd->grad) != ST_OK)) {
        st_tensor_destroy(nd->value);
        return reject(g, nd, ST_ERR_OUT_OF_MEMORY, "host allocation failed");
    }
    return g->n++;
}

/* ---- op nodes ---- */

/* The rule's message without its "<op>: " prefix, which g_fail's "graph: <op> #n:" repeats. */
static const char *rule_message(const st_op_info *info)
{
    const char *m = st_last_error();
    size_t n = strlen(info->name);
    return strncmp(m, info->name, n) == 0 && m[n] == ':' && m[n + 1] == ' ' ? m + n + 2 : m;
}

st_node g_op(st_graph *g, st_op op, const st_node *in, int n_in, const void *params)
{
    const st_op_info *info = st_op_info_get(op);
    if (!info) {
        if (g) g_fail(g, ST_ERR_INVALID_ARG, "op", "op %d is not an op of the table", (int)op);
        return ST_NODE_NONE;
    }
    if (n_in < 0 || n_in > ST_MAX_OP_IN) {
        if (g) g_fail(g, ST_ERR_INVALID_ARG, info->name, "takes %d inputs, not %d", info->n_in, n_in);
        return ST_NODE_NONE;
    }
    g_node *nd = g_new_node(g, G_OP, info->name, in, n_in);
    if (!nd) return ST_NODE_NONE;
    nd->op = op;
    if (n_in != info->n_in)
        return reject(g, nd, ST_ERR_INVALID_ARG, "takes %d inputs (\"%s\"), not %d", info->n_in, info->signature, n_in);
    if (info->flags & ST_OPF_INPLACE)
        return reject(g, nd, ST_ERR_INVALID_ARG, "updates its operands in place, which a graph node cannot");
    if (info->params_size && !params) return reject(g, nd, ST_ERR_INVALID_ARG, "NULL parameters");
    st_op_params_load(info, params, &nd->params);
    st_rule_ctx c = {.info = info, .p = &nd->params};
    for (int i = 0; i < n_in; i++) {
        const g_node *x = &g->nodes[in[i]];
        /* index data is bound, never computed, so that no gradient path runs through it */
        if (!g_is_float(x->dtype) && x->kind != G_INPUT)
            return reject(g, nd, ST_ERR_INVALID_ARG, "%s must be an input node", info->operand[info->n_out + i].name);
        c.in[i] = (st_tensor_desc){x->dtype, x->ndim, {0}};
        memcpy(c.in[i].shape, x->shape, sizeof x->shape);
    }
    st_status s = st_op_check(&c);
    if (s != ST_OK) return reject(g, nd, s, "%s", rule_message(info));
    nd->dtype = c.out[0].dtype;
    nd->ndim = c.out[0].ndim;
    memcpy(nd->shape, c.out[0].shape, sizeof nd->shape);
    nd->n_saved = info->n_out - 1;
    memcpy(nd->saved, c.out + 1, sizeof nd->saved[0] * (size_t)nd->n_saved);
    return g->n++;
}

st_node st_graph_op(st_graph *g, st_op op, const st_node *in, int n_in, const void *params)
{
    return g_op(g, op, in, n_in, params);
}

st_status st_graph_set_loss(st_graph *g, st_node loss)
{
    const g_node *nd = node_at(g, loss);
    if (!nd || !g_is_float(nd->dtype))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_set_loss: node %d is not a float node of the graph", (int)loss);
    g->loss = loss;
    return ST_OK;
}

st_status st_graph_keep(st_graph *g, st_node n)
{
    if (!node_at(g, n)) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_keep: node %d is not in the graph", (int)n);
    g->nodes[n].keep = 1;
    return ST_OK;
}
