/* The shard engine's collectives in flight (shard_async.h): a FIFO of state machines over MPI's
 * nonblocking calls, and its two machines, the hierarchical all-gather and the ring
 * reduce-scatter. Open MPI makes progress on a nonblocking request only inside an MPI call, so the
 * queue advances whenever the engine or the graph executor calls it (between nodes); in between,
 * the TCP transport's data sits in the kernel's socket buffers, which keep filling and draining
 * without the process (docs/partitioning.md, "overlap"). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "shard_async.h"

struct shard_queue {
    st_comm *c;
    shard_op *head, *tail;
    int64_t issued, finished; /* tickets: the last queued and the last finished */
};

st_status shard_queue_new(st_comm *c, shard_queue **out)
{
    shard_queue *q = calloc(1, sizeof *q);
    if (!q)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: host allocation failed");
    q->c = c;
    *out = q;
    return ST_OK;
}

void shard_op_free(shard_op *op)
{
    if (!op)
        return;
    if (op->type && op->type->release)
        op->type->release(op);
    if (op->staged)
        free(op->h);
    st_tensor_destroy(op->t);
    free(op);
}

void shard_queue_free(shard_queue *q)
{
    if (!q)
        return;
    /* ops still queued were abandoned after an error: their requests cannot be cancelled
     * portably, so only what nothing refers to any more is freed */
    for (shard_op *op = q->head; op;) {
        shard_op *next = op->next;
        if (op->nreq == 0)
            shard_op_free(op);
        op = next;
    }
    free(q);
}

st_status shard_op_new(shard_queue *q, const shard_op_type *type, st_tensor *t, int lo, int hi, shard_op_done done,
                       void *ctx, shard_op **out)
{
    if (st_tensor_numel(t) > INT_MAX)
        return ST_ERR(ST_ERR_UNSUPPORTED, "shard: a %s of %lld elements exceeds MPI's int counts", type->name,
                      (long long)st_tensor_numel(t));
    shard_op *op = calloc(1, sizeof *op);
    if (!op)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: host allocation failed");
    *op = (shard_op){.type = type, .c = q->c, .n = st_tensor_numel(t), .lo = lo, .hi = hi, .done = done, .ctx = ctx};
    st_status st = st_tensor_ref(t, &op->t);
    void *p = st == ST_OK ? comm_host_ptr(t) : NULL;
    if (st == ST_OK && !p) { /* a device tensor: a host copy for MPI, written back at the end */
        op->staged = 1;
        p = malloc((size_t)(op->n ? op->n : 1) * sizeof(float));
        st = p ? st_tensor_read(t, p, (size_t)op->n * sizeof(float))
               : ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: %lld-element staging buffer", (long long)op->n);
    }
    op->h = p;
    if (st != ST_OK) {
        shard_op_free(op);
        return st;
    }
    *out = op;
    return ST_OK;
}

/* The head finished: write back, tell its owner, start the next. */
static st_status finish_head(shard_queue *q)
{
    shard_op *op = q->head;
    q->head = op->next;
    if (!q->head)
        q->tail = NULL;
    q->finished = op->ticket;
    st_status st = ST_OK;
    if (op->staged && op->n > 0)
        st = st_tensor_write(op->t, op->h, (size_t)op->n * sizeof(float));
    if (st == ST_OK && op->done)
        st = op->done(op->ctx, op);
    shard_op_free(op);
    return st;
}

/* Steps the head until it posts requests, or the queue empties. */
static st_status run_steps(shard_queue *q)
{
    while (q->head) {
        int fin = 0;
        shard_op *op = q->head;
        op->nreq = 0;
        double t0 = comm_now();
        st_status st = op->type->step(op, &fin);
        q->c->seconds[op->level] += comm_now() - t0;
        ST_TRY(st);
        if (!fin)
            return ST_OK;
        ST_TRY(finish_head(q));
    }
    return ST_OK;
}

st_status shard_queue_push(shard_queue *q, shard_op *op, int64_t *ticket)
{
    op->ticket = ++q->issued;
    if (ticket)
        *ticket = op->ticket;
    int idle = q->head == NULL;
    if (q->tail)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
    return idle ? run_steps(q) : ST_OK;
}

int shard_queue_done(const shard_queue *q, int64_t ticket) { return q->finished >= ticket; }

