/* Partitioning of model state over the topology's hierarchy: a scheme says, for parameters,
 * gradients and optimizer state, whether each is replicated or sharded over the GCD pair, the node
 * or the world (ZeRO-1/2/3, ZeRO++'s node-local secondary copy and the 3-level Frontier scheme are
 * points in that space). Also the closed-form bytes each rank moves per optimizer step at each
 * level, and the bytes of state it holds. Pure calculation: nothing here talks to a device or MPI.
 * docs/partitioning.md derives every formula. */
#ifndef STRATA_PARTITION_H
#define STRATA_PARTITION_H

#include <stddef.h>
#include <stdint.h>
#include "strata/comm.h"
#include "strata/status.h"
#include "strata/topo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where one kind of state lives, narrowest first. ST_SHARD_NONE: every rank holds all of it.
 * Otherwise it is split evenly over the ranks of that scope (st_scope = shard - 1), and the same
 * split is repeated in every copy of the scope. */
typedef enum st_shard { ST_SHARD_NONE, ST_SHARD_GCD, ST_SHARD_NODE, ST_SHARD_WORLD, ST_SHARD_COUNT } st_shard;

/* A scheme. Valid (st_partition_validate) when params <= grads <= optim in the order above, and
 * secondary is NONE or a scope strictly narrower than params (so params must be sharded):
 *  - grads wider than optim would leave a rank holding less reduced gradient than its optimizer
 *    shard updates, so it would have to gather gradients back: rejected;
 *  - params wider than grads would pay parameter gathers over the wider scope each micro-batch to
 *    save parameter memory while keeping the bigger gradient buffer; ZeRO never does it, and the
 *    order keeps every scheme a chain of nested shards, which the volume derivation relies on;
 *  - secondary (ZeRO++ hpZ) is a second, narrower-sharded copy of the parameters that backward
 *    gathers from; it only makes sense when params are sharded wider than it. */
typedef struct st_partition {
    st_shard params, grads, optim;
    st_shard secondary;
    /* ZeRO++'s quantized communication (docs/partitioning.md, section 9), 0 = exact:
     *  - qw (qwZ), 0 or 8: each rank quantizes its exact (master) parameters to int8 blocks once
     *    after every update, and the parameter all-gather that starts from them moves the payload
     *    and one f32 scale per block (params == optim: every micro-batch's gather over params;
     *    params narrower than optim: the step's gather from the optim shard). Needs sharded params.
     *  - qg (qgZ), 0, 8 or 4: every reduce-scatter of the gradient becomes, level by level, a
     *    quantize / all-to-all / dequantize-and-sum in f32, one quantization per level. Needs
     *    sharded gradients.
     *  - qwblock: elements per weight scale; 0 = ST_QUANT_BLOCK_DEFAULT (ops.h: 4096, as ZeRO++'s
     *    qwZ quantizer).
     *  - qgblock: elements per gradient scale; 0 = one row of the model (st_partition_model.row,
     *    its hidden width, rounded up to even), as DeepSpeed's qgZ groups a gradient by rows;
     *    ST_QUANT_BLOCK_DEFAULT when the row is unknown. Even for qg = 4. */
    int qw, qg;
    int64_t qwblock, qgblock;
} st_partition;

/* Elements per scale of *p's quantized weight gathers: p->qwblock, or ST_QUANT_BLOCK_DEFAULT for 0. */
ST_API int64_t st_partition_qw_block(const st_partition *p);

/* Elements per scale of *p's quantized gradient exchanges, for a model whose rows hold `row`
 * elements (st_partition_model.row; 0: unknown): p->qgblock; else row rounded up to even; else
 * ST_QUANT_BLOCK_DEFAULT. */
ST_API int64_t st_partition_qg_block(const st_partition *p, uint64_t row);

/* Name of a shard value ("replicated", "gcd", "node", "world"); "?" out of range. */
ST_API const char *st_shard_name(st_shard s);

