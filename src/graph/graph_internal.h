/* Internals of the graph module (graph.h): node and plan structs shared by the builder
 * (graph_build.c), the memory planner (graph_plan.c) and the executors (graph_exec.c,
 * graph_backward.c). Not a public header. */
#ifndef STRATA_GRAPH_INTERNAL_H
#define STRATA_GRAPH_INTERNAL_H

#include "op_impl.h"
#include "strata/graph.h"

/* Four kinds of node: leaves (inputs, parameters), views of another node, and ops, each an op of
 * the table (op_table.h) with its params. An op's first output is the node's value; its other
 * outputs are saved for its gradient (layernorm's mean and rstd). */
typedef enum g_kind { G_INPUT, G_PARAM, G_VIEW, G_OP } g_kind;
typedef enum g_view { G_RESHAPE, G_TRANSPOSE, G_SLICE } g_view;

#define G_MAX_SAVED (ST_MAX_OP_OUT - 1)
#define G_PROF_MAX 64 /* distinct profile names: op names, forward and backward */

typedef struct g_node {
    g_kind kind;
    char name[48];
    int n_in;
    st_node in[ST_MAX_OP_IN];
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    st_op op;                              /* G_OP */
    st_op_params params;                   /* G_OP: as st_op_run takes them */
    int n_saved;                           /* G_OP: outputs after the first */
    st_tensor_desc saved[G_MAX_SAVED];
    struct {
        g_view kind;
        int axis, axis1;
        int64_t start, len;
    } view;                                /* G_VIEW */
    st_tensor *value, *grad;               /* params: caller's tensors (own refs) */
    int keep;
} g_node;

struct st_graph {
    g_node *nodes;
    int n, cap;
    st_status status;
    st_node loss;
};

/* How a backward rule hands a gradient to an input: written straight into the input's grad
 * buffer (first contribution), or into a temporary then added (later ones, and parameters,
 * whose caller-owned gradient always accumulates). */
typedef enum g_mode { G_NONE = 0, G_OVERWRITE, G_ACCUMULATE } g_mode;

typedef struct g_exec {
    st_tensor *value;                /* forward value: arena view, view node, input or param */
    st_tensor *grad;                 /* gradient: arena view, or a param's caller tensor */
    st_tensor *saved[G_MAX_SAVED];
    st_tensor *tmp[ST_MAX_OP_IN];    /* per-input scratch for accumulating contributions */
    g_mode mode[ST_MAX_OP_IN];
    int needs_grad;                  /* on a path from a parameter with a gradient to the loss */
} g_exec;

struct st_graph_plan {
    g_node *nodes;                   /* copy of the graph's nodes at compile time */
    g_exec *ex;
    int n;
    st_node loss;
    st_device *dev;
    st_tensor *arena;
    st_graph_memory mem;
    int forward_done, views_dirty;
    int profile, n_prof;             /* st_graph_set_profile; entries used in prof */
    double prof_t;                   /* ms: end of the last timed node */
    st_graph_op_time prof[G_PROF_MAX];
    st_graph_trace_fn trace;         /* st_graph_set_trace: called while profiling */
    void *trace_ctx;
    /* Parameter units (graph_units.c): unit of each node (-1: none; NULL until one is set) and,
     * per unit, the first and last node of its forward and backward use (-1: unused). */
    int *unit;
    int n_units, units_dirty;
    st_graph_unit_hook hook;
    st_graph_progress_hook progress;
    void *progress_ctx;
    void *hook_ctx;
    int *fwd_first, *fwd_last, *bwd_first, *bwd_last;
};

/* Records error s for the node being built (index g->n) in the graph and the thread message. */
st_status g_fail(st_graph *g, st_status s, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A node of `kind` on inputs `in` being built at index g->n, with the first input's dtype and
 * shape; committed by g->n++. NULL when an input is bad (an earlier error: quietly). `what`
 * names the node in messages. */
g_node *g_new_node(st_graph *g, g_kind kind, const char *what, const st_node *in, int n_in);
/* A view node of x (shape to be set by the caller), or NULL. */
g_node *g_new_view(st_graph *g, g_view kind, st_node x);
/* Op node: checks and infers through the op's rule, as the eager call will check it. */
st_node g_op(st_graph *g, st_op op, const st_node *in, int n_in, const void *params);
int g_is_float(st_dtype dt);
const char *g_view_name(g_view v);
/* "input", "param", "reshape", ..., or the op's name: how messages and profiles name a node. */
const char *g_kind_name(const g_node *nd);

/* A contiguous view of `dt`/shape at byte offset `off` of the arena (new handle). */
st_status g_arena_view(st_tensor *arena, st_dtype dt, int ndim, const int64_t *shape, uint64_t off,
                       st_tensor **out);
/* (Re)creates the view handles of view nodes from their inputs' current values. */
st_status g_refresh_views(st_graph_plan *p);
/* View node nd applied to x (a new handle). */
st_status g_view_of(const g_node *nd, const st_tensor *x, st_tensor **out);
/* Recreates the view handle of view node i from its input's current value. */
st_status g_refresh_view(st_graph_plan *p, int i);
/* Whether op node nd's gradient reads the value of its input s (graph_plan.c), from the table's
 * reads; views and leaves read nothing. */
int g_grad_reads_input(const g_node *nd, int s);
/* Unit events (graph_units.c), no-ops without a hook. g_units_prepare computes the schedule
 * when the units changed; g_units_fire calls the BEGIN (end = 0) or END events due at node i of
 * the forward (backward = 0) or backward pass; g_units_fire_unused the pairs of units the pass
 * did not touch; g_units_free releases the unit tables. */
st_status g_units_prepare(st_graph_plan *p);
st_status g_units_fire(st_graph_plan *p, int i, int backward, int end);
st_status g_units_fire_unused(st_graph_plan *p, int backward);
void g_units_free(st_graph_plan *p);
/* Runs node i's gradient rule (graph_backward.c). */
st_status g_backward_node(st_graph_plan *p, int i);
/* Whether node i's gradient goes to input s through a planned temporary: an accumulating input
 * (unless the op's rule adds into gradients itself), or one the backward op writes though it is
 * not needed. */
int g_needs_tmp(const st_graph_plan *p, int i, int s);

/* Profiling (graph_profile.c), called only when p->profile is set. g_prof_start waits for the
 * device and starts the clock; g_prof_stop waits for node i's work and adds the time since the
 * previous start/stop to its op's entry ("<op>" forward, "<op>.bwd" backward). */
st_status g_prof_start(st_graph_plan *p);
st_status g_prof_stop(st_graph_plan *p, int i, int backward);
/* With a trace callback while profiling: a unit hook call, synchronised, timed and reported apart
 * (graph_profile.c); g_prof_hook_begin returns its start. */
st_status g_prof_hook_begin(st_graph_plan *p, double *t0);
st_status g_prof_hook_end(st_graph_plan *p, double t0, int unit, st_graph_unit_event ev);

#endif
