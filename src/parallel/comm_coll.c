/* The collectives: argument checks agreed across ranks, then the hierarchical algorithms over the
 * level communicators (docs/collectives.md derives the layouts and the byte counts), on host
 * buffers over MPI or, where every rank can, on device buffers (comm_device_coll.c). */
#include <string.h>
#include "internal.h"
#include "comm_internal.h"

static void plan_make(const st_comm *c, st_scope scope, size_t padded, comm_plan *pl)
{
    pl->nl = 0;
    pl->P = 1;
    for (int l = 0; l <= (int)scope; l++) {
        pl->P *= c->lsize[l];
        if (c->lsize[l] == 1)
            continue;
        pl->lv[pl->nl] = (st_level)l;
        pl->p[pl->nl] = c->lsize[l];
        pl->q[pl->nl] = c->lrank[l];
        pl->nl++;
    }
    pl->len[0] = padded;
    for (int i = 0; i < pl->nl; i++)
        pl->len[i + 1] = pl->len[i] / (size_t)pl->p[i];
}

static void count_bytes(st_comm *c, st_level lv, st_collective coll, size_t bytes)
{
    c->bytes[lv][coll].sent += bytes;
    c->bytes[lv][coll].received += bytes;
}

/* Ring volume of a reduce-scatter or all-gather at each level: (p-1)/p of what enters/leaves it. */
static void count_levels(st_comm *c, const comm_plan *pl, st_collective coll, size_t es, int twice)
{
    for (int i = 0; i < pl->nl; i++)
        count_bytes(c, pl->lv[i], coll, (twice ? 2 : 1) * pl->len[i] / (size_t)pl->p[i] * (size_t)(pl->p[i] - 1) * es);
}

static const char *const coll_names[] = {"st_comm_all_reduce", "st_comm_reduce_scatter",
                                         "st_comm_all_gather", "st_comm_broadcast", "st_comm_all_to_all"};

/* What the ranks of a scope must agree on. -1 where a collective has no such argument. AG_PATH
 * (last, so that it never hides a real mismatch) is not an error: the device path where every
 * rank can take it (comm_dev_path), else host staging on all of them. */
enum { AG_COUNT, AG_DTYPE, AG_OP, AG_ROOT, AG_OUT_COUNT, AG_PATH, AG_N };

/* This rank's device-path value for the agreement: 0 where the collective moves nothing over MPI. */
static int64_t path_of(const st_comm *c, st_scope scope, const st_tensor *t, const st_tensor *other)
{
    if (!comm_has_mpi(c) || st_comm_scope_size(c, scope) == 1)
        return 0;
    return comm_dev_path(c, t, other);
}

/* Local validation status `local` (ST_OK or this rank's error), then agreement across the scope,
 * before any data moves: every rank returns an error when any rank's arguments are wrong, and
 * v[AG_PATH] becomes the path all of them take. */
static st_status agree(st_comm *c, st_collective coll, st_scope scope, st_status local, int64_t *v)
{
    const char *name = coll_names[coll];
    if (!comm_has_mpi(c) || st_comm_scope_size(c, scope) == 1)
        return local;
    int which;
    int64_t lo = 0, hi = 0;
    ST_TRY(comm_mpi_agree(c, scope, local != ST_OK, v, AG_N, &which, &lo, &hi));
    if (local != ST_OK)
        return local;
    switch (which) {
    case -1: return ST_OK;
    case AG_PATH: v[AG_PATH] = 0; return ST_OK;
    case AG_N:
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: another rank passed invalid arguments (see its error)", name);
    case AG_COUNT:
    case AG_OUT_COUNT:
        return ST_ERR(ST_ERR_SHAPE, "%s: ranks disagree on the %s element count: %lld on some, %lld on others",
                      name, which == AG_COUNT ? "input" : "output", (long long)lo, (long long)hi);
    case AG_DTYPE:
        return ST_ERR(ST_ERR_DTYPE, "%s: ranks disagree on the dtype: %s on some, %s on others", name,
                      st_dtype_name((st_dtype)lo), st_dtype_name((st_dtype)hi));
    default:
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: ranks disagree on the %s: %lld on some, %lld on others", name,
                      which == AG_OP ? "reduce op" : "root", (long long)lo, (long long)hi);
    }
}