#ifdef STRATA_HAVE_MPI
/* Tests (block = 0) or waits for the head's requests; *ready when they have completed. */
static st_status head_requests(shard_queue *q, int block, int *ready)
{
    shard_op *op = q->head;
    double t0 = comm_now();
    int rc = MPI_SUCCESS, flag = 1;
    if (op->nreq > 0)
        rc = block ? MPI_Waitall(op->nreq, op->req, MPI_STATUSES_IGNORE)
                   : MPI_Testall(op->nreq, op->req, &flag, MPI_STATUSES_IGNORE);
    q->c->seconds[op->level] += comm_now() - t0;
    if (rc != MPI_SUCCESS)
        return comm_mpi_error(rc, block ? "MPI_Waitall (shard collective)" : "MPI_Testall (shard collective)");
    *ready = flag;
    if (flag)
        op->nreq = 0;
    return ST_OK;
}
#else
static st_status head_requests(shard_queue *q, int block, int *ready)
{
    (void)q, (void)block;
    *ready = 1;
    return ST_OK;
}
#endif

st_status shard_queue_progress(shard_queue *q)
{
    while (q && q->head) {
        int ready = 0;
        ST_TRY(head_requests(q, 0, &ready));
        if (!ready)
            return ST_OK;
        ST_TRY(run_steps(q));
    }
    return ST_OK;
}

st_status shard_queue_wait(shard_queue *q, int64_t ticket)
{
    if (ticket < 0)
        ticket = q->issued;
    while (q->head && q->finished < ticket) {
        int ready = 0;
        ST_TRY(head_requests(q, 1, &ready));
        ST_TRY(run_steps(q));
    }
    return ST_OK;
}

/* ---- the two machines ---- */

static void count(st_comm *c, int lv, st_collective coll, uint64_t bytes)
{
    c->bytes[lv][coll].sent += bytes;
    c->bytes[lv][coll].received += bytes;
}

int shard_next_level(const st_comm *c, int lo, int hi, int from, int dir)
{
    for (int l = from; l >= lo && l < hi; l += dir)
        if (c->lsize[l] > 1)
            return l;
    return -1;
}

st_status shard_gather_next(shard_op *op, void *buf, int esize, const char *what, int *last)
{
    st_comm *c = op->c;
    int l = shard_next_level(c, op->lo, op->hi, op->stage == 0 ? op->hi - 1 : op->level - 1, -1);
    op->stage++;
    *last = l < 0;
    if (l < 0)
        return ST_OK;
    int64_t cur = op->n;
    for (int k = op->lo; k <= l; k++)
        cur /= c->lsize[k];
    op->level = l;
#ifdef STRATA_HAVE_MPI
    char *base = (char *)buf + (size_t)esize * (size_t)shard_offset(c, op->n, op->lo, l);
    int rc = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, base, (int)cur, esize == 4 ? MPI_FLOAT : MPI_BYTE,
                            c->level[l], &op->req[0]);
    if (rc != MPI_SUCCESS)
        return comm_mpi_error(rc, what);
    op->nreq = 1;
    return ST_OK;
#else
    (void)cur, (void)buf, (void)esize, (void)what;
    return ST_ERR(ST_ERR_UNSUPPORTED, "shard: this build has no MPI");
#endif
}

/* All-gather: stage s > 0 posted level op->level; the next is the next slower-to-faster level. */
static st_status gather_step(shard_op *op, int *finished)
{
    return shard_gather_next(op, op->h, 4, "MPI_Iallgather", finished);
}

static const shard_op_type gather_type = {"all-gather", gather_step, NULL};

/* The ring of one level (comm_ring.c's order): step k sends chunk (r-k-1) mod p (at k = 0 this
 * rank's own, after that the partial sum received at step k-1) and receives chunk (r-k-2) mod p,
 * to which it adds its own; after p-1 steps the partial sum is this rank's chunk, fully reduced. */
typedef struct ring_state {
    int64_t len;        /* elements entering the current level */
    int k;              /* ring step posted */
    float *prev, *next; /* scratch blocks of the largest chunk */
    int64_t cap;
} ring_state;

static void ring_release(shard_op *op)
{
    ring_state *r = op->state;
    if (r) {
        free(r->prev < r->next ? r->prev : r->next);
        free(r);
    }
    op->state = NULL;
}

