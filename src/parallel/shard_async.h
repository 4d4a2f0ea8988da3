/* Collectives in flight for the shard engine's per-unit mode (shard_async.c). An op is a state
 * machine: its type's `step` is called once to start it and again each time every request it
 * posted has completed; each call does its local work (copies, reductions) and either posts the
 * next stage's nonblocking requests or says it has finished. Ops run strictly in the order they
 * were queued, one at a time (only the queue's head posts requests), so every rank issues the
 * same collectives on each level communicator in the same order whatever the timing of its
 * progress calls. Progress is made by shard_queue_progress (MPI_Testall on the head's requests,
 * never blocking: the graph executor calls it between nodes) and shard_queue_wait (MPI_Waitall).
 *
 * Plugging in another collective (shard_async_quant.c's quantized ones are examples): fill a
 * shard_op_type whose step() keeps its position in op->stage and its buffers in op->state, posts
 * at most SHARD_OP_MAX_REQ requests into op->req per stage (setting op->nreq and op->level, the
 * level the stage's time is charged to), and counts its bytes in the communicator's counters when
 * queued; queue it with shard_queue_push. */
#ifndef STRATA_SHARD_ASYNC_H
#define STRATA_SHARD_ASYNC_H

#include "comm_internal.h"
#include "shard_internal.h"

#define SHARD_OP_MAX_REQ 4

typedef struct shard_op shard_op;

typedef struct shard_op_type {
    const char *name;
    /* Called with op->stage = 0 to start, then whenever op->req[0, nreq) have all completed.
     * Sets *finished = 1 when the op is complete (no requests posted). */
    st_status (*step)(shard_op *op, int *finished);
    void (*release)(shard_op *op); /* frees op->state; may be NULL */
} shard_op_type;

/* Called once when an op has finished and its host buffer is written back to its tensor. */
typedef st_status (*shard_op_done)(void *ctx, shard_op *op);

struct shard_op {
    const shard_op_type *type;
    st_comm *c;
    st_tensor *t;         /* the buffer, a reference owned by the op */
    float *h;             /* its elements on the host (t's own memory, or a staged copy) */
    int staged;
    int64_t n;            /* elements */
    int lo, hi;           /* levels [lo, hi) */
    int stage, level;     /* position in the machine; the level being waited on */
    void *state;          /* the type's own */
    int nreq;
#ifdef STRATA_HAVE_MPI
    MPI_Request req[SHARD_OP_MAX_REQ];
#endif
    int64_t result_len;   /* elements of the result at h's start (reduce-scatter) */
    shard_op_done done;
    void *ctx;
    int64_t ticket;
    shard_op *next;
};

/* The engine's queue. */
st_status shard_queue_new(st_comm *c, shard_queue **out);
void shard_queue_free(shard_queue *q);
/* An op on tensor t (contiguous f32; referenced), not started: fill type-specific fields, then
 * shard_queue_push. */
st_status shard_op_new(shard_queue *q, const shard_op_type *type, st_tensor *t, int lo, int hi, shard_op_done done,
                       void *ctx, shard_op **out);
/* Frees an op that was never queued (its type's release, its staging copy, its reference). */
void shard_op_free(shard_op *op);
/* Queues op (started at once when the queue is empty); *ticket identifies it for waiting. */
st_status shard_queue_push(shard_queue *q, shard_op *op, int64_t *ticket);
/* Advances the queue as far as it goes without blocking. */
st_status shard_queue_progress(shard_queue *q);
/* Blocks until the op of `ticket` (every op queued so far: ticket < 0) has finished. */
st_status shard_queue_wait(shard_queue *q, int64_t ticket);
/* 1 when the op of `ticket` has finished. */
int shard_queue_done(const shard_queue *q, int64_t ticket);

/* The two collectives of comm_levels' blocking functions, in the same order and with the same
 * arithmetic (so results are bit-identical): t holds a scope-lo shard of n elements.
 * Gather: t holds this rank's scope-hi shard at shard_offset(c, n, lo, hi); afterwards all of it
 * (MPI_Iallgather per level, slowest first). Reduce: afterwards t[0, n / (p_lo ... p_hi-1)) holds
 * this rank's scope-hi shard of the sum (a ring of MPI_Isend/MPI_Irecv per level, fastest first,
 * as comm_ring.c). Both count their bytes when queued, as shard_levels.c. */
st_status shard_async_all_gather(shard_queue *q, st_tensor *t, int lo, int hi, shard_op_done done, void *ctx,
                                 int64_t *ticket);
st_status shard_async_reduce_scatter(shard_queue *q, st_tensor *t, int lo, int hi, shard_op_done done, void *ctx,
                                     int64_t *ticket);

/* The next level in [lo, hi) from `from` on (moving by dir = +1 or -1) with more than one rank,
 * or -1. */
int shard_next_level(const st_comm *c, int lo, int hi, int from, int dir);
/* The gathers' stage (exact and quantized): the next level after op->level, slowest first
 * (stage 0: the slowest of [lo, hi)), and its in-place MPI_Iallgather of the scope-l shard around
 * this rank's block of buf (op->n elements of esize bytes: 4 as f32, 1 as bytes); `what` names
 * the call in an error. *last = 1, nothing posted, when every level is done. */
st_status shard_gather_next(shard_op *op, void *buf, int esize, const char *what, int *last);

/* The quantized machines (shard_async_quant.c), with the arithmetic of comm_quant.c's blocking
 * collectives, counting the same wire bytes (payload plus 4 per scale) per level when queued.
 * Where t's elements lie in the vector the qwZ master shards tile: element x = w piece + i
 * (i < piece) of t is the vector's element w stride + off + i (the balanced layout: a unit's N
 * pieces, one per world block of `stride` elements; piece = stride = numel(t), off = 0: t is the
 * vector itself). */
typedef struct shard_qmap {
    int64_t piece, stride, off;
} shard_qmap;
/* qwZ gather over [lo, hi) (shard_quant_gathers(c, lo, hi) is 1): this rank's int8 payload of its
 * scope-hi share of t, the payload all-gathered level by level, slowest first
 * (MPI_Iallgather), all of t dequantized on arrival of the last level with the scales every rank
 * holds. Counted as all-gather bytes. */
st_status shard_async_quant_gather(shard_queue *q, st_tensor *t, const shard_qmap *map, int lo, int hi,
                                   shard_op_done done, void *ctx, int64_t *ticket);
/* qgZ reduce-scatter over [lo, hi) (shard_quant_reduces(c, lo, hi) is 1), per level fastest
 * first: the peers' equal chunks quantized, MPI_Ialltoallv, dequantized and summed in f32 onto
 * this rank's exact chunk; afterwards t[0, result_len) holds this rank's scope-hi shard of the sum.
 * Counted as all-to-all bytes. */
st_status shard_async_quant_reduce_scatter(shard_queue *q, st_tensor *t, int lo, int hi, shard_op_done done,
                                           void *ctx, int64_t *ticket);

#endif
