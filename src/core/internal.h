/* Core-internal declarations shared by the files of src/core: the device and tensor structs behind the
 * public opaque handles, error helpers and the backend registry's internal entry points. */
#ifndef STRATA_INTERNAL_H
#define STRATA_INTERNAL_H

#include <stdarg.h>
#include "strata/strata.h"
#include "strata/backend_abi.h"

/* Records an error for the calling thread and returns the status. */
st_status st_set_error(st_status s, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ST_ERR(s, ...) st_set_error((s), __FILE__, __LINE__, __VA_ARGS__)
#define ST_TRY(expr)                         \
    do {                                     \
        st_status st_try_s_ = (expr);        \
        if (st_try_s_ != ST_OK) return st_try_s_; \
    } while (0)

extern const st_host_api st_host_services;

/* A loaded backend (built in or plugin). */
typedef struct st_backend {
    const st_backend_iface *iface;
    void *ctx;
    void *dl;                      /* dlopen handle, NULL for built-in */
    int tried, loaded;
    st_status fail;                /* status to report when not loaded (ST_ERR_ABI or UNAVAILABLE) */
    st_backend_status status;
    char path[4160];
    char reason[4096];
    struct st_device *devices;     /* device_count entries */
} st_backend;

struct st_device {
    st_backend *be;
    int index;
    char label[64];
    /* Tensor storage on the device (tensor.c), updated with __atomic builtins. */
    uint64_t mem_current, mem_peak, mem_allocations;
};

typedef struct st_storage {
    st_device *dev;
    void *buf;
    size_t bytes;
    int refs;
} st_storage;

struct st_tensor {
    st_storage *storage;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t stride[ST_MAX_DIMS];
    int64_t offset;
};

/* Registry (registry.c). st_backend_get loads backend i on first use; never NULL for a valid i. */
st_backend *st_backend_get(int i);
int st_backend_index(const char *name);
const char *st_backend_known_list(void);

/* The CPU backend's vtable, built into libstrata. */
const st_backend_iface *st_cpu_backend_iface(void);

/* Fills a backend view from a tensor. */
void st_view_of(const st_tensor *t, st_view *v);
/* A view of `t` broadcast to (ndim, shape): prepends dims and sets stride 0 where t has size 1.
 * ST_ERR_SHAPE when it does not broadcast. */
st_status st_view_broadcast(const st_tensor *t, int ndim, const int64_t *shape, st_view *v);
/* Runs an op on a device through its backend's slot. */
st_status st_dispatch(st_device *dev, st_op_call *call);
/* Allocates a new contiguous tensor like `t` (shape, dtype), optionally with another dtype
 * (dt >= 0), on t's device. */
st_status st_tensor_empty_like(const st_tensor *t, int dt, st_tensor **out);

#endif
