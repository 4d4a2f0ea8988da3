/* Collectives over a range of hierarchy levels for the sharded-state engine: comm.h's scopes all
 * start at the GCD level, but moving state from one scope to a wider one (node shard to world
 * shard, optim shard back to a GCD shard) crosses only the levels in between. Built on the level
 * communicators of comm_internal.h, counted in the same per-level counters with the same ring
 * convention, so the engine's traffic reads exactly like comm.h's. */
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
    st_tensor_free(v);
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
    float *h;
    int staged;
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
    float *h;
    int staged;
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

st_status shard_all_reduce_level(st_comm *c, st_tensor *t, int level)
{
    int p = c->lsize[level];
    if (p == 1)
        return ST_OK;
    float *h;
    int staged;
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
