/* The GPU backend's life cycle and vtable, shared by the CUDA and HIP plugins: start-up and
 * device enumeration (a missing driver or device is reported, not an error), device
 * properties, per-device lazy set-up, and the one exported entry point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gpu_backend.h"

const st_host_api *ST_GPU(host);

st_status ST_GPU(fail)(cudaError_t e, const char *call, const char *file, int line)
{
    st_status s = e == cudaErrorMemoryAllocation ? ST_ERR_OUT_OF_MEMORY : ST_ERR_BACKEND;
    /* Clears the runtime's sticky "last error" so the next launch check sees only its own. */
    (void)cudaGetLastError();
#if defined(__HIPCC__)
    /* The shared sources spell calls the CUDA way; name the HIP call that actually failed. */
    const char *prefix = strncmp(call, "cuda", 4) == 0 ? "hip" : "";
    call += *prefix ? 4 : 0;
#else
    const char *prefix = "";
#endif
    return ST_GPU(host)->set_error(s, file, line, "%s: %s%s failed: %s (%s)", ST_GPU_VENDOR, prefix, call,
                                   cudaGetErrorString(e), cudaGetErrorName(e));
}

static void version_text(char *out, size_t size, const char *what, int v)
{
#if defined(__HIPCC__)
    /* HIP encodes major * 10^7 + minor * 10^5 + patch. */
    snprintf(out, size, "%s %d.%d.%d", what, v / 10000000, v / 100000 % 100, v % 100000);
#else
    snprintf(out, size, "%s %d.%d", what, v / 1000, v % 1000 / 10);
#endif
}

static st_status gpu_init(const st_host_api *host, void **out, st_backend_status *status)
{
    ST_GPU(host) = host;
    gpu_ctx *ctx = (gpu_ctx *)calloc(1, sizeof *ctx);
    if (!ctx) return host->set_error(ST_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "%s: context", ST_GPU_NAME);
    pthread_mutex_init(&ctx->lock, NULL);
    int rt = 0, drv = 0, n = 0;
    char rts[64], blas[64], coll[64] = "";
    (void)cudaRuntimeGetVersion(&rt);
    if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0) snprintf(ctx->driver, sizeof ctx->driver, "no driver");
    else version_text(ctx->driver, sizeof ctx->driver, "driver", drv);
    version_text(rts, sizeof rts, ST_GPU_VENDOR " runtime", rt);
    ST_GPU(blas_describe)(blas, sizeof blas);
#if defined(STRATA_CUDA_HAVE_NCCL)
    ST_GPU(coll_describe)(coll, sizeof coll);
#endif
    snprintf(status->runtime, sizeof status->runtime, "%s, %s, %s%s", rts, ctx->driver, blas, coll);

    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        n = 0;
        if (e != cudaSuccess)
            snprintf(status->reason, sizeof status->reason, "no %s device: %s (%s from %sGetDeviceCount; %s)",
                     ST_GPU_VENDOR, cudaGetErrorString(e), cudaGetErrorName(e), ST_GPU_NAME, ctx->driver);
        else
            snprintf(status->reason, sizeof status->reason, "no %s device: the runtime found none (%s)",
                     ST_GPU_VENDOR, ctx->driver);
        (void)cudaGetLastError();
    }
    ctx->dev = n ? (gpu_device *)calloc((size_t)n, sizeof *ctx->dev) : NULL;
    if (n && !ctx->dev) {
        free(ctx);
        return host->set_error(ST_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "%s: device table", ST_GPU_NAME);
    }
    for (int i = 0; i < n; i++) pthread_mutex_init(&ctx->dev[i].io_lock, NULL);
    ctx->count = n;
    status->device_count = n;
    *out = ctx;
    return ST_OK;
}

static void device_stop(gpu_ctx *ctx, gpu_device *d)
{
    ST_GPU(cache_trim)(ctx, d);
    ST_GPU(blas_stop)(d);
    for (int k = 0; k < 2; k++) {
        if (d->stage[k]) (void)cudaFreeHost(d->stage[k]);
        if (d->stage_free[k]) (void)cudaEventDestroy(d->stage_free[k]);
        d->stage[k] = NULL;
        d->stage_free[k] = NULL;
    }
    if (d->stream) (void)cudaStreamDestroy(d->stream);
    d->stream = NULL;
    (void)cudaGetLastError();
}

static st_status device_start(gpu_ctx *ctx, gpu_device *d)
{
    st_status s = ST_OK;
    cudaError_t e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
    const char *call = "cudaStreamCreateWithFlags";
    for (int k = 0; k < 2 && e == cudaSuccess; k++) {
        call = "cudaMallocHost (staging)";
        e = cudaMallocHost(&d->stage[k], GPU_STAGE_BYTES);
        if (e == cudaSuccess) {
            call = "cudaEventCreateWithFlags";
            e = cudaEventCreateWithFlags(&d->stage_free[k], cudaEventDisableTiming);
        }
    }
    if (e != cudaSuccess) s = ST_GPU(fail)(e, call, __FILE__, __LINE__);
    if (s == ST_OK) s = ST_GPU(blas_start)(d);
    if (s != ST_OK) device_stop(ctx, d);
    else __atomic_store_n(&d->ready, 1, __ATOMIC_RELEASE);
    return s;
}

