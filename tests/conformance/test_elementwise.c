/* Conformance of the strided ops (the copy and elementwise families) against ref_elementwise.c:
 * scalars, empty and size-1 dims, odd sizes, strided and broadcast inputs, strided outputs, in
 * place. The unary, unary_bwd and binary rules' ops run generic tests (conf_unary, ...) through
 * st_op_run; fill, copy, cast and scale have their own. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"
#include "ref.h"

/* The expected result of one element. */
typedef double (*ref1_fn)(const void *ctx, double x);
typedef double (*ref2_fn)(const void *ctx, double a, double b);

/* Output shape, input shape (nd_in < 0: the output's), layouts, in place. */
typedef struct ucase {
    int nd;
    int64_t s[ST_MAX_DIMS];
    int nd_in;
    int64_t s_in[ST_MAX_DIMS];
    layout lin, lout;
    int inplace;
} ucase;

static const ucase ucases[] = {
    {0, {0}, -1, {0}, L_CONTIG, L_CONTIG, 0},
    {1, {0}, -1, {0}, L_CONTIG, L_CONTIG, 0},
    {2, {3, 0}, -1, {0}, L_TRANS, L_CONTIG, 0},
    {1, {1}, -1, {0}, L_CONTIG, L_CONTIG, 0},
    {2, {1, 1}, -1, {0}, L_CONTIG, L_STEP, 0},
    {1, {7}, -1, {0}, L_CONTIG, L_CONTIG, 0},
    {2, {13, 33}, -1, {0}, L_CONTIG, L_CONTIG, 0},
    {4, {2, 3, 5, 7}, -1, {0}, L_CONTIG, L_CONTIG, 0},
    {2, {13, 33}, -1, {0}, L_TRANS, L_CONTIG, 0},
    {2, {13, 33}, -1, {0}, L_STEP, L_CONTIG, 0},
    {2, {13, 33}, -1, {0}, L_CONTIG, L_STEP, 0},
    {2, {13, 33}, -1, {0}, L_TRANS, L_TRANS, 0},
    {3, {5, 7, 9}, -1, {0}, L_SWAP12, L_STEP, 0},
    {2, {13, 33}, -1, {0}, L_BCAST, L_CONTIG, 0},
    {2, {13, 33}, 2, {13, 1}, L_CONTIG, L_CONTIG, 0},
    {4, {2, 3, 5, 7}, 0, {0}, L_CONTIG, L_CONTIG, 0},
    {2, {13, 33}, -1, {0}, L_CONTIG, L_CONTIG, 1},
    {2, {13, 33}, -1, {0}, L_STEP, L_CONTIG, 1},
    {2, {129, 513}, -1, {0}, L_CONTIG, L_CONTIG, 0},
};
#define N_UCASES ((int)(sizeof ucases / sizeof ucases[0]))

/* a, b shapes (out = broadcast), layouts of a, b, out; inplace: out is a. */
typedef struct bcase {
    int na;
    int64_t sa[ST_MAX_DIMS];
    int nb;
    int64_t sb[ST_MAX_DIMS];
    layout la, lb, lout;
    int inplace;
} bcase;

