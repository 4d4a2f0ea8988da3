/* The backend plugin ABI: what a backend implements and how the core finds it.
 *
 * A plugin is a shared object named libstrata-<name>.so exporting exactly one symbol,
 * ST_PLUGIN_ENTRY_SYMBOL, of type st_plugin_entry_fn. It returns a pointer to a static
 * st_backend_iface whose first member is the ABI version it was built against; the core refuses
 * any other version before touching the rest. Every other symbol of a plugin is hidden
 * (-fvisibility=hidden plus a version script), so several vendors' plugins live in one process.
 *
 * Plugins do not link against libstrata: the core passes them an st_host_api with the services
 * they may use (error reporting). A backend never exits, aborts or prints.
 */
#ifndef STRATA_BACKEND_ABI_H
#define STRATA_BACKEND_ABI_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"
#include "strata/device.h"
#include "strata/tensor.h"
#include "strata/ops.h"
#include "strata/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any layout change; the op count is folded in so that adding an op to the table
 * (which grows the vtable) is a different ABI automatically. */
#define ST_BACKEND_ABI_BASE 6u /* 4: the params union; 5: st_device_props.pci_bus_id; 6: views of dtype i8 */
#define ST_BACKEND_ABI_VERSION ((ST_BACKEND_ABI_BASE << 16) | (uint32_t)ST_OP_COUNT)

#define ST_PLUGIN_ENTRY_SYMBOL "strata_backend_entry"
/* The largest bootstrap id a device-collective library may use (NCCL's and RCCL's are 128 bytes). */
#define ST_COLL_ID_MAX 1024

/* A tensor as a backend sees it: a buffer handle returned by alloc(), an element offset into it,
 * and the strided layout. Strides are in elements; 0 means broadcast. */
typedef struct st_view {
    void *buf;
    int64_t offset;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t stride[ST_MAX_DIMS];
} st_view;

/* One op call. For strided ops (op_table.h) every operand has the output's ndim and shape
 * (broadcasts already expanded to stride 0). For the others, operands are contiguous, shapes are
 * as the user gave them and have been checked by the core. Output views never overlap inputs
 * except an elementwise op's exact in-place use. `p` holds the op's params struct as the member
 * named after the op (c->p.matmul.alpha); ops sharing a params type read it through any of
 * their members. */
typedef struct st_op_call {
    st_op op;
    int n_in, n_out;
    st_view in[ST_MAX_OP_IN];
    st_view out[ST_MAX_OP_OUT];
    st_op_params p;
} st_op_call;

/* Services the core gives a plugin. */
typedef struct st_host_api {
    uint32_t abi_version;
    /* Records `status` with a printf-style message as the calling thread's error and returns
     * `status`, so a backend writes `return host->set_error(ST_ERR_BACKEND, __FILE__, __LINE__,
     * "clEnqueue...: %s", name);`. */
    st_status (*set_error)(st_status status, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 4, 5)))
#endif
        ;
} st_host_api;

/* What a backend reports after init. */
typedef struct st_backend_status {
    int device_count;
    char runtime[1024];    /* runtime and library versions, free text */
    char reason[512];      /* when device_count is 0: why ("no CUDA device: ...") */
} st_backend_status;

typedef st_status (*st_op_fn)(void *ctx, int dev, const st_op_call *call);

typedef struct st_backend_iface {
    uint32_t abi_version;  /* ST_BACKEND_ABI_VERSION; must stay the first member */
    uint32_t struct_size;  /* sizeof(st_backend_iface) */
    const char *name;
    int host_memory;       /* 1 when buffers are plain host pointers (cpu): the core then copies
                              to and from them directly */

    /* Starts the backend. A missing device is not an error: init succeeds with device_count 0
     * and a reason. A runtime that cannot start at all is (status + message). */
    st_status (*init)(const st_host_api *host, void **ctx, st_backend_status *status);
    void (*shutdown)(void *ctx);
    /* Strings in *out stay owned by the backend until shutdown. */
    st_status (*device_props)(void *ctx, int dev, st_device_props *out);

    /* Memory. alloc of 0 bytes returns a valid, unique handle. free(NULL) is a no-op. */
    st_status (*alloc)(void *ctx, int dev, size_t bytes, void **buf);
    void (*free)(void *ctx, int dev, void *buf);
    /* Host <-> device copies at a byte offset. write returns once src may be reused; read
     * returns once dst holds the data (after all queued work on the device). */
    st_status (*write)(void *ctx, int dev, void *buf, size_t offset, const void *src,
                       size_t bytes);
    st_status (*read)(void *ctx, int dev, const void *buf, size_t offset, void *dst,
                      size_t bytes);
    st_status (*sync)(void *ctx, int dev);

    /* One slot per op of the table, indexed by st_op. Every slot must be filled. */
    st_op_fn op[ST_OP_COUNT];

    /* Optional: collectives between devices of several processes (NCCL, RCCL), which st_comm
     * uses for this backend's tensors instead of staging them through host memory over MPI.
     * A backend fills all of these or none (coll_id_bytes 0, NULL pointers); the registry refuses
     * a partial set.
     *
     * Bootstrap (collective over the group): one member calls coll_get_unique_id, the core sends
     * the coll_id_bytes (<= ST_COLL_ID_MAX) bytes to the others, and every member calls
     * coll_comm_create with the group size and its rank in it. The handle is owned by the core
     * and given back to coll_comm_destroy (collective over the group too; NULL is a no-op).
     *
     * Operands are contiguous 1-D views on the communicator's device (buf from alloc(), element
     * offset, dtype f32, bf16 or i32, shape[0] the element count; send and recv of one dtype).
     * `op` is ST_REDUCE_SUM or ST_REDUCE_MAX: the core computes AVG as SUM and a division.
     * all_reduce: send and recv hold n elements. reduce_scatter: send holds nranks * n, recv n.
     * all_gather: send n, recv nranks * n (in rank order). broadcast: n each, from rank `root`.
     * In place as NCCL defines it: all_reduce send == recv; reduce_scatter recv at element
     * rank * n of send; all_gather send at element rank * n of recv; broadcast send == recv.
     * Every call is enqueued on the device's stream, ordered with the backend's ops and copies,
     * and returns without waiting for the data. Errors: a status with host->set_error (the
     * library's own message kept). */
    size_t coll_id_bytes;
    st_status (*coll_get_unique_id)(void *ctx, void *id);
    st_status (*coll_comm_create)(void *ctx, int dev, const void *id, int nranks, int rank, void **comm);
    void (*coll_comm_destroy)(void *ctx, void *comm);
    st_status (*coll_all_reduce)(void *ctx, void *comm, const st_view *send, const st_view *recv,
                                 st_reduce_op op);
    st_status (*coll_reduce_scatter)(void *ctx, void *comm, const st_view *send, const st_view *recv,
                                     st_reduce_op op);
    st_status (*coll_all_gather)(void *ctx, void *comm, const st_view *send, const st_view *recv);
    st_status (*coll_broadcast)(void *ctx, void *comm, const st_view *send, const st_view *recv, int root);
} st_backend_iface;

typedef const st_backend_iface *(*st_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
