/* A test plugin that makes st_comm's device path (src/parallel/comm_device*.c) run without a GPU: a
 * "device" backend whose buffers are host memory behind opaque handles (host_memory 0, so the core
 * treats them as device buffers) and whose coll_* entries are MPI collectives that enforce NCCL's
 * rules (in-place forms only, no other overlap). Only the ops the device path and test_comm use
 * compute (fill, copy, cast, div); the others return ST_ERR_UNSUPPORTED.
 *
 * Bootstrap: the id is the world rank of the group's rank 0 and coll_comm_create splits
 * MPI_COMM_WORLD by it, which is collective over the world: it holds for test_comm, where every
 * rank runs every collective in every scope, so all ranks create a level's groups together. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata/backend_abi.h"

static const st_host_api *host;
#define FAIL(s, ...) host->set_error((s), __FILE__, __LINE__, __VA_ARGS__)

static size_t esize(st_dtype dt) { return dt == ST_BF16 ? 2 : dt == ST_I8 ? 1 : 4; }
static char *ptr(const st_view *v) { return (char *)v->buf + (size_t)v->offset * esize(v->dtype); }

static int64_t numel(const st_view *v)
{
    int64_t n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->shape[i];
    return n;
}

/* Element offset of row-major index `lin` in a strided view. */
static int64_t at(const st_view *v, int64_t lin)
{
    int64_t off = v->offset;
    for (int d = v->ndim - 1; d >= 0; d--) {
        off += lin % v->shape[d] * v->stride[d];
        lin /= v->shape[d];
    }
    return off;
}

static double load(const st_view *v, int64_t lin)
{
    int64_t k = at(v, lin);
    if (v->dtype == ST_I32) return ((const int32_t *)v->buf)[k];
    if (v->dtype == ST_I8) return ((const int8_t *)v->buf)[k];
    if (v->dtype == ST_F32) return ((const float *)v->buf)[k];
    uint32_t u = (uint32_t)((const uint16_t *)v->buf)[k] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void store(const st_view *v, int64_t lin, double x)
{
    int64_t k = at(v, lin);
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, 4);
    if (v->dtype == ST_I32) ((int32_t *)v->buf)[k] = (int32_t)x;
    else if (v->dtype == ST_I8) ((int8_t *)v->buf)[k] = (int8_t)x;
    else if (v->dtype == ST_F32) ((float *)v->buf)[k] = f;
    else ((uint16_t *)v->buf)[k] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16); /* nearest even */
}

static st_status op_fill(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx, (void)dev;
    for (int64_t i = 0, n = numel(&c->out[0]); i < n; i++) store(&c->out[0], i, c->p.fill.value);
    return ST_OK;
}

/* copy and cast: the value goes through double, exact for f32, bf16 and i32. */
static st_status op_copy(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx, (void)dev;
    for (int64_t i = 0, n = numel(&c->out[0]); i < n; i++) store(&c->out[0], i, load(&c->in[0], i));
    return ST_OK;
}

static st_status op_div(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx, (void)dev;
    for (int64_t i = 0, n = numel(&c->out[0]); i < n; i++)
        store(&c->out[0], i, (float)load(&c->in[0], i) / (float)load(&c->in[1], i));
    return ST_OK;
}

static st_status op_unsupported(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx, (void)dev;
    return FAIL(ST_ERR_UNSUPPORTED, "fake collective backend: op %d is not implemented", (int)c->op);
}

static st_status f_init(const st_host_api *h, void **ctx, st_backend_status *status)
{
    host = h;
    *ctx = NULL;
    status->device_count = 64; /* one per rank of any test: all the same host memory */
    snprintf(status->runtime, sizeof status->runtime, "fake device collectives over MPI (test)");
    return ST_OK;
}

static void f_shutdown(void *ctx) { (void)ctx; }

static st_status f_props(void *ctx, int dev, st_device_props *out)
{
    (void)ctx, (void)dev;
    out->name = "fake collective device";
    out->vendor = "test";
    out->type = "accelerator";
    out->driver = "none";
    out->extra = "";
    return ST_OK;
}

