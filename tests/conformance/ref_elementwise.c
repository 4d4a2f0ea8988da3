/* Double-precision references of the elementwise ops and of numpy broadcasting. */
#include <math.h>
#include "ref.h"

static const double GELU_C = 0.7978845608028654; /* sqrt(2/pi) */

double ref_unary(st_op op, double x)
{
    switch (op) {
    case ST_OP_GELU: return 0.5 * x * (1.0 + tanh(GELU_C * (x + 0.044715 * x * x * x)));
    case ST_OP_RELU: return x > 0 ? x : 0.0;
    case ST_OP_EXP: return exp(x);
    case ST_OP_LOG: return log(x);
    case ST_OP_TANH: return tanh(x);
    case ST_OP_SQRT: return sqrt(x);
    case ST_OP_RSQRT: return 1.0 / sqrt(x);
    default: return NAN;
    }
}

double ref_unary_grad(st_op op, double x)
{
    switch (op) {
    case ST_OP_GELU: {
        double u = GELU_C * (x + 0.044715 * x * x * x), t = tanh(u);
        double du = GELU_C * (1.0 + 3.0 * 0.044715 * x * x);
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
    }
    case ST_OP_RELU: return x > 0 ? 1.0 : 0.0;
    case ST_OP_EXP: return exp(x);
    case ST_OP_LOG: return 1.0 / x;
    case ST_OP_TANH: return 1.0 - tanh(x) * tanh(x);
    case ST_OP_SQRT: return 0.5 / sqrt(x);
    case ST_OP_RSQRT: return -0.5 / (x * sqrt(x));
    default: return NAN;
    }
}

double ref_binary(st_op op, double a, double b)
{
    switch (op) {
    case ST_OP_ADD: return a + b;
    case ST_OP_SUB: return a - b;
    case ST_OP_MUL: return a * b;
    case ST_OP_DIV: return a / b;
    case ST_OP_GELU_BACKWARD: return a * ref_unary_grad(ST_OP_GELU, b);
    case ST_OP_RELU_BACKWARD: return b > 0 ? a : 0.0;
    default: return NAN;
    }
}

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
