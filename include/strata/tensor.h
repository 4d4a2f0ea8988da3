/* Tensors: n-dimensional strided arrays living on one device.
 *
 * A tensor is a view (dtype, shape, strides in elements, offset) onto a reference-counted storage
 * buffer on a device. Views (slice, transpose, reshape, expand) share the storage and never copy;
 * the storage is freed when its last view is freed. Every st_tensor returned by this API is owned
 * by the caller and released with st_tensor_destroy().
 *
 * Dimensions: 0 <= ndim <= ST_MAX_DIMS; a 0-dim tensor is a scalar holding one element.
 * Sizes of 0 are allowed (an empty tensor); ops on empty tensors do nothing and succeed.
 */
#ifndef STRATA_TENSOR_H
#define STRATA_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"
#include "strata/device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_MAX_DIMS 4

typedef enum st_dtype {
    ST_F32 = 0,   /* IEEE binary32 */
    ST_BF16 = 1,  /* bfloat16 storage; ops compute and accumulate in f32 */
    ST_I32 = 2,   /* indices and targets */
    ST_I8 = 3,    /* quantized payloads (quantize/dequantize): int8, or two int4 per byte; fill and
                     copy move it, cast and arithmetic do not take it */
    ST_DTYPE_COUNT
} st_dtype;

typedef struct st_tensor st_tensor;

/* Bytes per element; 0 for an invalid dtype. */
ST_API size_t st_dtype_size(st_dtype dt);
/* "f32", "bf16", "i32", "i8"; "?" for an invalid dtype. */
ST_API const char *st_dtype_name(st_dtype dt);

/* Allocates a contiguous (row-major) tensor on `dev`. Contents are undefined.
 * Errors: ST_ERR_INVALID_ARG (NULL, ndim out of range, negative size), ST_ERR_DTYPE,
 * ST_ERR_OUT_OF_MEMORY (message gives the bytes asked for and the device). */
ST_API st_status st_tensor_create(st_device *dev, st_dtype dt, int ndim, const int64_t *shape,
                           st_tensor **out);

/* Frees a tensor handle (and the storage when it was the last view). NULL is a no-op. */
ST_API void st_tensor_destroy(st_tensor *t);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_tensor_destroy") void st_tensor_free(st_tensor *t);

/* Accessors. They accept NULL and then return 0 / NULL. */
ST_API int st_tensor_ndim(const st_tensor *t);
ST_API int64_t st_tensor_dim(const st_tensor *t, int axis);      /* negative axis counts from the end */
ST_API int64_t st_tensor_stride(const st_tensor *t, int axis);   /* in elements */
ST_API int64_t st_tensor_numel(const st_tensor *t);
ST_API st_dtype st_tensor_dtype(const st_tensor *t);
ST_API st_device *st_tensor_device(const st_tensor *t);
ST_API int st_tensor_is_contiguous(const st_tensor *t);

/* --- Views: share storage with `t`, which stays valid and owned by the caller. --- */

/* Elements [start, start+len) along `axis`, with step `step` (>= 1). */
ST_API st_status st_tensor_slice(const st_tensor *t, int axis, int64_t start, int64_t len, int64_t step,
                          st_tensor **out);
/* Swaps two axes. */
ST_API st_status st_tensor_transpose(const st_tensor *t, int axis0, int axis1, st_tensor **out);
/* New shape with the same element count; one entry may be -1 (inferred). Fails with
 * ST_ERR_SHAPE when the strides make a copy-free view impossible (use st_tensor_contiguous). */
ST_API st_status st_tensor_reshape(const st_tensor *t, int ndim, const int64_t *shape, st_tensor **out);
/* Broadcast view: size-1 dims (and new leading dims) expanded with stride 0. Read-only use. */
ST_API st_status st_tensor_expand(const st_tensor *t, int ndim, const int64_t *shape, st_tensor **out);
/* A new handle to the same view (refcount). */
ST_API st_status st_tensor_ref(const st_tensor *t, st_tensor **out);

/* --- Data movement --- */

/* Writes `bytes` from host memory into `t` in row-major order of t's shape (any strides).
 * `bytes` must equal numel * dtype size. Synchronous with respect to `src`. */
ST_API st_status st_tensor_write(st_tensor *t, const void *src, size_t bytes);
/* Reads `t` into host memory in row-major order. Waits for pending work on t's device. */
ST_API st_status st_tensor_read(const st_tensor *t, void *dst, size_t bytes);
/* Copies src into dst (same shape and dtype), across devices and backends if needed.
 * Errors: ST_ERR_SHAPE, ST_ERR_DTYPE, backend errors. */
ST_API st_status st_tensor_copy(st_tensor *dst, const st_tensor *src);
/* A contiguous tensor with the contents of `t`, on `dev` (NULL = t's device). Always a new
 * storage, so writes to the result never alias `t`. */
ST_API st_status st_tensor_to(const st_tensor *t, st_device *dev, st_tensor **out);
/* Same as st_tensor_to(t, NULL, out) but returns a new reference to `t` itself when it is
 * already contiguous. */
ST_API st_status st_tensor_contiguous(const st_tensor *t, st_tensor **out);

/* Short description "f32[2,3] cpu:0" into buf (always NUL-terminated). Returns buf. */
ST_API const char *st_tensor_describe(const st_tensor *t, char *buf, size_t size);

/* bf16 <-> f32 conversions on the host (round to nearest even; NaN kept as NaN). */
ST_API uint16_t st_f32_to_bf16(float x);
ST_API float st_bf16_to_f32(uint16_t x);

#ifdef __cplusplus
}
#endif
#endif
