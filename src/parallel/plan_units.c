/* The time of the shard engine's per-unit collectives (shard_units.c), for models whose layout the
 * planner knows (GPT-2 shapes). The engine shards the flat parameter vector in contiguous slices
 * and gathers (or reduce-scatters) one unit - a transformer block, or the embeddings - at a time,
 * so a unit usually lies in the slices of few ranks: its all-gather is then mostly a broadcast
 * from those ranks and its reduce-scatter a reduction onto them. The bytes are the closed forms'
 * (partition_volume.c) but the busiest rank moves more than its ring share. This file follows
 * each unit's runs through the levels as the engine's collectives do and charges every call its
 * busiest rank: all-gather (ring over uneven pieces c_j): S - min c_j; reduce-scatter (the ring of
 * comm_ring.c, p-1 steps of the largest piece): (p-1) max c_j. docs/partitioning.md, section 6. */
#include <math.h>
#include <stdlib.h>
#include "internal.h"
#include "plan_internal.h"
#include "shard_bucket.h"

typedef struct plan_run {
    double lo, hi;
} plan_run;

/* The units' runs in st_params' order: every 2-D weight first (wte, wpe, then each block's four
 * matrices, 12 C^2), then every 1-D parameter (each block's 13 C of biases and LayerNorm, then
 * ln_f's 2 C). Unit 0 (the embeddings and ln_f) has two runs, block k (unit k+1) two. Positions
 * are scaled to the engine's P (the arena's alignment gaps). Returns the unit count, 0 when the
 * layout is unknown. */
static int gpt_units(const st_plan_model *m, double P, plan_run (*runs)[2])
{
    double C = m->hidden, V = m->vocab, T = m->seq, L = m->layers;
    double total = (V + T) * C + L * (12 * C * C + 13 * C) + 2 * C, f = P / total;
    double wb = (V + T) * C, bb = wb + L * 12 * C * C;
    runs[0][0] = (plan_run){0, wb * f};
    runs[0][1] = (plan_run){(bb + L * 13 * C) * f, P};
    for (int k = 0; k < m->layers; k++) {
        runs[k + 1][0] = (plan_run){(wb + k * 12 * C * C) * f, (wb + (k + 1) * 12 * C * C) * f};
        runs[k + 1][1] = (plan_run){(bb + k * 13 * C) * f, (bb + (k + 1) * 13 * C) * f};
    }
    return m->layers + 1;
}

static double overlap(double a, double b, double lo, double hi)
{
    double x = a > lo ? a : lo, y = b < hi ? b : hi;
    return y > x ? y - x : 0;
}

/* One collective of run [a, b) over the levels below `scope` (GCD first), as the engine runs it:
 * the seconds of each level and its calls. Each call is charged the longer of two bounds:
 *  - its slowest group, as if alone: an all-gather of pieces c_j (a ring) S - min c_j elements, a
 *    reduce-scatter (comm_ring.c's ring: p-1 steps of the largest piece) (p-1) max c_j, at the
 *    rate of a lone group (solo_gbs, else the per-rank figure);
 *  - the busiest shared link: where a host's ranks share the level's link (always at the NODE
 *    level, where the figure is the node's; at the others when a lone group measured faster than
 *    each rank with all of them busy), each rank's larger of what it sends and receives, summed
 *    over the groups on the link, at the link's rate.
 * With balanced pieces and every group busy both give the closed forms. */
static void run_collective(const st_plan_input *in, const int size[ST_LEVEL_COUNT], double psi, int scope,
                           int reduce, double bytes, double a, double b, double sec[ST_LEVEL_COUNT],
                           uint64_t calls[ST_LEVEL_COUNT], double *load)
{
    const st_plan_machine *mc = &in->machine;
    double blocks = 1;
    for (int l = 0; l < scope; l++) {
        int p = size[l];
        double z = psi / blocks, sub = z / p, worst = 0;
        /* The link: at NODE the node's (every block's rank on a node shares it); elsewhere shared by
         * the blocks when a lone group is faster than a rank's share, else one per rank. */
        double rank_bw = mc->bw_gbs[l] * 1e9 / (l == ST_LEVEL_NODE ? blocks : 1.0);
        double solo = mc->solo_gbs[l] > 0 ? mc->solo_gbs[l] * 1e9 : l == ST_LEVEL_NODE ? mc->bw_gbs[l] * 1e9 : rank_bw;
        int shared = l == ST_LEVEL_NODE || solo > 1.5 * rank_bw;
        double link_bw = rank_bw * blocks;
        int touched = 0;
        for (int j = 0; j < p; j++) load[j] = 0;
        if (p > 1)
            for (double bi = 0; bi < blocks; bi++) {
                double o = bi * z, sum = 0, lo = -1, hi = 0;
                for (int j = 0; j < p; j++) {
                    double c = overlap(a, b, o + j * sub, o + (j + 1) * sub);
                    sum += c;
                    lo = lo < 0 || c < lo ? c : lo;
                    hi = c > hi ? c : hi;
                }
                if (sum <= 0)
                    continue;
                touched = 1;
                double t = (reduce ? (p - 1) * hi : sum - lo) / solo;
                worst = t > worst ? t : worst;
                for (int j = 0; shared && j < p; j++) {
                    /* Ring neighbours: an all-gather forwards all but the next rank's piece and
                     * receives all but its own; a reduce-scatter sends all but its own chunk and
                     * receives all but the previous rank's. */
                    int k = reduce ? (j + p - 1) % p : (j + 1) % p;
                    double cj = overlap(a, b, o + j * sub, o + (j + 1) * sub);
                    double ck = overlap(a, b, o + k * sub, o + (k + 1) * sub);
                    load[j] += sum - (cj < ck ? cj : ck);
                }
            }
        if (touched) {
            for (int j = 0; shared && j < p; j++) worst = load[j] / link_bw > worst ? load[j] / link_bw : worst;
            sec[l] += worst * bytes + (p - 1) * mc->lat_us[l] * 1e-6;
            calls[l]++;
        }
        blocks *= p;
    }
}

