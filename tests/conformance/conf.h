/* Conformance suite internals: the test context, host mirrors of device tensors (their logical
 * values in double, as stored), per-op/dtype checks with their error report, and the op test
 * list generated from the op table: the elementwise rules run generic tests against one
 * reference each (ref_elementwise.c), every other rule its own test_<name>. */
#ifndef STRATA_CONF_H
#define STRATA_CONF_H

#include <stdint.h>
#include "strata/strata.h"
#include "../harness.h"

typedef struct conf {
    st_device *dev;       /* device under test */
    st_device *cpu;       /* cpu:0, for cross-backend comparisons */
    int is_cpu;           /* the device under test is the cpu backend */
    uint64_t rng;         /* host RNG state for test data */
} conf;

/* One reported line: an op (or feature), a dtype, a kind of check, over several cases. */
typedef struct check {
    char name[96];
    double tol;          /* the tolerance of the error metric (0: exact) */
    double max_err;      /* worst error seen */
    int cases, failed;
    char why[768];       /* first failure, with its case */
    char cas[160];       /* the case being run, for messages */
} check;

void check_begin(check *k, const char *op, st_dtype dt, const char *kind, double tol);
/* Names the current case ("shape [13,33] trans"), used in failure messages. */
void check_case(check *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_fail(check *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a failed call; returns 1 when s is ST_OK. */
int check_ok(check *k, st_status s, const char *what);
/* Compares got with ref: err_i = |got - ref| / max(floor, scale_i) where scale_i is scale[i]
 * (NULL: |ref_i|). NaN matches NaN, infinities must match exactly. Returns 1 when within tol. */
int check_close(check *k, const char *what, const double *got, const double *ref,
                const double *scale, int64_t n, double floor);
/* Prints PASS/FAIL and counts the line. */
void check_end(check *k);
/* A line that could not run. */
void check_skip(const char *op, st_dtype dt, const char *kind, const char *why);

/* Host RNG (splitmix64) for test data. */
uint64_t conf_rand_u64(conf *c);
double conf_rand(conf *c, double lo, double hi);

/* How a tensor handed to an op is laid out in its storage. */
typedef enum layout {
    L_CONTIG,   /* contiguous */
    L_TRANS,    /* transpose of the last two dims of a contiguous tensor */
    L_STEP,     /* elements 1, 3, 5, ... of the last dim (offset and stride 2) */
    L_SWAP12,   /* dims 1 and 2 swapped ((B, T, H, D) storage seen as (B, H, T, D)) */
    L_BCAST,    /* dim 0 expanded (stride 0) from a storage where it has size 1 */
} layout;
const char *layout_name(layout l);
/* "[13,33]" into buf. */
const char *shape_str(char *buf, size_t size, int ndim, const int64_t *shape);

/* A device tensor and its logical contents on the host. */
typedef struct ht {
    st_tensor *t;                 /* what the op receives */
    st_tensor *base;              /* its contiguous storage */
    st_dtype dt;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t n;                    /* numel */
    int64_t bn;                   /* numel of base */
    int64_t stride[ST_MAX_DIMS];  /* logical -> base index, computed here, not by the library */
    int64_t offset;
    double *v;                    /* n logical values, as stored in dt */
    double *bv;                   /* bn values of the whole storage, as last written or read */
} ht;

/* Allocates a tensor of the given layout; its values are random in [lo, hi) (integers for i32),
 * rounded to dt, and written to the device. Returns 1 on success (else a failure is recorded). */
int ht_rand(conf *c, check *k, ht *h, st_dtype dt, int ndim, const int64_t *shape, layout l,
            double lo, double hi);
/* Same with given logical values (n of them). */
int ht_from(conf *c, check *k, ht *h, st_dtype dt, int ndim, const int64_t *shape, layout l,
            const double *vals);
/* Replaces the logical values (rounded to dt) and writes them. */
int ht_set(check *k, ht *h, const double *vals);
/* An output tensor whose whole storage holds a sentinel value. */
int ht_out(conf *c, check *k, ht *h, st_dtype dt, int ndim, const int64_t *shape, layout l);
/* Reads the device tensor into h->v; checks that storage outside the view kept the sentinel. */
int ht_fetch(check *k, ht *h);
void ht_free(ht *h);
/* Element i of a host buffer holding dt values, as a double. */
double conf_decode(st_dtype dt, const void *buf, int64_t i);
/* Rounds a double to what dt stores. */
double conf_round(st_dtype dt, double x);
/* Compares h's values (fetched) against ref. */
int ht_close(check *k, ht *h, const char *what, const double *ref, const double *scale, double floor);

/* Finite differences: run(ctx, k, &loss) runs the forward op on the current inputs and returns
 * the scalar loss (in double). fd_check perturbs every element of `in` by +-eps and compares
 * (L+ - L-) / (x+ - x-) with grad (n = in->n values), relative to the gradient's largest
 * magnitude (at least 0.1), within 1e-2. Restores in's values. */
typedef int (*fd_run)(void *ctx, check *k, double *loss);
int fd_check(check *k, const char *what, ht *in, const double *grad, fd_run run, void *ctx,
             double eps);
/* sum(out * w) over h's fetched values. */
double conf_dot(const ht *h, const double *w);
/* n random weights in [-1, 1) (the upstream gradient of a finite-difference loss). */
double *conf_weights(conf *c, int64_t n);

/* Base tolerance of a dtype for results of one rounding (f32 1e-5, bf16 1e-2, i32 exact). */
double conf_tol(st_dtype dt);
/* Tolerance of one elementwise function evaluation: f32 2e-6 (~16 ulp), bf16 1e-2. */
double conf_tol_ew(st_dtype dt);
/* Tolerance for results that accumulate n terms, relative to the sum of their magnitudes. */
double conf_tol_sum(st_dtype dt, int64_t n);

/* ---- references of the elementwise ops (ref_elementwise.c) ----
 * A unary op's reference is written once over dual numbers (value and derivative), so it checks
 * both the op and its backward op; it carries the inputs' test domain. */
typedef struct conf_dual {
    double v, d;
} conf_dual;
typedef struct conf_unary_ref {
    double lo, hi;
    conf_dual (*fn)(conf_dual x);
} conf_unary_ref;
/* a in [-2, 2); b in [lo, hi), moved away from 0 by at least b_min_abs keeping alternate signs. */
typedef struct conf_binary_ref {
    double lo, hi, b_min_abs;
    double (*fn)(double a, double b);
} conf_binary_ref;

/* The op test list: a row whose RULE is unary or binary needs conf_ref_<name>, a unary_bwd row
 * is checked against its forward op's reference, any other row needs test_<name>(c, dt), which
 * runs every case of one dtype and reports one or more lines. A missing one does not link. */
#define CONF_SECOND_(a, b, ...) b
#define CONF_PICK_(x, otherwise) CONF_SECOND_(x, otherwise, ~)
#define CONF_GENERIC_unary ~, REF_UNARY_
#define CONF_GENERIC_binary ~, REF_BINARY_
#define CONF_GENERIC_unary_bwd ~, REF_NONE_
/* REF_UNARY_, REF_BINARY_, REF_NONE_ or OWN_TEST_: how a rule's ops are tested. */
#define CONF_KIND_(rule) CONF_PICK_(CONF_GENERIC_##rule, OWN_TEST_)
#define CONF_CAT_(a, b) CONF_CAT2_(a, b)
#define CONF_CAT2_(a, b) a##b
#define CONF_DECL_REF_UNARY_(name) extern const conf_unary_ref conf_ref_##name;
#define CONF_DECL_REF_BINARY_(name) extern const conf_binary_ref conf_ref_##name;
#define CONF_DECL_REF_NONE_(name)
#define CONF_DECL_OWN_TEST_(name) void test_##name(conf *c, st_dtype dt);
#define CONF_DECL_(F, ID, name, sig, rule, ...) CONF_CAT_(CONF_DECL_, CONF_KIND_(rule))(name)
ST_OP_TABLE(CONF_DECL_)
#undef CONF_DECL_

/* The generic tests (test_elementwise.c). */
void conf_unary(conf *c, st_op op, st_dtype dt, const conf_unary_ref *ref);
void conf_unary_bwd(conf *c, st_op op, st_dtype dt, const conf_unary_ref *fwd);
void conf_binary(conf *c, st_op op, st_dtype dt, const conf_binary_ref *ref);
/* The gradient of `op` as the graph runs it (its backward op or rule, from the table) against
 * finite differences of the op, on each of its cases at a few elements (test_grad_table.c). */
void conf_grad(conf *c, st_op op);
/* The VJP functions of grad.h for the unary and binary ops they serve (test_grad_elementwise.c). */
void test_vjp(conf *c);

/* Cross-backend copies between the device under test and cpu. */
void test_transfer(conf *c);
/* Out of memory, operands on two devices, NULL operands. */
void test_errors(conf *c);

#endif
