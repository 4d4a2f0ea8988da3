/* Collectives over a range of hierarchy levels for the sharded-state engine: comm.h's scopes all
 * start at the GCD level, but moving state from one scope to a wider one (node shard to world
 * shard, optim shard back to a GCD shard) crosses only the levels in between. Built on the level
 * communicators of comm_internal.h, counted in the same per-level counters with the same ring
 * convention, so the engine's traffic reads exactly like comm.h's. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"
#include "shard_internal.h"

static void count(st_comm *c, int lv, st_collective coll, uint64_t bytes)
{
    c->bytes[lv][coll].sent += bytes;
    c->bytes[lv][coll].received += bytes;
}

static int active(const st_comm *c, int lo, int hi)
{
    for (int l = lo; l < hi; l++)
        if (c->lsize[l] > 1)
            return 1;
    return 0;
}

/* A host pointer to t's elements: its own memory for contiguous host tensors, else workspace
 * slot 0 filled from t (written back by host_done). */
static st_status host_view(st_comm *c, st_tensor *t, float **h, int *staged)
{
    size_t bytes = (size_t)st_tensor_numel(t) * sizeof(float);
    void *p = comm_host_ptr(t);
    *staged = p == NULL;
    if (!p) {
        ST_TRY(comm_slot(c, 0, bytes, &p));
        ST_TRY(st_tensor_read(t, p, bytes));
    }
    *h = p;
    return ST_OK;
}

/* Writes elements [off, off + len) of a staged buffer back into t. */
static st_status host_done(st_tensor *t, const float *h, int staged, int64_t off, int64_t len)
{
    if (!staged || len == 0)
        return ST_OK;
    st_tensor *v = NULL;
    ST_TRY(shard_view(t, off, len, &v));
    st_status st = st_tensor_write(v, h + off, (size_t)len * sizeof(float));
    st_tensor_destroy(v);
    return st;
}

int64_t shard_offset(const st_comm *c, int64_t n, int lo, int hi)
{
    int64_t off = 0, block = n;
    for (int l = lo; l < hi; l++) {
        block /= c->lsize[l];
        off += (int64_t)c->lrank[l] * block;
    }
    return off;
}

int shard_first_copy(const st_comm *c, int s)
{
    for (int l = s; l < ST_LEVEL_COUNT; l++)
        if (c->lrank[l] != 0)
            return 0;
    return 1;
}

st_status shard_reduce_scatter_levels(st_comm *c, st_tensor *t, int lo, int hi)
{
    if (!active(c, lo, hi))
        return ST_OK;
    if (shard_quant_reduces(c, lo, hi)) { /* qgZ: the whole buffer as one run */
        int64_t start = 0, kept = 0;
        return shard_quant_reduce(c, t, 0, st_tensor_numel(t), lo, hi, &start, &kept);
    }
    float *h = NULL;
    int staged = 0;
    ST_TRY(host_view(c, t, &h, &staged));
    int64_t len = st_tensor_numel(t);
    /* Fastest level first on contiguous blocks, as st_comm_reduce_scatter: the result of each level
     * lands at the start of the buffer (MPI_IN_PLACE), which the next level reduces further. */
    for (int l = lo; l < hi; l++) {
        int p = c->lsize[l];
        if (p == 1)
            continue;
        len /= p;
        ST_TRY(comm_mpi_reduce_scatter(c, (st_level)l, h, h, (size_t)len, COMM_F32, ST_REDUCE_SUM));
        count(c, l, ST_COLL_REDUCE_SCATTER, (uint64_t)(p - 1) * (uint64_t)len * sizeof(float));
    }
    return host_done(t, h, staged, 0, len);
}