static st_status f_alloc(void *ctx, int dev, size_t bytes, void **buf)
{
    (void)ctx, (void)dev;
    *buf = malloc(bytes ? bytes : 1);
    return *buf ? ST_OK : FAIL(ST_ERR_OUT_OF_MEMORY, "fake: %zu bytes", bytes);
}

static void f_free(void *ctx, int dev, void *buf) { (void)ctx, (void)dev, free(buf); }

static st_status f_write(void *ctx, int dev, void *buf, size_t off, const void *src, size_t bytes)
{
    (void)ctx, (void)dev;
    memcpy((char *)buf + off, src, bytes);
    return ST_OK;
}

static st_status f_read(void *ctx, int dev, const void *buf, size_t off, void *dst, size_t bytes)
{
    (void)ctx, (void)dev;
    memcpy(dst, (const char *)buf + off, bytes);
    return ST_OK;
}

static st_status f_sync(void *ctx, int dev) { (void)ctx, (void)dev; return ST_OK; }

typedef struct fake_comm {
    MPI_Comm comm;
    int rank, nranks;
} fake_comm;

static st_status coll_id(void *ctx, void *id)
{
    (void)ctx;
    int r;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    memcpy(id, &r, sizeof r);
    return ST_OK;
}

static st_status coll_create(void *ctx, int dev, const void *id, int nranks, int rank, void **out)
{
    (void)ctx, (void)dev;
    int color, size;
    memcpy(&color, id, sizeof color);
    fake_comm *f = calloc(1, sizeof *f);
    if (!f) return FAIL(ST_ERR_OUT_OF_MEMORY, "fake communicator");
    MPI_Comm_split(MPI_COMM_WORLD, color, rank, &f->comm);
    MPI_Comm_size(f->comm, &size);
    f->rank = rank;
    f->nranks = nranks;
    *out = f;
    if (size != nranks)
        return FAIL(ST_ERR_BACKEND, "fake: group of id %d has %d ranks, the core said %d (were all ranks "
                    "creating together?)", color, size, nranks);
    return ST_OK;
}

static void coll_destroy(void *ctx, void *comm)
{
    (void)ctx;
    fake_comm *f = comm;
    if (!f) return;
    MPI_Comm_free(&f->comm);
    free(f);
}

/* NCCL's rules: one dtype, the counts it implies, and send and recv overlapping only in the
 * in-place form, recv starting `inplace` elements after send. */
static st_status check(const fake_comm *f, const st_view *s, const st_view *r, int64_t ns, int64_t nr,
                       int64_t inplace, const char *what)
{
    if (s->dtype != r->dtype) return FAIL(ST_ERR_DTYPE, "fake %s: send and recv dtypes differ", what);
    if (s->ndim != 1 || r->ndim != 1 || numel(s) != ns || numel(r) != nr)
        return FAIL(ST_ERR_SHAPE, "fake %s: counts %lld/%lld, expected %lld/%lld over %d ranks", what,
                    (long long)numel(s), (long long)numel(r), (long long)ns, (long long)nr, f->nranks);
    int overlap = s->buf == r->buf && s->offset < r->offset + nr && r->offset < s->offset + ns;
    if (overlap && r->offset - s->offset != inplace)
        return FAIL(ST_ERR_INVALID_ARG, "fake %s: send [%lld, +%lld) and recv [%lld, +%lld) overlap outside "
                    "NCCL's in-place form", what, (long long)s->offset, (long long)ns, (long long)r->offset,
                    (long long)nr);
    return ST_OK;
}

static MPI_Datatype mtype(st_dtype dt) { return dt == ST_F32 ? MPI_FLOAT : dt == ST_I32 ? MPI_INT32_T : MPI_UINT16_T; }
static MPI_Op mop(st_reduce_op op) { return op == ST_REDUCE_MAX ? MPI_MAX : MPI_SUM; }

