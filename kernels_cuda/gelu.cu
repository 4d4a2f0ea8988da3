/* gelu (tanh approximation) and its backward: dout * d/dx gelu(x). */
#include "elementwise.cuh"

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