st_status shard_all_gather_levels(st_comm *c, st_tensor *t, int lo, int hi)
{
    if (!active(c, lo, hi))
        return ST_OK;
    if (shard_quant_gathers(c, lo, hi)) /* qwZ: the whole buffer as one run */
        return shard_quant_gather(c, t, 0, st_tensor_numel(t), lo, hi);
    float *h = NULL;
    int staged = 0;
    ST_TRY(host_view(c, t, &h, &staged));
    int64_t n = st_tensor_numel(t);
    int64_t below[ST_LEVEL_COUNT + 1]; /* block size after the levels lo..l-1 have split n */
    below[lo] = n;
    for (int l = lo; l < hi; l++)
        below[l + 1] = below[l] / c->lsize[l];
    /* Slowest level first: each gather fills the scope-l shard around this rank's block, in place,
     * and the next (faster) level gathers those shards into its own bigger block. */
    for (int l = hi - 1; l >= lo; l--) {
        int p = c->lsize[l];
        if (p == 1)
            continue;
        float *base = h + shard_offset(c, n, lo, l);
        int64_t cur = below[l + 1];
        ST_TRY(comm_mpi_all_gather(c, (st_level)l, base + (int64_t)c->lrank[l] * cur, base, (size_t)cur,
                                   COMM_F32));
        count(c, l, ST_COLL_ALL_GATHER, (uint64_t)(p - 1) * (uint64_t)cur * sizeof(float));
    }
    return host_done(t, h, staged, 0, n);
}

/* ---- runs: uneven pieces of one contiguous range of the vector (the per-unit collectives) ---- */

/* Piece of run [a, a + m) in peer j's sub-block [base + j sub, + sub): its length and where it
 * starts in the run. Every peer of a level computes the same pieces (they share base). */
void shard_pieces(int p, int64_t base, int64_t sub, int64_t a, int64_t m, int *counts, int *displs)
{
    for (int j = 0; j < p; j++) {
        int64_t lo = base + j * sub, hi = lo + sub;
        lo = lo < a ? a : lo;
        hi = hi > a + m ? a + m : hi;
        counts[j] = hi > lo ? (int)(hi - lo) : 0;
        displs[j] = hi > lo ? (int)(lo - a) : 0;
    }
}

int64_t shard_others(const int *counts, int p, int me)
{
    int64_t sum = 0;
    for (int j = 0; j < p; j++)
        sum += j == me ? 0 : counts[j];
    return sum;
}

#ifdef STRATA_HAVE_MPI
static st_status gatherv(st_comm *c, int l, float *h, const int *counts, const int *displs)
{
    double t0 = comm_now();
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, h, counts, displs, MPI_FLOAT, c->level[l]);
    c->seconds[l] += comm_now() - t0;
    return rc == MPI_SUCCESS ? ST_OK : comm_mpi_error(rc, "MPI_Allgatherv");
}

static st_status reduce_scatterv(st_comm *c, int l, float *h, const int *counts)
{
    return comm_ring_reduce_scatter(c, (st_level)l, h, h, counts, COMM_F32, ST_REDUCE_SUM);
}
#else
static st_status gatherv(st_comm *c, int l, float *h, const int *counts, const int *displs)
{
    (void)c, (void)l, (void)h, (void)counts, (void)displs;
    return ST_ERR(ST_ERR_UNSUPPORTED, "shard: this build has no MPI");
}

static st_status reduce_scatterv(st_comm *c, int l, float *h, const int *counts)
{
    (void)c, (void)l, (void)h, (void)counts;
    return ST_ERR(ST_ERR_UNSUPPORTED, "shard: this build has no MPI");
}
#endif

/* counts[0, size) and displacements counts[size, 2 size): room for any level. */
static st_status run_args(const st_comm *c, const st_tensor *t, int **counts)
{
    if (st_tensor_numel(t) > INT_MAX)
        return ST_ERR(ST_ERR_UNSUPPORTED, "shard: a unit run of %lld elements exceeds MPI's int counts",
                      (long long)st_tensor_numel(t));
    *counts = malloc(sizeof(int) * 2 * (size_t)c->size);
    return *counts ? ST_OK : ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: host allocation failed");
}

