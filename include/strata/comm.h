/* Communicators and collectives on tensors of any backend, over MPI, with the topology's hierarchy:
 * one sub-communicator per level and byte counters per level. Without MPI (or outside mpirun) a
 * communicator has one rank and every collective is a local copy, so programs run unchanged.
 * Tensors of a backend with device collectives (the CUDA plugin built with NCCL) move device to
 * device; other device tensors are staged through host memory (docs/collectives.md). */
#ifndef STRATA_COMM_H
#define STRATA_COMM_H

#include <stdint.h>
#include "strata/status.h"
#include "strata/tensor.h"
#include "strata/topo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_comm st_comm;

/* Levels of the hierarchy, fastest first: the GCDs of one GPU package, the GPUs of one node (ranks
 * with the same GCD index), the nodes (ranks with the same GPU and GCD index). */
typedef enum st_level { ST_LEVEL_GCD, ST_LEVEL_GPU, ST_LEVEL_NODE, ST_LEVEL_COUNT } st_level;

/* Which ranks a collective spans: the GCD pair (GCD level), the node (GCD + GPU levels), or every
 * rank (all three levels, hierarchically). */
typedef enum st_scope { ST_SCOPE_GCD, ST_SCOPE_NODE, ST_SCOPE_WORLD } st_scope;

typedef enum st_reduce_op { ST_REDUCE_SUM, ST_REDUCE_AVG, ST_REDUCE_MAX } st_reduce_op;

typedef enum st_collective {
    ST_COLL_ALL_REDUCE, ST_COLL_REDUCE_SCATTER, ST_COLL_ALL_GATHER, ST_COLL_BROADCAST,
    ST_COLL_ALL_TO_ALL, ST_COLL_COUNT
} st_collective;

/* Bytes one rank sent and received at one level for one kind of collective, counted as a
 * bandwidth-optimal (ring) algorithm moves them, as nccl-tests' bus bandwidth does: reduce-scatter
 * or all-gather of X bytes over p ranks moves (p-1)/p*X each way, all-reduce 2(p-1)/p*X, broadcast
 * (p-1)/p*X, all-to-all (p-1)/p*X of a rank's X. X is the padded size (a multiple of the scope's
 * rank count in elements); docs/collectives.md derives the per-level figures. */
typedef struct st_comm_bytes {
    uint64_t sent, received;
} st_comm_bytes;

/* --- Creation --------------------------------------------------------------------------------
 *
 * Ranks. A communicator numbers its ranks in hierarchy order, fastest level most significant:
 *   world rank = (gcd * gpus + gpu) * nodes + node,   node-scope rank = gcd * gpus + gpu,
 *   GCD-scope rank = gcd.
 * This is what lets every hierarchical reduce-scatter and all-gather use contiguous blocks with no
 * permutation step (docs/collectives.md). It equals the MPI rank whenever there is one node and one
 * GCD per GPU, or one rank per node; otherwise compare st_comm_rank, not the MPI rank.
 *
 * Topology. STRATA_TOPOLOGY=NxGxD (emulated): MPI rank r sits at node r/(G*D), gpu (r/D)%G,
 * gcd r%D, and N*G*D must equal the number of ranks. Otherwise (detected or XML): a host is an MPI
 * shared-memory domain, and a node is a host, or the hosts whose ranks have the same
 * STRATA_NODE_ID (scripts/emulate-cluster.sh sets it when GPU packages are hosts of their own).
 * In a node of one host, st_topo_place gives the GPU and GCD of each local rank; in a node of
 * several hosts, each host is a GPU package and its ranks are the package's GCDs. Every node must
 * hold the same number of ranks (and of hosts). */

/* A communicator over every rank of the job: MPI_COMM_WORLD when the program runs under a launcher
 * (Open MPI, PMI, PMIx or Slurm variables set) or MPI is already initialised; one rank otherwise
 * and in builds without MPI. Initialises MPI (MPI_Init_thread, MPI_THREAD_FUNNELED) when the
 * program has not; then the last st_comm_destroy of such a communicator finalises it, after which MPI
 * cannot be used again in the process (a later st_comm_init_world fails). Collective over the world:
 * every rank must call it. *out is owned by the caller (st_comm_destroy).
 * Errors: ST_ERR_INVALID_ARG (NULL out; STRATA_TOPOLOGY malformed or not matching the rank count,
 * with both figures; STRATA_TOPOLOGY or STRATA_GCDS_PER_GPU differing between ranks, naming both
 * values), ST_ERR_UNSUPPORTED (nodes with different rank counts; MPI already finalised),
 * ST_ERR_BACKEND (MPI failure, with MPI's message), ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_comm_init_world(st_comm **out);

/* A setting every rank must hold identically (a command-line option, a configuration value):
 * `value` NULL means unset, which differs from every string. Both strings are borrowed. */
