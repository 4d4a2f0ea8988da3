/* ZeRO++'s quantized collectives as machines of the shard queue (shard_async.h), so that the
 * balanced layout's per-unit gathers and reduce-scatters of a quantized scheme are prefetched and
 * overlapped like exact ones (docs/partitioning.md, sections 9 and 10). Each stage is one of
 * comm_quant.c's (comm_quant.h), so the arithmetic is the blocking collectives':
 *  - qwZ gather: stage 0 copies this rank's int8 payload (the master shard quantized once per
 *    update, shard_quant.c) into the op's byte buffer; each level, slowest first, is one
 *    MPI_Iallgather of bytes in place; the last arrival dequantizes all of t with the scales every
 *    rank already holds (its own piece too, as the blocking gather does).
 *  - qgZ reduce-scatter: each level, fastest first, quantizes the p - 1 peers' chunks of the
 *    current buffer and posts one MPI_Ialltoallv of (payload, scales) records; when it completes,
 *    the records are dequantized and summed in f32 onto this rank's exact chunk in peer order. An
 *    element is quantized once per level it crosses, never a sum twice in one level.
 * The quantization runs on t's device (st_quantize, st_dequantize), so these ops work on t itself
 * and keep no host copy of its elements. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_quant.h"
#include "shard_async.h"

static st_status oom(void)
{
    return ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: quantized collective: host allocation failed");
}

static void count(st_comm *c, int l, st_collective coll, uint64_t bytes)
{
    c->bytes[l][coll].sent += bytes;
    c->bytes[l][coll].received += bytes;
}

static int64_t nblocks(int64_t n, int64_t block) { return n / block + (n % block != 0); }

/* The op works on t on its device: drop shard_op_new's host copy. */
static void unstage(shard_op *op)
{
    if (op->staged)
        free(op->h);
    op->staged = 0;
    op->h = NULL;
}

/* ---- qwZ ---- */

typedef struct qgather {
    int8_t *pay;       /* n bytes: the payload of t's elements */
    quant_src src;
    shard_qmap map;
} qgather;

static void qgather_release(shard_op *op)
{
    qgather *g = op->state;
    if (g)
        free(g->pay);
    free(g);
    op->state = NULL;
}

/* This rank's share of t (its scope-hi shard), from its quantized master shard. */
static void own_payload(shard_op *op, qgather *g)
{
    st_comm *c = op->c;
    int64_t own = shard_offset(c, op->n, op->lo, op->hi), len = op->n, P = g->map.piece, S = g->map.stride;
    for (int l = op->lo; l < op->hi; l++)
        len /= c->lsize[l];
    int64_t mstart = own / P * S + own % P; /* the master shard's first element in the vector */
    for (int64_t x = own; x < own + len;) {
        int64_t w = x / P, i = x % P, m = P - i < own + len - x ? P - i : own + len - x;
        memcpy(g->pay + x, g->src.q + (w * S + g->map.off + i - mstart), (size_t)m);
        x += m;
    }
}

/* All of t dequantized from the gathered payload, piece by piece. */
static st_status dequant_all(shard_op *op, qgather *g)
{
    int64_t P = g->map.piece;
    for (int64_t w = 0; w * P < op->n; w++) {
        st_tensor *v = NULL;
        ST_TRY(shard_view(op->t, w * P, P, &v));
        st_status st = comm_quant_dequant_run(v, g->pay + w * P, &g->src, w * g->map.stride + g->map.off, P);
        st_tensor_destroy(v);
        ST_TRY(st);
    }
    return ST_OK;
}

static st_status qgather_step(shard_op *op, int *finished)
{
    qgather *g = op->state;
    if (op->stage == 0)
        own_payload(op, g);
    ST_TRY(shard_gather_next(op, g->pay, 1, "MPI_Iallgather (quantized)", finished));
    return *finished && op->n > 0 ? dequant_all(op, g) : ST_OK;
}

static const shard_op_type qgather_type = {"quantized all-gather", qgather_step, qgather_release};

st_status shard_async_quant_gather(shard_queue *q, st_tensor *t, const shard_qmap *map, int lo, int hi,
                                   shard_op_done done, void *ctx, int64_t *ticket)
{
    int64_t n = st_tensor_numel(t);
    if (map->piece <= 0 || n % map->piece != 0 || map->stride < map->piece || map->off < 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "shard: quantized gather of %lld elements in pieces of %lld (stride %lld)",
                      (long long)n, (long long)map->piece, (long long)map->stride);
    shard_op *op = NULL;
    ST_TRY(shard_op_new(q, &qgather_type, t, lo, hi, done, ctx, &op));
    unstage(op);
    qgather *g = calloc(1, sizeof *g);
    int8_t *pay = malloc((size_t)(n > 0 ? n : 1));
    if (!g || !pay) {
        free(g), free(pay);
        shard_op_free(op);
        return oom();
    }
    *g = (qgather){pay, {NULL, NULL, 0, 0}, *map};
    shard_quant_source(op->c, &g->src);
    op->state = g;
    st_comm *c = op->c;
    int64_t cur = n;
    for (int l = lo; l < hi; l++) {
        cur /= c->lsize[l];
        if (c->lsize[l] > 1)
            count(c, l, ST_COLL_ALL_GATHER, (uint64_t)(c->lsize[l] - 1) * (uint64_t)cur);
    }
    return shard_queue_push(q, op, ticket);
}