static st_status check_common(const st_comm *c, const st_tensor *a, st_scope scope, const char *name)
{
    if (!c || !a)
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: NULL communicator or tensor", name);
    if ((unsigned)scope > ST_SCOPE_WORLD)
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: scope %d is not GCD, NODE or WORLD", name, (int)scope);
    return ST_OK;
}

static st_status check_dtypes(const st_tensor *in, const st_tensor *out, const char *name)
{
    if (in->dtype >= ST_DTYPE_COUNT)
        return ST_ERR(ST_ERR_DTYPE, "%s: invalid dtype %d", name, (int)in->dtype);
    if (out && out->dtype != in->dtype)
        return ST_ERR(ST_ERR_DTYPE, "%s: input is %s but output is %s", name, st_dtype_name(in->dtype),
                      st_dtype_name(out->dtype));
    return ST_OK;
}

static st_status check_op(const st_tensor *t, st_reduce_op op, const char *name)
{
    if ((unsigned)op > ST_REDUCE_MAX)
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: reduce op %d is not SUM, AVG or MAX", name, (int)op);
    if (op == ST_REDUCE_AVG && t->dtype == ST_I32)
        return ST_ERR(ST_ERR_DTYPE, "%s: AVG of i32 would truncate: reduce with SUM and divide", name);
    return ST_OK;
}

/* The element type MPI reduces a dtype in, and the one it moves it in when nothing is reduced. */
static comm_type reduce_type(st_dtype dt) { return dt == ST_I32 ? COMM_I32 : COMM_F32; }
static comm_type move_type(st_dtype dt) { return dt == ST_BF16 ? COMM_U16 : dt == ST_I32 ? COMM_I32 : COMM_F32; }

static void divide(void *buf, size_t n, int P)
{
    float *f = buf;
    for (size_t i = 0; i < n; i++)
        f[i] /= (float)P;
}

static size_t round_up(size_t n, int P) { return (n + (size_t)P - 1) / (size_t)P * (size_t)P; }

/* Reduce-scatter in the fast levels, all-reduce in the last one, all-gather back: W (len[0]
 * elements) is reduced in place, with B (len[1]) for the shards. */
static st_status hier_all_reduce(st_comm *c, const comm_plan *pl, void *W, comm_type ty, st_reduce_op op)
{
    size_t es = comm_type_size(ty);
    int last = pl->nl - 1;
    if (pl->nl == 1) {
        ST_TRY(comm_mpi_all_reduce(c, pl->lv[0], W, pl->len[0], ty, op));
        if (op == ST_REDUCE_AVG)
            divide(W, pl->len[0], pl->P);
        return ST_OK;
    }
    void *B;
    ST_TRY(comm_slot(c, 1, pl->len[1] * es, &B));
    ST_TRY(comm_mpi_reduce_scatter(c, pl->lv[0], W, B, pl->len[1], ty, op));
    for (int i = 1; i < last; i++)
        ST_TRY(comm_mpi_reduce_scatter(c, pl->lv[i], B, B, pl->len[i + 1], ty, op));
    ST_TRY(comm_mpi_all_reduce(c, pl->lv[last], B, pl->len[last], ty, op));
    if (op == ST_REDUCE_AVG)
        divide(B, pl->len[last], pl->P);
    /* target[i]: where level i's all-gather writes; level i-1's gather finds it in place there. */
    char *target[ST_LEVEL_COUNT];
    target[0] = W;
    for (int i = 1; i < pl->nl; i++)
        target[i] = target[i - 1] + (size_t)pl->q[i - 1] * pl->len[i] * es;
    ST_TRY(comm_mpi_all_gather(c, pl->lv[last - 1], B, target[last - 1], pl->len[last], ty));
    for (int i = last - 2; i >= 0; i--)
        ST_TRY(comm_mpi_all_gather(c, pl->lv[i], target[i + 1], target[i], pl->len[i + 1], ty));
    return ST_OK;
}

