/* What one optimizer step costs a rank besides its communication: the memory strata-train's GPT-2
 * graph and the shard engine allocate, and the time of forward, backward and the optimizer. The
 * memory model follows the graph's arena planner (src/graph/graph_plan.c) and was checked against
 * the arenas it plans for GPT-2 shapes (docs/partitioning.md, section 5); the compute model is a
 * rate measured on the machine, not a peak. */
#include <math.h>
#include "internal.h"
#include "plan_internal.h"

/* Activation memory of one micro-batch, in bytes, for BT = micro_batch_size * seq tokens of a
 * model with L layers, C channels, H heads and V tokens, activations of b bytes. strata-train
 * keeps every activation a gradient rule reads (no recomputation); the arena's high-water mark is
 * the larger of two moments:
 *  - backward entering the head: every layer's saved tensors, 17 BT C + (4 + H) BT values per
 *    layer (the block's inputs and outputs, q, k, v and the attention output in both layouts, the
 *    MLP's 4C-wide pre- and post-GELU, LayerNorm means and reciprocal deviations, attention's
 *    log-sum-exp per head), 5 BT C around the embeddings and the final LayerNorm, and 3 BT V for
 *    the logits, their softmax and their gradient;
 *  - backward leaving the token embedding: its V x C gradient temporary (the tied wte accumulates
 *    a second contribution), the logits' BT V gradient still placed beside it, and 2 BT C.
 * The eager gradient rules add temporaries outside the arena, 6 BT C at most (a bias gradient of
 * the 4C-wide MLP layer, the residual stream's). With activations narrower than the parameters
 * (strata-train's bf16), the forward's compute copies of the parameters sit in the arena too. */
static double activation_bytes(const st_plan_input *in)
{
    const st_plan_model *m = &in->model;
    double BT = (double)in->micro_batch_size * m->seq, C = m->hidden, V = m->vocab;
    double L = m->layers, H = m->heads, b = in->act_bytes > 0 ? in->act_bytes : in->param_bytes;
    double head = L * (17.0 * BT * C + (4.0 + H) * BT) + 5.0 * BT * C + 3.0 * BT * V;
    double embed = V * C + BT * V + 2.0 * BT * C;
    double copies = b < in->param_bytes ? (double)m->params * b : 0;
    return (fmax(head, embed) + 6.0 * BT * C) * b + copies;
}

/* The engine's working slots (shard.h, st_shard_attach_graph): the embeddings' unit (V C + T C +
 * 2 C: wte, wpe and ln_f), in use through the whole forward and backward, plus blocks (12 C^2 +
 * 13 C): with sharded parameters the block in use, and with overlap the next one being gathered;
 * with sharded gradients, the block in backward and, with overlap, the previous one still being
 * reduce-scattered, quantized or not. (Replicated parameters with sharded gradients keep whole
 * arenas of parameters and use gradient slots only.) Where small units are bucketed (shard_bucket.h)
 * the embeddings' unit is its bucket and a block the largest other bucket. */
static double slot_bytes(const st_plan_input *in, const st_partition *p)
{
    double embed, block, s = 0;
    plan_gpt_buckets(in, p, &embed, &block); /* a bucket's slot is its total size */
    double blocks = in->overlap > 0 && p->params != ST_SHARD_NONE ? 2.0 : 1.0;
    if (p->params != ST_SHARD_NONE)
        s += (embed + blocks * block) * in->param_bytes;
    if (p->grads != ST_SHARD_NONE)
        s += (embed + blocks * block) * in->grad_bytes;
    return s;
}

void plan_memory(const st_plan_input *in, const st_partition *p, st_plan_row *r)
{
    const st_plan_model *m = &in->model;
    r->activations = r->slots = 0;
    if (m->layers > 0 && m->hidden > 0 && m->seq > 0) {
        r->activations = (uint64_t)activation_bytes(in);
        r->slots = (uint64_t)slot_bytes(in, p);
    }
    r->working = r->activations + r->slots;
    r->memory = r->state.total + r->working;
    r->fits = (double)r->memory <= in->machine.memory_gib * 1073741824.0;
}

/* Ranks sharing one copy of a kind sharded over scope s (as partition.h's table). */
static double scope_ranks(const st_topo_shape *sh, st_shard s)
{
    switch (s) {
    case ST_SHARD_GCD: return sh->gcds_per_gpu;
    case ST_SHARD_NODE: return (double)sh->gpus_per_node * sh->gcds_per_gpu;
    case ST_SHARD_WORLD: return (double)sh->nodes * sh->gpus_per_node * sh->gcds_per_gpu;
    case ST_SHARD_NONE: case ST_SHARD_COUNT: return 1;
    }
    return 1;
}

void plan_compute(const st_plan_input *in, const st_partition *p, st_plan_row *r)
{
    const st_plan_machine *mc = &in->machine;
    const st_plan_model *m = &in->model;
    r->fwdbwd_s = r->optim_s = 0;
    if (mc->compute_gflops > 0 && m->seq > 0) {
        double tokens = (double)in->micro_batches * in->micro_batch_size * m->seq;
        double per_token = 6.0 * (double)m->params + 12.0 * m->layers * (double)m->hidden * m->seq;
        r->fwdbwd_s = tokens * per_token / (mc->compute_gflops * 1e9);
    }
    if (mc->stream_gbs > 0 && mc->compute_gflops > 0) {
        /* AdamW reads parameter, gradient and state and writes parameter and state, per element of
         * the optimizer shard of the padded flat vector. */
        double elems = (double)r->traffic.padded / scope_ranks(&in->shape, p->optim);
        double per_elem = 2.0 * in->param_bytes + in->grad_bytes + 2.0 * in->optim_bytes;
        r->optim_s = elems * per_elem / (mc->stream_gbs * 1e9);
    }
    r->compute_s = r->fwdbwd_s + r->optim_s;
    r->step_s = plan_step_time(in, r);
}
