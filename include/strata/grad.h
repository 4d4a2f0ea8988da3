/* Gradient rules: vector-Jacobian products (VJPs) for the ops whose gradient is not an op of its
 * own in the table. Ops with a dedicated backward op (gelu -> gelu_backward, softmax, layernorm,
 * embedding, cross_entropy, attention, relu) use that op directly.
 *
 * Each function writes (overwrites) the input gradients given the forward operands and the
 * gradient of the output. A gradient output may be NULL when that input's gradient is not needed.
 * Gradients have the shape and dtype of the input they belong to; broadcast inputs receive the
 * sum over their broadcast dims. Temporaries are allocated on the tensors' device and freed
 * before return. Same error contract as the ops.
 */
#ifndef STRATA_GRAD_H
#define STRATA_GRAD_H

#include "strata/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* op in {exp, log, tanh, sqrt, rsqrt}: din = dout * f'(in). `out` is the forward result f(in)
 * (used where it is cheaper than in). */
ST_API st_status st_vjp_unary(st_op op, st_tensor *din, const st_tensor *dout, const st_tensor *in,
                              const st_tensor *out);

/* op in {add, sub, mul, div}: da, db (either may be NULL) from dout, with a and b broadcast as in
 * the forward call. */
ST_API st_status st_vjp_binary(st_op op, st_tensor *da, st_tensor *db, const st_tensor *dout,
                               const st_tensor *a, const st_tensor *b);

/* scale: din = alpha * dout, summed over dims where in was broadcast. */
ST_API st_status st_vjp_scale(st_tensor *din, const st_tensor *dout, float alpha);

/* cast: din = dout converted to din's dtype. copy: din = dout. */
ST_API st_status st_vjp_cast(st_tensor *din, const st_tensor *dout);

/* matmul with the forward's flags and alpha (beta's term is the caller's: d(out_old) = beta*dout). */
ST_API st_status st_vjp_matmul(st_tensor *da, st_tensor *db, const st_tensor *dout,
                               const st_tensor *a, const st_tensor *b, int trans_a, int trans_b,
                               float alpha);

/* op in {sum, mean, max} along axis: din from dout (in's shape with the axis kept or removed).
 * For max, the gradient goes to every position equal to the maximum (ties share it fully, as
 * the subgradient used by most frameworks on ties is one of them; ties are rare in practice). */
ST_API st_status st_vjp_reduce(st_op op, st_tensor *din, const st_tensor *dout, const st_tensor *in,
                               const st_tensor *out, int axis);

/* sumsq: din = 2 * in * dout[0]. */
ST_API st_status st_vjp_sumsq(st_tensor *din, const st_tensor *dout, const st_tensor *in);

#ifdef __cplusplus
}
#endif
#endif
