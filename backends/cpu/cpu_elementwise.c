/* CPU elementwise ops (fill .. rsqrt): f32 kernels over contiguous tiles, driven by the strided
 * loop nest of cpu_strided.c. f32 operands with unit inner stride are used in place; bf16,
 * strided and broadcast operands are staged through small f32 tiles. */
#include "cpu_strided.h"
#include "cpu_vmath.h"

/* o[i] = f(a[i], b[i]) over a contiguous tile. The output may be exactly one of the inputs (an
 * in-place op): every element is read before it is written at the same index only, so the
 * restrict promise the vectoriser relies on still holds for these loops. */
typedef void (*ew_kernel)(float *restrict o, const float *restrict a, const float *restrict b,
                          int64_t n, const st_op_params *p);

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

#define EW_KERNEL(name, expr)                                                                  \
    CPU_CLONES static void k_##name(float *restrict o, const float *restrict a,                \
                                    const float *restrict b, int64_t n, const st_op_params *p) \
    {                                                                                          \
        const float alpha = p->scale.alpha, beta = p->scale.beta;                                          \
        (void)a; (void)b; (void)alpha; (void)beta;                                             \
        for (int64_t i = 0; i < n; i++) o[i] = (expr);                                         \
    }

EW_KERNEL(ident, a[i])
EW_KERNEL(add, a[i] + b[i])
EW_KERNEL(sub, a[i] - b[i])
EW_KERNEL(mul, a[i] * b[i])
EW_KERNEL(div, a[i] / b[i])
EW_KERNEL(scale, alpha * a[i] + beta)
EW_KERNEL(relu, a[i] < 0.0f ? 0.0f : a[i])
EW_KERNEL(relu_backward, b[i] > 0.0f ? a[i] : 0.0f)
EW_KERNEL(exp, cpu_expf(a[i]))
EW_KERNEL(log, cpu_logf(a[i]))
EW_KERNEL(tanh, cpu_tanhf(a[i]))
EW_KERNEL(sqrt, sqrtf(a[i]))
EW_KERNEL(rsqrt, 1.0f / sqrtf(a[i]))

/* 0.5 x (1 + tanh(u)) = x sigmoid(2u) = x / (1 + exp(-2u)): one exp and one division, far
 * cheaper than tanh, and full relative precision for negative x, where 1 + tanh(u) cancels.
 * -2u is formed as x (a + b x^2). Where it overflows (|x| > ~1e13) exp gives 0 or +inf, so
 * x or -0, as it should; cpu_expf_fast's early +inf (true exp > 2.4e38) changes only results
 * below 1e-37 in magnitude. */
static inline float gelu(float x)
{
    float z = x * (-2.0f * GELU_K + -2.0f * GELU_K * GELU_C * (x * x));
    return x / (1.0f + cpu_expf_fast(z));
}
EW_KERNEL(gelu, gelu(a[i]))

static inline float gelu_grad(float x)
{
    /* Beyond |x| = 1e3 the derivative is exactly 0 or 1 in f32; clamping keeps x^3 finite, so
     * s (1 - s) u' is 0 * finite rather than 0 * inf. NaN passes through. */
    x = cpu_f32_select(x > 1e3f, 1e3f, x);
    x = cpu_f32_select(x < -1e3f, -1e3f, x);
    float u = GELU_K * (x + GELU_C * x * x * x);
    float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    float e = cpu_expf_fast(-2.0f * u), s = 1.0f / (1.0f + e);
    float one_minus_s = cpu_f32_select(e < 1.0f, e * s, 1.0f - s); /* no cancellation near s = 1 */
    /* d/dx x s(2u) = s + 2 x s (1 - s) u' */
    return s + 2.0f * x * s * one_minus_s * du;
}
EW_KERNEL(gelu_backward, a[i] * gelu_grad(b[i]))

/* Operand k's `m` elements from `i` as contiguous f32: the data itself or a staged tile. */
static const float *ew_gather(const cpu_iter *it, int k, char *p, int64_t i, int64_t m, float *tile)
{
    int64_t s = it->stride[k][it->nd - 1];
    if (it->dt[k] == ST_F32) {
        const float *x = (const float *)p + i * s;
        if (s == 1) return x;
        for (int64_t j = 0; j < m; j++) tile[j] = x[j * s];
    } else {
        const uint16_t *x = (const uint16_t *)p + i * s;
        if (s == 1) cpu_bf16_to_f32_n(tile, x, m);
        else
            for (int64_t j = 0; j < m; j++) tile[j] = cpu_bf16_to_f32(x[j * s]);
    }
    return tile;
}

