/* strata-bench's op cases at a model's shapes (bench_opspec.c): operands in the order of the op's
 * st_ function (outputs first), with the flops and bytes of one call. */
#ifndef STRATA_BENCH_OPSPEC_H
#define STRATA_BENCH_OPSPEC_H

#include "bench.h"

#define BENCH_MAX_OPERANDS 9

/* The trainer config's sizes: B rows of T tokens, C channels, H heads, V (Vp padded) vocabulary. */
typedef struct bench_dims {
    const char *name;
    int64_t B, T, C, H, V, Vp;
} bench_dims;

typedef struct bench_operand {
    int role; /* 0 read, 1 written, 2 read and written */
    st_dtype dt;
    int ndim;
    int64_t shape[4];
} bench_operand;

typedef struct bench_opspec {
    st_op op;
    char shape[64];
    int n;
    bench_operand t[BENCH_MAX_OPERANDS];
    double flops, bytes;
    bench_unit unit;                 /* GFLOP/s for matmul and attention, GB/s for the rest */
    int axis;                        /* reductions */
    int gemm_m, gemm_n, gemm_k, trans_b; /* matmul: the vendor gemm of the same shape */
} bench_opspec;

/* Case `variant` (0, 1, ...) of op at the sizes d; 0 when the op has no such variant. */
int bench_opspec_make(st_op op, int variant, const bench_dims *d, bench_opspec *s);

#endif
