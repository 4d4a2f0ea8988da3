/* Double-precision reference implementations for the conformance suite, written from
 * docs/OPS.md independently of the library's kernels. Arrays are row-major and contiguous. */
#ifndef STRATA_CONF_REF_H
#define STRATA_CONF_REF_H

#include <stdint.h>
#include "strata/strata.h"

/* Elementwise (ref_elementwise.c): the ops' references are conf_ref_<name> (conf.h). */
/* Index into an input of shape (nd_in, ishape) broadcast to out (nd, oshape), for out element i. */
int64_t ref_bcast_index(int nd, const int64_t *oshape, int64_t i, int nd_in, const int64_t *ishape);
/* Broadcast shape of a and b; returns its ndim. */
int ref_bcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int64_t *out);

/* Philox4x32-10 block for counter n and key seed (ref_random.c). */
void ref_philox(uint64_t seed, uint64_t n, uint32_t out[4]);
/* The f32 values the spec defines for element n of a draw (uniform computed in f32 as written). */
float ref_uniform_f32(uint64_t seed, uint64_t n, float lo, float hi);
double ref_normal(uint64_t seed, uint64_t n, double mean, double std);

/* Dense ops (ref_dense.c). out[(batch, M, N)], scale: sum of |terms| per element. */
void ref_matmul(double *out, double *scale, const double *a, const double *b, int64_t batch,
                int b_shared, int64_t M, int64_t N, int64_t K, int ta, int tb, double alpha,
                double beta, const double *old);
/* Reduction of x viewed as (outer, n, inner) along n: op sum, mean or max. */
void ref_reduce(double *out, double *scale, const double *x, int64_t outer, int64_t n,
                int64_t inner, st_op op);
void ref_softmax(double *y, const double *x, int64_t rows, int64_t T, int64_t S, int causal);
void ref_softmax_backward(double *dx, const double *dy, const double *y, int64_t rows, int64_t S);
void ref_layernorm(double *y, double *mean, double *rstd, const double *x, const double *w,
                   const double *b, int64_t rows, int64_t C, double eps);
void ref_layernorm_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                            const double *w, const double *mean, const double *rstd, int64_t rows,
                            int64_t C);
void ref_cross_entropy(double *loss, double *probs, const double *logits, const double *targets,
                       int64_t rows, int64_t V);
void ref_cross_entropy_backward(double *dlogits, const double *dloss, const double *probs,
                                const double *targets, int64_t rows, int64_t V);
/* Causal attention over (BH, T, D) blocks. */
void ref_attention(double *o, double *lse, const double *q, const double *k, const double *v,
                   int64_t BH, int64_t T, int64_t D);
void ref_attention_backward(double *dq, double *dk, double *dv, const double *dout,
                            const double *q, const double *k, const double *v, int64_t BH,
                            int64_t T, int64_t D);

#endif
