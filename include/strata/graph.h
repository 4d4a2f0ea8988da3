/* Computation graphs with reverse-mode autograd and planned memory.
 *
 * Build the forward computation once from symbolic nodes, compile it for a device, then run
 * forward and backward every step without allocating device memory:
 *
 *   st_graph *g; st_graph_create(&g);
 *   st_node x = st_graph_input(g, "x", ST_F32, 2, (int64_t[]){B, C});
 *   st_node y = st_graph_input(g, "y", ST_I32, 1, (int64_t[]){B});
 *   st_node w = st_graph_param(g, "w", w_tensor, w_grad);           // caller's tensors
 *   st_node logits = st_graph_matmul(g, x, w, 0, 0);
 *   st_node loss = st_graph_mean(g, st_graph_cross_entropy(g, logits, y), ST_GRAPH_ALL_AXES);
 *   st_graph_set_loss(g, loss);
 *   st_graph_plan *p; st_graph_compile(g, dev, &p);                 // errors of the build show here
 *   each step: st_graph_bind(p, x, xt); st_graph_bind(p, y, yt);
 *              st_graph_forward(p); st_graph_backward(p);           // grads ADD into w_grad
 *              st_tensor_read(st_graph_value(p, loss), &l, 4);
 *
 * Nodes. A node is an index into its graph (st_node >= 0). Three kinds: inputs (placeholders
 * bound to a caller's tensor before each forward: token ids, features, targets), parameters
 * (bound once, at build time, to caller-owned tensors: typically views into an optimizer arena)
 * and op nodes. View nodes (reshape, transpose, slice) alias their input; st_graph_contiguous
 * copies into a fresh contiguous buffer.
 *
 * Build errors. Builder functions return the new node, or ST_NODE_NONE on error. The error is
 * also recorded in the graph: the first one is kept (st_graph_status() returns it, and
 * st_graph_compile() fails with it); the thread's st_last_error() names the node ("matmul #7
 * 'attn.qkv': ..."). A builder given ST_NODE_NONE returns ST_NODE_NONE without a new message,
 * so a whole model can be built and checked once at the end. Shapes and dtypes are inferred
 * and checked at build time (ST_ERR_SHAPE, ST_ERR_DTYPE).
 *
 * Gradients. st_graph_backward() seeds the loss node's gradient with ones (so a non-scalar loss
 * means its sum) and runs each op's gradient in reverse order, as the op table's GRAD column says:
 * a backward op of the table, or a gradient rule composed of eager ops (the VJPs of grad.h). Gradients of a node used several
 * times are summed. Parameter gradients ACCUMULATE into the caller's gradient tensors (+=), so
 * several micro-batches can be summed before an optimizer step; the caller zeroes them.
 *
 * Memory. st_graph_compile() gives every intermediate (activations, saved tensors such as
 * layernorm's mean/rstd, gradients, backward temporaries) a place in ONE arena tensor on the
 * device, reusing a place once its value is dead (greedy interval allocation over the
 * forward+backward timeline). Limitation: the VJPs of grad.h used by add/sub/mul/div/scale,
 * exp/log/tanh/sqrt/rsqrt, matmul and the reductions still allocate small temporaries inside.
 *
 * Threading: a graph or plan is used by one thread at a time.
 */
#ifndef STRATA_GRAPH_H
#define STRATA_GRAPH_H

#include <stdint.h>
#include "strata/tensor.h"
#include "strata/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_graph st_graph;
typedef struct st_graph_plan st_graph_plan;
typedef int32_t st_node;

#define ST_NODE_NONE ((st_node)-1)
/* Axis argument of st_graph_sum/st_graph_mean reducing every element to a 0-dim scalar. */
#define ST_GRAPH_ALL_AXES (-100)

/* ---- graph lifetime ---- */

/* Creates an empty graph, owned by the caller. Errors: ST_ERR_INVALID_ARG, ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_graph_create(st_graph **out);
/* Frees the graph and its references to parameter tensors. Plans compiled from it stay valid.
 * NULL is a no-op. */
ST_API void st_graph_destroy(st_graph *g);
/* First build error recorded in the graph (ST_OK if none). */
ST_API st_status st_graph_status(const st_graph *g);
/* Number of nodes; the shape and dtype a node was inferred to have (0 / ST_DTYPE_COUNT for a
 * bad node). `shape` receives ndim entries and may be NULL. */
ST_API int st_graph_node_count(const st_graph *g);
ST_API int st_graph_node_shape(const st_graph *g, st_node n, int64_t *shape);
ST_API st_dtype st_graph_node_dtype(const st_graph *g, st_node n);

/* ---- leaves ---- */

/* Placeholder of a fixed dtype and shape, bound to a tensor with st_graph_bind() before each
 * forward. `name` (copied, may be NULL) is used in messages. Inputs get no gradient. */
