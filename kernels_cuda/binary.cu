/* add, sub, mul, div: strided, with broadcasting (stride 0) and exact in-place use. */
#include "elementwise.cuh"

GPU_EW_OP(add, x + y)
GPU_EW_OP(sub, x - y)
GPU_EW_OP(mul, x * y)
GPU_EW_OP(div, x / y)