st_status shard_all_gather_run(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi)
{
    if (!active(c, lo, hi))
        return ST_OK;
    if (shard_quant_gathers(c, lo, hi))
        return shard_quant_gather(c, t, a, n, lo, hi);
    int *counts = NULL;
    ST_TRY(run_args(c, t, &counts));
    float *h = NULL;
    int staged = 0;
    st_status st = host_view(c, t, &h, &staged);
    int64_t m = st_tensor_numel(t), below[ST_LEVEL_COUNT + 1];
    below[lo] = n;
    for (int l = lo; l < hi; l++)
        below[l + 1] = below[l] / c->lsize[l];
    /* Slowest level first, as shard_all_gather_levels: each peer's piece of the run inside its
     * sub-block of the shared block, so the pieces of all runs tile exactly what the whole-vector
     * gather moves, and the counters add up to the same bytes. */
    for (int l = hi - 1; l >= lo && st == ST_OK; l--) {
        int p = c->lsize[l];
        if (p == 1)
            continue;
        shard_pieces(p, shard_offset(c, n, lo, l), below[l + 1], a, m, counts, counts + c->size);
        int64_t moved = shard_others(counts, p, c->lrank[l]);
        if (moved + counts[c->lrank[l]] > 0) /* the same on every peer: the run meets the block */
            st = gatherv(c, l, h, counts, counts + c->size);
        count(c, l, ST_COLL_ALL_GATHER, (uint64_t)moved * sizeof(float));
    }
    free(counts);
    return st == ST_OK ? host_done(t, h, staged, 0, m) : st;
}

st_status shard_reduce_scatter_run(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi, int64_t *start,
                                   int64_t *kept)
{
    if (active(c, lo, hi) && shard_quant_reduces(c, lo, hi))
        return shard_quant_reduce(c, t, a, n, lo, hi, start, kept);
    int *counts = NULL;
    ST_TRY(run_args(c, t, &counts));
    float *h = NULL;
    int staged = 0;
    st_status st = host_view(c, t, &h, &staged);
    int64_t cur = a, end = a + st_tensor_numel(t), base = 0, block = n;
    /* Fastest level first: the current range (this rank's block so far, cut to the run) is split
     * over the level's sub-blocks; the reduced piece of this rank lands at the buffer's start. */
    for (int l = lo; l < hi && st == ST_OK; l++) {
        int p = c->lsize[l];
        int64_t sub = block / p;
        if (p > 1) {
            shard_pieces(p, base, sub, cur, end - cur, counts, counts + c->size);
            int64_t moved = shard_others(counts, p, c->lrank[l]);
            if (end > cur)
                st = reduce_scatterv(c, l, h, counts);
            count(c, l, ST_COLL_REDUCE_SCATTER, (uint64_t)moved * sizeof(float));
        }
        base += (int64_t)c->lrank[l] * sub;
        block = sub;
        cur = cur > base ? cur : base;
        end = end < base + block ? end : base + block;
        end = end > cur ? end : cur;
    }
    free(counts);
    *start = cur;
    *kept = end - cur;
    return st == ST_OK ? host_done(t, h, staged, 0, end - cur) : st;
}

st_status shard_all_reduce_level(st_comm *c, st_tensor *t, int level)
{
    int p = c->lsize[level];
    if (p == 1)
        return ST_OK;
    float *h = NULL;
    int staged = 0;
    ST_TRY(host_view(c, t, &h, &staged));
    int64_t n = st_tensor_numel(t);
    ST_TRY(comm_mpi_all_reduce(c, (st_level)level, h, (size_t)n, COMM_F32, ST_REDUCE_SUM));
    count(c, level, ST_COLL_ALL_REDUCE, 2 * (uint64_t)(p - 1) * (uint64_t)(n / p) * sizeof(float));
    return host_done(t, h, staged, 0, n);
}

st_status shard_sum_scalar(st_comm *c, float *v)
{
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        if (c->lsize[l] > 1)
            ST_TRY(comm_mpi_all_reduce(c, (st_level)l, v, 1, COMM_F32, ST_REDUCE_SUM));
    return ST_OK;
}

st_status shard_agree(st_comm *c, const int64_t *v, int n, const char *const *what)
{
    if (!comm_has_mpi(c) || c->size == 1)
        return ST_OK;
    int which;
    int64_t lo = 0, hi = 0;
    ST_TRY(comm_mpi_agree(c, ST_SCOPE_WORLD, 0, v, n, &which, &lo, &hi));
    if (which < 0)
        return ST_OK;
    return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_create: ranks disagree on the %s: %lld on some, %lld on others",
                  what[which], (long long)lo, (long long)hi);
}
