/* Closed-form communication volumes and state memory of a partitioning scheme, per rank and per
 * level (GCD, GPU, NODE), following the hierarchical collectives of comm.h: reduce-scatter goes
 * inner level first, all-gather outer level first, all-reduce is reduce-scatter up to the GPU
 * level, all-reduce across nodes, all-gather back. docs/partitioning.md derives each phase. */
#include <string.h>
#include "internal.h"
#include "strata/ops.h"
#include "strata/partition.h"

/* Level sizes (d, g, n) and the per-rank buffer of each scope: a buffer that has been
 * reduce-scattered through levels < l holds padded / below[l] elements. */
typedef struct level_geom {
    uint64_t size[ST_LEVEL_COUNT];
    uint64_t below[ST_LEVEL_COUNT + 1];
    uint64_t padded;
} level_geom;

typedef struct traffic_builder {
    st_partition_traffic *t;
    const level_geom *geo;
    const st_partition_model *m;
    int overflow;
    uint64_t wblock, gblock; /* elements per quantization scale: weights, gradients */
} traffic_builder;

static void geom_init(level_geom *g, const st_topo_shape *s, uint64_t params)
{
    g->size[ST_LEVEL_GCD] = (uint64_t)s->gcds_per_gpu;
    g->size[ST_LEVEL_GPU] = (uint64_t)s->gpus_per_node;
    g->size[ST_LEVEL_NODE] = (uint64_t)s->nodes;
    g->below[0] = 1;
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        g->below[l + 1] = g->below[l] * g->size[l];
    uint64_t n = g->below[ST_LEVEL_COUNT];
    g->padded = (params + n - 1) / n * n;
}

static st_partition_phase *new_phase(traffic_builder *b)
{
    if (b->t->n_phases == ST_PARTITION_MAX_PHASES) {
        b->overflow = 1;
        return NULL;
    }
    return &b->t->phases[b->t->n_phases++];
}

/* Appends one level of one collective. At level l a ring over p = size[l] ranks moves
 * (p-1) * padded / below[l+1] elements each way for reduce-scatter and all-gather, twice that
 * for all-reduce. */
static void add_phase(traffic_builder *b, st_phase_when when, st_collective op, int l, int is_grad)
{
    uint64_t p = b->geo->size[l];
    if (p == 1)
        return;
    uint64_t elems = (p - 1) * (b->geo->padded / b->geo->below[l + 1]);
    uint64_t mult = op == ST_COLL_ALL_REDUCE ? 2 : 1;
    uint64_t bytes;
    if (__builtin_mul_overflow(elems, mult * (uint64_t)(is_grad ? b->m->grad_bytes : b->m->param_bytes), &bytes)) {
        b->overflow = 1;
        return;
    }
    st_partition_phase *ph = new_phase(b);
    if (ph)
        *ph = (st_partition_phase){when, op, (st_level)l, is_grad, 0, bytes, mult * (p - 1)};
}

/* Bytes of n elements quantized to `bits` in blocks of `block` on the wire: the payload plus 4 per
 * scale (ops.h). */
static uint64_t quant_bytes(uint64_t n, int bits, uint64_t block)
{
    return (uint64_t)st_quant_bytes((int64_t)n, bits, (int64_t)block);
}

/* One level of a quantized collective: p - 1 peers, each sent `pieces` pieces of `bytes`. */
static void add_quant_phase(traffic_builder *b, st_phase_when when, st_collective op, int l, int is_grad, int bits,
                            uint64_t pieces, uint64_t bytes)
{
    uint64_t p = b->geo->size[l], total;
    if (p == 1)
        return;
    if (__builtin_mul_overflow((p - 1) * pieces, bytes, &total)) {
        b->overflow = 1;
        return;
    }
    st_partition_phase *ph = new_phase(b);
    if (ph)
        *ph = (st_partition_phase){when, op, (st_level)l, is_grad, bits, total, p - 1};
}

/* Quantized bytes of one peer's chunk at level l of a collective over `n` elements (n / below[l+1])
 * - or, with the model's units (the engine's balanced per-unit path), of every unit's collective:
 * unit k moves N floor(U_k / N) elements, the units' remainders R = padded - N sum floor(U_k / N)
 * one more collective (shard_layout.c). */
static uint64_t chunk_bytes(const traffic_builder *b, int l, int bits, int units)
{
    const level_geom *g = b->geo;
    uint64_t N = g->below[ST_LEVEL_COUNT];
    if (!units || !b->m->unit_numel || b->m->n_units <= 0)
        return quant_bytes(g->padded / g->below[l + 1], bits, b->gblock);
    uint64_t sum = 0, pieces = 0;
    for (int k = 0; k < b->m->n_units; k++) {
        uint64_t n = b->m->unit_numel[k] / N * N;
        pieces += n;
        if (n)
            sum += quant_bytes(n / g->below[l + 1], bits, b->gblock);
    }
    if (pieces < g->padded)
        sum += quant_bytes((g->padded - pieces) / g->below[l + 1], bits, b->gblock);
    return sum;
}