typedef struct st_comm_check {
    const char *name, *value;
} st_comm_check;

/* What st_comm_init_world_ex checks across ranks after MPI starts and before any communicator is
 * split. local_error, when not NULL, is this rank's failure before MPI (its command line, say). */
typedef struct st_comm_init_options {
    const st_comm_check *checks;
    int n_checks;
    const char *local_error;
} st_comm_init_options;

/* st_comm_init_world, with an agreement first: when any rank passes a local_error, every rank
 * returns ST_ERR_INVALID_ARG with "rank R: <its message>" (R the lowest such rank); otherwise every
 * rank must pass the same checks (names and values, in the same order) and hold the same
 * STRATA_TOPOLOGY and STRATA_GCDS_PER_GPU (checked by every st_comm constructor, since they choose
 * the splits), else every rank returns ST_ERR_INVALID_ARG naming the setting, rank 0's value and
 * the value of the lowest rank that differs. opt may be NULL. Without MPI (one rank) only
 * local_error applies. Collective; errors otherwise as st_comm_init_world. */
ST_API st_status st_comm_init_world_ex(const st_comm_init_options *opt, st_comm **out);

/* A communicator over the ranks of an existing MPI communicator: `mpi_comm` points to an MPI_Comm
 * (so that this header needs no mpi.h). The MPI_Comm is duplicated, not kept: the caller may free
 * its own. MPI must be initialised by the caller and stays so after st_comm_destroy. Collective over
 * `*mpi_comm`. Errors: as st_comm_init_world; ST_ERR_UNSUPPORTED in builds without MPI. */
ST_API st_status st_comm_from_mpi(const void *mpi_comm, st_comm **out);

/* Frees the communicator, its sub-communicators, device communicators and device workspaces
 * (collective over its ranks when it has MPI communicators); call it before st_shutdown. NULL is
 * a no-op. */
ST_API void st_comm_destroy(st_comm *c);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_comm_destroy") void st_comm_free(st_comm *c);

/* Rank in hierarchy order (see above) and number of ranks. 0 and 1 for NULL. */
ST_API int st_comm_rank(const st_comm *c);
ST_API int st_comm_size(const st_comm *c);
/* This rank's place (node, GPU package, GCD) and the shape (nodes x GPUs x GCDs) of the job; the
 * shape's product is the communicator's size. Errors: ST_ERR_INVALID_ARG (NULL). */
ST_API st_status st_comm_place(const st_comm *c, st_place *out);
ST_API st_status st_comm_shape(const st_comm *c, st_topo_shape *out);
/* The host name of comm rank `rank` (what gethostname said there when the communicator was
 * made), owned by c and valid until st_comm_destroy; for a one-rank communicator, this host's.
 * NULL for a NULL c or a rank out of range. */
ST_API const char *st_comm_host_name(const st_comm *c, int rank);
/* Number of ranks a scope spans (d, g*d or n*g*d) and this rank's index in it; 0 for bad input. */
ST_API int st_comm_scope_size(const st_comm *c, st_scope scope);
ST_API int st_comm_scope_rank(const st_comm *c, st_scope scope);

/* --- Collectives -----------------------------------------------------------------------------
 *
 * Every rank of the scope must call the same collective with the same element count, dtype, op and
 * root; this is checked (one small MPI_Allreduce) before any data moves, and a mismatch returns the
 * same error on every rank naming both values: ST_ERR_SHAPE (counts), ST_ERR_DTYPE (dtypes),
 * ST_ERR_INVALID_ARG (op, root, or another rank's invalid arguments). dtypes: f32, i32, bf16
 * (reduced in f32, rounded once at the end). AVG divides the f32 sum by the scope size (not for
 * i32: ST_ERR_DTYPE). Tensors may live on any backend and have any strides; contiguous CPU tensors
 * are used in place, others are staged through host buffers that the communicator keeps between
 * calls. Tensors of a backend with device collectives (backend_abi.h coll_*) take the same
 * algorithms on device buffers when every rank of the scope can (STRATA_COMM_DEVICE=0 turns this
 * off; all-to-all is always staged); results and byte counts are the same on both paths.
 * Tensors stay owned by the caller. MPI failures: ST_ERR_BACKEND with MPI's message.
 *
 * Uneven sizes are padded, never refused: with P ranks in the scope and n elements, the shard size
 * is c = ceil(n/P) and scope rank r's shard is elements [r*c, min((r+1)*c, n)) of the full tensor;
 * positions past n read as zero. */

