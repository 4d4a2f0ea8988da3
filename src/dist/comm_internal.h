/* The st_comm object shared by the communicator files: setup (comm.c), the MPI transport
 * (comm_mpi.c), host staging (comm_stage.c) and the hierarchical algorithms (comm_coll.c). */
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

struct st_comm {
    int rank, size;                 /* hierarchy order (comm.h) */
    st_place place;
    st_topo_shape shape;
    int lsize[ST_LEVEL_COUNT];      /* d, g, n */
    int lrank[ST_LEVEL_COUNT];      /* gcd, gpu, node */
    st_comm_bytes bytes[ST_LEVEL_COUNT][ST_COLL_COUNT];
    void *slot[COMM_SLOTS];         /* host workspaces, grown on demand and kept between calls */
    size_t slot_cap[COMM_SLOTS];
    int finalize_mpi;               /* this communicator holds a reference on the library's MPI init */
#ifdef STRATA_HAVE_MPI
    MPI_Comm world;                 /* MPI_COMM_NULL for a communicator without MPI */
    MPI_Comm level[ST_LEVEL_COUNT]; /* ranks differing only in that level's index */
    MPI_Comm node;                  /* the node scope (GCD and GPU levels) */
#endif
};

/* comm_mpi.c: the MPI side. comm_mpi_setup builds c->world and the level communicators from
 * `parent` (an MPI_Comm *) and fills rank, place and shape from the topology. */
st_status comm_mpi_init_world(st_comm *c);
st_status comm_mpi_setup(st_comm *c, const void *parent);
void comm_mpi_free(st_comm *c);
int comm_has_mpi(const st_comm *c);

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
