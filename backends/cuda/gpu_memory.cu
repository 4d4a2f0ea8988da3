/* Device memory for the GPU plugins: a caching allocator (freed blocks are kept per size class
 * and reused, since cudaMalloc/cudaFree synchronise the device and cost tens of microseconds),
 * and host copies through double-buffered pinned staging, all ordered on the device's stream. */
#include <stdlib.h>
#include <string.h>
#include "gpu_backend.h"

/* Size classes: 512 bytes and below share one; above, four classes per power of two, so a
 * block wastes at most a quarter of its size. */
static int size_class(size_t bytes, size_t *rounded)
{
    if (bytes <= 512) {
        *rounded = 512;
        return 0;
    }
    int p = 63 - __builtin_clzll((unsigned long long)(bytes - 1));
    size_t base = (size_t)1 << p, step = base >> 2;
    size_t q = (bytes - base + step - 1) / step;
    *rounded = base + q * step;
    return (p - 9) * 4 + (int)q;
}

void ST_GPU(cache_trim)(gpu_ctx *ctx, gpu_device *d)
{
    pthread_mutex_lock(&ctx->lock);
    for (int c = 0; c < GPU_SIZE_CLASSES; c++) {
        while (d->cache[c]) {
            gpu_block *b = d->cache[c];
            d->cache[c] = b->next;
            (void)cudaFree(b->ptr);
            free(b);
        }
    }
    d->cached_bytes = 0;
    pthread_mutex_unlock(&ctx->lock);
}

static gpu_block *cache_take(gpu_ctx *ctx, gpu_device *d, int c)
{
    pthread_mutex_lock(&ctx->lock);
    gpu_block *b = d->cache[c];
    if (b) {
        d->cache[c] = b->next;
        d->cached_bytes -= b->bytes;
    }
    pthread_mutex_unlock(&ctx->lock);
    return b;
}

st_status ST_GPU(mem_alloc)(void *vctx, int dev, size_t bytes, void **buf)
{
    gpu_ctx *ctx = (gpu_ctx *)vctx;
    gpu_device *d;
    st_status s = ST_GPU(enter)(vctx, dev, &d);
    if (s != ST_OK) return s;
    size_t rounded;
    int c = size_class(bytes, &rounded);
    gpu_block *b = bytes ? cache_take(ctx, d, c) : NULL;
    if (!b) {
        b = (gpu_block *)calloc(1, sizeof *b);
        if (!b) return ST_GPU(host)->set_error(ST_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "%s: handle", ST_GPU_NAME);
        cudaError_t e = bytes ? cudaMalloc(&b->ptr, rounded) : cudaSuccess;
        if (e == cudaErrorMemoryAllocation) {
            /* Cached blocks of other sizes may be what stands in the way. */
            (void)cudaGetLastError();
            ST_GPU(cache_trim)(ctx, d);
            e = cudaMalloc(&b->ptr, rounded);
        }
        if (e != cudaSuccess) {
            free(b);
            (void)cudaGetLastError();
            return ST_GPU(host)->set_error(e == cudaErrorMemoryAllocation ? ST_ERR_OUT_OF_MEMORY : ST_ERR_BACKEND,
                                           __FILE__, __LINE__, "%s: cudaMalloc of %zu bytes on device %d failed: %s (%s)",
                                           ST_GPU_VENDOR, rounded, dev, cudaGetErrorString(e), cudaGetErrorName(e));
        }
        b->bytes = bytes ? rounded : 0;
    }
    *buf = b;
    return ST_OK;
}

void ST_GPU(mem_free)(void *vctx, int dev, void *buf)
{
    gpu_ctx *ctx = (gpu_ctx *)vctx;
    gpu_block *b = (gpu_block *)buf;
    if (!b) return;
    if (!b->bytes || !ctx || dev < 0 || dev >= ctx->count) {
        free(b);
        return;
    }
    size_t rounded;
    int c = size_class(b->bytes, &rounded);
    gpu_device *d = &ctx->dev[dev];
    pthread_mutex_lock(&ctx->lock);
    b->next = d->cache[c];
    d->cache[c] = b;
    d->cached_bytes += b->bytes;
    pthread_mutex_unlock(&ctx->lock);
}

