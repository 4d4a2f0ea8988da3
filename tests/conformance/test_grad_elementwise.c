/* Gradients of the elementwise ops against central finite differences of the forward op on the
 * device under test: the VJPs of grad.h (unary, binary with broadcasting, scale, cast) and the
 * gelu/relu backward ops. Loss L = sum(out * w), f32. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"
#include "ref.h"

#define GRAD_TOL 1e-2

/* The forward call of a finite-difference loss. */
typedef struct ew_fd {
    st_op op;
    ht *out, *a, *b;
    const double *w;
    float alpha, beta;
} ew_fd;

static st_status ew_forward(const ew_fd *f)
{
    switch (f->op) {
    case ST_OP_ADD: return st_add(f->out->t, f->a->t, f->b->t);
    case ST_OP_SUB: return st_sub(f->out->t, f->a->t, f->b->t);
    case ST_OP_MUL: return st_mul(f->out->t, f->a->t, f->b->t);
    case ST_OP_DIV: return st_div(f->out->t, f->a->t, f->b->t);
    case ST_OP_SCALE: return st_scale(f->out->t, f->a->t, f->alpha, f->beta);
    case ST_OP_GELU: return st_gelu(f->out->t, f->a->t);
    case ST_OP_RELU: return st_relu(f->out->t, f->a->t);
    case ST_OP_EXP: return st_exp(f->out->t, f->a->t);
    case ST_OP_LOG: return st_log(f->out->t, f->a->t);
    case ST_OP_TANH: return st_tanh(f->out->t, f->a->t);
    case ST_OP_SQRT: return st_sqrt(f->out->t, f->a->t);
    default: return st_rsqrt(f->out->t, f->a->t);
    }
}

static int ew_run(void *ctx, check *k, double *loss)
{
    ew_fd *f = ctx;
    if (!check_ok(k, ew_forward(f), st_op_name(f->op)) || !ht_fetch(k, f->out)) return 0;
    *loss = conf_dot(f->out, f->w);
    return 1;
}

/* Unary op with its gradient from st_vjp_unary (or the backward op for gelu/relu). */
static void unary_grad_case(conf *c, check *k, st_op op, layout l, double lo, double hi)
{
    static const int64_t shape[2] = {3, 5};
    ht in = {0}, out = {0}, dout = {0}, din = {0};
    double *w = conf_weights(c, 15);
    check_case(k, "[3,5] %s", layout_name(l));
    ew_fd f = {.op = op, .out = &out, .a = &in, .w = w};
    if (!ht_rand(c, k, &in, ST_F32, 2, shape, l, lo, hi)) goto done;
    if (op == ST_OP_RELU) { /* keep clear of the kink by more than eps */
        for (int i = 0; i < 15; i++) in.v[i] = (i % 2 ? -1 : 1) * (0.1 + fabs(in.v[i]));
        if (!ht_set(k, &in, in.v)) goto done;
    }
    if (!ht_out(c, k, &out, ST_F32, 2, shape, L_CONTIG) || !ht_from(c, k, &dout, ST_F32, 2, shape, L_CONTIG, w) ||
        !ht_out(c, k, &din, ST_F32, 2, shape, l == L_STEP ? L_STEP : L_CONTIG) ||
        !check_ok(k, ew_forward(&f), st_op_name(op)))
        goto done;
    st_status s = op == ST_OP_GELU   ? st_gelu_backward(din.t, dout.t, in.t)
                  : op == ST_OP_RELU ? st_relu_backward(din.t, dout.t, in.t)
                                     : st_vjp_unary(op, din.t, dout.t, in.t, out.t);
    if (check_ok(k, s, op == ST_OP_GELU || op == ST_OP_RELU ? "backward op" : "st_vjp_unary") &&
        ht_fetch(k, &din))
        fd_check(k, "din", &in, din.v, ew_run, &f, 1e-2);
done:
    free(w);
    ht_free(&in);
    ht_free(&out);
    ht_free(&dout);
    ht_free(&din);
}

void grad_unary(conf *c, st_op op, double lo, double hi)
{
    check k;
    check_begin(&k, st_op_name(op), ST_F32, "grad (st_vjp_unary vs finite differences)", GRAD_TOL);
    unary_grad_case(c, &k, op, L_CONTIG, lo, hi);
    unary_grad_case(c, &k, op, L_TRANS, lo, hi);
    check_end(&k);
}

void grad_activation(conf *c, st_op op)
{
    check k;
    check_begin(&k, st_op_name(op), ST_F32, "grad (backward op vs finite differences)", GRAD_TOL);
    unary_grad_case(c, &k, op, L_CONTIG, op == ST_OP_GELU ? -3 : -2, op == ST_OP_GELU ? 3 : 2);
    unary_grad_case(c, &k, op, L_STEP, -2, 2);
    check_end(&k);
}

typedef struct gcase {
    int na;
    int64_t sa[3];
    int nb;
    int64_t sb[3];
} gcase;

