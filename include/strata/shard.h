/* Sharded training state: the engine that realises a partitioning scheme (partition.h) over the
 * flat arenas of a parameter set (optim.h) and a communicator (comm.h). It owns the persistent
 * state each rank keeps (its parameter shard, gradient accumulator, AdamW m and v, the ZeRO++
 * secondary copy) and moves exactly the bytes st_partition_traffic_get() counts.
 * Two ways to run it. Without a graph (below), the full parameter and gradient arenas of the
 * st_params set are the forward/backward working buffers: the bytes are moved, but parameter and
 * gradient sharding save no peak memory. With a compiled graph attached (st_shard_attach_graph),
 * sharded parameters are gathered one unit (a layer's parameters) at a time just before the graph
 * uses them and sharded gradients are reduce-scattered as soon as backward has finished a unit,
 * and the set's arenas of those kinds are released, so only a few units' worth of full
 * parameters and gradients exist at once; the bytes moved are the same.
 *
 * One optimizer step with A micro-batches:
 *
 *     for (k = 0; k < A; k++) {
 *         st_shard_gather(s, ST_PHASE_FORWARD);   // sharded params: full params into the arena
 *         forward(...);
 *         st_shard_gather(s, ST_PHASE_BACKWARD);  // again, from the secondary copy if any
 *         backward(...);                          // ADDS its gradient into the gradient arena
 *         st_shard_reduce_micro(s);
 *     }
 *     st_shard_step(s, lr, 1.0f / A, max_norm, &norm);
 *
 * With a plan attached the loop is the same (the graph's forward and backward replace the caller's),
 * and st_shard_gather()/st_shard_reduce_micro() move nothing: the unit hooks do it inside
 * st_graph_forward()/st_graph_backward(). Keeping the calls lets one trainer loop serve both ways.
 *
 * The engine keeps the gradient arena zero between micro-batches where it has taken the
 * gradient out of it, so callers never call st_params_zero_grad() (doing so once before the first
 * micro-batch of a step is harmless). Trainers whose forward and backward are one call make both
 * gather calls before it. Every call below is collective over every rank of the communicator,
 * in the same order on each.
 *
 * Layout. The engine works on W, a permutation of the padded flat vector. Where parameters are
 * sharded over more than one rank, W is balanced: every rank's shard holds 1/N of every unit (the
 * units of st_shard_attach_graph's default grouping; the last fewer-than-N elements of each unit, its
 * tail, are held in one small bucket T split evenly too), as ZeRO-3 / FSDP partition each unit, so
 * that a unit's gather is a true all-gather. Consecutive units smaller than the bucket threshold
 * (environment STRATA_SHARD_BUCKET, elements, read by st_shard_create and agreed by every rank;
 * default 1 Mi = 4 MiB of f32; 0 = off) are merged in unit order into one unit until it holds the
 * threshold, so one gather and one reduce-scatter serve them: the unit hooks, the slots and
 * st_shard_model's units are the merged ones. Otherwise W is the arena's vector itself (contiguous
 * slices). The layout changes who holds which element, never the bytes moved: the byte counters
 * equal st_partition_traffic_get() in either. docs/partitioning.md, "the balanced layout".
 *
 * Exactness: st_shard_step() leaves every rank with the parameters a ddp step would give, up to
 * the order of f32 summation in the reductions. All ranks must start from identical parameters
 * in the arena (same seed or a broadcast) when st_shard_create() is called.
 */
#ifndef STRATA_SHARD_H
#define STRATA_SHARD_H

#include <stdint.h>
#include "strata/checkpoint.h"
#include "strata/comm.h"
#include "strata/graph.h"
#include "strata/optim.h"
#include "strata/partition.h"
#include "strata/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_shard_state st_shard_state;

