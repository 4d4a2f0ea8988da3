/* The st_comm object shared by the communicator files: setup (comm.c), the MPI transport
 * (comm_mpi.c), host staging (comm_stage.c), the hierarchical algorithms (comm_coll.c) and their
 * device form over a backend's own collectives (comm_device.c, comm_device_coll.c). */
#ifndef STRATA_COMM_INTERNAL_H
#define STRATA_COMM_INTERNAL_H

#include <stddef.h>
#include "strata/comm.h"
#ifdef STRATA_HAVE_MPI
#include <mpi.h>
#endif

/* The element types MPI moves: bf16 is reduced as f32, and moved as 16-bit words where nothing is
 * reduced. */
typedef enum comm_type { COMM_F32, COMM_I32, COMM_U16 } comm_type;

enum { COMM_SLOTS = 3 };
#define ST_COMM_HOST_LEN 64

/* Device collectives (backend_abi.h coll_*): the device they were first used with, one backend
 * communicator per level created on first use, and device workspaces kept between calls. */
typedef struct comm_dev {
    st_device *dev;
    void *level[ST_LEVEL_COUNT];
    st_tensor *slot[COMM_SLOTS];
    size_t slot_cap[COMM_SLOTS];    /* bytes */
} comm_dev;

/* The levels a scope spans that have more than one rank, fastest first. len[i] is the element
 * count entering level i's reduce-scatter (or leaving its all-gather): len[0] is the padded
 * size, len[i+1] = len[i] / p[i]. q[i] is this rank's index at level i. */
typedef struct comm_plan {
    int nl, P;
    st_level lv[ST_LEVEL_COUNT];
    int p[ST_LEVEL_COUNT], q[ST_LEVEL_COUNT];
    size_t len[ST_LEVEL_COUNT + 1];
} comm_plan;

struct st_comm {
    int rank, size;                 /* hierarchy order (comm.h) */
    st_place place;
    st_topo_shape shape;
    int lsize[ST_LEVEL_COUNT];      /* d, g, n */
    int lrank[ST_LEVEL_COUNT];      /* gcd, gpu, node */
    st_comm_bytes bytes[ST_LEVEL_COUNT][ST_COLL_COUNT];
    double seconds[ST_LEVEL_COUNT]; /* wall time inside each level's collective calls */
    void *slot[COMM_SLOTS];         /* host workspaces, grown on demand and kept between calls */
    size_t slot_cap[COMM_SLOTS];
    comm_dev dev;
    int finalize_mpi;               /* this communicator holds a reference on the library's MPI init */
    const st_comm_init_options *init; /* borrowed during creation only: what the ranks must agree on */
    char *hosts;                    /* size * ST_COMM_HOST_LEN: each rank's host name (MPI only) */
    struct shard_quant *squant;     /* the sharded engine's quantization (shard_quant.c), or NULL */
    char *ring;                     /* two blocks of ring_cap bytes: reduce-scatter scratch */
    size_t ring_cap;
#ifdef STRATA_HAVE_MPI
    MPI_Comm world;                 /* MPI_COMM_NULL for a communicator without MPI */
    MPI_Comm level[ST_LEVEL_COUNT]; /* ranks differing only in that level's index */
    MPI_Comm node;                  /* the node scope (GCD and GPU levels) */
#endif
};

/* Monotonic wall clock in seconds, for the per-level time counters. */
double comm_now(void);

/* comm_mpi.c: the MPI side. comm_mpi_setup builds c->world and the level communicators from
 * `parent` (an MPI_Comm *) and fills rank, place and shape from the topology. */
st_status comm_mpi_init_world(st_comm *c);
st_status comm_mpi_setup(st_comm *c, const void *parent);
#ifdef STRATA_HAVE_MPI
/* comm_mpi.c: ST_ERR_BACKEND "WHAT failed: MPI's message for rc", for every MPI call's failure. */
st_status comm_mpi_error(int rc, const char *what);
/* comm_agree.c: collective over p, before any split: no rank failed (o->local_error) and every
 * rank holds the same settings (STRATA_TOPOLOGY, STRATA_GCDS_PER_GPU and o's checks). o may be
 * NULL. The same ST_ERR_INVALID_ARG on every rank otherwise. */
