/* The partition planner: from a topology shape, per-level bandwidth and latency, device memory and a
 * model, predicts each scheme's communication time per optimizer step and memory per device, and
 * picks the fastest scheme that fits, with a sentence saying why. Pure calculation (no device, no
 * MPI), so any machine can plan for any other; docs/partitioning.md states the model. */
#ifndef STRATA_PLAN_H
#define STRATA_PLAN_H

#include <stdint.h>
#include "strata/partition.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the planner knows of a machine. Bandwidths are GB/s (1e9 bytes/s) per direction. The GCD
 * and GPU figures are what one rank can drive to its peers at that level; the NODE figure is the
 * node's network injection bandwidth, shared by all of the node's ranks because every rank's
 * node-level ring crosses the network at the same time (per rank: node / (g*d)). Latencies are
 * per ring message, in microseconds. The *_source strings say, for people, where each figure came
 * from: "table: frontier", "default", "hwloc: NVLinkBandwidth", "file: m.conf", ... */
#define ST_PLAN_SOURCE_LEN 112
typedef struct st_plan_machine {
    char name[32];
    double bw_gbs[ST_LEVEL_COUNT];
    double lat_us[ST_LEVEL_COUNT];
    double memory_gib;  /* device memory per rank (per GCD), GiB (2^30 bytes) */
    /* Compute, per rank while every rank computes at once: the rate at which forward + backward
     * run the model's FLOPs (6 P + 12 L C T per token, as strata-train counts them), GFLOP/s, and
     * the streaming bandwidth the optimizer's update runs at, GB/s. 0 = unknown: the planner then
     * predicts communication alone (compute_s = 0). */
    double compute_gflops, stream_gbs;
    /* Per level, what one rank gets when its group alone uses the level (the others idle), GB/s;
     * 0 = unknown: the per-rank figure (NODE: the node's whole figure). The shard engine's
     * per-unit collectives often have one group busy (plan_units.c); a link shared by a host's
     * ranks gives a lone group more than its share. */
    double solo_gbs[ST_LEVEL_COUNT];
    char bw_source[ST_LEVEL_COUNT][ST_PLAN_SOURCE_LEN];
    char lat_source[ST_LEVEL_COUNT][ST_PLAN_SOURCE_LEN];
    char memory_source[ST_PLAN_SOURCE_LEN];
    char compute_source[ST_PLAN_SOURCE_LEN], stream_source[ST_PLAN_SOURCE_LEN];
} st_plan_machine;

/* Known machines: "frontier" (MI250X: 200 GB/s between the two GCDs of a package, 50 GB/s between
 * packages (the conservative end of 50-100), 4 x 25 GB/s Slingshot NICs = 100 GB/s per node,
 * 64 GiB HBM per GCD; sources "table: frontier") and "local" (the documented defaults for a
 * commodity PCIe machine, docs/partitioning.md; sources "default"). Errors: ST_ERR_INVALID_ARG for
 * an unknown name (the message lists the known ones) or NULL. */
ST_API st_status st_plan_machine_get(const char *name, st_plan_machine *out);

/* The figures hwloc knows for topology t (from st_topo_load), the defaults ("local") for the rest.
 * GPU-GPU bandwidth comes from the distance matrices GPU backends publish in hwloc
 * ("NVLinkBandwidth", "XGMIBandwidth", "XeLinkBandwidth": MB/s per direction between GPU OS
 * devices): the GCD level is the slowest pair of devices within a package, the GPU level the
 * slowest pair in different packages, each taken from hwloc only when one matrix gives a direct
 * link for every such pair (otherwise the default, with the source saying how many pairs were
 * linked). Device memory is the smallest over the devices of CUDAGlobalMemorySize, RSMIVRAMSize
 * or OpenCLGlobalMemorySize, when every device has one. The NODE level and all latencies are
 * defaults (hwloc knows neither). An emulated topology gets the defaults throughout. Sources as
 * documented above; name "hwloc" for a detected or XML topology, "local" otherwise. t is only
 * read. Errors: ST_ERR_INVALID_ARG for NULL. */