/* Allocates the persistent state of scheme *p for set `ps` on ps's device, and takes this rank's
 * shards of the parameters from the arena. The flat vector it partitions is the parameter arena
 * up to the end of its last parameter (P elements, alignment gaps included); every state buffer is
 * sized from the padded length ceil(P / N) * N (N ranks), exactly as partition.h counts:
 *  - params sharded: a shard of padded / ranks(params) elements (else the arena itself is it);
 *  - grads sharded: an accumulator of padded / ranks(grads) (else the gradient arena accumulates);
 *  - AdamW m and v of padded / ranks(optim) elements each (f32; no master copy: parameters are f32);
 *  - secondary: a copy of padded / ranks(secondary) elements;
 *  - a padded working copy of the arenas only when padded exceeds the arena (N not dividing it).
 * `ps`, `c`, `p` and `cfg` are borrowed; ps and c must outlive the state. *out is owned by the
 * caller (st_shard_destroy). Collective over c (it agrees on P and the scheme).
 * Errors: ST_ERR_INVALID_ARG (NULL, invalid scheme, AdamW config as st_optim_adamw_create, ranks
 * disagreeing on P or the scheme, a malformed STRATA_SHARD_BUCKET or ranks disagreeing on it),
 * ST_ERR_UNSUPPORTED (a parameter arena that is not f32),
 * ST_ERR_OUT_OF_MEMORY, backend and MPI errors. */
ST_API st_status st_shard_create(st_params *ps, st_comm *c, const st_partition *p, const st_adamw_config *cfg,
                                 st_shard_state **out);

/* Frees the state (not the set or the communicator). NULL is a no-op. */
ST_API void st_shard_destroy(st_shard_state *s);

/* The model the engine partitions, for st_partition_traffic_get()/st_partition_memory_get():
 * params = P above, 4-byte parameters and gradients, AdamW's optim bytes, `micro_batches` = A;
 * once a graph is attached in the balanced layout, the units (n_units, unit_numel: valid while s
 * lives), so that the per-unit quantized closed forms are exact. Errors: ST_ERR_INVALID_ARG (NULL, micro_batches < 1). */
ST_API st_status st_shard_model(const st_shard_state *s, int micro_batches, st_partition_model *out);

/* Before a micro-batch's forward (when = ST_PHASE_FORWARD) or backward (ST_PHASE_BACKWARD): with
 * sharded parameters, all-gathers them into the parameter arena over the params scope (backward
 * gathers from the secondary copy over its narrower scope when there is one; the forward gather
 * refreshes that copy). Nothing for replicated parameters.
 * Errors: ST_ERR_INVALID_ARG (NULL, when = ST_PHASE_STEP), MPI and backend errors. */
ST_API st_status st_shard_gather(st_shard_state *s, st_phase_when when);

/* After a micro-batch's backward: with sharded gradients, reduce-scatters the gradient arena over
 * the grads scope, adds this rank's shard into the accumulator and zeroes the arena. Nothing for
 * replicated gradients (they keep accumulating in the arena and are reduced once per step).
 * Errors: ST_ERR_INVALID_ARG (NULL), MPI and backend errors. */
ST_API st_status st_shard_reduce_micro(st_shard_state *s);

/* The optimizer step: reduces the accumulated gradient the rest of the way (grads scope to optim
 * scope, then across the copies of the optim scope), so that this rank's optim shard holds
 * g = avg / N * (sum over ranks of their accumulated gradients): the ddp mean gradient with avg =
 * 1/A. Then the global norm of g (each optim shard counted once), clipping at max_norm (<= 0: none;
 * factor as st_grad_clip_factor), fused AdamW on the optim shard (weight decay on the decay
 * region only, as st_optim_adamw_create), the all-gather of the updated parameters from the optim
 * scope to the params scope (into the arena when params are replicated), and zeroes the gradient
 * state. *norm (may be NULL) receives the pre-clip norm of g. A non-finite norm skips the update
 * (the gradient is still consumed, the step count not advanced) and returns ST_OK with *norm
 * holding it. The step count starts at 0 and counts updates made.
 * The norm's scalar all-reduce (one f32 per rank per step) is not in the byte counters or the
 * closed forms: it is latency, not volume.
 * Errors: ST_ERR_INVALID_ARG (NULL s, lr or avg not finite, avg <= 0), MPI and backend errors. */
