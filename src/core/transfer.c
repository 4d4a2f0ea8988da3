/* Data movement: host <-> device, device <-> device (same or different backend), contiguity,
 * and host-side bf16 conversion. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

uint16_t st_f32_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float st_bf16_to_f32(uint16_t x)
{
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static size_t tensor_bytes(const st_tensor *t)
{
    return (size_t)st_tensor_numel(t) * st_dtype_size(t->dtype);
}

static const st_backend_iface *be_of(const st_tensor *t) { return t->storage->dev->be->iface; }
static void *ctx_of(const st_tensor *t) { return t->storage->dev->be->ctx; }
static int dev_of(const st_tensor *t) { return t->storage->dev->index; }

st_status st_tensor_contiguous(const st_tensor *t, st_tensor **out)
{
    if (!t || !out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor or out");
    if (st_tensor_is_contiguous(t)) return st_tensor_ref(t, out);
    return st_tensor_to(t, NULL, out);
}

st_status st_tensor_write(st_tensor *t, const void *src, size_t bytes)
{
    if (!t || (!src && bytes)) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor or source");
    if (bytes != tensor_bytes(t))
        return ST_ERR(ST_ERR_SHAPE, "write of %zu bytes into a tensor of %zu bytes", bytes, tensor_bytes(t));
    if (bytes == 0) return ST_OK;
    if (st_tensor_is_contiguous(t))
        return be_of(t)->write(ctx_of(t), dev_of(t), t->storage->buf,
                               (size_t)t->offset * st_dtype_size(t->dtype), src, bytes);
    st_tensor *tmp = NULL;
    st_status s = st_tensor_empty_like(t, -1, &tmp);
    if (s == ST_OK) s = st_tensor_write(tmp, src, bytes);
    if (s == ST_OK) s = st_copy(t, tmp);
    st_tensor_destroy(tmp);
    return s;
}

st_status st_tensor_read(const st_tensor *t, void *dst, size_t bytes)
{
    if (!t || (!dst && bytes)) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor or destination");
    if (bytes != tensor_bytes(t))
        return ST_ERR(ST_ERR_SHAPE, "read of %zu bytes from a tensor of %zu bytes", bytes, tensor_bytes(t));
    if (bytes == 0) return ST_OK;
    if (st_tensor_is_contiguous(t))
        return be_of(t)->read(ctx_of(t), dev_of(t), t->storage->buf,
                              (size_t)t->offset * st_dtype_size(t->dtype), dst, bytes);
    st_tensor *tmp = NULL;
    st_status s = st_tensor_to(t, NULL, &tmp);
    if (s == ST_OK) s = st_tensor_read(tmp, dst, bytes);
    st_tensor_destroy(tmp);
    return s;
}

st_status st_tensor_copy(st_tensor *dst, const st_tensor *src)
{
    if (!dst || !src) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor");
    if (dst->storage->dev == src->storage->dev) return st_copy(dst, src);
    if (dst->dtype != src->dtype)
        return ST_ERR(ST_ERR_DTYPE, "copy from %s to %s: cast on one device first",
                      st_dtype_name(src->dtype), st_dtype_name(dst->dtype));
    if (dst->ndim != src->ndim || memcmp(dst->shape, src->shape, sizeof(int64_t) * (size_t)src->ndim))
        return ST_ERR(ST_ERR_SHAPE, "copy between tensors of different shapes");
    size_t bytes = tensor_bytes(src);
    if (bytes == 0) return ST_OK;
    /* Cross-device: stage through host memory. A contiguous cpu tensor is its own staging. */
    st_tensor *csrc = NULL;
    ST_TRY(st_tensor_contiguous(src, &csrc));
    st_status s;
    if (be_of(dst)->host_memory && st_tensor_is_contiguous(dst)) {
        char *p = (char *)dst->storage->buf + (size_t)dst->offset * st_dtype_size(dst->dtype);
        s = st_tensor_read(csrc, p, bytes);
    } else if (be_of(csrc)->host_memory) {
        const char *p = (const char *)csrc->storage->buf + (size_t)csrc->offset * st_dtype_size(csrc->dtype);
        s = st_tensor_write(dst, p, bytes);
    } else {
        void *stage = malloc(bytes);
        s = stage ? st_tensor_read(csrc, stage, bytes)
                  : ST_ERR(ST_ERR_OUT_OF_MEMORY, "host staging buffer of %zu bytes", bytes);
        if (s == ST_OK) s = st_tensor_write(dst, stage, bytes);
        free(stage);
    }
    st_tensor_destroy(csrc);
    return s;
}

st_status st_tensor_to(const st_tensor *t, st_device *dev, st_tensor **out)
{
    if (!t || !out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor or out");
    st_tensor *r = NULL;
    ST_TRY(st_tensor_create(dev ? dev : t->storage->dev, t->dtype, t->ndim, t->shape, &r));
    st_status s = st_tensor_copy(r, t);
    if (s != ST_OK) {
        st_tensor_destroy(r);
        return s;
    }
    *out = r;
    return ST_OK;
}
