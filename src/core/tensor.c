/* Tensors: storage lifetime, accessors and copy-free views. Data movement is in transfer.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static void memory_account(st_device *dev, int64_t delta);

size_t st_dtype_size(st_dtype dt)
{
    switch (dt) {
    case ST_F32: return 4;
    case ST_BF16: return 2;
    case ST_I32: return 4;
    case ST_I8: return 1;
    default: return 0;
    }
}

const char *st_dtype_name(st_dtype dt)
{
    switch (dt) {
    case ST_F32: return "f32";
    case ST_BF16: return "bf16";
    case ST_I32: return "i32";
    case ST_I8: return "i8";
    default: return "?";
    }
}

static void set_contiguous_strides(st_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
}

st_status st_tensor_create(st_device *dev, st_dtype dt, int ndim, const int64_t *shape,
                           st_tensor **out)
{
    if (!dev || !out || (ndim > 0 && !shape))
        return ST_ERR(ST_ERR_INVALID_ARG, "NULL device, shape or out");
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return ST_ERR(ST_ERR_INVALID_ARG, "ndim %d out of range [0, %d]", ndim, ST_MAX_DIMS);
    if (st_dtype_size(dt) == 0) return ST_ERR(ST_ERR_DTYPE, "invalid dtype %d", (int)dt);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return ST_ERR(ST_ERR_INVALID_ARG, "negative size %lld in dim %d", (long long)shape[i], i);
        if (shape[i] && numel > (UINT64_MAX / 8) / (uint64_t)shape[i])
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "tensor size overflows 64 bits");
        numel *= (uint64_t)shape[i];
    }
    uint64_t bytes = numel * st_dtype_size(dt);
    if (bytes > (uint64_t)SIZE_MAX) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "%llu bytes exceed the address space", (unsigned long long)bytes);
    st_tensor *t = calloc(1, sizeof *t);
    st_storage *s = calloc(1, sizeof *s);
    if (!t || !s) {
        free(t);
        free(s);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "host allocation of a tensor handle failed");
    }
    st_status st = dev->be->iface->alloc(dev->be->ctx, dev->index, (size_t)bytes, &s->buf);
    if (st != ST_OK) {
        free(t);
        free(s);
        return st;
    }
    s->dev = dev;
    s->bytes = (size_t)bytes;
    s->refs = 1;
    memory_account(dev, (int64_t)bytes);
    t->storage = s;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    set_contiguous_strides(t);
    *out = t;
    return ST_OK;
}

/* Keeps the device's current and peak tensor bytes (st_device_memory_get). */
static void memory_account(st_device *dev, int64_t delta)
{
    uint64_t now = __atomic_add_fetch(&dev->mem_current, (uint64_t)delta, __ATOMIC_RELAXED);
    __atomic_add_fetch(&dev->mem_allocations, delta > 0 ? 1 : (uint64_t)-1, __ATOMIC_RELAXED);
    uint64_t peak = __atomic_load_n(&dev->mem_peak, __ATOMIC_RELAXED);
    while (now > peak &&
           !__atomic_compare_exchange_n(&dev->mem_peak, &peak, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

st_status st_device_memory_get(const st_device *dev, st_device_memory *out)
{
    if (!dev || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_device_memory_get: NULL argument");
    out->current = __atomic_load_n(&dev->mem_current, __ATOMIC_RELAXED);
    out->peak = __atomic_load_n(&dev->mem_peak, __ATOMIC_RELAXED);
    out->allocations = __atomic_load_n(&dev->mem_allocations, __ATOMIC_RELAXED);
    return ST_OK;
}

void st_device_memory_reset_peak(st_device *dev)
{
    if (dev)
        __atomic_store_n(&dev->mem_peak, __atomic_load_n(&dev->mem_current, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
}

void st_tensor_destroy(st_tensor *t)
{
    if (!t) return;
    st_storage *s = t->storage;
    if (--s->refs == 0) {
        s->dev->be->iface->free(s->dev->be->ctx, s->dev->index, s->buf);
        memory_account(s->dev, -(int64_t)s->bytes);
        free(s);
    }
    free(t);
}

static st_status clone_handle(const st_tensor *t, st_tensor **out)
{
    st_tensor *c = malloc(sizeof *c);
    if (!c) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "host allocation of a view handle failed");
    *c = *t;
    c->storage->refs++;
    *out = c;
    return ST_OK;
}

st_status st_tensor_ref(const st_tensor *t, st_tensor **out)
{
    if (!t || !out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor or out");
    return clone_handle(t, out);
}

int st_tensor_ndim(const st_tensor *t) { return t ? t->ndim : 0; }

static int norm_axis(const st_tensor *t, int axis)
{
    if (axis < 0) axis += t->ndim;
    return (axis < 0 || axis >= t->ndim) ? -1 : axis;
}

int64_t st_tensor_dim(const st_tensor *t, int axis)
{
    if (!t || (axis = norm_axis(t, axis)) < 0) return 0;
    return t->shape[axis];
}

int64_t st_tensor_stride(const st_tensor *t, int axis)
{
    if (!t || (axis = norm_axis(t, axis)) < 0) return 0;
    return t->stride[axis];
}

int64_t st_tensor_numel(const st_tensor *t)
{
    if (!t) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

st_dtype st_tensor_dtype(const st_tensor *t) { return t ? t->dtype : ST_F32; }

st_device *st_tensor_device(const st_tensor *t) { return t ? t->storage->dev : NULL; }

int st_tensor_is_contiguous(const st_tensor *t)
{
    if (!t) return 0;
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

st_status st_tensor_slice(const st_tensor *t, int axis, int64_t start, int64_t len, int64_t step,
                          st_tensor **out)
{
    if (!t || !out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor or out");
    int a = norm_axis(t, axis);
    if (a < 0) return ST_ERR(ST_ERR_INVALID_ARG, "axis %d out of range for %d dims", axis, t->ndim);
    if (step < 1 || start < 0 || len < 0 || (len > 0 && start + (len - 1) * step >= t->shape[a]) ||
        start > t->shape[a])
        return ST_ERR(ST_ERR_SHAPE, "slice start %lld len %lld step %lld outside dim %d of size %lld",
                      (long long)start, (long long)len, (long long)step, a, (long long)t->shape[a]);
    ST_TRY(clone_handle(t, out));
    (*out)->offset += start * t->stride[a];
    (*out)->shape[a] = len;
    (*out)->stride[a] = t->stride[a] * step;
    return ST_OK;
}

st_status st_tensor_transpose(const st_tensor *t, int axis0, int axis1, st_tensor **out)
{
    if (!t || !out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL tensor or out");
    int a = norm_axis(t, axis0), b = norm_axis(t, axis1);
    if (a < 0 || b < 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "axes %d, %d out of range for %d dims", axis0, axis1, t->ndim);
    ST_TRY(clone_handle(t, out));
    st_tensor *r = *out;
    int64_t sh = r->shape[a], st = r->stride[a];
    r->shape[a] = r->shape[b];
    r->stride[a] = r->stride[b];
    r->shape[b] = sh;
    r->stride[b] = st;
    return ST_OK;
}

/* Strides for a reshape without copy (numpy's attempt_nocopy_reshape): groups of old dims that
 * multiply to groups of new dims must be contiguous among themselves. */
static int reshape_strides(const st_tensor *t, int nd, const int64_t *shape, int64_t *stride)
{
    int oi = 0, oj = 1, ni = 0, nj = 1;
    int on = 0;
    int64_t os[ST_MAX_DIMS], ost[ST_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != 1) {
            os[on] = t->shape[i];
            ost[on++] = t->stride[i];
        }
    for (int i = 0; i < nd; i++) stride[i] = 0;
    while (ni < nd && oi < on) {
        int64_t np = shape[ni], op = os[oi];
        while (np != op) {
            if (np < op) np *= shape[nj++];
            else op *= os[oj++];
        }
        for (int k = oi; k < oj - 1; k++)
            if (ost[k] != os[k + 1] * ost[k + 1]) return 0;
        stride[nj - 1] = ost[oj - 1];
        for (int k = nj - 1; k > ni; k--) stride[k - 1] = stride[k] * shape[k];
        ni = nj++;
        oi = oj++;
    }
    for (int i = ni; i < nd; i++) stride[i] = 1; /* trailing size-1 dims */
    return 1;
}

st_status st_tensor_reshape(const st_tensor *t, int ndim, const int64_t *shape, st_tensor **out)
{
    if (!t || !out || (ndim > 0 && !shape)) return ST_ERR(ST_ERR_INVALID_ARG, "NULL argument");
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return ST_ERR(ST_ERR_INVALID_ARG, "ndim %d out of range [0, %d]", ndim, ST_MAX_DIMS);
    int64_t sh[ST_MAX_DIMS], known = 1, numel = st_tensor_numel(t);
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (sh[i] == -1 && infer < 0) infer = i;
        else if (sh[i] < 0) return ST_ERR(ST_ERR_SHAPE, "bad size %lld in reshape", (long long)sh[i]);
        else known *= sh[i];
    }
    if (infer >= 0) {
        if (known == 0 || numel % known) return ST_ERR(ST_ERR_SHAPE, "cannot infer dim %d: %lld elements", infer, (long long)numel);
        sh[infer] = numel / known;
        known *= sh[infer];
    }
    if (known != numel)
        return ST_ERR(ST_ERR_SHAPE, "reshape to %lld elements from %lld", (long long)known, (long long)numel);
    int64_t stride[ST_MAX_DIMS];
    int ok = numel == 0 || reshape_strides(t, ndim, sh, stride);
    if (numel == 0 || st_tensor_is_contiguous(t)) {
        int64_t s = 1;
        for (int i = ndim - 1; i >= 0; i--) {
            stride[i] = s;
            s *= sh[i];
        }
        ok = 1;
    }
    if (!ok)
        return ST_ERR(ST_ERR_SHAPE, "reshape needs a copy of this strided view; call st_tensor_contiguous first");
    ST_TRY(clone_handle(t, out));
    (*out)->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        (*out)->shape[i] = sh[i];
        (*out)->stride[i] = stride[i];
    }
    return ST_OK;
}

st_status st_tensor_expand(const st_tensor *t, int ndim, const int64_t *shape, st_tensor **out)
{
    if (!t || !out || !shape) return ST_ERR(ST_ERR_INVALID_ARG, "NULL argument");
    st_view v;
    ST_TRY(st_view_broadcast(t, ndim, shape, &v));
    ST_TRY(clone_handle(t, out));
    (*out)->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        (*out)->shape[i] = v.shape[i];
        (*out)->stride[i] = v.stride[i];
    }
    return ST_OK;
}

void st_view_of(const st_tensor *t, st_view *v)
{
    memset(v, 0, sizeof *v);
    v->buf = t->storage->buf;
    v->offset = t->offset;
    v->dtype = t->dtype;
    v->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        v->shape[i] = t->shape[i];
        v->stride[i] = t->stride[i];
    }
}

st_status st_view_broadcast(const st_tensor *t, int ndim, const int64_t *shape, st_view *v)
{
    if (ndim < t->ndim || ndim > ST_MAX_DIMS)
        return ST_ERR(ST_ERR_SHAPE, "cannot broadcast %d dims to %d", t->ndim, ndim);
    st_view_of(t, v);
    int lead = ndim - t->ndim;
    v->ndim = ndim;
    for (int i = ndim - 1; i >= 0; i--) {
        int j = i - lead;
        int64_t size = j >= 0 ? t->shape[j] : 1, stride = j >= 0 ? t->stride[j] : 0;
        if (size == shape[i]) {
            v->shape[i] = size;
            v->stride[i] = size == 1 ? 0 : stride;
        } else if (size == 1) {
            v->shape[i] = shape[i];
            v->stride[i] = 0;
        } else {
            return ST_ERR(ST_ERR_SHAPE, "dim %d of size %lld does not broadcast to %lld", j,
                          (long long)size, (long long)shape[i]);
        }
    }
    return ST_OK;
}

st_status st_tensor_empty_like(const st_tensor *t, int dt, st_tensor **out)
{
    return st_tensor_create(t->storage->dev, dt >= 0 ? (st_dtype)dt : t->dtype, t->ndim, t->shape, out);
}

const char *st_tensor_describe(const st_tensor *t, char *buf, size_t size)
{
    if (!buf || !size) return buf;
    if (!t) {
        snprintf(buf, size, "(null tensor)");
        return buf;
    }
    size_t n = (size_t)snprintf(buf, size, "%s[", st_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "] %s", t->storage->dev->label);
    return buf;
}
