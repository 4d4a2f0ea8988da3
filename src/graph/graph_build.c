/* Graph construction (graph.h): leaves, op nodes and their shape/dtype inference. Errors are
 * recorded in the graph (first one kept) so a model is built in straight-line code and checked
 * once; see graph.h. Running the graph is graph_exec.c / graph_backward.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph_internal.h"

static const char *const kind_names[G_KIND_COUNT] = {
    "input", "param", "add", "sub", "mul", "div", "scale", "unary", "matmul", "sum", "mean",
    "softmax", "layernorm", "embedding", "cross_entropy", "attention", "reshape", "transpose",
    "slice", "contiguous"};

const char *g_kind_name(const g_node *nd)
{
    if (nd->kind == G_UNARY) return st_op_name(nd->attr.op);
    if (nd->kind == G_COPY && nd->attr.op == ST_OP_CAST) return "cast";
    return kind_names[nd->kind];
}

int g_is_view(g_kind k) { return k == G_RESHAPE || k == G_TRANSPOSE || k == G_SLICE; }
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
        st_tensor_free(g->nodes[i].value);
        st_tensor_free(g->nodes[i].grad);
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
g_node *g_new_node(st_graph *g, g_kind kind, const st_node *in, int n_in)
{
    if (!g) return NULL;
    for (int i = 0; i < n_in; i++) {
        if (in[i] >= 0 && in[i] < g->n) continue;
        if (in[i] != ST_NODE_NONE || g->status == ST_OK)
            g_fail(g, ST_ERR_INVALID_ARG, kind_names[kind], "input %d is node %d, not a node of this graph",
                   i, (int)in[i]);
        return NULL;
    }
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        g_node *nodes = realloc(g->nodes, sizeof *nodes * (size_t)cap);
        if (!nodes) {
            g_fail(g, ST_ERR_OUT_OF_MEMORY, kind_names[kind], "host allocation failed");
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

static const char *shape_str(const g_node *nd, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s[", nd->name[0] ? nd->name : g_kind_name(nd));
    for (int i = 0; i < nd->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)nd->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}
#define SHAPE(nd) shape_str((nd), (char[96]){0}, 96)

static int shape_ok(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim && !shape)) return 0;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return 0;
    return 1;
}

st_node st_graph_input(st_graph *g, const char *name, st_dtype dt, int ndim, const int64_t *shape)
{
    g_node *nd = g_new_node(g, G_INPUT, NULL, 0);
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
    g_node *nd = g_new_node(g, G_PARAM, NULL, 0);
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
        st_tensor_free(nd->value);
        return reject(g, nd, ST_ERR_OUT_OF_MEMORY, "host allocation failed");
    }
    return g->n++;
}

/* ---- elementwise ---- */

static st_node binary(st_graph *g, g_kind kind, st_node a, st_node b)
{
    g_node *nd = g_new_node(g, kind, (st_node[]){a, b}, 2);
    if (!nd) return ST_NODE_NONE;
    const g_node *na = &g->nodes[a], *nb = &g->nodes[b];
    if (!g_is_float(na->dtype) || na->dtype != nb->dtype)
        return reject(g, nd, ST_ERR_DTYPE, "operands %s %s and %s %s: need one float dtype", SHAPE(na),
                      st_dtype_name(na->dtype), SHAPE(nb), st_dtype_name(nb->dtype));
    int nd_out = na->ndim > nb->ndim ? na->ndim : nb->ndim;
    nd->ndim = nd_out;
    for (int i = 0; i < nd_out; i++) {
        int ia = i - (nd_out - na->ndim), ib = i - (nd_out - nb->ndim);
        int64_t sa = ia >= 0 ? na->shape[ia] : 1, sb = ib >= 0 ? nb->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return reject(g, nd, ST_ERR_SHAPE, "%s and %s do not broadcast (dim %d: %lld vs %lld)",
                          SHAPE(na), SHAPE(nb), i, (long long)sa, (long long)sb);
        nd->shape[i] = sa == 1 ? sb : sa;
    }
    return g->n++;
}

st_node st_graph_add(st_graph *g, st_node a, st_node b) { return binary(g, G_ADD, a, b); }
st_node st_graph_sub(st_graph *g, st_node a, st_node b) { return binary(g, G_SUB, a, b); }
st_node st_graph_mul(st_graph *g, st_node a, st_node b) { return binary(g, G_MUL, a, b); }
st_node st_graph_div(st_graph *g, st_node a, st_node b) { return binary(g, G_DIV, a, b); }

static st_node float_check(st_graph *g, g_node *nd)
{
    const g_node *x = &g->nodes[nd->in[0]];
    if (!g_is_float(x->dtype))
        return reject(g, nd, ST_ERR_DTYPE, "%s is %s, need f32 or bf16", SHAPE(x), st_dtype_name(x->dtype));
    return g->n++;
}

st_node st_graph_scale(st_graph *g, st_node x, float alpha, float beta)
{
    g_node *nd = g_new_node(g, G_SCALE, &x, 1);
    if (!nd) return ST_NODE_NONE;
    nd->attr.alpha = alpha;
    nd->attr.beta = beta;
    return float_check(g, nd);
}

st_node st_graph_unary(st_graph *g, st_op op, st_node x)
{
    g_node *nd = g_new_node(g, G_UNARY, &x, 1);
    if (!nd) return ST_NODE_NONE;
    nd->attr.op = op;
    if (op != ST_OP_GELU && op != ST_OP_RELU && op != ST_OP_EXP && op != ST_OP_LOG &&
        op != ST_OP_TANH && op != ST_OP_SQRT && op != ST_OP_RSQRT) {
        nd->attr.op = ST_OP_EXP; /* a printable name for the message */
        return reject(g, nd, ST_ERR_INVALID_ARG, "op %d is not gelu, relu, exp, log, tanh, sqrt or rsqrt",
                      (int)op);
    }
    return float_check(g, nd);
}

st_node st_graph_gelu(st_graph *g, st_node x) { return st_graph_unary(g, ST_OP_GELU, x); }
st_node st_graph_relu(st_graph *g, st_node x) { return st_graph_unary(g, ST_OP_RELU, x); }

st_node st_graph_softmax(st_graph *g, st_node x, int causal)
{
    g_node *nd = g_new_node(g, G_SOFTMAX, &x, 1);
    if (!nd) return ST_NODE_NONE;
    nd->attr.causal = causal;
    if (nd->ndim < 1) return reject(g, nd, ST_ERR_SHAPE, "softmax of a 0-dim tensor");
    return float_check(g, nd);
}

st_node st_graph_contiguous(st_graph *g, st_node x)
{
    g_node *nd = g_new_node(g, G_COPY, &x, 1);
    return nd ? g->n++ : ST_NODE_NONE;
}

st_node st_graph_cast(st_graph *g, st_node x, st_dtype dt)
{
    g_node *nd = g_new_node(g, G_COPY, &x, 1);
    if (!nd) return ST_NODE_NONE;
    nd->attr.op = ST_OP_CAST;
    if (!g_is_float(dt))
        return reject(g, nd, ST_ERR_DTYPE, "cast to %s, need f32 or bf16", st_dtype_name(dt));
    nd->dtype = dt;
    return float_check(g, nd);
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
