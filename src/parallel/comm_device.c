/* The device path of st_comm, for tensors of a backend with collectives of its own (NCCL in the
 * CUDA plugin): when it applies, one backend communicator per level bootstrapped over MPI, device
 * workspaces, and copies in and out of them on the device. No data goes through host memory. The
 * algorithms are in comm_device_coll.c; the host path (comm_stage.c) serves every other case. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"

static const char *const level_names[] = {"GCD", "GPU", "node"};

int comm_dev_path(const st_comm *c, const st_tensor *t, const st_tensor *other)
{
    st_device *d = t->storage->dev;
    const st_backend_iface *f = d->be->iface;
    if ((other && other->storage->dev != d) || !f->coll_all_reduce)
        return 0;
    /* A communicator's backend communicators belong to one device: tensors on another one are
     * staged (ranks that disagree all stage, comm_coll.c). */
    if (c->dev.dev && c->dev.dev != d)
        return 0;
    const char *env = getenv("STRATA_COMM_DEVICE");
    if (env && strcmp(env, "0") == 0)
        return 0;
    return st_backend_index(f->name) + 1;
}

void comm_dev_free(st_comm *c)
{
    comm_dev *d = &c->dev;
    for (int i = 0; i < COMM_SLOTS; i++)
        st_tensor_destroy(d->slot[i]);
    if (d->dev) {
        const st_backend *be = d->dev->be;
        for (int l = 0; l < ST_LEVEL_COUNT; l++)
            if (d->level[l])
                be->iface->coll_comm_destroy(be->ctx, d->level[l]);
    }
    memset(d, 0, sizeof *d);
}

/* The level's rank 0 makes the id and broadcasts it over the level's MPI communicator; byte 0
 * says whether it could, so that the others fail with it instead of waiting in the backend. */
static st_status level_create(st_comm *c, st_level lv)
{
    const st_backend *be = c->dev.dev->be;
    const st_backend_iface *f = be->iface;
    unsigned char msg[1 + ST_COLL_ID_MAX];
    memset(msg, 0, sizeof msg);
    st_status s = ST_OK;
    if (c->lrank[lv] == 0) {
        s = f->coll_get_unique_id(be->ctx, msg + 1);
        msg[0] = s == ST_OK;
    }
    ST_TRY(comm_mpi_level_bcast(c, lv, msg, 1 + f->coll_id_bytes));
    if (s != ST_OK)
        return s;
    if (!msg[0])
        return ST_ERR(ST_ERR_BACKEND, "st_comm: rank 0 of the %s level could not make a %s communicator id "
                      "(see its error)", level_names[lv], f->name);
    return f->coll_comm_create(be->ctx, c->dev.dev->index, msg + 1, c->lsize[lv], c->lrank[lv],
                               &c->dev.level[lv]);
}

st_status comm_dev_levels(st_comm *c, const comm_plan *pl, st_device *dev)
{
    if (!c->dev.dev)
        c->dev.dev = dev;
    for (int i = 0; i < pl->nl; i++)
        if (!c->dev.level[pl->lv[i]])
            ST_TRY(level_create(c, pl->lv[i]));
    return ST_OK;
}

/* Workspaces are f32 tensors of the device, viewed with whatever dtype a collective moves. */
static st_status slot_get(st_comm *c, int slot, size_t bytes, st_tensor **out)
{
    comm_dev *d = &c->dev;
    if (!d->slot[slot] || d->slot_cap[slot] < bytes) {
        st_tensor_destroy(d->slot[slot]);
        d->slot[slot] = NULL;
        d->slot_cap[slot] = 0;
        int64_t n = (int64_t)((bytes + 3) / 4);
        if (n == 0)
            n = 1;
        ST_TRY(st_tensor_create(d->dev, ST_F32, 1, &n, &d->slot[slot]));
        d->slot_cap[slot] = (size_t)n * 4;
    }
    *out = d->slot[slot];
    return ST_OK;
}

/* A contiguous view of `storage` from element `offset` (of dt) with the given shape. */
static st_tensor view_of(st_storage *storage, st_dtype dt, int64_t offset, int ndim, const int64_t *shape)
{
    st_tensor v;
    memset(&v, 0, sizeof v);
    v.storage = storage;
    v.dtype = dt;
    v.ndim = ndim;
    v.offset = offset;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        v.shape[i] = shape[i];
        v.stride[i] = stride;
        stride *= shape[i];
    }
    return v;
}

