/* Device collectives of the CUDA plugin through NCCL: the optional coll_* entries of the plugin ABI
 * (backend_abi.h). One ncclComm_t per communicator the core asks for (one per level of its
 * hierarchy); every call is enqueued on the device's one stream, so it is ordered with the plugin's
 * ops and copies. Built only when CMake finds NCCL (STRATA_CUDA_NCCL). RCCL has the same API, so
 * the HIP plugin could compile this file against rccl.h; Debian packages no RCCL, so it does not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gpu_backend.h"

typedef struct gpu_coll {
    ncclComm_t nccl;
    int dev;
} gpu_coll;

/* NCCL's code string plus its last error text, which names the cause (a peer that went away,
 * two ranks on one GPU, ...); the text may stem from an earlier asynchronous failure. */
static st_status nccl_fail(ncclResult_t r, const char *call, const char *file, int line)
{
    const char *detail = ncclGetLastError(NULL);
    int has = detail && *detail;
    return ST_GPU(host)->set_error(ST_ERR_BACKEND, file, line, "NCCL: %s failed: %s%s%s%s", call,
                                   ncclGetErrorString(r), has ? " (" : "", has ? detail : "", has ? ")" : "");
}

#define NCCL_TRY(call)                                                             \
    do {                                                                           \
        ncclResult_t nccl_r_ = (call);                                             \
        if (nccl_r_ != ncclSuccess) return nccl_fail(nccl_r_, #call, __FILE__, __LINE__); \
    } while (0)

void ST_GPU(coll_describe)(char *out, size_t size)
{
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess) {
        snprintf(out, size, ", NCCL (version unknown)");
        return;
    }
    /* Codes from 2.9 on are major * 10000 + minor * 100 + patch. */
    snprintf(out, size, ", NCCL %d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

st_status ST_GPU(coll_unique_id)(void *ctx, void *id)
{
    (void)ctx;
    ncclUniqueId u;
    NCCL_TRY(ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof u);
    return ST_OK;
}

st_status ST_GPU(coll_comm_create)(void *ctx, int dev, const void *id, int nranks, int rank, void **comm)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d); /* ncclCommInitRank binds the current device */
    if (s != ST_OK) return s;
    gpu_coll *g = (gpu_coll *)calloc(1, sizeof *g);
    if (!g) return ST_GPU(host)->set_error(ST_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "NCCL: communicator");
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclResult_t r = ncclCommInitRank(&g->nccl, nranks, u, rank);
    if (r != ncclSuccess) {
        free(g);
        return nccl_fail(r, "ncclCommInitRank", __FILE__, __LINE__);
    }
    g->dev = dev;
    *comm = g;
    return ST_OK;
}

void ST_GPU(coll_comm_destroy)(void *ctx, void *comm)
{
    (void)ctx;
    gpu_coll *g = (gpu_coll *)comm;
    if (!g) return;
    /* Finalize waits for the communicator's queued work, so Destroy frees nothing still in use. */
    if (cudaSetDevice(g->dev) == cudaSuccess) (void)ncclCommFinalize(g->nccl);
    (void)ncclCommDestroy(g->nccl);
    (void)cudaGetLastError();
    free(g);
}

static st_status nccl_type(const st_view *send, const st_view *recv, ncclDataType_t *out)
{
    if (send->dtype != recv->dtype)
        return ST_GPU(host)->set_error(ST_ERR_DTYPE, __FILE__, __LINE__, "NCCL: send has dtype %d, recv %d",
                                       (int)send->dtype, (int)recv->dtype);
    switch (send->dtype) {
    case ST_F32: *out = ncclFloat32; return ST_OK;
    case ST_BF16: *out = ncclBfloat16; return ST_OK;
    case ST_I32: *out = ncclInt32; return ST_OK;
    default:
        return ST_GPU(host)->set_error(ST_ERR_DTYPE, __FILE__, __LINE__,
                                       "NCCL: no collective for dtype %d (f32, bf16 and i32 only)",
                                       (int)send->dtype);
    }
}

static st_status nccl_op(st_reduce_op op, ncclRedOp_t *out)
{
    if (op != ST_REDUCE_SUM && op != ST_REDUCE_MAX)
        return ST_GPU(host)->set_error(ST_ERR_INVALID_ARG, __FILE__, __LINE__,
                                       "NCCL: reduce op %d is not SUM or MAX (the core divides for AVG)", (int)op);
    *out = op == ST_REDUCE_SUM ? ncclSum : ncclMax;
    return ST_OK;
}

/* Makes the communicator's device current and finds its stream and the operands' NCCL type. */
static st_status coll_enter(void *ctx, gpu_coll *g, const st_view *send, const st_view *recv,
                            cudaStream_t *stream, ncclDataType_t *type)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, g->dev, &d);
    if (s == ST_OK) s = nccl_type(send, recv, type);
    *stream = s == ST_OK ? d->stream : NULL;
    return s;
}

st_status ST_GPU(coll_all_reduce)(void *ctx, void *comm, const st_view *send, const st_view *recv, st_reduce_op op)
{
    gpu_coll *g = (gpu_coll *)comm;
    cudaStream_t st;
    ncclDataType_t ty = ncclFloat32;
    ncclRedOp_t red = ncclSum;
    st_status s = coll_enter(ctx, g, send, recv, &st, &ty);
    if (s == ST_OK) s = nccl_op(op, &red);
    if (s != ST_OK) return s;
    NCCL_TRY(ncclAllReduce(gpu_ptr(send), gpu_ptr(recv), (size_t)gpu_numel(recv), ty, red, g->nccl, st));
    return ST_OK;
}

st_status ST_GPU(coll_reduce_scatter)(void *ctx, void *comm, const st_view *send, const st_view *recv,
                                      st_reduce_op op)
{
    gpu_coll *g = (gpu_coll *)comm;
    cudaStream_t st;
    ncclDataType_t ty = ncclFloat32;
    ncclRedOp_t red = ncclSum;
    st_status s = coll_enter(ctx, g, send, recv, &st, &ty);
    if (s == ST_OK) s = nccl_op(op, &red);
    if (s != ST_OK) return s;
    NCCL_TRY(ncclReduceScatter(gpu_ptr(send), gpu_ptr(recv), (size_t)gpu_numel(recv), ty, red, g->nccl, st));
    return ST_OK;
}

st_status ST_GPU(coll_all_gather)(void *ctx, void *comm, const st_view *send, const st_view *recv)
{
    gpu_coll *g = (gpu_coll *)comm;
    cudaStream_t st;
    ncclDataType_t ty = ncclFloat32;
    st_status s = coll_enter(ctx, g, send, recv, &st, &ty);
    if (s != ST_OK) return s;
    NCCL_TRY(ncclAllGather(gpu_ptr(send), gpu_ptr(recv), (size_t)gpu_numel(send), ty, g->nccl, st));
    return ST_OK;
}

st_status ST_GPU(coll_broadcast)(void *ctx, void *comm, const st_view *send, const st_view *recv, int root)
{
    gpu_coll *g = (gpu_coll *)comm;
    cudaStream_t st;
    ncclDataType_t ty = ncclFloat32;
    st_status s = coll_enter(ctx, g, send, recv, &st, &ty);
    if (s != ST_OK) return s;
    NCCL_TRY(ncclBroadcast(gpu_ptr(send), gpu_ptr(recv), (size_t)gpu_numel(recv), ty, root, g->nccl, st));
    return ST_OK;
}
