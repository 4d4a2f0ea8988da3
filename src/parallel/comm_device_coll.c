/* The hierarchical collectives of comm_coll.c on device buffers, each step one backend collective
 * on a level's device communicator. NCCL's in-place forms (reduce-scatter into the rank's block of
 * its input, all-gather from the rank's block of its output) let every step after the first work
 * inside one buffer, with the same block layout as the host path (docs/collectives.md). */
#include "internal.h"
#include "comm_internal.h"

/* The dtype a reduction runs in: bf16 is widened to f32 (reduced in f32, rounded once, comm.h). */
static st_dtype reduce_dtype(st_dtype dt) { return dt == ST_I32 ? ST_I32 : ST_F32; }
/* The backend has no AVG: SUM, then the division. */
static st_reduce_op backend_op(st_reduce_op op) { return op == ST_REDUCE_AVG ? ST_REDUCE_SUM : op; }

/* Reduce-scatter in place down the fast levels, all-reduce at the last, all-gather back up: W's
 * block for level i+1 starts at off[i+1] = off[i] + q[i] * len[i+1]. */
st_status comm_dev_all_reduce(st_comm *c, const comm_plan *pl, st_tensor *t, st_reduce_op op)
{
    st_dtype dt = reduce_dtype(t->dtype);
    st_reduce_op bop = backend_op(op);
    int last = pl->nl - 1;
    st_tensor W;
    ST_TRY(comm_dev_levels(c, pl, t->storage->dev));
    ST_TRY(comm_dev_stage_in(c, t, dt, pl->len[0], 0, &W));
    size_t off[ST_LEVEL_COUNT + 1] = {0};
    for (int i = 0; i < last; i++) {
        off[i + 1] = off[i] + (size_t)pl->q[i] * pl->len[i + 1];
        st_tensor send = comm_dev_sub(&W, off[i], pl->len[i]), recv = comm_dev_sub(&W, off[i + 1], pl->len[i + 1]);
        ST_TRY(comm_dev_run(c, ST_COLL_REDUCE_SCATTER, pl->lv[i], &send, &recv, bop, 0));
    }
    st_tensor mid = comm_dev_sub(&W, off[last], pl->len[last]);
    ST_TRY(comm_dev_run(c, ST_COLL_ALL_REDUCE, pl->lv[last], &mid, &mid, bop, 0));
    if (op == ST_REDUCE_AVG)
        ST_TRY(comm_dev_divide(&mid, pl->P));
    for (int i = last - 1; i >= 0; i--) {
        st_tensor send = comm_dev_sub(&W, off[i + 1], pl->len[i + 1]), recv = comm_dev_sub(&W, off[i], pl->len[i]);
        ST_TRY(comm_dev_run(c, ST_COLL_ALL_GATHER, pl->lv[i], &send, &recv, ST_REDUCE_SUM, 0));
    }
    return comm_dev_finish(t, &W);
}

/* The first level reads the input (never written: it may be the caller's tensor) into B, later
 * levels reduce in place inside B, and the last writes the shard to its destination. */
st_status comm_dev_reduce_scatter(st_comm *c, const comm_plan *pl, const st_tensor *in, st_tensor *out,
                                  st_reduce_op op)
{
    st_dtype dt = reduce_dtype(in->dtype);
    st_reduce_op bop = backend_op(op);
    size_t cnt = pl->len[pl->nl];
    st_tensor src, dst, B;
    ST_TRY(comm_dev_levels(c, pl, in->storage->dev));
    ST_TRY(comm_dev_stage_in(c, in, dt, pl->len[0], 0, &src));
    ST_TRY(comm_dev_out_buffer(c, out, dt, cnt, 2, &dst));
    if (pl->nl > 1)
        ST_TRY(comm_dev_workspace(c, 1, dt, pl->len[1], &B));
    size_t off = 0;
    for (int i = 0; i < pl->nl; i++) {
        st_tensor send = i == 0 ? src : comm_dev_sub(&B, off, pl->len[i]);
        if (i > 0)
            off += (size_t)pl->q[i] * pl->len[i + 1];
        st_tensor recv = i == pl->nl - 1 ? dst : comm_dev_sub(&B, off, pl->len[i + 1]);
        ST_TRY(comm_dev_run(c, ST_COLL_REDUCE_SCATTER, pl->lv[i], &send, &recv, bop, 0));
    }
    if (op == ST_REDUCE_AVG)
        ST_TRY(comm_dev_divide(&dst, pl->P));
    return comm_dev_finish(out, &dst);
}

/* Slowest level first from the shard, each gather landing in place inside the next one's block. */
st_status comm_dev_all_gather(st_comm *c, const comm_plan *pl, const st_tensor *in, st_tensor *out)
{
    st_dtype dt = in->dtype; /* nothing is reduced: bf16 moves as bf16 */
    size_t cnt = pl->len[pl->nl];
    st_tensor src, W;
    ST_TRY(comm_dev_levels(c, pl, in->storage->dev));
    ST_TRY(comm_dev_stage_in(c, in, dt, cnt, 2, &src));
    ST_TRY(comm_dev_out_buffer(c, out, dt, pl->len[0], 0, &W));
    size_t target[ST_LEVEL_COUNT + 1] = {0};
    for (int i = 1; i <= pl->nl; i++)
        target[i] = target[i - 1] + (size_t)pl->q[i - 1] * pl->len[i];
    for (int i = pl->nl - 1; i >= 0; i--) {
        st_tensor send = i == pl->nl - 1 ? src : comm_dev_sub(&W, target[i + 1], pl->len[i + 1]);
        st_tensor recv = comm_dev_sub(&W, target[i], pl->len[i]);
        ST_TRY(comm_dev_run(c, ST_COLL_ALL_GATHER, pl->lv[i], &send, &recv, ST_REDUCE_SUM, 0));
    }
    return comm_dev_finish(out, &W);
}

/* Slowest level first, so that the data crosses the slow links once per group: at level l the
 * ranks whose faster digits equal the root's pass it on from the one whose level-l digit does. */
st_status comm_dev_broadcast(st_comm *c, const comm_plan *pl, st_scope scope, st_tensor *t, int root)
{
    size_t n = (size_t)st_tensor_numel(t);
    int digit[ST_LEVEL_COUNT] = {0}, r = root;
    for (int l = (int)scope; l >= 0; l--) {
        digit[l] = r % c->lsize[l];
        r /= c->lsize[l];
    }
    int is_root = st_comm_scope_rank(c, scope) == root;
    st_tensor buf;
    ST_TRY(comm_dev_levels(c, pl, t->storage->dev));
    if (is_root)
        ST_TRY(comm_dev_stage_in(c, t, t->dtype, n, 0, &buf));
    else
        ST_TRY(comm_dev_out_buffer(c, t, t->dtype, n, 0, &buf));
    for (int l = (int)scope; l >= 0; l--) {
        int on = c->lsize[l] > 1;
        for (int k = 0; k < l && on; k++)
            on = c->lrank[k] == digit[k];
        if (on)
            ST_TRY(comm_dev_run(c, ST_COLL_BROADCAST, (st_level)l, &buf, &buf, ST_REDUCE_SUM, digit[l]));
    }
    return is_root ? ST_OK : comm_dev_finish(t, &buf);
}
