/* Shared checks and the two dispatch paths used by the eager op wrappers (the ops_ files). */
#ifndef STRATA_DISPATCH_H
#define STRATA_DISPATCH_H

#include "internal.h"

#define ST_MASK_F ((1u << ST_F32) | (1u << ST_BF16))
#define ST_MASK_F32 (1u << ST_F32)
#define ST_MASK_I32 (1u << ST_I32)
#define ST_MASK_ALL (ST_MASK_F | ST_MASK_I32)

/* Non-NULL and all on one device. */
st_status st_check_tensors(st_op op, st_tensor *const *outs, int n_out, const st_tensor *const *ins,
                           int n_in);
st_status st_check_dtype(st_op op, const st_tensor *t, unsigned mask, const char *what);
/* b has a's dtype and shape. */
st_status st_check_same(st_op op, const st_tensor *a, const st_tensor *b, const char *what);
st_status st_check_shape(st_op op, const st_tensor *t, int ndim, const int64_t *shape, const char *what);

/* Strided op with one output: inputs are broadcast to out's shape. */
st_status st_run_strided(st_op op, st_tensor *out, const st_tensor *const *ins, int n_in,
                         const st_op_params *p);
/* Op on contiguous operands: non-contiguous inputs and outputs are staged through copies. */
st_status st_run_dense(st_op op, st_tensor *const *outs, int n_out, const st_tensor *const *ins,
                       int n_in, const st_op_params *p);

#endif
