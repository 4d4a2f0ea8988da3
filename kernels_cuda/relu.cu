/* relu and its backward, written exactly as the CPU reference: relu keeps NaN and -0 (x < 0
 * is false for both), relu_backward passes dout only where x > 0. */
#include "elementwise.cuh"

GPU_EW_OP(relu, x < 0.0f ? 0.0f : x)
/* Inputs are (dout, x). */
GPU_EW_OP(relu_backward, y > 0.0f ? x : 0.0f)