st_status st_comm_all_reduce(st_comm *c, st_tensor *t, st_reduce_op op, st_scope scope)
{
    const char *name = coll_names[ST_COLL_ALL_REDUCE];
    ST_TRY(check_common(c, t, scope, name));
    st_status local = check_dtypes(t, NULL, name);
    if (local == ST_OK)
        local = check_op(t, op, name);
    int64_t v[AG_N] = {st_tensor_numel(t), t->dtype, op, -1, -1, path_of(c, scope, t, NULL)};
    ST_TRY(agree(c, ST_COLL_ALL_REDUCE, scope, local, v));
    comm_plan pl;
    size_t n = (size_t)v[AG_COUNT];
    comm_type ty = reduce_type(t->dtype);
    plan_make(c, scope, round_up(n, st_comm_scope_size(c, scope)), &pl);
    if (n == 0 || pl.nl == 0)
        return ST_OK;
    if (v[AG_PATH]) {
        ST_TRY(comm_dev_all_reduce(c, &pl, t, op));
    } else {
        void *W;
        ST_TRY(comm_stage_in(c, t, ty, pl.len[0], 0, &W));
        ST_TRY(hier_all_reduce(c, &pl, W, ty, op));
        ST_TRY(comm_stage_finish(t, W, ty));
    }
    /* 2(p-1)/p of len[i] at every level: reduce-scatter plus all-gather, or the last level's
     * all-reduce. */
    count_levels(c, &pl, ST_COLL_ALL_REDUCE, comm_type_size(ty), 1);
    return ST_OK;
}

/* Fastest level first on contiguous blocks: the shard index is gcd, gpu, node from most to least
 * significant, which is the rank order (comm.h), so no permutation is needed. */
static st_status host_reduce_scatter(st_comm *c, const comm_plan *pl, const st_tensor *in, st_tensor *out,
                                     st_reduce_op op)
{
    comm_type ty = reduce_type(in->dtype);
    size_t es = comm_type_size(ty), cnt = pl->len[pl->nl];
    void *src, *dst, *B = NULL;
    ST_TRY(comm_stage_in(c, in, ty, pl->len[0], 0, &src));
    ST_TRY(comm_stage_out_buffer(c, out, ty, cnt, 2, &dst));
    if (pl->nl == 0 && dst != src)
        memcpy(dst, src, cnt * es);
    if (pl->nl > 1)
        ST_TRY(comm_slot(c, 1, pl->len[1] * es, &B));
    for (int i = 0; i < pl->nl; i++)
        ST_TRY(comm_mpi_reduce_scatter(c, pl->lv[i], i == 0 ? src : B, i == pl->nl - 1 ? dst : B,
                                       pl->len[i + 1], ty, op));
    if (op == ST_REDUCE_AVG)
        divide(dst, cnt, pl->P);
    return comm_stage_finish(out, dst, ty);
}

st_status st_comm_reduce_scatter(st_comm *c, const st_tensor *in, st_tensor *out, st_reduce_op op,
                                 st_scope scope)
{
    const char *name = coll_names[ST_COLL_REDUCE_SCATTER];
    ST_TRY(check_common(c, in, scope, name));
    if (!out)
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: NULL output", name);
    int P = st_comm_scope_size(c, scope);
    size_t n = (size_t)st_tensor_numel(in), cnt = round_up(n, P) / (size_t)P;
    st_status local = check_dtypes(in, out, name);
    if (local == ST_OK)
        local = check_op(in, op, name);
    if (local == ST_OK && (size_t)st_tensor_numel(out) != cnt)
        local = ST_ERR(ST_ERR_SHAPE, "%s: output has %lld elements; %zu over %d ranks gives shards of %zu",
                       name, (long long)st_tensor_numel(out), n, P, cnt);
    int64_t v[AG_N] = {(int64_t)n, in->dtype, op, -1, -1, path_of(c, scope, in, out)};
    ST_TRY(agree(c, ST_COLL_REDUCE_SCATTER, scope, local, v));
    if (n == 0)
        return ST_OK;
    comm_plan pl;
    plan_make(c, scope, cnt * (size_t)P, &pl);
    ST_TRY(v[AG_PATH] ? comm_dev_reduce_scatter(c, &pl, in, out, op) : host_reduce_scatter(c, &pl, in, out, op));
    count_levels(c, &pl, ST_COLL_REDUCE_SCATTER, comm_type_size(reduce_type(in->dtype)), 0);
    return ST_OK;
}