/* ---- qgZ ---- */

typedef struct qreduce {
    a2a x;
    int *counts, *displs;
    char *send, *recv;
    int64_t len;       /* elements entering the current level */
} qreduce;

static void qreduce_release(shard_op *op)
{
    qreduce *r = op->state;
    if (r) {
        free(r->send), free(r->recv);
        free(r->counts), free(r->x.qpos);
    }
    free(r);
    op->state = NULL;
}

/* Quantizes the peers' chunks of t[0, len) at level l and posts the exchange. */
static st_status qreduce_post(shard_op *op, qreduce *r, int l)
{
    st_comm *c = op->c;
    int p = c->lsize[l], me = c->lrank[l];
    int64_t chunk = r->len / p;
    a2a *x = &r->x;
    x->p = p, x->me = me;
    int64_t in = comm_quant_payload(chunk, x->bits) + 4 * nblocks(chunk, x->block);
    for (int j = 0; j < p; j++) {
        r->counts[j] = (int)chunk, r->displs[j] = (int)(j * chunk);
        x->rc[j] = j == me ? 0 : (int)in;
        x->rd[j] = (int)(j * in);
    }
    free(r->send), free(r->recv);
    r->send = r->recv = NULL;
    ST_TRY(comm_quant_pack(x, op->t, r->counts, r->displs, &r->send));
    r->recv = malloc((size_t)(p * in) + 1);
    if (!r->recv)
        return oom();
    op->level = l;
#ifdef STRATA_HAVE_MPI
    int rc = MPI_Ialltoallv(r->send, x->sc, x->sd, MPI_BYTE, r->recv, x->rc, x->rd, MPI_BYTE, c->level[l],
                            &op->req[0]);
    if (rc != MPI_SUCCESS)
        return comm_mpi_error(rc, "MPI_Ialltoallv (quantized)");
    op->nreq = 1;
    return ST_OK;
#else
    return ST_ERR(ST_ERR_UNSUPPORTED, "shard: this build has no MPI");
#endif
}

static st_status qreduce_step(shard_op *op, int *finished)
{
    qreduce *r = op->state;
    int from = op->lo;
    if (op->stage++ > 0) { /* op->level's records arrived: this rank's chunk, summed */
        int l = op->level, p = op->c->lsize[l], me = op->c->lrank[l];
        int64_t chunk = r->len / p;
        if (chunk > 0)
            ST_TRY(comm_quant_sum(&r->x, op->t, me * chunk, chunk, r->recv));
        r->len = chunk;
        from = l + 1;
    }
    int l = shard_next_level(op->c, op->lo, op->hi, from, +1);
    if (l < 0) {
        op->result_len = r->len;
        *finished = 1;
        return ST_OK;
    }
    return qreduce_post(op, r, l);
}

static const shard_op_type qreduce_type = {"quantized reduce-scatter", qreduce_step, qreduce_release};

st_status shard_async_quant_reduce_scatter(shard_queue *q, st_tensor *t, int lo, int hi, shard_op_done done,
                                           void *ctx, int64_t *ticket)
{
    if (st_tensor_numel(t) > (int64_t)1 << 30)
        return ST_ERR(ST_ERR_UNSUPPORTED, "shard: quantized reduce-scatter of %lld elements exceeds MPI's int byte "
                      "counts", (long long)st_tensor_numel(t));
    shard_op *op = NULL;
    ST_TRY(shard_op_new(q, &qreduce_type, t, lo, hi, done, ctx, &op));
    unstage(op);
    st_comm *c = op->c;
    size_t P = (size_t)c->size;
    qreduce *r = calloc(1, sizeof *r);
    int *ints = malloc(sizeof(int) * 6 * P);
    int64_t *pos = malloc(sizeof(int64_t) * 2 * P);
    if (!r || !ints || !pos) {
        free(r), free(ints), free(pos);
        shard_op_free(op);
        return oom();
    }
    r->counts = ints, r->displs = ints + P;
    r->x = (a2a){0, 0, 0, 0, ints + 2 * P, ints + 3 * P, ints + 4 * P, ints + 5 * P, pos, pos + P};
    shard_quant_grad(c, &r->x.bits, &r->x.block);
    r->len = op->n;
    op->state = r;
    op->result_len = op->n;
    int64_t len = op->n;
    for (int l = lo; l < hi; l++) {
        int p = c->lsize[l];
        if (p == 1)
            continue;
        len /= p;
        int64_t in = comm_quant_payload(len, r->x.bits) + 4 * nblocks(len, r->x.block);
        count(c, l, ST_COLL_ALL_TO_ALL, (uint64_t)(p - 1) * (uint64_t)in);
    }
    return shard_queue_push(q, op, ticket);
}
