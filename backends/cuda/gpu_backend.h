/* Internals shared by the CUDA and the HIP plugin. The sources are written in the CUDA dialect:
 * nvcc builds libstrata-cuda.so from them, hipcc builds libstrata-hip.so through
 * kernels_hip/hip_compat.h. ST_GPU(x) gives every function a per-vendor name (st_cuda_x,
 * st_hip_x) so that the two plugins never share a symbol, hidden or not. Not a public header. */
#ifndef STRATA_GPU_BACKEND_H
#define STRATA_GPU_BACKEND_H

#if defined(__HIPCC__)
#include "hip_compat.h"
#define ST_GPU(x) st_hip_##x
#define ST_GPU_NAME "hip"
#else
#include <cuda_runtime.h>
#define ST_GPU_VENDOR "CUDA"
#define ST_GPU(x) st_cuda_##x
#define ST_GPU_NAME "cuda"
#define ST_WARP 32
#define ST_SHFL_XOR(v, lane, width) __shfl_xor_sync(0xffffffffu, (v), (lane), (width))
#endif

#include <pthread.h>
#include <stdint.h>
#include "strata/backend_abi.h"

/* A buffer handle as the core sees it. Device memory is reused through a per-device cache keyed
 * by size class, so the handle (not the device pointer) is what alloc() returns: a 0-byte
 * allocation is then still a unique handle. */
typedef struct gpu_block {
    void *ptr;
    size_t bytes;  /* the size class actually allocated */
    struct gpu_block *next;
} gpu_block;

#define GPU_SIZE_CLASSES 256
#define GPU_STAGE_BYTES ((size_t)8 << 20)

/* Per-device state, created on first use: every op and copy goes through one stream, so a
 * freed block can be handed out again at once (later work is ordered after earlier work). */
typedef struct gpu_device {
    int ready;
    cudaStream_t stream;
    void *blas;                      /* cublasHandle_t for CUDA, hipblasHandle_t for HIP with hipBLAS, else unused */
    gpu_block *cache[GPU_SIZE_CLASSES];
    size_t cached_bytes;
    void *stage[2];                  /* pinned host staging, double-buffered */
    cudaEvent_t stage_free[2];
    pthread_mutex_t io_lock;         /* one host copy at a time uses the staging buffers */
    char name[256], extra[512], pci[32];
} gpu_device;

typedef struct gpu_ctx {
    int count;
    gpu_device *dev;
    pthread_mutex_t lock;
    char driver[64];
} gpu_ctx;

extern const st_host_api *ST_GPU(host);

/* Records a vendor error with the failing call and the vendor's own string; allocation
 * failures map to ST_ERR_OUT_OF_MEMORY. */
st_status ST_GPU(fail)(cudaError_t e, const char *call, const char *file, int line);
#define GPU_TRY(call)                                                                   \
    do {                                                                                \
        cudaError_t gpu_e_ = (call);                                                    \
        if (gpu_e_ != cudaSuccess) return ST_GPU(fail)(gpu_e_, #call, __FILE__, __LINE__); \
    } while (0)
/* After a kernel launch: launch errors (bad configuration, no code for this arch) surface here. */
#define GPU_LAUNCHED(kernel) \
    do { \
        cudaError_t gpu_e_ = cudaGetLastError(); \
        if (gpu_e_ != cudaSuccess) return ST_GPU(fail)(gpu_e_, "launch of " kernel, __FILE__, __LINE__); \
    } while (0)

/* Makes `dev` current on the calling thread and creates its stream, staging buffers (and cuBLAS
 * handle) the first time. */
st_status ST_GPU(enter)(void *ctx, int dev, gpu_device **out);

/* Scratch device memory for an op, ordered on the device's stream like any buffer. */
st_status ST_GPU(scratch)(void *ctx, int dev, size_t bytes, gpu_block **out);
void ST_GPU(scratch_free)(void *ctx, int dev, gpu_block *b);

/* Memory slots of the vtable (gpu_memory.cu). */
st_status ST_GPU(mem_alloc)(void *ctx, int dev, size_t bytes, void **buf);
void ST_GPU(mem_free)(void *ctx, int dev, void *buf);
st_status ST_GPU(mem_write)(void *ctx, int dev, void *buf, size_t off, const void *src, size_t bytes);
st_status ST_GPU(mem_read)(void *ctx, int dev, const void *buf, size_t off, void *dst, size_t bytes);
st_status ST_GPU(mem_sync)(void *ctx, int dev);
/* Empties a device's cache back to the runtime (on allocation failure and at shutdown). */
void ST_GPU(cache_trim)(gpu_ctx *ctx, gpu_device *d);

/* The vendor BLAS (cuBLAS for CUDA; nothing for HIP, whose matmul is a kernel of its own):
 * per-device handle, and a version line for the runtime string. */
st_status ST_GPU(blas_start)(gpu_device *d);
void ST_GPU(blas_stop)(gpu_device *d);
void ST_GPU(blas_describe)(char *out, size_t size);

#if defined(STRATA_CUDA_HAVE_NCCL)
/* Device collectives through NCCL (gpu_coll.cu): the optional coll_* entries of the plugin ABI,
 * and a version line for the runtime string. Built only when CMake finds NCCL. */
#include <nccl.h>
#define GPU_COLL_ID_BYTES ((size_t)NCCL_UNIQUE_ID_BYTES)
st_status ST_GPU(coll_unique_id)(void *ctx, void *id);
st_status ST_GPU(coll_comm_create)(void *ctx, int dev, const void *id, int nranks, int rank, void **comm);
void ST_GPU(coll_comm_destroy)(void *ctx, void *comm);
st_status ST_GPU(coll_all_reduce)(void *ctx, void *comm, const st_view *send, const st_view *recv, st_reduce_op op);
st_status ST_GPU(coll_reduce_scatter)(void *ctx, void *comm, const st_view *send, const st_view *recv,
                                      st_reduce_op op);
st_status ST_GPU(coll_all_gather)(void *ctx, void *comm, const st_view *send, const st_view *recv);
st_status ST_GPU(coll_broadcast)(void *ctx, void *comm, const st_view *send, const st_view *recv, int root);
void ST_GPU(coll_describe)(char *out, size_t size);
#endif

/* One function per op of the table: st_cuda_fill, st_hip_attention_backward, ... */
#define ST_GPU_DECL_(F, ID, name, ...) \
    st_status ST_GPU(name)(void *ctx, int dev, const st_op_call *c);
ST_OP_TABLE(ST_GPU_DECL_)
#undef ST_GPU_DECL_

static inline size_t gpu_dtype_size(st_dtype dt) { return dt == ST_BF16 ? 2 : dt == ST_I8 ? 1 : 4; }

/* Device address of a view's first element. */
static inline void *gpu_ptr(const st_view *v)
{
    return (char *)((gpu_block *)v->buf)->ptr + v->offset * (int64_t)gpu_dtype_size(v->dtype);
}

static inline int64_t gpu_numel(const st_view *v)
{
    int64_t n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->shape[i];
    return n;
}

#endif