/* Ranks one shard of scope `s` spans: 1, d, g*d or n*g*d. 0 for a value out of range. */
ST_API uint64_t st_shard_ranks(st_shard s, const st_topo_shape *shape);

/* Number of named schemes and the i-th (0 <= i < count): ddp, zero1, zero2, zero3, zero3+hpz
 * (ZeRO-3 plus the hpZ secondary copy; called zero++ before ZeRO++'s quantization existed here),
 * zero++ (full ZeRO++: hpZ + qw=int8 + qg=int4), frontier3 and frontier3q (frontier3 with
 * quantized gathers and gradient exchanges; docs/partitioning.md gives our reading of the
 * paper). *name is a static string. Errors: ST_ERR_INVALID_ARG for i out of range or NULL outputs. */
ST_API int st_partition_scheme_count(void);
ST_API st_status st_partition_scheme(int i, const char **name, st_partition *out);

/* Checks the rules above, and: qw in {0, 8} only with sharded params, qg in {0, 8, 4} only with
 * sharded grads, qwblock and qgblock >= 0 (0 = default), qgblock even when qg = 4. Errors: ST_ERR_INVALID_ARG naming
 * the rule broken. */
ST_API st_status st_partition_validate(const st_partition *p);

/* Parses a named scheme, "params=S,grads=S,optim=S[,secondary=S]" with S one of replicated
 * (alias none), gcd, node, world, or a scheme name followed by key=value overrides
 * ("zero3,qw=int8,qg=int4", "zero++,qgblock=2048"). Quantization keys: qw=none|int8,
 * qg=none|int8|int4, qwblock=N and qgblock=N (elements per scale, N > 0), qblock=N (both; not
 * with qwblock or qgblock). Keys missing from the pure key=value form are replicated (none for
 * qw/qg, the default blocks for the block keys). The result is validated.
 * Errors: ST_ERR_INVALID_ARG for an unknown name, key or value, a duplicated key, an empty item,
 * or an invalid scheme (the message names which). */
ST_API st_status st_partition_parse(const char *text, st_partition *out);

/* Writes the key=value form ("params=gcd,grads=node,optim=world", with ",secondary=S", ",qw=int8",
 * ",qg=int4", ",qblock=N" when both blocks are set and equal, else ",qwblock=N" and ",qgblock=N"
 * when set) into buf (always terminated when size > 0); it parses
 * back to the same scheme. Returns the length it needed, as snprintf. */
ST_API int st_partition_format(const st_partition *p, char *buf, size_t size);

/* The named scheme equal to *p, or NULL. */
ST_API const char *st_partition_name(const st_partition *p);

/* The model whose state is partitioned. */
typedef struct st_partition_model {
    uint64_t params;       /* P, elements in the flat parameter vector (>= 1) */
    int param_bytes;       /* bytes per parameter element as stored and gathered (2 bf16, 4 f32) */
    int grad_bytes;        /* bytes per gradient element as reduced */
    int optim_bytes;       /* optimizer bytes per parameter: st_partition_optim_bytes() for AdamW */
    int micro_batches;     /* A >= 1: forward/backward passes per optimizer step */
    uint64_t row;          /* elements per row of the weight matrices (hidden width): the default
                              qgblock; 0 = unknown */
    /* Optional (0/NULL: whole-vector collectives). The element counts of the units the shard engine
     * gathers and reduce-scatters one at a time in its balanced layout (st_shard_model fills them
     * once a graph is attached; they tile the padded vector). Each unit of U elements moves
     * N floor(U/N) of them in its own collective (N = ranks), the units' remainders one more
     * together; the per-micro-batch qgZ phases are then the sum of those collectives' quantized
     * bytes (each chunk carries its own scales: docs/partitioning.md, section 9). The exact and
     * qwZ phases are linear in the elements and do not change. */
    int n_units;
    const uint64_t *unit_numel;
} st_partition_model;

