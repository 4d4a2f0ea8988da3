/* The VJPs of grad.h for the elementwise ops (unary, binary with broadcasting, scale, cast)
 * against central finite differences of the forward op on the device under test. Loss
 * L = sum(out * w), f32. (Every op's gradient as the graph runs it is test_grad_table.c's.) */
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
    const st_tensor *ins[2] = {f->a->t, f->b ? f->b->t : NULL};
    st_scale_params scale = {f->alpha, f->beta}; /* read by scale only */
    return st_op_run(f->op, &f->out->t, 1, ins, f->b ? 2 : 1, &scale);
}

static int ew_run(void *ctx, check *k, double *loss)
{
    ew_fd *f = ctx;
    if (!check_ok(k, ew_forward(f), st_op_name(f->op)) || !ht_fetch(k, f->out)) return 0;
    *loss = conf_dot(f->out, f->w);
    return 1;
}

/* Unary op with its gradient from st_vjp_unary. */
static void unary_grad_case(conf *c, check *k, st_op op, layout l, double lo, double hi)
{
    static const int64_t shape[2] = {3, 5};
    ht in = {0}, out = {0}, dout = {0}, din = {0};
    double *w = conf_weights(c, 15);
    check_case(k, "[3,5] %s", layout_name(l));
    ew_fd f = {.op = op, .out = &out, .a = &in, .w = w};
    if (ht_rand(c, k, &in, ST_F32, 2, shape, l, lo, hi) && ht_out(c, k, &out, ST_F32, 2, shape, L_CONTIG) &&
        ht_from(c, k, &dout, ST_F32, 2, shape, L_CONTIG, w) && ht_out(c, k, &din, ST_F32, 2, shape, L_CONTIG) &&
        check_ok(k, ew_forward(&f), st_op_name(op)) &&
        check_ok(k, st_vjp_unary(op, din.t, dout.t, in.t, out.t), "st_vjp_unary") && ht_fetch(k, &din))
        fd_check(k, "din", &in, din.v, ew_run, &f, 1e-2);
    free(w);
    ht_free(&in);
    ht_free(&out);
    ht_free(&dout);
    ht_free(&din);
}

static void grad_unary(conf *c, st_op op, double lo, double hi)
{
    check k;
    check_begin(&k, st_op_name(op), ST_F32, "grad (st_vjp_unary vs finite differences)", GRAD_TOL);
    unary_grad_case(c, &k, op, L_CONTIG, lo, hi);
    unary_grad_case(c, &k, op, L_TRANS, lo, hi);
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

static void grad_binary(conf *c, st_op op)
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

/* grad.h's VJPs of the unary and binary ops, on their documented op sets. */
void test_vjp(conf *c)
{
    static const struct {
        st_op op;
        double lo, hi;
    } unary[] = {{ST_OP_EXP, -2, 2}, {ST_OP_LOG, 0.5, 4}, {ST_OP_TANH, -2, 2}, {ST_OP_SQRT, 0.5, 4}, {ST_OP_RSQRT, 0.5, 4}};
    static const st_op binary[] = {ST_OP_ADD, ST_OP_SUB, ST_OP_MUL, ST_OP_DIV};
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) grad_unary(c, unary[i].op, unary[i].lo, unary[i].hi);
    for (size_t i = 0; i < sizeof binary / sizeof binary[0]; i++) grad_binary(c, binary[i]);
}