static void binary_grad_case(conf *c, check *k, st_op op, const gcase *g)
{
    char s1[64], s2[64];
    int64_t so[3];
    int nd = ref_bcast_shape(g->na, g->sa, g->nb, g->sb, so);
    ht a = {0}, b = {0}, out = {0}, dout = {0}, da = {0}, db = {0};
    check_case(k, "a %s, b %s", shape_str(s1, sizeof s1, g->na, g->sa), shape_str(s2, sizeof s2, g->nb, g->sb));
    if (!ht_rand(c, k, &a, ST_F32, g->na, g->sa, L_CONTIG, -2, 2) ||
        !ht_rand(c, k, &b, ST_F32, g->nb, g->sb, L_CONTIG, 0.5, 2) ||
        !ht_out(c, k, &out, ST_F32, nd, so, L_CONTIG))
        goto done;
    double *w = conf_weights(c, out.n);
    ew_fd f = {.op = op, .out = &out, .a = &a, .b = &b, .w = w};
    if (ht_from(c, k, &dout, ST_F32, nd, so, L_CONTIG, w) && ht_out(c, k, &da, ST_F32, g->na, g->sa, L_CONTIG) &&
        ht_out(c, k, &db, ST_F32, g->nb, g->sb, L_CONTIG) &&
        check_ok(k, st_vjp_binary(op, da.t, db.t, dout.t, a.t, b.t), "st_vjp_binary") &&
        ht_fetch(k, &da) && ht_fetch(k, &db) && fd_check(k, "da", &a, da.v, ew_run, &f, 1e-2))
        fd_check(k, "db", &b, db.v, ew_run, &f, 1e-2);
    /* One gradient alone (the other NULL) must give the same numbers. */
    if (!k->failed && check_ok(k, st_vjp_binary(op, NULL, db.t, dout.t, a.t, b.t), "st_vjp_binary(da NULL)")) {
        double *prev = malloc(sizeof(double) * (size_t)(db.n + 1));
        memcpy(prev, db.v, sizeof(double) * (size_t)db.n);
        if (ht_fetch(k, &db)) check_close(k, "db with da NULL", db.v, prev, NULL, db.n, 1.0);
        free(prev);
    }
    free(w);
done:
    ht_free(&a);
    ht_free(&b);
    ht_free(&out);
    ht_free(&dout);
    ht_free(&da);
    ht_free(&db);
}

void grad_binary(conf *c, st_op op)
{
    static const gcase cases[] = {
        {2, {3, 5}, 2, {3, 5}},
        {3, {3, 1, 5}, 2, {4, 5}},
        {2, {2, 3}, 0, {0}},
        {1, {1}, 2, {4, 3}},
    };
    check k;
    check_begin(&k, st_op_name(op), ST_F32, "grad (st_vjp_binary vs finite differences)", GRAD_TOL);
    for (int i = 0; i < 4; i++) binary_grad_case(c, &k, op, &cases[i]);
    check_end(&k);
}

void grad_scale(conf *c)
{
    static const int64_t sin[2] = {1, 5}, sout[2] = {3, 5};
    check k;
    ht in = {0}, out = {0}, dout = {0}, din = {0};
    double *w = conf_weights(c, 15);
    ew_fd f = {.op = ST_OP_SCALE, .out = &out, .a = &in, .w = w, .alpha = 1.5f, .beta = 0.25f};
    check_begin(&k, "scale", ST_F32, "grad (st_vjp_scale vs finite differences)", GRAD_TOL);
    check_case(&k, "in [1,5] broadcast to [3,5], alpha 1.5");
    if (ht_rand(c, &k, &in, ST_F32, 2, sin, L_CONTIG, -2, 2) && ht_out(c, &k, &out, ST_F32, 2, sout, L_CONTIG) &&
        ht_from(c, &k, &dout, ST_F32, 2, sout, L_CONTIG, w) && ht_out(c, &k, &din, ST_F32, 2, sin, L_CONTIG) &&
        check_ok(&k, st_vjp_scale(din.t, dout.t, 1.5f), "st_vjp_scale") && ht_fetch(&k, &din))
        fd_check(&k, "din", &in, din.v, ew_run, &f, 1e-2);
    check_end(&k);
    free(w);
    ht_free(&in);
    ht_free(&out);
    ht_free(&dout);
    ht_free(&din);
}

/* cast and copy are linear with unit slope: their VJP is dout converted, exactly. */
void grad_cast(conf *c, st_op op)
{
    static const int64_t shape[2] = {7, 5};
    check k;
    check_begin(&k, st_op_name(op), ST_F32, "grad (st_vjp_cast, exact)", 0.0);
    for (int dir = 0; dir < (op == ST_OP_CAST ? 2 : 1); dir++) {
        st_dtype din_dt = ST_F32, dout_dt = op == ST_OP_CAST ? (dir ? ST_F32 : ST_BF16) : ST_F32;
        if (dir) din_dt = ST_BF16;
        ht dout = {0}, din = {0};
        check_case(&k, "dout %s -> din %s", st_dtype_name(dout_dt), st_dtype_name(din_dt));
        if (ht_rand(c, &k, &dout, dout_dt, 2, shape, L_TRANS, -3, 3) &&
            ht_out(c, &k, &din, din_dt, 2, shape, L_CONTIG) &&
            check_ok(&k, st_vjp_cast(din.t, dout.t), "st_vjp_cast")) {
            double ref[35];
            for (int i = 0; i < 35; i++) ref[i] = conf_round(din_dt, dout.v[i]);
            ht_close(&k, &din, "din", ref, NULL, 1.0);
        }
        ht_free(&dout);
        ht_free(&din);
    }
    check_end(&k);
}