ST_API st_status st_plan_machine_from_topo(const st_topo *t, st_plan_machine *out);

/* Applies override lines to *inout. Format: one `key = value` per line, blank lines and lines
 * starting with '#' ignored. Keys: name (text), gcd_gbs, gpu_gbs, node_gbs (GB/s, > 0), gcd_us,
 * gpu_us, node_us (us, >= 0), memory_gib (> 0), compute_gflops, stream_gbs, gcd_solo_gbs,
 * gpu_solo_gbs, node_solo_gbs (>= 0; 0 = unknown). `source` names the text in messages (a file name)
 * and becomes each overridden figure's source ("file: SOURCE").
 * On error *inout is unchanged. Errors: ST_ERR_FORMAT "source:line: ..." for a line without '=',
 * an unknown key, a value that is not a number in range, or a key given twice. */
ST_API st_status st_plan_machine_parse(const char *text, const char *source, st_plan_machine *inout);

/* st_plan_machine_parse on the contents of file `path`. Errors: ST_ERR_IO when it cannot be read,
 * else as st_plan_machine_parse. */
ST_API st_status st_plan_machine_load(const char *path, st_plan_machine *inout);

/* A GPT-2-shaped model. params = vocab*hidden + seq*hidden + layers*(12 hidden^2 + 13 hidden)
 * + 2 hidden (tied embeddings). When layers is 0 only `params` is known and the planner counts
 * model state alone. */
typedef struct st_plan_model {
    char name[32];
    uint64_t params;
    int layers, hidden, heads, seq, vocab;
} st_plan_model;

/* Known models: "tiny" (2 x 64, 4 heads, seq 64, vocabulary 256: strata-train's smallest),
 * "gpt2-124m" (12 x 768, seq 1024), "gpt-25m" (8 x 512, 8 heads, seq 128, a byte vocabulary of
 * 256: strata-bench's model for emulated clusters), "gpt-deep" (48 x 32, 2 heads, seq 64, vocabulary
 * 256: many latency-bound units, strata-bench's model for bucketing), "1.3b" (24 x 2048, 16 heads, seq 2048), "20b"
 * (44 x 6144, 64 heads, seq 2048: GPT-NeoX-20B's shape with GPT-2's vocabulary). Errors:
 * ST_ERR_INVALID_ARG for an unknown name (listing the known ones) or NULL. */
ST_API st_status st_plan_model_get(const char *name, st_plan_model *out);

/* Everything the planner reads. */
typedef struct st_plan_input {
    st_topo_shape shape;
    st_plan_machine machine;
    st_plan_model model;
    int param_bytes, grad_bytes, optim_bytes; /* as st_partition_model */
    int micro_batches;     /* A, gradient accumulation steps per optimizer step */
    int micro_batch_size;  /* sequences per micro-batch (of model.seq tokens) */
    /* Bytes per activation element; 0 = param_bytes. Smaller than param_bytes is mixed precision as
     * strata-train does it (--dtype bf16 with f32 parameters): every forward also holds a compute
     * copy of the parameters at this width. */
    int act_bytes;
    /* The shard engine's overlap of its per-unit collectives with compute (st_shard_set_overlap),
     * in [0, 1]: 0 = off (the step is compute plus communication), 1 = on (each micro-batch's
     * per-unit gathers and reduce-scatters pipelined with the units' compute as the engine does
     * it: docs/partitioning.md, section 7); between, the two interpolated.
     * ST_PLAN_ENGINE_OVERLAP (1, the engine's default) by default. */
    double overlap;
    /* How the per-micro-batch collectives' data lies across ranks. ST_PLAN_UNITS_CONTIGUOUS shards
     * the flat vector in contiguous slices and moves one unit (a block, or the embeddings) at a
     * time, so a unit lies in few ranks' slices and its gather is mostly a broadcast from them:
     * each call is charged its busiest rank (models with a known layout only).
     * ST_PLAN_UNITS_BALANCED: every rank holds 1/N of every unit (as DeepSpeed partitions each
     * parameter), so every call is a balanced ring: the closed forms. ST_PLAN_UNITS_ENGINE (the
     * default): what Strata's shard engine does, balanced where parameters are sharded and
     * contiguous otherwise (zero2's gradient units). */
    int unit_layout;
    /* Optional: the engine's units (st_partition_model's n_units and unit_numel, e.g. strata-train's
     * log "unit_sizes"), for exact per-unit quantized byte counts; 0/NULL: the whole-vector forms. */
    int n_units;
    const uint64_t *unit_numel;
} st_plan_input;