/* qgZ: a reduce-scatter over levels [lo, hi) as one quantized all-to-all per level: at level l
 * every rank sends each of its p - 1 peers their chunk of padded / below[l+1] elements,
 * quantized (payload plus scales), and sums what it receives in f32 (per unit: `units`). */
static void reduce_grads(traffic_builder *b, st_phase_when when, int lo, int hi, int qg, int units)
{
    for (int l = lo; l < hi; l++) {
        if (!qg)
            add_phase(b, when, ST_COLL_REDUCE_SCATTER, l, 1);
        else
            add_quant_phase(b, when, ST_COLL_ALL_TO_ALL, l, 1, qg, 1, chunk_bytes(b, l, qg, units));
    }
}

/* qwZ: the all-gather over levels [lo, hi) of shards of the master scope `src` (= hi), each
 * quantized once at its owner and forwarded as is: at level l a rank passes on the
 * below[src] / below[l+1] master shards it holds to its p - 1 peers. `part` 1: payload only,
 * 2: scales only, 3: both. */
static void gather_quant(traffic_builder *b, st_phase_when when, int lo, int hi, int part)
{
    uint64_t len = b->geo->padded / b->geo->below[hi];
    uint64_t scales = 4 * (len / b->wblock + (len % b->wblock != 0));
    uint64_t bytes = (part & 1 ? len : 0) + (part & 2 ? scales : 0);
    for (int l = hi - 1; l >= lo; l--)
        add_quant_phase(b, when, ST_COLL_ALL_GATHER, l, 0, 8, b->geo->below[hi] / b->geo->below[l + 1], bytes);
}

/* All-gather of parameters from shards of scope `from` to shards of scope `to` (to < from):
 * the levels in `from` but not in `to`, outermost first. Level l lies inside scope s iff l < s. */
static void gather_params(traffic_builder *b, st_phase_when when, st_shard from, st_shard to)
{
    for (int l = (int)from - 1; l >= (int)to; l--)
        add_phase(b, when, ST_COLL_ALL_GATHER, l, 0);
}

/* Once per step: the gradient, reduced within scope grads, becomes the world-reduced gradient of
 * the optimizer's shard (reduce-scatter over the levels in optim but not in grads; ranks that hold
 * the same optimizer shard then all-reduce it over the remaining levels, hierarchically), and the
 * updated parameters are gathered from the optimizer's shard to the parameters' scope (quantized
 * with qw when params are narrower than optim; with params == optim and qw, the scales of the
 * re-quantized shard are gathered here and the payload every micro-batch). */
static void step_phases(traffic_builder *b, const st_partition *p)
{
    reduce_grads(b, ST_PHASE_STEP, (int)p->grads, (int)p->optim, p->qg, 0);
    if (p->optim != ST_SHARD_WORLD) {
        for (int l = (int)p->optim; l < ST_LEVEL_NODE; l++)
            add_phase(b, ST_PHASE_STEP, ST_COLL_REDUCE_SCATTER, l, 1);
        add_phase(b, ST_PHASE_STEP, ST_COLL_ALL_REDUCE, ST_LEVEL_NODE, 1);
        for (int l = ST_LEVEL_NODE - 1; l >= (int)p->optim; l--)
            add_phase(b, ST_PHASE_STEP, ST_COLL_ALL_GATHER, l, 1);
    }
    if (p->qw && p->params < p->optim)
        gather_quant(b, ST_PHASE_STEP, (int)p->params, (int)p->optim, 3);
    else if (p->qw)
        gather_quant(b, ST_PHASE_STEP, 0, (int)p->params, 2);
    else
        gather_params(b, ST_PHASE_STEP, p->optim, p->params);
}

static st_status check_args(const st_partition *p, const st_topo_shape *shape, const st_partition_model *m,
                            const void *out)
{
    if (!p || !shape || !m || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition volumes: NULL argument");
    ST_TRY(st_partition_validate(p));
    if (shape->nodes < 1 || shape->gpus_per_node < 1 || shape->gcds_per_gpu < 1)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition volumes: shape %dx%dx%d must have every level >= 1",
                      shape->nodes, shape->gpus_per_node, shape->gcds_per_gpu);
    if (m->params < 1 || m->param_bytes < 1 || m->param_bytes > 16 || m->grad_bytes < 1 ||
        m->grad_bytes > 16 || m->optim_bytes < 0 || m->optim_bytes > 64 || m->micro_batches < 1)
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "partition volumes: need params >= 1, param/grad bytes in [1, 16], optim bytes in "
                      "[0, 64] and micro-batches >= 1 (got %llu, %d, %d, %d, %d)", (unsigned long long)m->params,
                      m->param_bytes, m->grad_bytes, m->optim_bytes, m->micro_batches);
    uint64_t n = st_shard_ranks(ST_SHARD_WORLD, shape);
    if (m->params > UINT64_MAX / 128 - n)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition volumes: %llu parameters is too many",
                      (unsigned long long)m->params);
    return ST_OK;
}