st_status comm_agree_settings(MPI_Comm p, const st_comm_init_options *o);
#endif
void comm_mpi_free(st_comm *c);
int comm_has_mpi(const st_comm *c);

#ifdef STRATA_HAVE_MPI
/* comm_hosts.c: a host is a shared-memory domain; hosts with the same STRATA_NODE_ID form a node
 * (else each host is one). Collective over p. */
typedef struct comm_hosts {
    int host_rank, host_size;       /* this rank's index and the rank count of its host */
    int node, nodes;                /* its node and the node count */
    int host_in_node;               /* its host's index within the node */
    int hosts_per_node_min, hosts_per_node_max;
} comm_hosts;
st_status comm_hosts_detect(MPI_Comm p, comm_hosts *out);
/* Gathers every rank's host name into c->hosts (collective over c->world). */
st_status comm_hosts_names(st_comm *c);
#endif

/* Checks that every rank of the scope passed the same values (`n` int64s, e.g. counts, dtype, op);
 * `bad` says this rank's own arguments were invalid. Returns ST_OK when all agree, else sets
 * *which to the first differing index and lo/hi to its min and max (-1 when a rank was bad). */
st_status comm_mpi_agree(st_comm *c, st_scope scope, int bad, const int64_t *v, int n, int *which,
                         int64_t *lo, int64_t *hi);

/* Collectives on one level's communicator (or, for flat ones, one scope's). Counts are in elements
 * of `type`; sendbuf == recvbuf means in place (MPI_IN_PLACE). */
st_status comm_mpi_reduce_scatter(st_comm *c, st_level lv, const void *sendbuf, void *recvbuf,
                                  size_t count, comm_type type, st_reduce_op op);
st_status comm_mpi_all_gather(st_comm *c, st_level lv, const void *sendbuf, void *recvbuf, size_t count,
                              comm_type type);
st_status comm_mpi_all_reduce(st_comm *c, st_level lv, void *buf, size_t count, comm_type type,
                              st_reduce_op op);
st_status comm_mpi_broadcast(st_comm *c, st_scope scope, void *buf, size_t count, comm_type type, int root);
st_status comm_mpi_all_to_all(st_comm *c, st_scope scope, const void *sendbuf, void *recvbuf,
                              size_t block, comm_type type);
/* comm_ring.c: reduce-scatter over level lv as a ring of MPI_Sendrecv (the reduction done here):
 * rank j's block is counts[j] elements, the blocks consecutive in `send`; this rank's reduced block
 * goes to `recv`, which may be `send` (then at its start). SUM or MAX of f32 or i32. Timed into
 * c->seconds[lv]. */
st_status comm_ring_reduce_scatter(st_comm *c, st_level lv, const void *send, void *recv, const int *counts,
                                   comm_type type, st_reduce_op op);

/* `bytes` from level rank 0 to the other ranks of level `lv` (bootstrap ids). */
st_status comm_mpi_level_bcast(st_comm *c, st_level lv, void *buf, size_t bytes);

/* comm_device.c: whether t (and `other`, NULL for one-tensor collectives) can use the device path
 * on this rank: its backend's index + 1 when the backend has device collectives, both tensors
 * sit on one device (the one this communicator used before, if any) and STRATA_COMM_DEVICE is
 * not 0; else 0. Ranks agree on it before any data moves (comm_coll.c). */
int comm_dev_path(const st_comm *c, const st_tensor *t, const st_tensor *other);
/* Destroys the backend communicators and device workspaces (collective over the levels). */
void comm_dev_free(st_comm *c);