/* Slowest level first on one shard, fastest last on the biggest blocks: the mirror of the
 * reduce-scatter, each gather landing in place inside the next one's buffer. */
static st_status host_all_gather(st_comm *c, const comm_plan *pl, const st_tensor *in, st_tensor *out)
{
    comm_type ty = move_type(in->dtype);
    size_t es = comm_type_size(ty), cnt = pl->len[pl->nl];
    void *src, *W;
    ST_TRY(comm_stage_in(c, in, ty, cnt, 2, &src));
    ST_TRY(comm_stage_out_buffer(c, out, ty, pl->len[0], 0, &W));
    char *target[ST_LEVEL_COUNT + 1];
    target[0] = W;
    for (int i = 1; i <= pl->nl; i++)
        target[i] = target[i - 1] + (size_t)pl->q[i - 1] * pl->len[i] * es;
    if (pl->nl == 0 && W != src)
        memcpy(W, src, cnt * es);
    for (int i = pl->nl - 1; i >= 0; i--)
        ST_TRY(comm_mpi_all_gather(c, pl->lv[i], i == pl->nl - 1 ? src : target[i + 1], target[i],
                                   pl->len[i + 1], ty));
    return comm_stage_finish(out, W, ty);
}

st_status st_comm_all_gather(st_comm *c, const st_tensor *in, st_tensor *out, st_scope scope)
{
    const char *name = coll_names[ST_COLL_ALL_GATHER];
    ST_TRY(check_common(c, in, scope, name));
    if (!out)
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: NULL output", name);
    int P = st_comm_scope_size(c, scope);
    size_t cnt = (size_t)st_tensor_numel(in), n = (size_t)st_tensor_numel(out);
    st_status local = check_dtypes(in, out, name);
    if (local == ST_OK && round_up(n, P) / (size_t)P != cnt)
        local = ST_ERR(ST_ERR_SHAPE, "%s: output has %zu elements but %zu per rank over %d ranks needs "
                       "ceil(n/%d) == %zu", name, n, cnt, P, P, cnt);
    int64_t v[AG_N] = {(int64_t)cnt, in->dtype, -1, -1, (int64_t)n, path_of(c, scope, in, out)};
    ST_TRY(agree(c, ST_COLL_ALL_GATHER, scope, local, v));
    if (n == 0)
        return ST_OK;
    comm_plan pl;
    plan_make(c, scope, cnt * (size_t)P, &pl);
    ST_TRY(v[AG_PATH] ? comm_dev_all_gather(c, &pl, in, out) : host_all_gather(c, &pl, in, out));
    count_levels(c, &pl, ST_COLL_ALL_GATHER, comm_type_size(move_type(in->dtype)), 0);
    return ST_OK;
}

/* Host path: flat MPI_Bcast over the scope. */
static st_status host_broadcast(st_comm *c, st_scope scope, st_tensor *t, int root)
{
    size_t n = (size_t)st_tensor_numel(t);
    comm_type ty = move_type(t->dtype);
    void *buf;
    int is_root = st_comm_scope_rank(c, scope) == root;
    if (is_root)
        ST_TRY(comm_stage_in(c, t, ty, n, 0, &buf));
    else
        ST_TRY(comm_stage_out_buffer(c, t, ty, n, 0, &buf));
    ST_TRY(comm_mpi_broadcast(c, scope, buf, n, ty, root));
    return is_root ? ST_OK : comm_stage_finish(t, buf, ty);
}