#define ST_PLAN_ENGINE_OVERLAP 1.0
enum { ST_PLAN_UNITS_CONTIGUOUS, ST_PLAN_UNITS_BALANCED, ST_PLAN_UNITS_ENGINE };

/* Defaults: shape 1x1x1, machine "local", model "gpt2-124m", bf16 parameters and gradients, AdamW
 * (12 bytes/param), A = 1, micro-batch size 1, overlap ST_PLAN_ENGINE_OVERLAP, unit layout
 * ST_PLAN_UNITS_ENGINE. */
ST_API void st_plan_input_init(st_plan_input *in);

/* One scheme's prediction (docs/partitioning.md states the model). Per-micro-batch collectives are
 * issued per layer (layers + 1 calls: the blocks and the embeddings; 1 when the model's layers are
 * unknown), the once-per-step ones once on the flat buffer; messages counts ring messages per rank
 * per step. level_s[l] = bytes sent at l / bandwidth per rank at l + messages[l] * latency[l];
 * comm_s sums the levels (no overlap between levels).
 * Compute (0 when the machine's compute_gflops is unknown): fwdbwd_s = A * micro_batch_size * seq
 * tokens * (6 P + 12 L C seq) FLOPs / compute rate; optim_s = the optimizer shard's elements *
 * (2 param_bytes + grad_bytes + 2 optim_bytes) / stream bandwidth (0 when that is unknown);
 * step_s = fwdbwd_s + optim_s + comm_s with overlap 0; with overlap 1 the per-micro-batch collectives
 * pipelined with the units' compute (docs/partitioning.md, section 7), never above that sum.
 * Memory, per rank, as strata-train allocates it (0 beyond state when the model's layers are
 * unknown): activations = the training graph's arena and the gradient rules' temporaries;
 * slots = gathered-layer and layer-gradient working buffers of sharded kinds; working =
 * activations + slots; memory = state.total + working; fits when memory does not exceed the
 * device memory. */
typedef struct st_plan_row {
    const char *name;      /* static: the scheme's name, or "custom" */
    st_partition partition;
    st_partition_traffic traffic;
    uint64_t messages[ST_LEVEL_COUNT];
    double level_s[ST_LEVEL_COUNT];
    double comm_s;
    double fwdbwd_s, optim_s, compute_s; /* compute_s = fwdbwd_s + optim_s */
    double step_s;
    st_partition_memory state;
    uint64_t activations, slots, working, memory;
    int fits;
} st_plan_row;

#define ST_PLAN_MAX_ROWS 12

typedef struct st_plan_result {
    int n_rows;
    st_plan_row rows[ST_PLAN_MAX_ROWS];
    int chosen;            /* index into rows, -1 when nothing fits */
    char explanation[1024];
} st_plan_result;

/* Predicts one scheme. Errors: ST_ERR_INVALID_ARG for NULL, an invalid scheme, shape or model
 * (as st_partition_traffic_get), or a machine with a bandwidth <= 0 or memory <= 0. */
ST_API st_status st_plan_evaluate(const st_plan_input *in, const st_partition *p, st_plan_row *out);

/* Predicts every named scheme, plus *extra when it is not NULL and not a named scheme, and chooses
 * the fastest (step_s) that fits (ties: less memory, then table order). explanation says which, its time
 * and dominant level, the runner-up, and what did not fit. A plan where nothing fits is not an
 * error (chosen = -1). Errors: as st_plan_evaluate. */
ST_API st_status st_plan_choose(const st_plan_input *in, const st_partition *extra, st_plan_result *out);

#ifdef __cplusplus
}
#endif
#endif