ST_API st_status st_shard_step(st_shard_state *s, float lr, float avg, float max_norm, float *norm);

/* Steps taken (updates made) so far; 0 for NULL. */
ST_API int64_t st_shard_step_count(const st_shard_state *s);

/* Bytes of each kind of persistent state this rank holds, measured by the device's allocator
 * (st_device_memory_get deltas around each kind's allocation in st_shard_create; another thread
 * allocating on the same device at that moment would be counted too). The device's peak adds the
 * graph's arena and, when attached, the working slots of st_shard_working_memory.
 * params = its parameter shard, grads = the accumulator, optim = m + v, secondary = the secondary
 * copy; a replicated kind lives in the st_params arena (or the padded working copy when that is
 * longer) and reports that arena's bytes. total = their sum.
 * Errors: ST_ERR_INVALID_ARG (NULL). */
ST_API st_status st_shard_memory(const st_shard_state *s, st_partition_memory *out);

/* Attaches compiled plan `plan` (built on views of the set's parameters and gradients, from
 * st_params_get()) so that its forward and backward gather and reduce one unit at a time through
 * the graph's unit hooks (graph.h). units[i] (may be NULL) is the unit of parameter i, in
 * [0, count); NULL groups by name: parameters named "<word>.<digits>.<rest>" form one unit per
 * "<word>.<digits>." prefix (GPT blocks "h.0.", "h.1.", ...), all others one more unit. Each
 * parameter owns its elements of the padded vector up to the next parameter's offset (the last
 * one up to the padded end), so the units' element ranges tile the vector and the per-unit
 * collectives move exactly what the whole-vector ones did (st_partition_traffic_get still holds).
 * Per micro-batch, with sharded parameters, each unit is all-gathered into a working slot before
 * its first use in forward (refreshing its share of the secondary copy) and again before its first
 * use in backward (from the secondary copy if any), and its slot is given back after its last use;
 * with sharded gradients, each unit gets a zeroed gradient slot before backward uses it and is
 * reduce-scattered into the accumulator after its last gradient rule. Slots are pooled: the pool
 * grows to the most units live at once (st_shard_working_memory).
 * Then the set's arenas of the sharded kinds are released (st_params_release: the set's views of
 * them become placeholders, the plan's parameter nodes are rebound) and the engine's working
 * copies of them freed. The memory returns to the device once no other handle refers to it:
 * destroy the st_graph the plan was compiled from (plans stay valid) or the graph keeps the
 * arena alive. With neither parameters nor gradients sharded (ddp, zero1) this does nothing.
 * With the balanced layout, `units` must group the parameters as the default does (the layout is
 * built at st_shard_create for those units): pass NULL. There, per micro-batch, each unit's
 * gather and reduce-scatter are nonblocking collectives queued in one order on every rank; with
 * overlap on (st_shard_set_overlap, the default) the next unit's gather (in the order the first
 * micro-batch used the units, within a pass: never across passes, since a forward may be an
 * evaluation and the optimizer may step between passes) starts when a unit
 * begins, so it moves while that unit computes, and a unit's reduce-scatter runs while the next
 * units' backward computes, advanced between graph nodes by the executor's progress hook
 * (st_graph_set_progress_hook). At most two parameter slots of the forward or backward sequence are
 * live at once (the unit in use and the one prefetched; a unit that stays live across the pass,
 * such as GPT's embeddings and ln_f, adds its own), and two gradient slots (the unit in backward
 * and the one being reduce-scattered). Every collective is finished at the end of each backward.
 * Callable once per state (one plan), after st_shard_create() and before the first forward; not
 * collective (every rank must attach before training, as every rank runs the same units).
 * After it, read parameters through st_shard_save() or a forward's units, not the set's views.
 * s and plan are borrowed; the plan must outlive s or be destroyed after it.
 * Errors: ST_ERR_INVALID_ARG (NULL, unit out of range, a unit none of whose parameters is bound in
 * the plan), ST_ERR_UNSUPPORTED (a plan already attached), ST_ERR_OUT_OF_MEMORY, backend errors. */