/* Parses "U1,U2,..." (strata-train's log "unit_sizes", strata-info --unit-sizes) into out[0, max):
 * the unit count, or -1 (st_last_error says why) for an empty list, a value that is not a
 * positive integer, or more than max units. */
ST_API int st_partition_units_parse(const char *text, uint64_t *out, int max);

/* AdamW's bytes per parameter: m and v in f32 (8), plus an f32 master copy (4) when parameters are
 * stored narrower than f32 (param_bytes < 4); f32 parameters are their own master. */
ST_API int st_partition_optim_bytes(int param_bytes);

/* When a collective runs: in each micro-batch's forward or backward, or once per optimizer step. */
typedef enum st_phase_when { ST_PHASE_FORWARD, ST_PHASE_BACKWARD, ST_PHASE_STEP } st_phase_when;

/* One level of one collective. bytes = what one rank sends at that level, which equals what it
 * receives (ring counting, as comm.h's st_comm_bytes). */
typedef struct st_partition_phase {
    st_phase_when when;
    st_collective op;      /* ST_COLL_ALL_GATHER, ST_COLL_REDUCE_SCATTER or ST_COLL_ALL_REDUCE */
    st_level level;
    int is_grad;           /* 1: gradient elements (grad_bytes), 0: parameter elements */
    /* 0: exact elements. 8 or 4: block-quantized, bytes = payload plus 4 per scale on the wire
     * (op ST_COLL_ALL_TO_ALL for qgZ's exchanges). A quantized ST_PHASE_STEP all-gather of a scheme
     * with params == optim carries the scales alone: its payload moves every micro-batch. */
    int bits;
    uint64_t bytes;        /* per rank, per occurrence (per micro-batch for FORWARD/BACKWARD) */
    uint64_t messages;     /* ring messages per rank per call: p-1 (2(p-1) for all-reduce) */
} st_partition_phase;

#define ST_PARTITION_MAX_PHASES 32

/* Bytes one rank moves per optimizer step, per level. Volumes use the padded length
 * padded = ceil(P / N) * N (N = n*g*d): every state buffer is allocated with that many elements so
 * that each shard of any scope is an exact slice (padded / ranks of the scope) and every level of
 * every collective moves a whole number of elements. Levels of size 1 contribute no phase. */
typedef struct st_partition_traffic {
    uint64_t padded;                                /* elements */
    int n_phases;
    st_partition_phase phases[ST_PARTITION_MAX_PHASES]; /* in execution order within each `when` */
    st_comm_bytes micro_batch[ST_LEVEL_COUNT];      /* one micro-batch's forward + backward */
    st_comm_bytes once[ST_LEVEL_COUNT];             /* the once-per-step part */
    st_comm_bytes step[ST_LEVEL_COUNT];             /* A * micro_batch + once */
} st_partition_traffic;

/* Computes the traffic of scheme *p on `shape` for model *m. Errors: ST_ERR_INVALID_ARG for NULL,
 * an invalid scheme or shape, P = 0 or P >= 2^57, param/grad bytes outside [1, 16], optim bytes
 * outside [0, 64], A < 1, or byte counts that overflow 64 bits. */
ST_API st_status st_partition_traffic_get(const st_partition *p, const st_topo_shape *shape,
                                          const st_partition_model *m, st_partition_traffic *out);

/* Bytes of model state one rank holds (padded elements / ranks of the kind's scope * bytes):
 * params (param_bytes), grads (grad_bytes: the accumulator of the reduced gradient), optim
 * (optim_bytes), secondary (param_bytes, 0 without one); total is their sum. Working buffers
 * (gathered layers, activations) are not model state: the planner adds its estimate of them. */
typedef struct st_partition_memory {
    uint64_t params, grads, optim, secondary, total;
} st_partition_memory;

/* Errors as st_partition_traffic_get. */
ST_API st_status st_partition_memory_get(const st_partition *p, const st_topo_shape *shape,
                                         const st_partition_model *m, st_partition_memory *out);

#ifdef __cplusplus
}
#endif
#endif
