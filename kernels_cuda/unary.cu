/* scale, exp, log, tanh, sqrt, rsqrt: strided, f32 math on f32 or bf16 storage. rsqrt is
 * 1/sqrtf rather than the hardware rsqrtf, whose 2-ulp error the CPU reference does not have. */
#include "elementwise.cuh"

GPU_EW_OP(scale, alpha * x + beta)
GPU_EW_OP(exp, expf(x))
GPU_EW_OP(log, logf(x))
GPU_EW_OP(tanh, tanhf(x))
GPU_EW_OP(sqrt, sqrtf(x))
GPU_EW_OP(rsqrt, 1.0f / sqrtf(x))