/* Flat MPI_Bcast over the scope on the host path, level by level on the device path. Bytes are
 * attributed per level as an all-gather of the padded size (scatter + all-gather is the
 * bandwidth-optimal broadcast, (P-1)/P of it in all). */
st_status st_comm_broadcast(st_comm *c, st_tensor *t, int root, st_scope scope)
{
    const char *name = coll_names[ST_COLL_BROADCAST];
    ST_TRY(check_common(c, t, scope, name));
    int P = st_comm_scope_size(c, scope);
    st_status local = check_dtypes(t, NULL, name);
    if (local == ST_OK && (root < 0 || root >= P))
        local = ST_ERR(ST_ERR_INVALID_ARG, "%s: root %d is not in [0, %d)", name, root, P);
    int64_t v[AG_N] = {st_tensor_numel(t), t->dtype, -1, root, -1, path_of(c, scope, t, NULL)};
    ST_TRY(agree(c, ST_COLL_BROADCAST, scope, local, v));
    size_t n = (size_t)v[AG_COUNT];
    if (n == 0 || P == 1)
        return ST_OK;
    comm_plan pl;
    plan_make(c, scope, round_up(n, P), &pl);
    ST_TRY(v[AG_PATH] ? comm_dev_broadcast(c, &pl, scope, t, root) : host_broadcast(c, scope, t, root));
    count_levels(c, &pl, ST_COLL_BROADCAST, comm_type_size(move_type(t->dtype)), 0);
    return ST_OK;
}

/* Bytes of a flat all-to-all by the level each block crosses: to the ranks that differ from this
 * one first at level l (counting from the slowest), (p_l - 1) * (ranks per level-l group) blocks. */
static void count_all_to_all(st_comm *c, st_scope scope, size_t block_bytes)
{
    size_t below = 1; /* ranks in one group of the levels faster than l */
    for (int l = 0; l <= (int)scope; l++) {
        if (c->lsize[l] > 1)
            count_bytes(c, (st_level)l, ST_COLL_ALL_TO_ALL, (size_t)(c->lsize[l] - 1) * below * block_bytes);
        below *= (size_t)c->lsize[l];
    }
}

st_status st_comm_all_to_all(st_comm *c, const st_tensor *in, st_tensor *out, st_scope scope)
{
    const char *name = coll_names[ST_COLL_ALL_TO_ALL];
    ST_TRY(check_common(c, in, scope, name));
    if (!out)
        return ST_ERR(ST_ERR_INVALID_ARG, "%s: NULL output", name);
    int P = st_comm_scope_size(c, scope);
    size_t n = (size_t)st_tensor_numel(in), blk = round_up(n, P) / (size_t)P;
    st_status local = check_dtypes(in, out, name);
    if (local == ST_OK && st_tensor_numel(out) != st_tensor_numel(in))
        local = ST_ERR(ST_ERR_SHAPE, "%s: input has %zu elements but output %lld", name, n,
                       (long long)st_tensor_numel(out));
    int64_t v[AG_N] = {(int64_t)n, in->dtype, -1, -1, -1, 0}; /* host path only */
    ST_TRY(agree(c, ST_COLL_ALL_TO_ALL, scope, local, v));
    if (n == 0)
        return ST_OK;
    comm_type ty = move_type(in->dtype);
    size_t es = comm_type_size(ty);
    void *src, *dst;
    ST_TRY(comm_stage_in(c, in, ty, blk * (size_t)P, 0, &src));
    ST_TRY(comm_stage_out_buffer(c, out, ty, blk * (size_t)P, 1, &dst));
    if (P == 1 && dst != src)
        memcpy(dst, src, n * es);
    if (P > 1)
        ST_TRY(comm_mpi_all_to_all(c, scope, src, dst, blk, ty));
    ST_TRY(comm_stage_finish(out, dst, ty));
    count_all_to_all(c, scope, blk * es);
    return ST_OK;
}
