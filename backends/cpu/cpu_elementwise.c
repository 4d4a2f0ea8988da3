/* The elementwise family on the CPU: one f32 kernel k_<name> per op of the table's elementwise
 * family, over contiguous tiles that cpu_ew_run (cpu_strided.c) stages from strided, broadcast
 * or bf16 operands. The slots st_cpu_<name> are generated from the table: a row without its
 * kernel here does not compile. */
#include "cpu_strided.h"
#include "cpu_vmath.h"

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

/* silu = x sigmoid(x); its derivative s (1 + x (1 - s)) with 1 - s = e s, exact where s is near
 * 1. x is clamped to +-80 first: e^80 is still finite in f32, and the results there are exact. */
static inline float silu_grad(float x)
{
    x = cpu_f32_select(x > 80.0f, 80.0f, x);
    x = cpu_f32_select(x < -80.0f, -80.0f, x);
    float e = cpu_expf(-x), s = 1.0f / (1.0f + e);
    return s * (1.0f + x * (e * s));
}
EW_KERNEL(silu, a[i] / (1.0f + cpu_expf(-a[i])))
EW_KERNEL(silu_backward, a[i] * silu_grad(b[i]))

/* st_cpu_<name> for every op of the elementwise family. */
#define EW_OP(F, ID, name, ...)                                       \
    st_status st_cpu_##name(void *ctx, int dev, const st_op_call *c) \
    {                                                                 \
        (void)ctx;                                                    \
        (void)dev;                                                    \
        return cpu_ew_run(c, k_##name);                               \
    }
ST_OPS_ELEMENTWISE(EW_OP, elementwise)