static const bcase bcases[] = {
    {0, {0}, 0, {0}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {1, {0}, 1, {0}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {2, {3, 0}, 2, {1, 0}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {1, {1}, 1, {1}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {2, {1, 1}, 2, {7, 1}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {1, {7}, 1, {7}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {2, {13, 33}, 2, {13, 33}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {2, {13, 1}, 2, {1, 33}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {1, {33}, 2, {13, 33}, L_CONTIG, L_TRANS, L_CONTIG, 0},
    {0, {0}, 2, {4, 5}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {4, {2, 1, 5, 1}, 3, {3, 1, 7}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {2, {13, 33}, 2, {13, 33}, L_TRANS, L_STEP, L_CONTIG, 0},
    {2, {13, 33}, 2, {13, 33}, L_CONTIG, L_CONTIG, L_STEP, 0},
    {3, {5, 7, 9}, 3, {5, 7, 9}, L_SWAP12, L_SWAP12, L_TRANS, 0},
    {2, {13, 33}, 2, {13, 33}, L_CONTIG, L_BCAST, L_CONTIG, 0},
    {2, {13, 33}, 2, {1, 33}, L_CONTIG, L_CONTIG, L_CONTIG, 1},
    {2, {129, 513}, 2, {129, 513}, L_CONTIG, L_CONTIG, L_CONTIG, 0},
};
#define N_BCASES ((int)(sizeof bcases / sizeof bcases[0]))

/* One case of a one-input op (params as st_op_run takes them). */
static void unary_case(conf *c, check *k, st_dtype dt, st_op op, const void *params, const ucase *u, double lo,
                       double hi, ref1_fn fn, const void *ctx)
{
    char s1[64], s2[64];
    int nd_in = u->nd_in < 0 ? u->nd : u->nd_in;
    const int64_t *s_in = u->nd_in < 0 ? u->s : u->s_in;
    check_case(k, "out %s %s, in %s %s%s", shape_str(s1, sizeof s1, u->nd, u->s),
               layout_name(u->lout), shape_str(s2, sizeof s2, nd_in, s_in), layout_name(u->lin),
               u->inplace ? ", in place" : "");
    ht in = {0}, out = {0};
    double *ref = NULL;
    if (!ht_rand(c, k, &in, dt, nd_in, s_in, u->lin, lo, hi)) goto done;
    if (!u->inplace && !ht_out(c, k, &out, dt, u->nd, u->s, u->lout)) goto done;
    ht *o = u->inplace ? &in : &out;
    ref = malloc(sizeof(double) * (size_t)(o->n + 1));
    for (int64_t i = 0; i < o->n; i++) ref[i] = fn(ctx, in.v[ref_bcast_index(u->nd, u->s, i, nd_in, s_in)]);
    if (check_ok(k, st_op_run(op, &o->t, 1, (const st_tensor *const[]){in.t}, 1, params), st_op_name(op)))
        ht_close(k, o, "out", ref, NULL, 1.0);
done:
    free(ref);
    ht_free(&in);
    ht_free(&out);
}

/* One case of a two-input op: a in [-2, 2), b in [lo, hi) at least b_min_abs from 0. */
static void binary_case(conf *c, check *k, st_dtype dt, st_op op, const bcase *b, double lo, double hi,
                        double b_min_abs, ref2_fn fn, const void *ctx)
{
    char s1[64], s2[64];
    int64_t so[ST_MAX_DIMS];
    int nd = ref_bcast_shape(b->na, b->sa, b->nb, b->sb, so);
    check_case(k, "a %s %s, b %s %s, out %s%s", shape_str(s1, sizeof s1, b->na, b->sa),
               layout_name(b->la), shape_str(s2, sizeof s2, b->nb, b->sb), layout_name(b->lb),
               layout_name(b->lout), b->inplace ? " (a, in place)" : "");
    ht a = {0}, bb = {0}, out = {0};
    double *ref = NULL;
    if (!ht_rand(c, k, &a, dt, b->na, b->sa, b->la, -2.0, 2.0)) goto done;
    if (!ht_rand(c, k, &bb, dt, b->nb, b->sb, b->lb, lo, hi)) goto done;
    if (b_min_abs > 0) { /* both signs, away from 0 */
        for (int64_t i = 0; i < bb.n; i++) bb.v[i] = (i % 2 ? -1 : 1) * (b_min_abs + fabs(bb.v[i]));
        if (!ht_set(k, &bb, bb.v)) goto done;
    }
    if (!b->inplace && !ht_out(c, k, &out, dt, nd, so, b->lout)) goto done;
    ht *o = b->inplace ? &a : &out;
    ref = malloc(sizeof(double) * (size_t)(o->n + 1));
    for (int64_t i = 0; i < o->n; i++)
        ref[i] = fn(ctx, a.v[ref_bcast_index(nd, so, i, b->na, b->sa)], bb.v[ref_bcast_index(nd, so, i, b->nb, b->sb)]);
    if (check_ok(k, st_op_run(op, &o->t, 1, (const st_tensor *const[]){a.t, bb.t}, 2, NULL), st_op_name(op)))
        ht_close(k, o, "out", ref, NULL, 1.0);
done:
    free(ref);
    ht_free(&a);
    ht_free(&bb);
    ht_free(&out);
}

static double unary_value(const void *ctx, double x)
{
    return ((const conf_unary_ref *)ctx)->fn((conf_dual){x, 1.0}).v;
}

static double unary_grad(const void *ctx, double dout, double x)
{
    return dout * ((const conf_unary_ref *)ctx)->fn((conf_dual){x, 1.0}).d;
}

static double binary_value(const void *ctx, double a, double b) { return ((const conf_binary_ref *)ctx)->fn(a, b); }

void conf_unary(conf *c, st_op op, st_dtype dt, const conf_unary_ref *ref)
{
    check k;
    check_begin(&k, st_op_name(op), dt, "fwd", conf_tol_ew(dt));
    for (int i = 0; i < N_UCASES; i++) unary_case(c, &k, dt, op, NULL, &ucases[i], ref->lo, ref->hi, unary_value, ref);
    check_end(&k);
}

/* A unary op's backward op (dout, in): dout times the derivative of the forward's reference. */
void conf_unary_bwd(conf *c, st_op op, st_dtype dt, const conf_unary_ref *fwd)
{
    check k;
    check_begin(&k, st_op_name(op), dt, "fwd", conf_tol_ew(dt));
    if (!fwd) check_fail(&k, "its forward op has no unary reference (conf_ref_<name>) to take the derivative of");
    for (int i = 0; fwd && i < N_BCASES; i++) binary_case(c, &k, dt, op, &bcases[i], fwd->lo, fwd->hi, 0.0, unary_grad, fwd);
    check_end(&k);
}

void conf_binary(conf *c, st_op op, st_dtype dt, const conf_binary_ref *ref)
{
    check k;
    check_begin(&k, st_op_name(op), dt, "fwd", conf_tol_ew(dt));
    for (int i = 0; i < N_BCASES; i++)
        binary_case(c, &k, dt, op, &bcases[i], ref->lo, ref->hi, ref->b_min_abs, binary_value, ref);
    check_end(&k);
}

/* Gradient checks of grad.h's VJPs, in test_grad_elementwise.c. */
void grad_scale(conf *c);
void grad_cast(conf *c, st_op op);

static double scale_value(const void *ctx, double x)
{
    const st_scale_params *p = ctx;
    return (double)p->alpha * x + p->beta;
}

void test_scale(conf *c, st_dtype dt)
{
    static const st_scale_params ab[] = {{1.5f, 0.25f}, {-0.5f, 0.0f}, {0.0f, 3.0f}, {1.0f, 0.0f}};
    check k;
    check_begin(&k, "scale", dt, "fwd", conf_tol_ew(dt));
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < N_UCASES; i++)
            unary_case(c, &k, dt, ST_OP_SCALE, &ab[j], &ucases[i], -2, 2, scale_value, &ab[j]);
    check_end(&k);
    if (dt == ST_F32) grad_scale(c);
}

/* fill: every element of out (a view: only its elements) is the value rounded to out's dtype. */
void test_fill(conf *c, st_dtype dt)
{
    static const double fvals[] = {3.25, 0.1, -2.5e-3, 1e30, -0.0};
    static const double ivals[] = {7, -3, 0, 2147483647.0, -2147483648.0};
    static const double i8vals[] = {7, -3, 0, 1000.0, -129.5}; /* the last two saturate */
    const double *vals = dt == ST_I32 ? ivals : dt == ST_I8 ? i8vals : fvals;
    check k;
    check_begin(&k, "fill", dt, "fwd", 0.0);
    for (int j = 0; j < 5; j++)
        for (int i = 0; i < N_UCASES; i++) {
            const ucase *u = &ucases[i];
            char s1[64];
            ht out = {0};
            check_case(&k, "out %s %s, value %g", shape_str(s1, sizeof s1, u->nd, u->s),
                       layout_name(u->lout), vals[j]);
            if (ht_out(c, &k, &out, dt, u->nd, u->s, u->lout) &&
                check_ok(&k, st_fill(out.t, vals[j]), "st_fill")) {
                double *ref = malloc(sizeof(double) * (size_t)(out.n + 1));
                for (int64_t e = 0; e < out.n; e++) ref[e] = conf_round(dt, vals[j]);
                ht_close(&k, &out, "out", ref, NULL, 1.0);
                free(ref);
            }
            ht_free(&out);
        }
    check_end(&k);
}

/* copy and cast: out = in (converted), exactly. */
static void copy_cases(conf *c, check *k, st_dtype dt_out, st_dtype dt_in, int cast)
{
    for (int i = 0; i < N_UCASES; i++) {
        const ucase *u = &ucases[i];
        if (u->nd_in >= 0 || u->inplace) continue; /* copy and cast take equal shapes */
        char s1[64];
        ht in = {0}, out = {0};
        check_case(k, "%s %s %s -> %s %s", st_dtype_name(dt_in), shape_str(s1, sizeof s1, u->nd, u->s),
                   layout_name(u->lin), st_dtype_name(dt_out), layout_name(u->lout));
        double lo = dt_in == ST_I32 ? -100000 : dt_in == ST_I8 ? -128 : -3e4, hi = dt_in == ST_I8 ? 128 : -lo;
        if (ht_rand(c, k, &in, dt_in, u->nd, u->s, u->lin, lo, hi) &&
            ht_out(c, k, &out, dt_out, u->nd, u->s, u->lout)) {
            st_status s = cast ? st_cast(out.t, in.t) : st_copy(out.t, in.t);
            double *ref = malloc(sizeof(double) * (size_t)(out.n + 1));
            for (int64_t e = 0; e < out.n; e++) ref[e] = conf_round(dt_out, in.v[e]);
            if (check_ok(k, s, cast ? "st_cast" : "st_copy")) ht_close(k, &out, "out", ref, NULL, 1.0);
            free(ref);
        }
        ht_free(&in);
        ht_free(&out);
    }
}

void test_copy(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "copy", dt, "fwd", 0.0);
    copy_cases(c, &k, dt, dt, 0);
    check_end(&k);
    if (dt == ST_F32) grad_cast(c, ST_OP_COPY);
}

/* Rounding to nearest even at ties, signed zero, infinities, NaN, overflow and subnormals. */
static void cast_specials(conf *c, check *k, st_dtype dt)
{
    static const double sv[] = {1.00390625, 1.01171875, -1.00390625, -0.0, 0.1, -7.3e5, 3.4e38,
                                1e-40, 65535.5, 1.0 / 3.0};
    double v[13];
    for (int i = 0; i < 10; i++) v[i] = sv[i];
    v[10] = INFINITY;
    v[11] = -INFINITY;
    v[12] = NAN;
    int64_t n = 13;
    ht in = {0}, out = {0};
    check_case(k, "f32 special values -> %s", st_dtype_name(dt));
    if (ht_from(c, k, &in, ST_F32, 1, &n, L_CONTIG, v) && ht_out(c, k, &out, dt, 1, &n, L_CONTIG) &&
        check_ok(k, st_cast(out.t, in.t), "st_cast")) {
        double ref[13];
        for (int i = 0; i < 13; i++) ref[i] = conf_round(dt, in.v[i]);
        if (ht_fetch(k, &out))
            for (int i = 0; i < 13; i++)
                if (memcmp(&out.v[i], &ref[i], sizeof(double)) != 0 && !(isnan(ref[i]) && isnan(out.v[i])))
                    check_fail(k, "cast of %.9g gave %.9g, expected %.9g (bit-exact, signed zero)",
                               in.v[i], out.v[i], ref[i]);
    }
    ht_free(&in);
    ht_free(&out);
}

void test_cast(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "cast", dt, "fwd", 0.0);
    copy_cases(c, &k, dt, ST_F32, 1);
    copy_cases(c, &k, dt, ST_BF16, 1);
    cast_specials(c, &k, dt);
    check_end(&k);
    if (dt == ST_F32) grad_cast(c, ST_OP_CAST);
}
