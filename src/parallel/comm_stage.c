/* Host views of tensors for the collectives: contiguous CPU tensors are used in place, the rest
 * (device tensors, strided views, bf16 that is reduced in f32, padded sizes) go through host
 * workspaces that the communicator keeps, so that repeated collectives allocate nothing. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "internal.h"
#include "comm_internal.h"

size_t comm_type_size(comm_type t)
{
    return t == COMM_U16 ? 2 : 4;
}

st_status comm_slot(st_comm *c, int slot, size_t bytes, void **out)
{
    if (bytes == 0)
        bytes = 1;
    if (c->slot_cap[slot] < bytes) {
        free(c->slot[slot]);
        c->slot[slot] = NULL;
        c->slot_cap[slot] = 0;
        void *p = NULL;
        /* 2 MiB alignment lets large workspaces use huge pages: first touch of 4 KiB pages costs
         * ~11 us each on these machines (MEASUREMENTS.md). */
        size_t align = bytes >= (8u << 20) ? (2u << 20) : 64;
        if (posix_memalign(&p, align, bytes) != 0)
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "collective staging buffer of %zu bytes", bytes);
        if (align > 64)
            madvise(p, bytes, MADV_HUGEPAGE);
        c->slot[slot] = p;
        c->slot_cap[slot] = bytes;
    }
    *out = c->slot[slot];
    return ST_OK;
}

void *comm_host_ptr(const st_tensor *t)
{
    if (!t->storage->dev->be->iface->host_memory || !st_tensor_is_contiguous(t))
        return NULL;
    return (char *)t->storage->buf + (size_t)t->offset * st_dtype_size(t->dtype);
}

static int widens(const st_tensor *t, comm_type type)
{
    return t->dtype == ST_BF16 && type == COMM_F32;
}

/* bf16 words at `src` to f32 at `dst`; dst may start at or before src (ascending order is safe
 * when dst + 4i never passes src + 2i + 2 for unread i, which holds for dst <= src). */
static void widen(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = st_bf16_to_f32(src[i]);
}

st_status comm_stage_in(st_comm *c, const st_tensor *t, comm_type type, size_t padded, int slot, void **out)
{
    size_t n = (size_t)st_tensor_numel(t), es = comm_type_size(type);
    void *host = comm_host_ptr(t);
    if (host && !widens(t, type) && padded == n) {
        *out = host;
        return ST_OK;
    }
    void *buf;
    ST_TRY(comm_slot(c, slot, padded * es, &buf));
    size_t tb = n * st_dtype_size(t->dtype);
    if (widens(t, type)) {
        /* Read the bf16 words into the upper half of the f32 region, then widen in place upwards. */
        const uint16_t *words = host;
        if (!words) {
            words = (const uint16_t *)((char *)buf + n * 2);
            ST_TRY(st_tensor_read(t, (void *)words, tb));
        }
        widen(buf, words, n);
    } else if (host) {
        memcpy(buf, host, tb);
    } else {
        ST_TRY(st_tensor_read(t, buf, tb));
    }
    memset((char *)buf + n * es, 0, (padded - n) * es);
    *out = buf;
    return ST_OK;
}

st_status comm_stage_out_buffer(st_comm *c, st_tensor *t, comm_type type, size_t padded, int slot,
                                void **out)
{
    void *host = comm_host_ptr(t);
    if (host && !widens(t, type) && padded == (size_t)st_tensor_numel(t)) {
        *out = host;
        return ST_OK;
    }
    return comm_slot(c, slot, padded * comm_type_size(type), out);
}

st_status comm_stage_finish(st_tensor *t, void *buf, comm_type type)
{
    size_t n = (size_t)st_tensor_numel(t);
    if (buf == comm_host_ptr(t) && !widens(t, type))
        return ST_OK;
    if (widens(t, type)) {
        const float *f = buf;
        uint16_t *w = buf; /* narrowing upwards in place: w[i] lies at or below f[i] */
        for (size_t i = 0; i < n; i++)
            w[i] = st_f32_to_bf16(f[i]);
    }
    return st_tensor_write(t, buf, n * st_dtype_size(t->dtype));
}