static st_status ring_post(shard_op *op, ring_state *r)
{
#ifdef STRATA_HAVE_MPI
    st_comm *c = op->c;
    int l = op->level, p = c->lsize[l], me = c->lrank[l], k = r->k;
    int64_t chunk = r->len / p;
    int out = ((me - k - 1) % p + p) % p, right = (me + 1) % p, left = (me + p - 1) % p;
    const float *what = k == 0 ? op->h + (int64_t)out * chunk : r->prev;
    int rc = MPI_Irecv(r->next, (int)chunk, MPI_FLOAT, left, 0x5755, c->level[l], &op->req[0]);
    if (rc == MPI_SUCCESS)
        rc = MPI_Isend(what, (int)chunk, MPI_FLOAT, right, 0x5755, c->level[l], &op->req[1]);
    if (rc != MPI_SUCCESS)
        return comm_mpi_error(rc, "MPI_Isend/MPI_Irecv (reduce-scatter ring)");
    op->nreq = 2;
    return ST_OK;
#else
    (void)op, (void)r;
    return ST_ERR(ST_ERR_UNSUPPORTED, "shard: this build has no MPI");
#endif
}

/* Starts the level after op->level (fastest first), or finishes. */
static st_status ring_level(shard_op *op, ring_state *r, int from, int *finished)
{
    int l = shard_next_level(op->c, op->lo, op->hi, from, +1);
    if (l < 0) {
        op->result_len = r->len;
        *finished = 1;
        return ST_OK;
    }
    op->level = l;
    r->k = 0;
    return ring_post(op, r);
}

static st_status reduce_step(shard_op *op, int *finished)
{
    ring_state *r = op->state;
    if (op->stage++ == 0)
        return ring_level(op, r, op->lo, finished);
    int l = op->level, p = op->c->lsize[l], me = op->c->lrank[l];
    int64_t chunk = r->len / p;
    int in = ((me - r->k - 2) % p + p) % p;
    const float *own = op->h + (int64_t)in * chunk;
    for (int64_t i = 0; i < chunk; i++)
        r->next[i] += own[i];
    float *t = r->prev;
    r->prev = r->next;
    r->next = t;
    if (++r->k < p - 1)
        return ring_post(op, r);
    memcpy(op->h, r->prev, (size_t)chunk * sizeof(float));
    r->len = chunk;
    return ring_level(op, r, l + 1, finished);
}

static const shard_op_type reduce_type = {"reduce-scatter", reduce_step, ring_release};

st_status shard_async_all_gather(shard_queue *q, st_tensor *t, int lo, int hi, shard_op_done done, void *ctx,
                                 int64_t *ticket)
{
    shard_op *op = NULL;
    ST_TRY(shard_op_new(q, &gather_type, t, lo, hi, done, ctx, &op));
    st_comm *c = q->c;
    int64_t cur = op->n;
    for (int l = lo; l < hi; l++) {
        cur /= c->lsize[l];
        if (c->lsize[l] > 1)
            count(c, l, ST_COLL_ALL_GATHER, (uint64_t)(c->lsize[l] - 1) * (uint64_t)cur * sizeof(float));
    }
    return shard_queue_push(q, op, ticket);
}

st_status shard_async_reduce_scatter(shard_queue *q, st_tensor *t, int lo, int hi, shard_op_done done, void *ctx,
                                     int64_t *ticket)
{
    shard_op *op = NULL;
    ST_TRY(shard_op_new(q, &reduce_type, t, lo, hi, done, ctx, &op));
    st_comm *c = q->c;
    ring_state *r = calloc(1, sizeof *r);
    int64_t first = 0, len = op->n;
    for (int l = lo; l < hi; l++) {
        if (c->lsize[l] == 1)
            continue;
        len /= c->lsize[l];
        first = first ? first : len;
        count(c, l, ST_COLL_REDUCE_SCATTER, (uint64_t)(c->lsize[l] - 1) * (uint64_t)len * sizeof(float));
    }
    float *block = r ? malloc(2 * (size_t)(first ? first : 1) * sizeof(float)) : NULL;
    if (!r || !block) {
        free(r);
        shard_op_free(op);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: reduce-scatter scratch of %lld elements", (long long)first);
    }
    *r = (ring_state){op->n, 0, block, block + (first ? first : 1), first};
    op->state = r;
    op->result_len = op->n;
    return shard_queue_push(q, op, ticket);
}