int plan_unit_comm(const st_plan_input *in, const st_partition *p, uint64_t padded, double seconds[ST_LEVEL_COUNT],
                   uint64_t messages[ST_LEVEL_COUNT])
{
    const st_plan_model *m = &in->model;
    if (in->unit_layout != ST_PLAN_UNITS_CONTIGUOUS || m->layers <= 0 || m->hidden <= 0 || m->vocab <= 0 ||
        m->seq <= 0 || m->layers > 100000)
        return 0;
    plan_run (*runs)[2] = malloc(sizeof *runs * (size_t)(m->layers + 1));
    if (!runs)
        return 0;
    int n = gpt_units(m, (double)m->params, runs);
    const st_topo_shape *sh = &in->shape;
    int size[ST_LEVEL_COUNT] = {sh->gcds_per_gpu, sh->gpus_per_node, sh->nodes};
    /* Per micro-batch: the forward gather over params, the backward gather over the secondary
     * copy's scope (or params), the gradient's reduce-scatter over grads. */
    typedef struct unit_coll {
        int scope, reduce;
        double bytes;      /* per element on the wire */
    } unit_coll;
    unit_coll coll[3];
    int nc = 0;
    /* qwZ (params == optim): the gathers from the shard move one int8 per element (the scales move
     * once per step, with the closed forms); qgZ: the payload plus a 4-byte scale per block. */
    double wq = p->qw && p->params == p->optim ? 1.0 : in->param_bytes;
    double gq = p->qg ? p->qg / 8.0 + 4.0 / (double)st_partition_qg_block(p, (uint64_t)m->hidden) : in->grad_bytes;
    if (p->params != ST_SHARD_NONE) {
        coll[nc++] = (unit_coll){(int)p->params, 0, wq};
        coll[nc++] = (unit_coll){(int)(p->secondary ? p->secondary : p->params), 0,
                                 p->secondary ? in->param_bytes : wq};
    }
    if (p->grads != ST_SHARD_NONE)
        coll[nc++] = (unit_coll){(int)p->grads, 1, gq};
    int most = size[0] > size[1] ? size[0] : size[1];
    most = most > size[2] ? most : size[2];
    double *node_load = malloc(sizeof(double) * (size_t)most);
    for (int c = 0; c < nc && node_load; c++) {
        double sec[ST_LEVEL_COUNT] = {0, 0, 0};
        uint64_t calls[ST_LEVEL_COUNT] = {0, 0, 0};
        for (int u = 0; u < n; u++)
            for (int r = 0; r < 2; r++)
                run_collective(in, size, (double)padded, coll[c].scope, coll[c].reduce, coll[c].bytes,
                               runs[u][r].lo, runs[u][r].hi, sec, calls, node_load);
        for (int l = 0; l < ST_LEVEL_COUNT; l++) {
            seconds[l] += in->micro_batches * sec[l];
            messages[l] += calls[l] * (uint64_t)(size[l] - 1) * (uint64_t)in->micro_batches;
        }
    }
    free(node_load);
    free(runs);
    return 1;
}

int plan_gpt_buckets(const st_plan_input *in, const st_partition *p, double *embed, double *block)
{
    const st_plan_model *m = &in->model;
    double C = m->hidden, blk = 12.0 * C * C + 13.0 * C, emb = ((double)m->vocab + m->seq) * C + 2.0 * C;
    int layout = in->unit_layout == ST_PLAN_UNITS_ENGINE
                     ? (p->params != ST_SHARD_NONE ? ST_PLAN_UNITS_BALANCED : ST_PLAN_UNITS_CONTIGUOUS)
                     : in->unit_layout;
    int n = m->layers > 0 ? m->layers + 1 : 1;
    uint64_t thr = 0;
    if (embed)
        *embed = emb;
    if (block)
        *block = blk;
    if (layout != ST_PLAN_UNITS_BALANCED || m->layers <= 0 || m->layers > 100000 ||
        shard_bucket_threshold(&thr) != ST_OK || thr == 0)
        return n;
    if (in->n_units > 0 && in->unit_numel) { /* the engine's own (already bucketed) units */
        double most = 0; /* unit 0 holds the embeddings (default_units), the rest the blocks */
        for (int k = 1; k < in->n_units; k++)
            most = fmax(most, (double)in->unit_numel[k]);
        if (embed)
            *embed = (double)in->unit_numel[0];
        if (block)
            *block = most;
        return in->n_units;
    }
    uint64_t *size = malloc(sizeof *size * (size_t)n);
    int *of = malloc(sizeof *of * (size_t)n);
    if (size && of) {
        size[0] = (uint64_t)emb; /* default_units: unit 0 = wte, wpe, ln_f; then one per block */
        for (int k = 1; k < n; k++)
            size[k] = (uint64_t)blk;
        int count = shard_bucket_merge(size, n, thr, of);
        double e = 0, most = 0, cur = 0;
        for (int k = 0; k < n; k++) {
            if (of[k] == 0)
                e += (double)size[k];
            else
                cur = k > 0 && of[k] == of[k - 1] ? cur + (double)size[k] : (double)size[k];
            most = of[k] != 0 && cur > most ? cur : most;
        }
        if (embed)
            *embed = e;
        if (block)
            *block = most;
        n = count;
    }
    free(size), free(of);
    return n;
}
