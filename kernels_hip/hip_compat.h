/* Lets the shared CUDA-dialect sources (the gpu_ files of backends/cuda, the kernels of
 * kernels_cuda) compile with hipcc: maps the CUDA runtime names they use onto HIP, and gives
 * the AMD wavefront width that the shared reductions are templated on. Only the names Strata
 * uses are mapped. */
#ifndef STRATA_HIP_COMPAT_H
#define STRATA_HIP_COMPAT_H

#include <hip/hip_runtime.h>

#define ST_GPU_VENDOR "HIP"

/* gfx90a and gfx942 run 64-wide wavefronts; gfx10+ consumer parts default to 32. The device pass
 * knows the target's width; the host pass only needs a value that compiles. */
#ifdef __AMDGCN_WAVEFRONT_SIZE
#define ST_WARP __AMDGCN_WAVEFRONT_SIZE
#else
#define ST_WARP 64
#endif
/* ROCm 5.2 has no *_sync shuffles; a wavefront executes in lock step, so no mask is needed. */
#define ST_SHFL_XOR(v, lane, width) __shfl_xor((v), (lane), (width))

#define cudaError_t hipError_t
#define cudaSuccess hipSuccess
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaGetErrorString hipGetErrorString
#define cudaGetErrorName hipGetErrorName
#define cudaGetLastError hipGetLastError
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaSetDevice hipSetDevice
#define cudaDeviceProp hipDeviceProp_t
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDevAttrClockRate hipDeviceAttributeClockRate
#define cudaDevAttrMemoryClockRate hipDeviceAttributeMemoryClockRate
#define cudaDeviceGetPCIBusId hipDeviceGetPCIBusId
#define cudaDriverGetVersion hipDriverGetVersion
#define cudaRuntimeGetVersion hipRuntimeGetVersion
#define cudaStream_t hipStream_t
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaEvent_t hipEvent_t
#define cudaEventCreateWithFlags hipEventCreateWithFlags
#define cudaEventDisableTiming hipEventDisableTiming
#define cudaEventRecord hipEventRecord
#define cudaEventSynchronize hipEventSynchronize
#define cudaEventDestroy hipEventDestroy
#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaMallocHost(p, n) hipHostMalloc((p), (n), hipHostMallocDefault)
#define cudaFreeHost hipHostFree
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemsetAsync hipMemsetAsync
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define cudaMemGetInfo hipMemGetInfo

#endif