/* Sums the phases into per-level totals; 0 on 64-bit overflow. */
/* The units, when given, tile the padded vector. */
static st_status check_units(const st_partition_model *m, uint64_t padded)
{
    if (m->n_units < 0 || (m->n_units > 0 && !m->unit_numel))
        return ST_ERR(ST_ERR_INVALID_ARG, "partition volumes: %d units without their sizes", m->n_units);
    uint64_t sum = 0;
    for (int k = 0; k < m->n_units && m->unit_numel; k++)
        sum += m->unit_numel[k];
    if (m->n_units > 0 && sum != padded)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition volumes: the %d units hold %llu elements, the padded vector "
                      "%llu (they must tile it)", m->n_units, (unsigned long long)sum, (unsigned long long)padded);
    return ST_OK;
}

static int sum_levels(st_partition_traffic *t, uint64_t micro_batches)
{
    memset(t->micro_batch, 0, sizeof t->micro_batch);
    memset(t->once, 0, sizeof t->once);
    for (int i = 0; i < t->n_phases; i++) {
        const st_partition_phase *ph = &t->phases[i];
        st_comm_bytes *c = ph->when == ST_PHASE_STEP ? &t->once[ph->level] : &t->micro_batch[ph->level];
        if (__builtin_add_overflow(c->sent, ph->bytes, &c->sent))
            return 0;
        c->received = c->sent;
    }
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        uint64_t v;
        if (__builtin_mul_overflow(t->micro_batch[l].sent, micro_batches, &v) ||
            __builtin_add_overflow(v, t->once[l].sent, &v))
            return 0;
        t->step[l].sent = t->step[l].received = v;
    }
    return 1;
}

st_status st_partition_traffic_get(const st_partition *p, const st_topo_shape *shape,
                                   const st_partition_model *m, st_partition_traffic *out)
{
    ST_TRY(check_args(p, shape, m, out));
    level_geom geo;
    geom_init(&geo, shape, m->params);
    ST_TRY(check_units(m, geo.padded));
    st_partition_traffic t;
    memset(&t, 0, sizeof t);
    t.padded = geo.padded;
    traffic_builder b = {&t, &geo, m, 0, (uint64_t)st_partition_qw_block(p),
                         (uint64_t)st_partition_qg_block(p, m->row)};
    /* Sharded parameters are gathered for each micro-batch's forward and again for its backward
     * (the gathered copy is freed in between); with a secondary copy, backward gathers from it.
     * With qw and params == optim both gathers from the shard move its int8 payload. */
    int qmicro = p->qw && p->params == p->optim;
    if (qmicro)
        gather_quant(&b, ST_PHASE_FORWARD, 0, (int)p->params, 1);
    else
        gather_params(&b, ST_PHASE_FORWARD, p->params, ST_SHARD_NONE);
    if (qmicro && p->secondary == ST_SHARD_NONE)
        gather_quant(&b, ST_PHASE_BACKWARD, 0, (int)p->params, 1);
    else
        gather_params(&b, ST_PHASE_BACKWARD, p->secondary != ST_SHARD_NONE ? p->secondary : p->params,
                      ST_SHARD_NONE);
    /* Sharded gradients are reduce-scattered within their scope after each micro-batch's backward,
     * innermost level first, and accumulated into the shard. */
    /* per unit where the model lists the engine's balanced units (only with sharded params) */
    reduce_grads(&b, ST_PHASE_BACKWARD, 0, (int)p->grads, p->qg, p->params != ST_SHARD_NONE);
    step_phases(&b, p);
    if (b.overflow || !sum_levels(&t, (uint64_t)m->micro_batches))
        return ST_ERR(ST_ERR_INVALID_ARG, "partition volumes: byte counts overflow 64 bits (P = %llu)",
                      (unsigned long long)m->params);
    *out = t;
    return ST_OK;
}

st_status st_partition_memory_get(const st_partition *p, const st_topo_shape *shape,
                                  const st_partition_model *m, st_partition_memory *out)
{
    ST_TRY(check_args(p, shape, m, out));
    level_geom geo;
    geom_init(&geo, shape, m->params);
    st_partition_memory r;
    /* padded < 2^57 and at most 112 bytes per element in all (check_args), so nothing overflows. */
    r.params = geo.padded / st_shard_ranks(p->params, shape) * (uint64_t)m->param_bytes;
    r.grads = geo.padded / st_shard_ranks(p->grads, shape) * (uint64_t)m->grad_bytes;
    r.optim = geo.padded / st_shard_ranks(p->optim, shape) * (uint64_t)m->optim_bytes;
    /* qw with params narrower than optim: the params shard holds dequantized values, so f32
     * parameters need an exact master copy of the optim shard (narrower ones have it in K). */
    if (p->qw && p->params < p->optim && m->param_bytes >= 4)
        r.optim += geo.padded / st_shard_ranks(p->optim, shape) * 4;
    r.secondary = p->secondary == ST_SHARD_NONE
                      ? 0
                      : geo.padded / st_shard_ranks(p->secondary, shape) * (uint64_t)m->param_bytes;
    r.total = r.params + r.grads + r.optim + r.secondary;
    *out = r;
    return ST_OK;
}

int st_partition_optim_bytes(int param_bytes) { return param_bytes < 4 ? 12 : 8; }