static st_status coll_all_reduce(void *ctx, void *comm, const st_view *s, const st_view *r, st_reduce_op op)
{
    (void)ctx;
    fake_comm *f = comm;
    int64_t n = numel(r);
    if (s->dtype == ST_BF16 || op == ST_REDUCE_AVG) return FAIL(ST_ERR_INVALID_ARG, "fake all_reduce: bf16 or AVG");
    st_status st = check(f, s, r, n, n, 0, "all_reduce");
    if (st != ST_OK) return st;
    MPI_Allreduce(ptr(s) == ptr(r) ? MPI_IN_PLACE : ptr(s), ptr(r), (int)n, mtype(r->dtype), mop(op), f->comm);
    return ST_OK;
}

static st_status coll_reduce_scatter(void *ctx, void *comm, const st_view *s, const st_view *r, st_reduce_op op)
{
    (void)ctx;
    fake_comm *f = comm;
    int64_t n = numel(r);
    if (s->dtype == ST_BF16 || op == ST_REDUCE_AVG) return FAIL(ST_ERR_INVALID_ARG, "fake reduce_scatter: bf16 or AVG");
    st_status st = check(f, s, r, n * f->nranks, n, n * f->rank, "reduce_scatter");
    if (st != ST_OK) return st;
    size_t bytes = (size_t)(n * f->nranks) * esize(s->dtype);
    void *tmp = malloc(bytes ? bytes : 1);
    if (!tmp) return FAIL(ST_ERR_OUT_OF_MEMORY, "fake reduce_scatter");
    memcpy(tmp, ptr(s), bytes);
    MPI_Reduce_scatter_block(tmp, ptr(r), (int)n, mtype(r->dtype), mop(op), f->comm);
    free(tmp);
    return ST_OK;
}

static st_status coll_all_gather(void *ctx, void *comm, const st_view *s, const st_view *r)
{
    (void)ctx;
    fake_comm *f = comm;
    int64_t n = numel(s);
    st_status st = check(f, s, r, n, n * f->nranks, -n * f->rank, "all_gather");
    if (st != ST_OK) return st;
    int inplace = s->buf == r->buf && s->offset == r->offset + n * f->rank;
    MPI_Allgather(inplace ? MPI_IN_PLACE : ptr(s), (int)n, mtype(s->dtype), ptr(r), (int)n, mtype(s->dtype), f->comm);
    return ST_OK;
}

static st_status coll_broadcast(void *ctx, void *comm, const st_view *s, const st_view *r, int root)
{
    (void)ctx;
    fake_comm *f = comm;
    int64_t n = numel(r);
    st_status st = check(f, s, r, n, n, 0, "broadcast");
    if (st != ST_OK) return st;
    if (f->rank == root && ptr(s) != ptr(r)) memcpy(ptr(r), ptr(s), (size_t)n * esize(r->dtype));
    MPI_Bcast(ptr(r), (int)n, mtype(r->dtype), root, f->comm);
    return ST_OK;
}

static st_backend_iface iface = {
    .abi_version = ST_BACKEND_ABI_VERSION,
    .struct_size = sizeof(st_backend_iface),
    .name = FAKE_NAME,
    .init = f_init,
    .shutdown = f_shutdown,
    .device_props = f_props,
    .alloc = f_alloc,
    .free = f_free,
    .write = f_write,
    .read = f_read,
    .sync = f_sync,
    .coll_id_bytes = sizeof(int),
    .coll_get_unique_id = coll_id,
    .coll_comm_create = coll_create,
    .coll_comm_destroy = coll_destroy,
    .coll_all_reduce = coll_all_reduce,
    .coll_reduce_scatter = coll_reduce_scatter,
    .coll_all_gather = coll_all_gather,
    .coll_broadcast = coll_broadcast,
};

__attribute__((visibility("default"))) const st_backend_iface *strata_backend_entry(void)
{
    for (int i = 0; i < ST_OP_COUNT; i++)
        iface.op[i] = i == ST_OP_FILL ? op_fill : i == ST_OP_COPY || i == ST_OP_CAST ? op_copy
                      : i == ST_OP_DIV ? op_div : op_unsupported;
    return &iface;
}