/* In place: t becomes the reduction of every rank's t. */
ST_API st_status st_comm_all_reduce(st_comm *c, st_tensor *t, st_reduce_op op, st_scope scope);
/* out (c = ceil(numel(in)/P) elements, any shape, same dtype) receives this rank's shard of the
 * reduction of every rank's `in`; its elements past the end of the full tensor are zero. */
ST_API st_status st_comm_reduce_scatter(st_comm *c, const st_tensor *in, st_tensor *out, st_reduce_op op,
                                        st_scope scope);
/* out (n elements with ceil(n/P) == numel(in)) receives the scope ranks' `in` concatenated in scope
 * rank order and cut to n: the inverse of st_comm_reduce_scatter's sharding. */
ST_API st_status st_comm_all_gather(st_comm *c, const st_tensor *in, st_tensor *out, st_scope scope);
/* t on every rank of the scope receives t of scope rank `root`. Flat MPI_Bcast over the scope. */
ST_API st_status st_comm_broadcast(st_comm *c, st_tensor *t, int root, st_scope scope);
/* in and out have the same element count n; with c = ceil(n/P), block j of `in` (elements
 * [j*c, (j+1)*c), cut to n) goes to scope rank j, which stores it as its block r for sender r.
 * Flat MPI_Alltoall over the scope. */
ST_API st_status st_comm_all_to_all(st_comm *c, const st_tensor *in, st_tensor *out, st_scope scope);

/* --- Byte counters ---------------------------------------------------------------------------- */

/* Bytes this rank moved at `level` in every `collective` since creation or the last reset, in the
 * convention above (counted for calls that succeeded). Errors: ST_ERR_INVALID_ARG (NULL, bad enum). */
ST_API st_status st_comm_bytes_get(const st_comm *c, st_level level, st_collective collective,
                                   st_comm_bytes *out);
/* Wall-clock seconds this rank spent inside the per-level calls of the collectives at `level`
 * since creation or the last reset: the MPI (or device library) calls of each level of the
 * hierarchical all-reduce, reduce-scatter and all-gather, and of the sharded-state engine's
 * level-range collectives (shard.h), waiting for slower ranks included. Staging copies, argument
 * agreement, and the flat broadcast and all-to-all are not counted. On the device path the time
 * is what the host waited for the call (a stream-ordered library such as NCCL returns once the
 * collective is enqueued). Errors: ST_ERR_INVALID_ARG (NULL, bad level). */
ST_API st_status st_comm_time_get(const st_comm *c, st_level level, double *seconds);
/* Sets every counter of c (bytes and seconds) to zero. NULL is a no-op. */
ST_API void st_comm_bytes_reset(st_comm *c);

/* --- Measuring the levels ---------------------------------------------------------------------- */

/* One level's measured figures. Bandwidth is what one rank moves per second in the ring
 * convention above ((p-1)/p of the buffer) for large messages, while every group of the level
 * communicates at once; latency is the time per ring message of tiny calls. */
typedef struct st_comm_level_probe {
    int ranks;                   /* ranks in one group of the level (1: not measured, zeros) */
    double gbs;                  /* GB/s (1e9 B/s) per rank: harmonic mean of the two below */
    double gather_gbs, reduce_gbs; /* all-gather's and reduce-scatter's own */
    double solo_gbs;             /* the same with one group of the level alone (the others idle) */
    double lat_us;               /* microseconds per ring message */
} st_comm_level_probe;

/* Times each level of c with more than one rank: all-gathers and reduce-scatters of `bytes` bytes
 * (the full buffer; f32 on host memory) and of one element per rank, on the level's communicator,
 * every group at once, slowest rank, median of 3 rounds; and the large ones again with one group
 * alone (the ranks with index 0 at the other levels). A shared link shows up as the rate each
 * rank gets while all of them use it, against the lone group's. Collective over every rank of c; takes seconds on slow
 * links (bytes / bandwidth, a dozen times per level). The byte and time counters are left as
 * they were. A one-rank communicator returns zeros. Errors: ST_ERR_INVALID_ARG (NULL, bytes <
 * 4096), ST_ERR_OUT_OF_MEMORY, ST_ERR_BACKEND (MPI). */
ST_API st_status st_comm_probe(st_comm *c, size_t bytes, st_comm_level_probe out[ST_LEVEL_COUNT]);

#ifdef __cplusplus
}
#endif
#endif