ST_API st_node st_graph_input(st_graph *g, const char *name, st_dtype dt, int ndim,
                              const int64_t *shape);
/* Parameter bound to `value` (borrowed: the graph and plans take their own references, the
 * storage stays the caller's to write, e.g. by the optimizer). `grad` (same shape and dtype, or
 * NULL for a frozen parameter) receives d loss / d value ADDED to its contents by every
 * st_graph_backward(). */
ST_API st_node st_graph_param(st_graph *g, const char *name, st_tensor *value, st_tensor *grad);
/* Renames a node (for messages). Returns n. */
ST_API st_node st_graph_name(st_graph *g, st_node n, const char *name);

/* ---- ops (semantics of the eager op of the same name, ops.h) ---- */

/* Elementwise with numpy broadcasting. */
ST_API st_node st_graph_add(st_graph *g, st_node a, st_node b);
ST_API st_node st_graph_sub(st_graph *g, st_node a, st_node b);
ST_API st_node st_graph_mul(st_graph *g, st_node a, st_node b);
ST_API st_node st_graph_div(st_graph *g, st_node a, st_node b);
/* alpha * x + beta. */
ST_API st_node st_graph_scale(st_graph *g, st_node x, float alpha, float beta);
/* Any unary elementwise op of the table (rule "unary": gelu, relu, exp, log, tanh, sqrt, rsqrt, ...). */
ST_API st_node st_graph_unary(st_graph *g, st_op op, st_node x);
ST_API st_node st_graph_gelu(st_graph *g, st_node x);
ST_API st_node st_graph_relu(st_graph *g, st_node x);
/* op(a) @ op(b); a (..., M, K), b (..., K, N) or 2-d b shared by the batch. */
ST_API st_node st_graph_matmul(st_graph *g, st_node a, st_node b, int trans_a, int trans_b);
/* Along `axis` (removed from the shape), or over everything with ST_GRAPH_ALL_AXES (0-dim). */
ST_API st_node st_graph_sum(st_graph *g, st_node x, int axis);
ST_API st_node st_graph_mean(st_graph *g, st_node x, int axis);
/* Softmax over the last axis (causal mask as st_softmax). */
ST_API st_node st_graph_softmax(st_graph *g, st_node x, int causal);
/* x (..., C), weight and bias (C). Returns the output; mean and rstd are saved internally. */
ST_API st_node st_graph_layernorm(st_graph *g, st_node x, st_node weight, st_node bias, float eps);
/* table (V, C), idx an i32 input (...) -> (..., C). */
ST_API st_node st_graph_embedding(st_graph *g, st_node table, st_node idx);
/* logits (..., V), targets an i32 input (...) -> per-row loss f32 (...). Probabilities are
 * saved internally. A negative target contributes 0. */
ST_API st_node st_graph_cross_entropy(st_graph *g, st_node logits, st_node targets);
/* Causal attention; q, k, v (B, H, T, D) -> (B, H, T, D). */
ST_API st_node st_graph_attention(st_graph *g, st_node q, st_node k, st_node v);
/* Any op of the table on n_in input nodes, in the order of its signature, with its params struct
 * (as st_op_run; NULL for st_no_params ops). The node's value is the op's first output; the other
 * outputs are saved for its gradient. Integer operands (indices, targets) must be input nodes.
 * Ops that update their operands in place (adamw) are refused, and so are ops whose outputs do
 * not follow from their inputs (fill, rand_*). Backward passes through the op use its gradient
 * from the table; compiling a graph in which an op without one lies between a parameter and the
 * loss fails. A node's buffer holds nothing defined before its op writes it, so a matmul node's
 * beta must be 0. */
ST_API st_node st_graph_op(st_graph *g, st_op op, const st_node *in, int n_in, const void *params);

/* ---- views and copies ---- */

/* View with a new shape (one entry may be -1). Running it fails with ST_ERR_SHAPE when the
 * input's strides do not allow a view: put st_graph_contiguous() before it. */
ST_API st_node st_graph_reshape(st_graph *g, st_node x, int ndim, const int64_t *shape);
/* View with two axes swapped. */
ST_API st_node st_graph_transpose(st_graph *g, st_node x, int axis0, int axis1);
/* View of [start, start+len) along axis (step 1). */
ST_API st_node st_graph_slice(st_graph *g, st_node x, int axis, int64_t start, int64_t len);
/* Contiguous copy of x (st_copy into a planned buffer), e.g. after a transpose. */
ST_API st_node st_graph_contiguous(st_graph *g, st_node x);
/* Contiguous copy of float node x converted to float dtype dt (st_cast; st_copy when dt is x's
 * dtype). Its gradient is converted back to x's dtype, so a bf16 compute copy of an f32
 * parameter gives the parameter an f32 gradient. Errors: ST_ERR_DTYPE (x or dt not f32/bf16). */
