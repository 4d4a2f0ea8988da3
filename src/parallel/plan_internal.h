/* Pieces of the planner shared by plan.c and plan_cost.c. */
#ifndef STRATA_PLAN_INTERNAL_H
#define STRATA_PLAN_INTERNAL_H

#include "strata/plan.h"

/* r->activations, r->slots, r->working and r->memory (r->state must be filled). */
void plan_memory(const st_plan_input *in, const st_partition *p, st_plan_row *r);
/* r->fwdbwd_s, r->optim_s, r->compute_s and r->step_s (r->comm_s and r->state must be filled). */
void plan_compute(const st_plan_input *in, const st_partition *p, st_plan_row *r);
/* plan_overlap.c: step_s from a row whose compute and communication are filled in. */
double plan_step_time(const st_plan_input *in, const st_plan_row *r);

/* Per-micro-batch communication of the shard engine's per-unit collectives (plan_units.c), for
 * models whose unit layout is known (GPT-2 shapes): adds each level's seconds (A micro-batches)
 * and ring messages. Returns 0, adding nothing, when the layout is unknown. */
int plan_unit_comm(const st_plan_input *in, const st_partition *p, uint64_t padded, double seconds[ST_LEVEL_COUNT],
                   uint64_t messages[ST_LEVEL_COUNT]);

/* plan_units.c: the engine's units of a GPT model (unit 0: wte, wpe and ln_f, then one per block)
 * after the balanced layout's bucketing (shard_bucket.h, STRATA_SHARD_BUCKET), or the log's units
 * (in->n_units) where given: returns their count; *embed (may be NULL) receives the elements of
 * the unit holding the embeddings, *block those of the largest other unit. Without bucketing
 * (contiguous layout, threshold 0): layers + 1 units of V C + T C + 2 C and 12 C^2 + 13 C. */
int plan_gpt_buckets(const st_plan_input *in, const st_partition *p, double *embed, double *block);

#endif