ST_API st_status st_shard_attach_graph(st_shard_state *s, st_graph_plan *plan, const int *units);

/* Overlap of the per-unit collectives with compute (see st_shard_attach_graph): on = 1 (the default)
 * or off = 0, where each collective finishes before the hook that started it returns. The same
 * collectives run in the same order with the same arithmetic either way, so losses, parameters and
 * byte counters are bit-identical. Finishes anything in flight first. Not collective, but every rank
 * must use the same setting (the prefetch order is part of the collectives' order).
 * Errors: ST_ERR_INVALID_ARG (NULL, on not 0 or 1), MPI errors. */
ST_API st_status st_shard_set_overlap(st_shard_state *s, int on);
/* The overlap setting; 0 for NULL. */
ST_API int st_shard_overlap(const st_shard_state *s);

/* Bytes of the working slots the attached plan's units have needed so far (the pool only grows;
 * 0 before attaching): the part of the device's peak that full parameters and gradients still take.
 * Errors: ST_ERR_INVALID_ARG (NULL). */
ST_API st_status st_shard_working_memory(const st_shard_state *s, uint64_t *bytes);

/* Sharded checkpoint in directory `dir` (created if missing, one level): each rank holding the
 * first copy of an optim shard writes "shard-KKKKK-of-NNNNN.safetensors" with that range of the
 * parameters, m and v (tensors "params", "adamw.m", "adamw.v", cut at P), then rank 0 writes
 * "index.safetensors" (metadata only: P, step, ranks, scheme, the shard length) once every shard is
 * on disk. Format 2 (the balanced layout): shard k holds elements [k len, (k + 1) len) of W, and
 * its tensor "arena" (i32, n x 4: offset and length, each as high and low 32-bit words) says
 * where its pieces lie in the arena's vector; elements at or past P are left out. Format 1 (the
 * contiguous layout, and every checkpoint written before the balanced one): shard k holds the
 * arena's [k len, (k + 1) len) cut at P. Both load into any rank count, scheme and layout. Every file carries the step and one random id drawn for this save
 * ("strata.shard.id"), so that a loader refuses a shard of any other save. Every file is written
 * atomically (temporary file, fsync, rename), but a directory rewritten in place can still mix
 * saves after a crash: write each save into a fresh directory and commit it as a whole
 * (ckpt_dir.h), as strata-train does. meta/nmeta (may be NULL/0) are extra string entries stored
 * in the index (e.g. the trainer's run state). Collective. Errors: ST_ERR_INVALID_ARG (NULL,
 * reserved meta key), ST_ERR_IO (on any rank: every rank returns an error), MPI and backend
 * errors. */
ST_API st_status st_shard_save(st_shard_state *s, const char *dir, const st_ckpt_meta *meta, int nmeta);

/* Loads a checkpoint written by st_shard_save() with any rank count or scheme: each rank reads the
 * slices it needs (its parameter and optim shards) from every shard file that overlaps them, and
 * the step count. Replicated parameters land in the arena; sharded ones in the shard (the next
 * forward gather fills the arena). The extra metadata is not returned here: read the index with
 * st_safetensors_meta(). Collective (errors on any rank are returned on every rank).
 * Every shard file a rank reads is checked against the index (P, count, step, index, first
 * element and the save's id; checkpoints written before ids existed are checked without one);
 * the optim shards tile [0, P), so every file is checked by some rank.
 * Errors: ST_ERR_INVALID_ARG (NULL), ST_ERR_IO (missing file), ST_ERR_FORMAT (index or shard
 * inconsistent: P differs from this model's, ranges that do not tile [0, P), a shard of another
 * save, tensors of the wrong size), MPI and backend errors. */
ST_API st_status st_shard_load(st_shard_state *s, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
