/* The copy family on the CPU: fill and copy move raw 1-, 2- or 4-byte elements through the
 * strided loop nest, so i32, i8 and NaN payloads pass unchanged; cast converts through f32 tiles. */
#include "cpu_strided.h"
#include "cpu_vmath.h"

static void fill_seg(const cpu_iter *it, char *const *ptr, int64_t len, const void *arg)
{
    int64_t s = it->stride[0][it->nd - 1];
    if (it->esize[0] == 4) {
        uint32_t v = *(const uint32_t *)arg, *y = (uint32_t *)ptr[0];
        for (int64_t j = 0; j < len; j++) y[j * s] = v;
    } else if (it->esize[0] == 2) {
        uint16_t v = (uint16_t)*(const uint32_t *)arg, *y = (uint16_t *)ptr[0];
        for (int64_t j = 0; j < len; j++) y[j * s] = v;
    } else {
        uint8_t v = (uint8_t)*(const uint32_t *)arg, *y = (uint8_t *)ptr[0];
        for (int64_t j = 0; j < len; j++) y[j * s] = v;
    }
}

st_status st_cpu_fill(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    double value = c->p.fill.value;
    uint32_t bits;
    switch (c->out[0].dtype) {
    case ST_F32: bits = cpu_f32_bits((float)value); break;
    case ST_BF16: bits = cpu_f32_to_bf16((float)value); break;
    case ST_I32: {
        /* Saturating, NaN to 0: the plain conversion is undefined outside int32's range. */
        int32_t i = value != value ? 0 : value >= 2147483647.0 ? INT32_MAX
                  : value <= -2147483648.0 ? INT32_MIN : (int32_t)value;
        memcpy(&bits, &i, 4);
        break;
    }
    case ST_I8: { /* saturating as i32's */
        int8_t i = value != value ? 0 : value >= 127.0 ? INT8_MAX : value <= -128.0 ? INT8_MIN : (int8_t)value;
        bits = (uint8_t)i;
        break;
    }
    default: return ST_ERR(ST_ERR_DTYPE, "cpu: fill of %s", st_dtype_name(c->out[0].dtype));
    }
    cpu_iter it;
    cpu_iter_init(&it, c);
    cpu_iter_run(&it, fill_seg, &bits);
    return ST_OK;
}

static void copy_seg(const cpu_iter *it, char *const *ptr, int64_t len, const void *arg)
{
    (void)arg;
    int64_t so = it->stride[0][it->nd - 1], si = it->stride[1][it->nd - 1];
    if (so == 1 && si == 1) {
        memmove(ptr[0], ptr[1], (size_t)(len * it->esize[0])); /* in place is allowed */
    } else if (it->esize[0] == 4) {
        uint32_t *y = (uint32_t *)ptr[0];
        const uint32_t *x = (const uint32_t *)ptr[1];
        for (int64_t j = 0; j < len; j++) y[j * so] = x[j * si];
    } else if (it->esize[0] == 2) {
        uint16_t *y = (uint16_t *)ptr[0];
        const uint16_t *x = (const uint16_t *)ptr[1];
        for (int64_t j = 0; j < len; j++) y[j * so] = x[j * si];
    } else {
        uint8_t *y = (uint8_t *)ptr[0];
        const uint8_t *x = (const uint8_t *)ptr[1];
        for (int64_t j = 0; j < len; j++) y[j * so] = x[j * si];
    }
}

st_status st_cpu_copy(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    if (c->in[0].dtype != c->out[0].dtype)
        return ST_ERR(ST_ERR_DTYPE, "cpu: copy from %s to %s", st_dtype_name(c->in[0].dtype),
                      st_dtype_name(c->out[0].dtype));
    cpu_iter it;
    cpu_iter_init(&it, c);
    cpu_iter_run(&it, copy_seg, NULL);
    return ST_OK;
}

CPU_CLONES static void k_ident(float *restrict o, const float *restrict a, const float *restrict b, int64_t n,
                               const st_op_params *p)
{
    (void)b, (void)p;
    for (int64_t i = 0; i < n; i++) o[i] = a[i];
}

/* f32 <-> bf16 through the f32 tiles of cpu_ew_run, which round on store. */
st_status st_cpu_cast(void *ctx, int dev, const st_op_call *c)
{
    if (c->in[0].dtype == c->out[0].dtype) return st_cpu_copy(ctx, dev, c);
    (void)ctx;
    (void)dev;
    return cpu_ew_run(c, k_ident);
}