/* comm_device.c, for comm_device_coll.c. Buffers are st_tensor structs by value that share a
 * tensor's or a workspace's storage: 1-D, contiguous, never freed. */
/* Binds the communicator to `dev` and creates the backend communicators of the plan's levels that
 * do not exist yet (collective: every rank of the scope runs the same plan). */
st_status comm_dev_levels(st_comm *c, const comm_plan *pl, st_device *dev);
/* n elements of `buf` from element `off`. */
st_tensor comm_dev_sub(const st_tensor *buf, size_t off, size_t n);
/* t's elements as `dt` followed by zeros up to `padded`: t itself when it already is that
 * (contiguous, dtype dt, padded == numel), else device workspace `slot` filled by copy or cast. */
st_status comm_dev_stage_in(st_comm *c, const st_tensor *t, st_dtype dt, size_t padded, int slot, st_tensor *out);
/* A buffer of `padded` elements of `dt` to receive t's result: t itself when it can, else `slot`. */
st_status comm_dev_out_buffer(st_comm *c, const st_tensor *t, st_dtype dt, size_t padded, int slot,
                              st_tensor *out);
/* `n` elements of `dt` in device workspace `slot` (contents not kept between calls). */
st_status comm_dev_workspace(st_comm *c, int slot, st_dtype dt, size_t n, st_tensor *out);
/* Copies (or casts) buf's first numel(t) elements into t unless buf is t itself. */
st_status comm_dev_finish(st_tensor *t, const st_tensor *buf);
/* buf /= P on the device, as the host path divides (AVG). */
st_status comm_dev_divide(st_tensor *buf, int P);
/* One backend collective on level lv's communicator: ALL_REDUCE, REDUCE_SCATTER (op), ALL_GATHER
 * or BROADCAST (root), with send and recv as backend_abi.h describes them. */
st_status comm_dev_run(st_comm *c, st_collective kind, st_level lv, const st_tensor *send, const st_tensor *recv,
                       st_reduce_op op, int root);

/* comm_device_coll.c: the hierarchical algorithms of comm_coll.c on device buffers, for
 * arguments already checked and agreed on; the caller counts the bytes. */
st_status comm_dev_all_reduce(st_comm *c, const comm_plan *pl, st_tensor *t, st_reduce_op op);
st_status comm_dev_reduce_scatter(st_comm *c, const comm_plan *pl, const st_tensor *in, st_tensor *out,
                                  st_reduce_op op);
st_status comm_dev_all_gather(st_comm *c, const comm_plan *pl, const st_tensor *in, st_tensor *out);
st_status comm_dev_broadcast(st_comm *c, const comm_plan *pl, st_scope scope, st_tensor *t, int root);

/* comm_stage.c: host views of tensors. */
size_t comm_type_size(comm_type t);
/* A host workspace of at least `bytes` (slot contents are not kept when it grows). */
st_status comm_slot(st_comm *c, int slot, size_t bytes, void **out);
/* The host pointer of a contiguous tensor of a host-memory backend, else NULL. */
void *comm_host_ptr(const st_tensor *t);
/* Host buffer holding t's n elements as `type` (bf16 widened to f32 when type is COMM_F32),
 * followed by zeros up to `padded` elements: t's own memory when that already is such a buffer
 * (contiguous host tensor, no widening, padded == n), else workspace `slot`. */
st_status comm_stage_in(st_comm *c, const st_tensor *t, comm_type type, size_t padded, int slot, void **out);
/* A host buffer of `padded` elements to receive t's result into: t's memory when direct. */
st_status comm_stage_out_buffer(st_comm *c, st_tensor *t, comm_type type, size_t padded, int slot,
                                void **out);
/* Writes the first numel(t) elements of `buf` into t unless buf is t's own memory (narrowing f32
 * to bf16 in place when t is bf16 and type is COMM_F32). */
st_status comm_stage_finish(st_tensor *t, void *buf, comm_type type);

#endif