st_status ST_GPU(scratch)(void *ctx, int dev, size_t bytes, gpu_block **out)
{
    return ST_GPU(mem_alloc)(ctx, dev, bytes, (void **)out);
}

void ST_GPU(scratch_free)(void *ctx, int dev, gpu_block *b) { ST_GPU(mem_free)(ctx, dev, b); }

/* The host copy into a staging buffer returns as soon as it is done, so `src` is reusable when
 * write() returns while the device copy is still in flight; the event guards the buffer's reuse. */
static st_status staged_write(gpu_device *d, char *dst, const char *src, size_t bytes)
{
    for (size_t done = 0, k = 0; done < bytes; k ^= 1) {
        size_t n = bytes - done < GPU_STAGE_BYTES ? bytes - done : GPU_STAGE_BYTES;
        GPU_TRY(cudaEventSynchronize(d->stage_free[k]));
        memcpy(d->stage[k], src + done, n);
        GPU_TRY(cudaMemcpyAsync(dst + done, d->stage[k], n, cudaMemcpyHostToDevice, d->stream));
        GPU_TRY(cudaEventRecord(d->stage_free[k], d->stream));
        done += n;
    }
    return ST_OK;
}

st_status ST_GPU(mem_write)(void *vctx, int dev, void *buf, size_t off, const void *src, size_t bytes)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(vctx, dev, &d);
    if (s != ST_OK || !bytes) return s;
    pthread_mutex_lock(&d->io_lock);
    s = staged_write(d, (char *)((gpu_block *)buf)->ptr + off, (const char *)src, bytes);
    pthread_mutex_unlock(&d->io_lock);
    return s;
}

static st_status stage_in(gpu_device *d, const char *src, size_t bytes, size_t chunk)
{
    size_t at = chunk * GPU_STAGE_BYTES, n = bytes - at < GPU_STAGE_BYTES ? bytes - at : GPU_STAGE_BYTES;
    GPU_TRY(cudaMemcpyAsync(d->stage[chunk & 1], src + at, n, cudaMemcpyDeviceToHost, d->stream));
    GPU_TRY(cudaEventRecord(d->stage_free[chunk & 1], d->stream));
    return ST_OK;
}

/* Chunk c+1 is in flight on the device while the host copies chunk c out of the other buffer. */
static st_status staged_read(gpu_device *d, char *dst, const char *src, size_t bytes)
{
    size_t chunks = (bytes + GPU_STAGE_BYTES - 1) / GPU_STAGE_BYTES;
    st_status s = stage_in(d, src, bytes, 0);
    for (size_t c = 0; c < chunks && s == ST_OK; c++) {
        if (c + 1 < chunks) s = stage_in(d, src, bytes, c + 1);
        if (s != ST_OK) break;
        cudaError_t e = cudaEventSynchronize(d->stage_free[c & 1]);
        if (e != cudaSuccess) return ST_GPU(fail)(e, "cudaEventSynchronize (read)", __FILE__, __LINE__);
        size_t at = c * GPU_STAGE_BYTES;
        memcpy(dst + at, d->stage[c & 1], bytes - at < GPU_STAGE_BYTES ? bytes - at : GPU_STAGE_BYTES);
    }
    return s;
}

st_status ST_GPU(mem_read)(void *vctx, int dev, const void *buf, size_t off, void *dst, size_t bytes)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(vctx, dev, &d);
    if (s != ST_OK || !bytes) return s;
    pthread_mutex_lock(&d->io_lock);
    s = staged_read(d, (char *)dst, (const char *)((const gpu_block *)buf)->ptr + off, bytes);
    pthread_mutex_unlock(&d->io_lock);
    return s;
}

st_status ST_GPU(mem_sync)(void *vctx, int dev)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(vctx, dev, &d);
    if (s != ST_OK) return s;
    GPU_TRY(cudaStreamSynchronize(d->stream));
    return ST_OK;
}