static void ew_scatter(const cpu_iter *it, char *p, int64_t i, int64_t m, const float *tile)
{
    int64_t s = it->stride[0][it->nd - 1];
    if (it->dt[0] == ST_F32) {
        float *y = (float *)p + i * s;
        for (int64_t j = 0; j < m; j++) y[j * s] = tile[j];
    } else {
        uint16_t *y = (uint16_t *)p + i * s;
        if (s == 1) cpu_f32_to_bf16_n(y, tile, m);
        else
            for (int64_t j = 0; j < m; j++) y[j * s] = cpu_f32_to_bf16(tile[j]);
    }
}

typedef struct ew_math_arg {
    ew_kernel kernel;
    const st_op_params *p;
} ew_math_arg;

static void ew_math_seg(const cpu_iter *it, char *const *ptr, int64_t len, const void *argp)
{
    const ew_math_arg *arg = argp;
    float tile[CPU_MAX_OPS][CPU_TILE];
    int direct = it->dt[0] == ST_F32 && it->stride[0][it->nd - 1] == 1;
    for (int64_t i = 0; i < len; i += CPU_TILE) {
        int64_t m = len - i < CPU_TILE ? len - i : CPU_TILE;
        const float *in[2] = {tile[1], tile[2]};
        for (int k = 1; k < it->nops; k++) in[k - 1] = ew_gather(it, k, ptr[k], i, m, tile[k]);
        float *o = direct ? (float *)ptr[0] + i : tile[0];
        arg->kernel(o, in[0], in[1], m, arg->p);
        if (!direct) ew_scatter(it, ptr[0], i, m, tile[0]);
    }
}

static st_status ew_math(const st_op_call *c, ew_kernel kernel)
{
    for (int k = 0; k <= c->n_in; k++) {
        const st_view *v = k == 0 ? &c->out[0] : &c->in[k - 1];
        if (v->dtype != ST_F32 && v->dtype != ST_BF16)
            return ST_ERR(ST_ERR_DTYPE, "cpu: %s on %s data", st_op_name(c->op), st_dtype_name(v->dtype));
    }
    cpu_iter it;
    cpu_iter_init(&it, c);
    ew_math_arg arg = {kernel, &c->p};
    cpu_iter_run(&it, ew_math_seg, &arg);
    return ST_OK;
}

#define EW_OP(name)                                                   \
    st_status st_cpu_##name(void *ctx, int dev, const st_op_call *c) \
    {                                                                 \
        (void)ctx;                                                    \
        (void)dev;                                                    \
        return ew_math(c, k_##name);                                  \
    }

EW_OP(add)
EW_OP(sub)
EW_OP(mul)
EW_OP(div)
EW_OP(scale)
EW_OP(gelu)
EW_OP(gelu_backward)
EW_OP(relu)
EW_OP(relu_backward)
EW_OP(exp)
EW_OP(log)
EW_OP(tanh)
EW_OP(sqrt)
EW_OP(rsqrt)

/* ---- fill and copy move raw 2- or 4-byte elements, so i32 and NaN payloads pass unchanged ---- */

static void fill_seg(const cpu_iter *it, char *const *ptr, int64_t len, const void *arg)
{
    int64_t s = it->stride[0][it->nd - 1];
    if (it->esize[0] == 4) {
        uint32_t v = *(const uint32_t *)arg, *y = (uint32_t *)ptr[0];
        for (int64_t j = 0; j < len; j++) y[j * s] = v;
    } else {
        uint16_t v = (uint16_t)*(const uint32_t *)arg, *y = (uint16_t *)ptr[0];
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
    } else {
        uint16_t *y = (uint16_t *)ptr[0];
        const uint16_t *x = (const uint16_t *)ptr[1];
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

st_status st_cpu_cast(void *ctx, int dev, const st_op_call *c)
{
    if (c->in[0].dtype == c->out[0].dtype) return st_cpu_copy(ctx, dev, c);
    (void)ctx;
    (void)dev;
    return ew_math(c, k_ident);
}