st_tensor comm_dev_sub(const st_tensor *buf, size_t off, size_t n)
{
    int64_t len = (int64_t)n;
    return view_of(buf->storage, buf->dtype, buf->offset + (int64_t)off, 1, &len);
}

static int direct(const st_tensor *t, st_dtype dt, size_t padded)
{
    return t->dtype == dt && st_tensor_is_contiguous(t) && (size_t)st_tensor_numel(t) == padded;
}

st_status comm_dev_stage_in(st_comm *c, const st_tensor *t, st_dtype dt, size_t padded, int slot, st_tensor *out)
{
    size_t n = (size_t)st_tensor_numel(t);
    int64_t len = (int64_t)padded;
    if (direct(t, dt, padded)) {
        *out = view_of(t->storage, dt, t->offset, 1, &len);
        return ST_OK;
    }
    st_tensor *ws;
    ST_TRY(slot_get(c, slot, padded * st_dtype_size(dt), &ws));
    st_tensor body = view_of(ws->storage, dt, 0, t->ndim, t->shape);
    ST_TRY(t->dtype == dt ? st_copy(&body, t) : st_cast(&body, t));
    *out = view_of(ws->storage, dt, 0, 1, &len);
    if (padded > n) {
        st_tensor tail = comm_dev_sub(out, n, padded - n);
        ST_TRY(st_fill(&tail, 0.0));
    }
    return ST_OK;
}

st_status comm_dev_workspace(st_comm *c, int slot, st_dtype dt, size_t n, st_tensor *out)
{
    int64_t len = (int64_t)n;
    st_tensor *ws;
    ST_TRY(slot_get(c, slot, n * st_dtype_size(dt), &ws));
    *out = view_of(ws->storage, dt, 0, 1, &len);
    return ST_OK;
}

st_status comm_dev_out_buffer(st_comm *c, const st_tensor *t, st_dtype dt, size_t padded, int slot,
                              st_tensor *out)
{
    int64_t len = (int64_t)padded;
    if (direct(t, dt, padded)) {
        *out = view_of(t->storage, dt, t->offset, 1, &len);
        return ST_OK;
    }
    return comm_dev_workspace(c, slot, dt, padded, out);
}

st_status comm_dev_finish(st_tensor *t, const st_tensor *buf)
{
    if (buf->storage == t->storage)
        return ST_OK;
    st_tensor body = view_of(buf->storage, buf->dtype, buf->offset, t->ndim, t->shape);
    return t->dtype == buf->dtype ? st_copy(t, &body) : st_cast(t, &body);
}

st_status comm_dev_divide(st_tensor *buf, int P)
{
    int64_t one = 1;
    st_tensor *p = NULL;
    ST_TRY(st_tensor_create(buf->storage->dev, ST_F32, 1, &one, &p));
    st_status s = st_fill(p, (double)P);
    if (s == ST_OK)
        s = st_div(buf, buf, p); /* x / P exactly as the host path rounds it, not x * (1/P) */
    st_tensor_destroy(p);
    return s;
}

static st_status dev_call(st_comm *c, st_collective kind, st_level lv, const st_view *s, const st_view *r,
                          st_reduce_op op, int root)
{
    const st_backend *be = c->dev.dev->be;
    const st_backend_iface *f = be->iface;
    void *h = c->dev.level[lv];
    switch (kind) {
    case ST_COLL_ALL_REDUCE: return f->coll_all_reduce(be->ctx, h, s, r, op);
    case ST_COLL_REDUCE_SCATTER: return f->coll_reduce_scatter(be->ctx, h, s, r, op);
    case ST_COLL_ALL_GATHER: return f->coll_all_gather(be->ctx, h, s, r);
    case ST_COLL_BROADCAST: return f->coll_broadcast(be->ctx, h, s, r, root);
    default: return ST_ERR(ST_ERR_UNSUPPORTED, "st_comm: no device form of collective %d", (int)kind);
    }
}

/* Timed like the host path's MPI calls: the backend's call, which for a stream-ordered library
 * (NCCL) returns once the collective is enqueued, so the level's time counts what the host waited. */
st_status comm_dev_run(st_comm *c, st_collective kind, st_level lv, const st_tensor *send, const st_tensor *recv,
                       st_reduce_op op, int root)
{
    st_view s, r;
    st_view_of(send, &s);
    st_view_of(recv, &r);
    double t0 = comm_now();
    st_status st = dev_call(c, kind, lv, &s, &r, op, root);
    c->seconds[lv] += comm_now() - t0;
    return st;
}
