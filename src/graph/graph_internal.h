/* Internals of the graph module (graph.h): node and plan structs shared by the builder
 * (graph_build.c), the memory planner (graph_plan.c) and the executors (graph_exec.c,
 * graph_backward.c). Not a public header. */
#ifndef STRATA_GRAPH_INTERNAL_H
#define STRATA_GRAPH_INTERNAL_H

#include "internal.h"
#include "strata/graph.h"

typedef enum g_kind {
    G_INPUT, G_PARAM,
    G_ADD, G_SUB, G_MUL, G_DIV, G_SCALE,
    G_UNARY,                 /* attr.op names the eager op */
    G_MATMUL, G_SUM, G_MEAN, G_SOFTMAX, G_LAYERNORM, G_EMBEDDING, G_CROSS_ENTROPY, G_ATTENTION,
    G_RESHAPE, G_TRANSPOSE, G_SLICE, /* views: alias their input, no buffer */
    G_COPY,
    G_KIND_COUNT
} g_kind;

#define G_MAX_IN 3
#define G_MAX_SAVED 2
#define G_PROF_MAX 64 /* distinct profile names: node kinds and unary ops, forward and backward */

typedef struct g_node {
    g_kind kind;
    char name[48];
    int n_in;
    st_node in[G_MAX_IN];
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    struct {
        st_op op;
        int ta, tb, axis, axis1, causal;
        float alpha, beta, eps;
        int64_t start, len;
    } attr;
    int n_saved;                           /* saved tensors, always f32 */
    int saved_ndim[G_MAX_SAVED];
    int64_t saved_shape[G_MAX_SAVED][ST_MAX_DIMS];
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
    st_tensor *tmp[G_MAX_IN];        /* per-input scratch for accumulating contributions */
    g_mode mode[G_MAX_IN];
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
    void *hook_ctx;
    int *fwd_first, *fwd_last, *bwd_first, *bwd_last;
};

/* Records error s for the node being built (index g->n) in the graph and the thread message. */
st_status g_fail(st_graph *g, st_status s, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A node of `kind` on inputs `in` being built at index g->n, with the first input's dtype and
 * shape; committed by g->n++. NULL when an input is bad (an earlier error: quietly). */
g_node *g_new_node(st_graph *g, g_kind kind, const st_node *in, int n_in);
int g_is_view(g_kind k);
int g_is_float(st_dtype dt);
const char *g_kind_name(const g_node *nd);

/* A contiguous view of `dt`/shape at byte offset `off` of the arena (new handle). */
st_status g_arena_view(st_tensor *arena, st_dtype dt, int ndim, const int64_t *shape, uint64_t off,
                       st_tensor **out);
/* (Re)creates the view handles of view nodes from their inputs' current values. */
st_status g_refresh_views(st_graph_plan *p);
/* Recreates the view handle of view node i from its input's current value. */
st_status g_refresh_view(st_graph_plan *p, int i);
/* What node nd's gradient rule reads of the forward pass (graph_plan.c): R_* bits. */
enum { G_R_IN0 = 1, G_R_OUT = 8, G_R_SAVED = 16 };
unsigned g_bwd_reads(const g_node *nd);
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
/* Whether matmul node i's rule writes b's gradient straight into it (accumulating with beta = 1)
 * rather than through a temporary; the planner then gives it no temporary. */
int g_matmul_db_direct(const st_graph_plan *p, int i);

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
