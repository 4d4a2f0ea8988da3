/* The gradient of every differentiable op of the table, as the graph runs it (the op's backward
 * op or gradient rule, with the lifetimes its row's reads give), against central finite
 * differences of the eager op, on each of the op's cases (st_op_case_get) at a few elements.
 * Nothing here names an op: a new row with a gradient is checked by the same code. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"

/* Sizes small enough to perturb every element: B T = 6 rows, C = 4, 2 heads, V = 5 (padded 8). */
static const st_op_dims micro = {2, 3, 4, 2, 5, 8, ST_F32};

#define GRAD_EPS 1e-3
#define GRAD_TOL 1e-2

typedef struct gt_ctx {
    st_op op;
    const st_op_case *cs;
    ht *in;        /* the op's inputs */
    ht *out;       /* its outputs */
    const double *w;
} gt_ctx;

/* L = sum(out0 * w) of the eager op on the current inputs. */
static int gt_run(void *ctx, check *k, double *loss)
{
    gt_ctx *g = ctx;
    const st_op_info *info = st_op_info_get(g->op);
    st_tensor *outs[ST_MAX_OP_OUT];
    const st_tensor *ins[ST_MAX_OP_IN];
    for (int i = 0; i < info->n_out; i++) outs[i] = g->out[i].t;
    for (int i = 0; i < info->n_in; i++) ins[i] = g->in[i].t;
    if (!check_ok(k, st_op_run(g->op, outs, info->n_out, ins, info->n_in, &g->cs->params), info->name) ||
        !ht_fetch(k, &g->out[0]))
        return 0;
    *loss = conf_dot(&g->out[0], g->w);
    return 1;
}

/* Distinct values 1/n apart in [0.5, 1.5), shuffled: positive (log, sqrt), and no two within a
 * perturbation of each other (max). Integers (indices) in [0, V). */
static int fill_input(conf *c, check *k, ht *h, const st_tensor_desc *d)
{
    int64_t n = 1;
    for (int i = 0; i < d->ndim; i++) n *= d->shape[i];
    double *v = malloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++)
        v[i] = d->dtype == ST_I32 ? (double)(conf_rand_u64(c) % (uint64_t)micro.V) : 0.5 + ((double)i + 0.5) / (double)n;
    for (int64_t i = n - 1; i > 0 && d->dtype != ST_I32; i--) {
        int64_t j = (int64_t)(conf_rand_u64(c) % (uint64_t)(i + 1));
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    int ok = ht_from(c, k, h, d->dtype, d->ndim, d->shape, L_CONTIG, v);
    free(v);
    return ok;
}

/* The graph: each float input a parameter with a gradient, each integer input an input node, the
 * op, and loss = sum(op * w). Backward leaves d L / d input in grads[i]. */
static int graph_grads(conf *c, check *k, gt_ctx *g, const st_op_info *info, ht *wt, st_tensor **grads)
{
    st_graph *gr = NULL;
    st_graph_plan *plan = NULL;
    st_node nodes[ST_MAX_OP_IN];
    int ok = check_ok(k, st_graph_create(&gr), "st_graph_create");
    for (int i = 0; ok && i < info->n_in; i++) {
        const ht *x = &g->in[i];
        if (x->dt == ST_I32) {
            nodes[i] = st_graph_input(gr, info->operand[info->n_out + i].name, x->dt, x->ndim, x->shape);
            continue;
        }
        ok = check_ok(k, st_tensor_create(c->dev, x->dt, x->ndim, x->shape, &grads[i]), "gradient tensor") &&
             check_ok(k, st_fill(grads[i], 0.0), "st_fill");
        nodes[i] = st_graph_param(gr, info->operand[info->n_out + i].name, x->t, grads[i]);
    }
    st_node w = st_graph_param(gr, "w", wt->t, NULL);
    st_node y = st_graph_op(gr, info->op, nodes, info->n_in, &g->cs->params);
    st_node loss = st_graph_sum(gr, st_graph_mul(gr, y, w), ST_GRAPH_ALL_AXES);
    ok = ok && check_ok(k, st_graph_status(gr), "building the graph") && check_ok(k, st_graph_set_loss(gr, loss), "loss") &&
         check_ok(k, st_graph_compile(gr, c->dev, &plan), "st_graph_compile");
    for (int i = 0; ok && i < info->n_in; i++)
        if (g->in[i].dt == ST_I32) ok = check_ok(k, st_graph_bind(plan, nodes[i], g->in[i].t), "st_graph_bind");
    ok = ok && check_ok(k, st_graph_forward(plan), "st_graph_forward") && check_ok(k, st_graph_backward(plan), "st_graph_backward");
    st_graph_plan_destroy(plan);
    st_graph_destroy(gr);
    return ok;
}

static void grad_case(conf *c, check *k, const st_op_info *info, const st_op_case *cs)
{
    ht in[ST_MAX_OP_IN] = {{0}}, out[ST_MAX_OP_OUT] = {{0}}, wt = {0};
    st_tensor *grads[ST_MAX_OP_IN] = {0};
    double *w = NULL;
    char s1[64];
    const st_tensor_desc *o = &cs->operand[0];
    check_case(k, "%s%sout %s", cs->label, cs->label[0] ? ", " : "", shape_str(s1, sizeof s1, o->ndim, o->shape));
    gt_ctx g = {info->op, cs, in, out, NULL};
    int ok = 1;
    for (int i = 0; ok && i < info->n_out; i++)
        ok = ht_out(c, k, &out[i], cs->operand[i].dtype, cs->operand[i].ndim, cs->operand[i].shape, L_CONTIG);
    for (int i = 0; ok && i < info->n_in; i++) ok = fill_input(c, k, &in[i], &cs->operand[info->n_out + i]);
    if (ok) {
        g.w = w = conf_weights(c, out[0].n);
        ok = ht_from(c, k, &wt, o->dtype, o->ndim, o->shape, L_CONTIG, w) && graph_grads(c, k, &g, info, &wt, grads);
    }
    for (int i = 0; ok && i < info->n_in; i++) {
        if (!grads[i]) continue;
        double *got = malloc(sizeof(double) * (size_t)(in[i].n + 1));
        float *raw = malloc(sizeof(float) * (size_t)(in[i].n + 1));
        ok = check_ok(k, st_tensor_read(grads[i], raw, sizeof(float) * (size_t)in[i].n), "reading a gradient");
        for (int64_t e = 0; ok && e < in[i].n; e++) got[e] = raw[e];
        ok = ok && fd_check(k, info->operand[info->n_out + i].name, &in[i], got, gt_run, &g, GRAD_EPS);
        free(got);
        free(raw);
    }
    free(w);
    for (int i = 0; i < ST_MAX_OP_IN; i++) {
        ht_free(&in[i]);
        st_tensor_destroy(grads[i]);
    }
    for (int i = 0; i < ST_MAX_OP_OUT; i++) ht_free(&out[i]);
    ht_free(&wt);
}

void conf_grad(conf *c, st_op op)
{
    const st_op_info *info = st_op_info_get(op);
    check k;
    check_begin(&k, info->name, ST_F32, info->grad == ST_GRAD_OP ? "grad (graph, backward op vs finite differences)"
                                                               : "grad (graph, gradient rule vs finite differences)",
                GRAD_TOL);
    if (!info->n_cases) check_fail(&k, "the op table gives no case to check the gradient on");
    for (int i = 0; i < info->n_cases; i++) {
        st_op_case cs;
        if (check_ok(&k, st_op_case_get(op, i, &micro, &cs), "st_op_case_get")) grad_case(c, &k, info, &cs);
    }
    check_end(&k);
}
