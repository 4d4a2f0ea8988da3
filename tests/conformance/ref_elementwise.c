/* Double-precision references of the elementwise ops, written from docs/OPS.md independently of
 * the library's kernels, and numpy broadcasting. A unary op's reference computes over dual
 * numbers (value, derivative), so the same one line checks the op and its backward op. */
#include <math.h>
#include "conf.h"
#include "ref.h"

static conf_dual dc(double v) { return (conf_dual){v, 0.0}; }
static conf_dual dadd(conf_dual a, conf_dual b) { return (conf_dual){a.v + b.v, a.d + b.d}; }
static conf_dual dmul(conf_dual a, conf_dual b) { return (conf_dual){a.v * b.v, a.d * b.v + a.v * b.d}; }
static conf_dual ddiv(conf_dual a, conf_dual b) { return (conf_dual){a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v)}; }
static conf_dual dexp(conf_dual x) { return (conf_dual){exp(x.v), exp(x.v) * x.d}; }
static conf_dual dlog(conf_dual x) { return (conf_dual){log(x.v), x.d / x.v}; }
static conf_dual dtanh(conf_dual x) { return (conf_dual){tanh(x.v), (1.0 - tanh(x.v) * tanh(x.v)) * x.d}; }
static conf_dual dsqrt(conf_dual x) { return (conf_dual){sqrt(x.v), x.d / (2.0 * sqrt(x.v))}; }

/* conf_ref_<name>: the reference of unary op <name> on inputs in [lo, hi). */
#define REF_UNARY(name, lo, hi)                                                                \
    static conf_dual ref_##name(conf_dual x);                                                  \
    const conf_unary_ref conf_ref_##name = {lo, hi, ref_##name};                               \
    static conf_dual ref_##name(conf_dual x)

REF_UNARY(gelu, -4.0, 4.0)
{
    conf_dual u = dmul(dc(0.7978845608028654), dadd(x, dmul(dc(0.044715), dmul(x, dmul(x, x)))));
    return dmul(dmul(dc(0.5), x), dadd(dc(1.0), dtanh(u)));
}
REF_UNARY(relu, -2.0, 2.0) { return x.v > 0 ? x : dc(0.0); }
REF_UNARY(exp, -5.0, 5.0) { return dexp(x); }
REF_UNARY(log, 0.05, 20.0) { return dlog(x); }
REF_UNARY(tanh, -4.0, 4.0) { return dtanh(x); }
REF_UNARY(sqrt, 0.0, 20.0) { return dsqrt(x); }
REF_UNARY(rsqrt, 0.05, 20.0) { return ddiv(dc(1.0), dsqrt(x)); }
REF_UNARY(silu, -6.0, 6.0) { return ddiv(x, dadd(dc(1.0), dexp(dmul(dc(-1.0), x)))); }

/* conf_ref_<name>: the reference of binary op <name>, b in [lo, hi) at least min_abs from 0. */
#define REF_BINARY(name, lo, hi, min_abs)                                                      \
    static double ref_##name(double a, double b);                                              \
    const conf_binary_ref conf_ref_##name = {lo, hi, min_abs, ref_##name};                     \
    static double ref_##name(double a, double b)

REF_BINARY(add, -2.0, 2.0, 0.0) { return a + b; }
REF_BINARY(sub, -2.0, 2.0, 0.0) { return a - b; }
REF_BINARY(mul, -2.0, 2.0, 0.0) { return a * b; }
REF_BINARY(div, -2.0, 2.0, 0.5) { return a / b; }

int64_t ref_bcast_index(int nd, const int64_t *oshape, int64_t i, int nd_in, const int64_t *ishape)
{
    int64_t idx = 0, mul = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t coord = i % oshape[d];
        i /= oshape[d];
        int di = d - (nd - nd_in);
        if (di < 0) continue;
        if (ishape[di] != 1) idx += coord * mul;
        mul *= ishape[di];
    }
    return idx;
}

int ref_bcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int64_t *out)
{
    int nd = na > nb ? na : nb;
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - na), ib = i - (nd - nb);
        int64_t x = ia >= 0 ? sa[ia] : 1, y = ib >= 0 ? sb[ib] : 1;
        out[i] = x == 1 ? y : x;
    }
    return nd;
}
