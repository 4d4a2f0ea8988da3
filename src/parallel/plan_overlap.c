/* The step time the planner predicts, with the shard engine's overlap (shard.h, st_shard_set_overlap)
 * as an input: off, every collective runs between two units of compute and the step is their sum;
 * on, each micro-batch's per-unit collectives are pipelined with the units' compute as the engine
 * schedules them (docs/partitioning.md, section 7):
 *  - forward over n units (the blocks and the embeddings): the first unit's gather is exposed, then
 *    each unit costs the longer of its compute and the next unit's gather: g + f + (n-1) max(g, f);
 *  - backward: the first unit's gather is exposed (the engine never prefetches across passes),
 *    then each unit costs the
 *    longer of its compute and the communication queued behind it (the next gather and its own
 *    reduce-scatter, which share one queue), and the last reduce-scatter is exposed:
 *    g_b + b + (n-1) max(g_b + r, b) + r;
 *  - the once-per-step collectives and the optimizer stay serial.
 * A value of `overlap` between 0 and 1 interpolates the two. Units are taken as equal (the model's
 * compute and bytes over the engine's units: layers + 1, fewer where small ones are bucketed). */
#include <math.h>
#include "internal.h"
#include "plan_internal.h"

/* Seconds of the once-per-step collectives (plan.c charges them the same way). */
static double once_seconds(const st_plan_input *in, const st_plan_row *r)
{
    double node_ranks = (double)in->shape.gpus_per_node * in->shape.gcds_per_gpu, s = 0;
    for (int i = 0; i < r->traffic.n_phases; i++) {
        const st_partition_phase *ph = &r->traffic.phases[i];
        if (ph->when != ST_PHASE_STEP)
            continue;
        int l = (int)ph->level;
        double bw = in->machine.bw_gbs[l] * 1e9 / (l == ST_LEVEL_NODE ? node_ranks : 1.0);
        s += (double)ph->bytes / bw + (double)ph->messages * in->machine.lat_us[l] * 1e-6;
    }
    return s;
}

double plan_step_time(const st_plan_input *in, const st_plan_row *r)
{
    double serial = r->compute_s + r->comm_s;
    /* the engine overlaps the balanced layout's queued collectives (quantized or not); unsharded
     * parameters (the contiguous layout) run their per-unit collectives blocking */
    const st_partition *p = &r->partition;
    if (!(in->overlap > 0) || r->fwdbwd_s <= 0 || p->params == ST_SHARD_NONE)
        return serial;
    double once = once_seconds(in, r), micro = r->comm_s - once;
    /* the per-micro-batch bytes of forward's gathers, backward's gathers and the reduce-scatters */
    double fwd_b = 0, bwd_b = 0, red_b = 0;
    for (int i = 0; i < r->traffic.n_phases; i++) {
        const st_partition_phase *ph = &r->traffic.phases[i];
        double b = (double)ph->bytes;
        if (ph->when == ST_PHASE_FORWARD)
            fwd_b += b;
        else if (ph->when == ST_PHASE_BACKWARD && ph->is_grad) /* exact, or qgZ's all-to-all */
            red_b += b;
        else if (ph->when == ST_PHASE_BACKWARD)
            bwd_b += b;
    }
    double total_b = fwd_b + bwd_b + red_b, A = in->micro_batches > 0 ? in->micro_batches : 1;
    double n = plan_gpt_buckets(in, p, NULL, NULL); /* the engine's units, bucketed */
    if (!(total_b > 0) || micro <= 0)
        return serial;
    double per = micro / A / total_b; /* seconds per byte of this scheme's per-micro-batch mix */
    double g = fwd_b * per / n, gb = bwd_b * per / n, rs = red_b * per / n;
    /* forward is a third of forward + backward (2 P FLOPs per token of 6 P) */
    double f = r->fwdbwd_s / A / 3.0 / n, b = 2.0 * f;
    double fwd = g + f + (n - 1) * fmax(g, f);
    double bwd = gb + b + (n - 1) * fmax(gb + rs, b) + rs;
    double piped = A * (fwd + bwd) + r->optim_s + once;
    piped = fmin(piped, serial);
    return (1.0 - in->overlap) * serial + in->overlap * piped;
}