st_status ST_GPU(enter)(void *vctx, int dev, gpu_device **out)
{
    gpu_ctx *ctx = (gpu_ctx *)vctx;
    if (!ctx || dev < 0 || dev >= ctx->count)
        return ST_GPU(host)->set_error(ST_ERR_NO_DEVICE, __FILE__, __LINE__, "%s: no device %d (%d present)",
                                       ST_GPU_NAME, dev, ctx ? ctx->count : 0);
    GPU_TRY(cudaSetDevice(dev));
    gpu_device *d = &ctx->dev[dev];
    st_status s = ST_OK;
    if (!__atomic_load_n(&d->ready, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&ctx->lock);
        if (!d->ready) s = device_start(ctx, d);
        pthread_mutex_unlock(&ctx->lock);
    }
    *out = d;
    return s;
}

static void gpu_shutdown(void *vctx)
{
    gpu_ctx *ctx = (gpu_ctx *)vctx;
    if (!ctx) return;
    for (int i = 0; i < ctx->count; i++) {
        if (!ctx->dev[i].ready || cudaSetDevice(i) != cudaSuccess) continue;
        (void)cudaStreamSynchronize(ctx->dev[i].stream);
        device_stop(ctx, &ctx->dev[i]);
        pthread_mutex_destroy(&ctx->dev[i].io_lock);
    }
    pthread_mutex_destroy(&ctx->lock);
    free(ctx->dev);
    free(ctx);
}

/* f32 FLOPs per clock per SM/CU (an FMA counts two): NVIDIA by compute capability (A100 64
 * lanes, later parts 128); AMD 128, which gives the vendor's vector-f32 peak of MI250X and
 * MI300X. 0 when not known. */
static double flops_per_clock(const cudaDeviceProp *p)
{
#if defined(__HIPCC__)
    (void)p;
    return 128.0;
#else
    if (p->major == 8 && p->minor == 0) return 128.0;
    if (p->major >= 8) return 256.0;
    return p->major == 7 ? 128.0 : 0.0;
#endif
}

static st_status gpu_props(void *vctx, int dev, st_device_props *out)
{
    gpu_ctx *ctx = (gpu_ctx *)vctx;
    if (!ctx || dev < 0 || dev >= ctx->count)
        return ST_GPU(host)->set_error(ST_ERR_NO_DEVICE, __FILE__, __LINE__, "%s: no device %d", ST_GPU_NAME, dev);
    gpu_device *d = &ctx->dev[dev];
    cudaDeviceProp p;
    int clock_khz = 0, mem_khz = 0;
    GPU_TRY(cudaGetDeviceProperties(&p, dev));
    (void)cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev);
    (void)cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev);
    (void)cudaDeviceGetPCIBusId(d->pci, (int)sizeof d->pci, dev);
    (void)cudaGetLastError();
    snprintf(d->name, sizeof d->name, "%s", p.name);
#if defined(__HIPCC__)
    snprintf(d->extra, sizeof d->extra, "%s, wavefront %d, PCI %s, %d KiB LDS per block", p.gcnArchName,
             p.warpSize, d->pci, (int)(p.sharedMemPerBlock / 1024));
    out->vendor = "AMD";
#else
    snprintf(d->extra, sizeof d->extra, "sm_%d%d, warp %d, PCI %s, %d KiB shared per block", p.major, p.minor,
             p.warpSize, d->pci, (int)(p.sharedMemPerBlock / 1024));
    out->vendor = "NVIDIA";
#endif
    out->name = d->name;
    out->type = "gpu";
    out->driver = ctx->driver;
    out->memory_bytes = (uint64_t)p.totalGlobalMem;
    out->compute_units = p.multiProcessorCount;
    out->peak_gflops_f32 = p.multiProcessorCount * flops_per_clock(&p) * clock_khz * 1e-6;
    /* Double data rate: two transfers per memory clock over the bus width. */
    out->peak_gbps = 2.0 * mem_khz * 1e3 * (p.memoryBusWidth / 8.0) * 1e-9;
    out->extra = d->extra;
    out->pci_bus_id = d->pci[0] ? d->pci : NULL; /* "0000:3B:00.0"; st_topo matches it to hwloc's */
    return ST_OK;
}

static const st_backend_iface gpu_iface = {
    ST_BACKEND_ABI_VERSION,
    (uint32_t)sizeof(st_backend_iface),
    ST_GPU_NAME,
    0,
    gpu_init,
    gpu_shutdown,
    gpu_props,
    ST_GPU(mem_alloc),
    ST_GPU(mem_free),
    ST_GPU(mem_write),
    ST_GPU(mem_read),
    ST_GPU(mem_sync),
    /* Positional: the table's order is the st_op enum's order (both come from ST_OP_TABLE). */
    {
#define ST_GPU_SLOT_(F, ID, name, ...) ST_GPU(name),
        ST_OP_TABLE(ST_GPU_SLOT_)
#undef ST_GPU_SLOT_
    },
#if defined(STRATA_CUDA_HAVE_NCCL)
    GPU_COLL_ID_BYTES,
    ST_GPU(coll_unique_id),
    ST_GPU(coll_comm_create),
    ST_GPU(coll_comm_destroy),
    ST_GPU(coll_all_reduce),
    ST_GPU(coll_reduce_scatter),
    ST_GPU(coll_all_gather),
    ST_GPU(coll_broadcast),
#endif
};

extern "C" __attribute__((visibility("default"))) const st_backend_iface *strata_backend_entry(void)
{
    return &gpu_iface;
}