ST_API st_node st_graph_cast(st_graph *g, st_node x, st_dtype dt);

/* ---- outputs ---- */

/* The node whose gradient st_graph_backward() seeds with ones. Its value stays valid after
 * forward and backward. Errors: ST_ERR_INVALID_ARG (bad node, not a float node). */
ST_API st_status st_graph_set_loss(st_graph *g, st_node loss);
/* Keeps a node's value alive to the end of the step (not overwritten by buffer reuse) so it can
 * be read after forward/backward. */
ST_API st_status st_graph_keep(st_graph *g, st_node n);

/* ---- plans ---- */

/* Plans the memory of `g` for `dev` and allocates its arena. The plan is a snapshot: nodes
 * added to g afterwards are not part of it. Owned by the caller (st_graph_plan_destroy).
 * Errors: the graph's build error; ST_ERR_DEVICE (a parameter on another device);
 * ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_graph_compile(const st_graph *g, st_device *dev, st_graph_plan **out);
/* NULL is a no-op. Releases the arena and the plan's references to parameters and inputs. */
ST_API void st_graph_plan_destroy(st_graph_plan *p);

/* Binds input node n to tensor t (borrowed; the plan keeps a reference until rebound or the plan
 * is destroyed). t must have the input's dtype and shape and live on the plan's device; it may be
 * strided. Errors: ST_ERR_INVALID_ARG (not an input), ST_ERR_SHAPE, ST_ERR_DTYPE, ST_ERR_DEVICE. */
ST_API st_status st_graph_bind(st_graph_plan *p, st_node n, st_tensor *t);
/* Runs the forward pass. Errors: ST_ERR_INVALID_ARG (an input not bound), op errors. */
ST_API st_status st_graph_forward(st_graph_plan *p);
/* Runs the backward pass of the last forward, adding into the parameters' gradient tensors.
 * Errors: ST_ERR_INVALID_ARG (no loss set, or no forward run yet), op errors. */
ST_API st_status st_graph_backward(st_graph_plan *p);

/* The value of node n (borrowed, owned by the plan, valid until the plan is destroyed). After
 * st_graph_forward() it holds n's value for the loss, kept nodes, inputs and parameters; other
 * intermediates share memory and are only meaningful until a later op reuses it. NULL for a bad
 * node. */
ST_API const st_tensor *st_graph_value(const st_graph_plan *p, st_node n);

/* Memory figures of a plan: the arena's size and what the same buffers would take without
 * reuse (sum of every planned buffer). Both in bytes. */
typedef struct st_graph_memory {
    uint64_t arena_bytes;
    uint64_t unshared_bytes;
    int buffers;
} st_graph_memory;
ST_API st_status st_graph_memory_get(const st_graph_plan *p, st_graph_memory *out);

/* ---- parameter units (for engines that keep parameters sharded, shard.h) ----
 *
 * A plan's parameter nodes can be grouped into units (a transformer block, say). With a unit hook
 * set, the executor tells the hook when each unit's parameters are about to be needed and when
 * they no longer are, so that an engine can materialise a unit's full parameters (and a gradient
 * buffer) in a small working slot just in time, rebind the unit's parameter nodes to it with
 * st_graph_rebind_param(), and free or reduce the slot right after:
 *  - ST_GRAPH_UNIT_FORWARD_BEGIN before the first forward node that reads one of the unit's
 *    parameters (through views too), ST_GRAPH_UNIT_FORWARD_END after the last one;
 *  - ST_GRAPH_UNIT_BACKWARD_BEGIN before the first gradient rule (in backward order) that reads
 *    one of the unit's parameters or hands a gradient to one, ST_GRAPH_UNIT_BACKWARD_END after
 *    the last such rule (so the unit's gradients are complete for this backward).
 * Every unit that has a parameter node gets exactly one BEGIN/END pair per st_graph_forward() and
 * per st_graph_backward() (when it runs its gradient rules); a unit that no node of the pass
 * touches gets its pair after the pass's last node. Pairs of different units nest or follow
 * each other as the nodes dictate; units never used in the same node range are never live
 * together. BEGINs of one node are called in increasing unit order, ENDs likewise. A hook error
 * stops the pass and is returned by it. Without a hook, units change nothing. */
typedef enum st_graph_unit_event {
    ST_GRAPH_UNIT_FORWARD_BEGIN,
    ST_GRAPH_UNIT_FORWARD_END,
    ST_GRAPH_UNIT_BACKWARD_BEGIN,
    ST_GRAPH_UNIT_BACKWARD_END
} st_graph_unit_event;

/* Called by the executor of plan p; ctx is the pointer given to st_graph_set_unit_hook(). */
typedef st_status (*st_graph_unit_hook)(void *ctx, st_graph_plan *p, int unit, st_graph_unit_event ev);

