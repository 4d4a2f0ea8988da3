/* Strided elementwise ops, add .. rsqrt: one work-item per output element, f32 arithmetic,
 * operands in out's dtype (f32 or bf16). */

#define ST_BINARY(name, expr)                                                                   \
    __kernel void st_##name(__global void *out, long8 vo, __global const void *pa, long8 va,    \
                            __global const void *pb, long8 vb, long4 n, int flat, long total,   \
                            int dt)                                                             \
    {                                                                                           \
        ST_FOR_EACH(total, flat, {                                                              \
            float a = st_ld(pa, dt, st_at(va, n, flat, i));                                     \
            float b = st_ld(pb, dt, st_at(vb, n, flat, i));                                     \
            st_st(out, dt, st_at(vo, n, flat, i), (expr));                                      \
        })                                                                                      \
    }

#define ST_UNARY(name, expr)                                                                    \
    __kernel void st_##name(__global void *out, long8 vo, __global const void *px, long8 vx,    \
                            long4 n, int flat, long total, int dt, float alpha, float beta)     \
    {                                                                                           \
        ST_FOR_EACH(total, flat, {                                                              \
            float x = st_ld(px, dt, st_at(vx, n, flat, i));                                     \
            st_st(out, dt, st_at(vo, n, flat, i), (expr));                                      \
        })                                                                                      \
    }

#define ST_GELU_K 0.7978845608028654f /* sqrt(2/pi) */

inline float st_gelu_grad(float x)
{
    float u = ST_GELU_K * (x + 0.044715f * x * x * x);
    float t = tanh(u);
    float du = ST_GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

ST_BINARY(add, a + b)
ST_BINARY(sub, a - b)
ST_BINARY(mul, a * b)
ST_BINARY(div, a / b)
/* Binary backward ops take (dout, x) as (a, b). */
ST_BINARY(gelu_backward, a * st_gelu_grad(b))
ST_BINARY(relu_backward, b > 0.0f ? a : 0.0f)

ST_UNARY(scale, alpha * x + beta)
ST_UNARY(gelu, 0.5f * x * (1.0f + tanh(ST_GELU_K * (x + 0.044715f * x * x * x))))
/* relu keeps NaN (and -0) as the host does. */
ST_UNARY(relu, x < 0.0f ? 0.0f : x)
ST_UNARY(exp, exp(x))
ST_UNARY(log, log(x))
ST_UNARY(tanh, tanh(x))
ST_UNARY(sqrt, sqrt(x))
ST_UNARY(rsqrt, 1.0f / sqrt(x))

/* silu = x sigmoid(x); its derivative s (1 + x (1 - s)) with 1 - s = e s, x clamped to +-80. */
inline float st_silu_grad(float x)
{
    x = clamp(x, -80.0f, 80.0f);
    float e = exp(-x), s = 1.0f / (1.0f + e);
    return s * (1.0f + x * (e * s));
}
ST_UNARY(silu, x / (1.0f + exp(-x)))
ST_BINARY(silu_backward, a * st_silu_grad(b))
