/* OpenCL backend internals: per-device state, the kernel list (generated from the op table),
 * error translation, the program cache and kernel-launch helpers. Not a public header. */
#ifndef STRATA_CL_INTERNAL_H
#define STRATA_CL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <pthread.h>
#include "strata/backend_abi.h"

/* Every op has a kernel st_<name> in kernels_cl/; a few ops need a second kernel. */
typedef enum st_cl_kernel_id {
#define ST_CL_KID_(F, ID, name, ...) ST_CL_K_##ID,
    ST_OP_TABLE(ST_CL_KID_)
#undef ST_CL_KID_
    ST_CL_K_LAYERNORM_BACKWARD_WB,
    ST_CL_K_ATTENTION_BACKWARD_KV,
    ST_CL_K_MATMUL_F32_NN,
    ST_CL_K_COUNT
} st_cl_kernel_id;

typedef struct st_cl_device {
    cl_platform_id platform;
    cl_device_id id;
    cl_context ctx;
    cl_command_queue queue;
    pthread_mutex_t build_lock;   /* guards the one-time program build */
    pthread_mutex_t launch_lock;  /* kernel arguments are shared state: set + enqueue atomically */
    int build_state;              /* 0 not yet, 1 built, -1 the compiler failed (build_error) */
    char *build_error;
    cl_program prog;
    cl_kernel kernel[ST_CL_K_COUNT];
    size_t kwg[ST_CL_K_COUNT];    /* power-of-two work-group size usable with each kernel */
    char name[256], vendor[256], version[256], driver[256], platform_name[256];
    char pci[32];            /* PCI bus id, "" when the driver tells none */
    char platform_version[256], c_version[128], extra[1024];
    const char *type;
    cl_ulong mem_bytes, max_alloc;
    cl_uint compute_units;
    int fp64;
} st_cl_device;

typedef struct st_cl_backend {
    int count;
    st_cl_device *dev;
} st_cl_backend;

/* The host services, set once by init (plugins do not link against libstrata). */
extern const st_host_api *st_cl_host;
#define ST_CL_ERR(status, ...) st_cl_host->set_error((status), __FILE__, __LINE__, __VA_ARGS__)
#define ST_CL_TRY(expr)                             \
    do {                                            \
        st_status st_cl_try_ = (expr);              \
        if (st_cl_try_ != ST_OK) return st_cl_try_; \
    } while (0)

/* "CL_OUT_OF_RESOURCES" for an error code, "CL_UNKNOWN_ERROR(<n>)" for others (static buffer
 * per thread). */
const char *st_cl_error_name(cl_int err);
/* ST_OK for CL_SUCCESS, else ST_ERR_OUT_OF_MEMORY or ST_ERR_BACKEND with "<call>: <name>". */
st_status st_cl_fail(cl_int err, const char *file, int line, const char *call);
#define ST_CL_CHECK(err, call) ((err) == CL_SUCCESS ? ST_OK : st_cl_fail((err), __FILE__, __LINE__, (call)))

static inline st_cl_device *st_cl_dev(void *ctx, int dev) { return &((st_cl_backend *)ctx)->dev[dev]; }
static inline cl_mem st_cl_mem(const st_view *v) { return (cl_mem)v->buf; }

/* "st_<name>" of each kernel id. */
extern const char *const st_cl_kernel_names[ST_CL_K_COUNT];

/* Builds (or loads from the disk cache) the program of every kernel, once per device. */
st_status st_cl_program_ready(st_cl_device *d);
void st_cl_program_release(st_cl_device *d);
/* The embedded kernels_cl sources (generated at build time). */
extern const char *const st_cl_source_names[];
extern const char *const st_cl_source_texts[];
extern const int st_cl_source_count;

/* One kernel launch: begin() ensures the program and takes the launch lock, arg() records
 * arguments (the first failure is kept), run() enqueues and releases the lock. Between begin and
 * run nothing may return early. */
typedef struct st_cl_launch {
    st_cl_device *d;
    st_cl_kernel_id k;
    cl_uint n, bad;  /* arguments set so far; index of the first that failed */
    cl_int err;
} st_cl_launch;

st_status st_cl_begin(st_cl_device *d, st_cl_kernel_id k, st_cl_launch *l);
void st_cl_arg(st_cl_launch *l, size_t size, const void *value);
#define ST_CL_ARG(l, v) st_cl_arg((l), sizeof(v), &(v))
/* Buffer and element offset of a view, as the (mem, long) argument pair the kernels take. */
#define ST_CL_VIEW(l, v)                      \
    do {                                      \
        cl_mem m_ = st_cl_mem(v);             \
        cl_long o_ = (v)->offset;             \
        ST_CL_ARG((l), m_);                   \
        ST_CL_ARG((l), o_);                   \
    } while (0)
/* A __local float[count] argument. */
void st_cl_local_floats(st_cl_launch *l, size_t count);
/* Enqueues with `groups` work-groups of `local` work-items (1-D), or, with groups == 0, enough
 * groups of local items to cover `total` items (kernels check their bound). */
st_status st_cl_run(st_cl_launch *l, size_t groups, size_t local, size_t total);
/* Work-group size for a reduction over n items with kernel k: a power of two <= the kernel's. */
size_t st_cl_group_size(st_cl_device *d, st_cl_kernel_id k, int64_t n);

/* A strided op's views collapsed (cl_strided.c): views[0] is the output, all share its shape.
 * items: the work-items a strided kernel needs (ST_CHUNK elements each on the contiguous path). */
typedef struct st_cl_strided {
    cl_long4 n;
    cl_long8 v[ST_MAX_OP_IN + 1];
    cl_int flat;
    cl_long total;
} st_cl_strided;
void st_cl_collapse(const st_view *const *views, int nv, st_cl_strided *s);
size_t st_cl_strided_items(const st_cl_strided *s);

/* Elementwise helpers used by other ops: out = value on a contiguous range, and f32<->bf16. */
st_status st_cl_fill_range(st_cl_device *d, cl_mem buf, int64_t off, int64_t count, st_dtype dt,
                           float value);
st_status st_cl_cast_range(st_cl_device *d, cl_mem out, int64_t ooff, st_dtype odt, cl_mem in,
                           int64_t ioff, st_dtype idt, int64_t count);
/* A temporary device buffer (released by the caller; pending kernels keep it alive). */
st_status st_cl_temp(st_cl_device *d, size_t bytes, cl_mem *out);

int64_t st_cl_numel(const st_view *v);
/* Size of a view's last dim (1 for a scalar): the row length of the row-wise ops. */
static inline int64_t st_cl_last_dim(const st_view *v) { return v->ndim ? v->shape[v->ndim - 1] : 1; }

void st_cl_matmul_release(st_cl_device *d);

/* st_status st_cl_<name>(void *ctx, int dev, const st_op_call *c) for every op. */
#define ST_CL_DECL_(F, ID, name, ...) \
    st_status st_cl_##name(void *ctx, int dev, const st_op_call *c);
ST_OP_TABLE(ST_CL_DECL_)
#undef ST_CL_DECL_

#endif