/* Puts parameter node n into unit `unit` (>= 0), or into none (-1, the default).
 * Errors: ST_ERR_INVALID_ARG (NULL plan, n not a parameter node, unit < -1 or above 1 << 20). */
ST_API st_status st_graph_set_param_unit(st_graph_plan *p, st_node n, int unit);
/* Sets (fn non-NULL) or clears (fn NULL) the unit hook; ctx is borrowed. Errors: ST_ERR_INVALID_ARG. */
ST_API st_status st_graph_set_unit_hook(st_graph_plan *p, st_graph_unit_hook fn, void *ctx);
/* Progress hook: called by the executor after every forward node and every backward gradient rule
 * (not between unit hook calls), so that an engine with nonblocking communication in flight can
 * advance it without a thread of its own (the sharded engine tests its MPI requests there). It
 * must not block. An error stops the pass and is returned by it. */
typedef st_status (*st_graph_progress_hook)(void *ctx, st_graph_plan *p);
/* Sets (fn non-NULL) or clears (fn NULL) the progress hook; ctx is borrowed. Errors: ST_ERR_INVALID_ARG. */
ST_API st_status st_graph_set_progress_hook(st_graph_plan *p, st_graph_progress_hook fn, void *ctx);
/* Rebinds parameter node n to `value` and, when grad is non-NULL and the node has a gradient, its
 * gradient to `grad` (borrowed: the plan takes references and drops those of the previous
 * tensors). Both must have the parameter's dtype and shape and live on the plan's device; they
 * may be strided. View nodes of the parameter follow. Allowed at any time, inside a unit hook too.
 * Errors: ST_ERR_INVALID_ARG (NULL plan or value, not a parameter node), ST_ERR_SHAPE,
 * ST_ERR_DTYPE, ST_ERR_DEVICE. */
ST_API st_status st_graph_rebind_param(st_graph_plan *p, st_node n, st_tensor *value, st_tensor *grad);
/* The first parameter node after node `after` (ST_NODE_NONE: from the start) that is bound to the
 * same memory as `t` (same storage, offset, shape and strides), or ST_NODE_NONE. To find where a
 * caller's parameter tensor entered a graph, including a parameter bound to several nodes. */
ST_API st_node st_graph_param_node(const st_graph_plan *p, const st_tensor *t, st_node after);

/* ---- profiling ---- */

/* Accumulated time of one op name: the op's name as in messages ("matmul", "layernorm", "gelu",
 * "cast", "copy" for st_graph_contiguous, ...), with ".bwd" appended for gradient rules
 * ("matmul.bwd"). `ms` is wall time in
 * milliseconds summed over `calls` executions. */
typedef struct st_graph_op_time {
    char op[32];
    double ms;
    int64_t calls;
} st_graph_op_time;

/* Turns per-op timing of st_graph_forward/st_graph_backward on (on != 0) or off. While on, the
 * executor calls st_device_sync() after every node so each op is charged its own device time;
 * this serialises a device's queue and so slows asynchronous backends somewhat. Off (the
 * default), nothing is timed or synchronised. Turning it off keeps the totals.
 * Errors: ST_ERR_INVALID_ARG (NULL plan). */
ST_API st_status st_graph_set_profile(st_graph_plan *p, int on);
/* Copies the accumulated per-op totals into out (up to max entries, largest time first) and
 * returns the number of op names recorded (which may exceed max; out may be NULL to count).
 * 0 for a NULL plan. */
ST_API int st_graph_profile(const st_graph_plan *p, st_graph_op_time *out, int max);
/* Clears the accumulated totals. NULL is a no-op. */
ST_API void st_graph_profile_reset(st_graph_plan *p);

/* One timed interval of a profiled pass, for a timeline (a Chrome/Perfetto trace): a node's forward
 * or gradient rule (cat "op", name as in st_graph_op_time, node the node's name), or a unit hook call
 * (cat "unit", name "unit N forward begin" and the like: the sharded engine's gathers and reductions).
 * Times are CLOCK_MONOTONIC milliseconds, each interval after a device sync at both ends. The strings
 * are valid during the call only. */
typedef struct st_graph_trace_event {
    const char *name, *cat, *node;
    double t0_ms, t1_ms;
} st_graph_trace_event;
typedef void (*st_graph_trace_fn)(void *ctx, const st_graph_trace_event *ev);

/* Sets (fn non-NULL) or clears the trace callback: while profiling is on (st_graph_set_profile), fn
 * receives every timed node and every unit hook call, the latter synchronised and timed apart (so a
 * node's time no longer includes a hook that ran before it). ctx is borrowed.
 * Errors: ST_ERR_INVALID_ARG (NULL plan). */
ST_API st_status st_graph_set_trace(st_graph_plan *p, st_graph_trace_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
