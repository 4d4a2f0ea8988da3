/* The elementwise family on CUDA and HIP: one GPU_EW_OP line per op of the table's
 * elementwise family, its functor and slot st_<vendor>_<name> (elementwise.cuh): strided, with
 * broadcasting (stride 0) and exact in-place use, f32 math on f32 or bf16 storage. A row without
 * its line here leaves the plugin's slot undefined, which fails the plugin's link. */
#include "elementwise.cuh"

/* add, sub, mul, div */
GPU_EW_OP(add, x + y)
GPU_EW_OP(sub, x - y)
GPU_EW_OP(mul, x * y)
GPU_EW_OP(div, x / y)

/* scale, exp, log, tanh, sqrt, rsqrt. rsqrt is 1/sqrtf rather than the hardware rsqrtf, whose
 * 2-ulp error the CPU reference does not have. */
GPU_EW_OP(scale, alpha * x + beta)
GPU_EW_OP(exp, expf(x))
GPU_EW_OP(log, logf(x))
GPU_EW_OP(tanh, tanhf(x))
GPU_EW_OP(sqrt, sqrtf(x))
GPU_EW_OP(rsqrt, 1.0f / sqrtf(x))

/* gelu (tanh approximation) and its backward: dout * d/dx gelu(x). */
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

static __device__ __forceinline__ float gelu_grad(float x)
{
    float u = GELU_K * (x + GELU_C * x * x * x);
    float t = tanhf(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
}

GPU_EW_OP(gelu, 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x))))
/* Inputs are (dout, x). */
GPU_EW_OP(gelu_backward, x * gelu_grad(y))

/* relu and its backward, written exactly as the CPU reference: relu keeps NaN and -0 (x < 0 is
 * false for both), relu_backward passes dout only where x > 0. */
GPU_EW_OP(relu, x < 0.0f ? 0.0f : x)
/* Inputs are (dout, x). */
GPU_EW_OP(relu_backward, y > 0.0f ? x : 0.0f)

/* silu = x sigmoid(x); its derivative s (1 + x (1 - s)) with 1 - s = e s, x clamped to +-80. */
static __device__ __forceinline__ float silu_grad(float x)
{
    x = fminf(fmaxf(x, -80.0f), 80.0f);
    float e = expf(-x), s = 1.0f / (1.0f + e);
    return s * (1.0f + x * (e * s));
}

GPU_EW_OP(silu, x / (1.0f + expf(-x)))
/* Inputs are (dout, x). */
GPU_EW_OP(silu_backward, x * silu_grad(y))
