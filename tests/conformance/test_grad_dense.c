/* Gradients of matmul, the reductions and sumsq (grad.h VJPs) against central finite
 * differences of the forward op on the device under test. Loss L = sum(out * w), f32. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"

#define GRAD_TOL 1e-2

typedef struct dn_fd {
    st_op op;
    ht *out, *a, *b;
    const double *w;
    st_op_params p;
} dn_fd;

static int dn_run(void *ctx, check *k, double *loss)
{
    dn_fd *f = ctx;
    const st_tensor *ins[2] = {f->a->t, f->b ? f->b->t : NULL};
    st_status s = st_op_run(f->op, &f->out->t, 1, ins, f->b ? 2 : 1, &f->p);
    if (!check_ok(k, s, st_op_name(f->op)) || !ht_fetch(k, f->out)) return 0;
    *loss = conf_dot(f->out, f->w);
    return 1;
}

static void matmul_grad_case(conf *c, check *k, int ta, int tb, int batched)
{
    int64_t M = 3, N = 2, K = 4;
    int nd = batched ? 3 : 2;
    int64_t sa[3] = {2}, sb[2], so[3] = {2};
    sa[nd - 2] = ta ? K : M, sa[nd - 1] = ta ? M : K;
    sb[0] = tb ? N : K, sb[1] = tb ? K : N;
    so[nd - 2] = M, so[nd - 1] = N;
    ht a = {0}, b = {0}, out = {0}, dout = {0}, da = {0}, db = {0};
    check_case(k, "M 3 N 2 K 4 ta %d tb %d%s, alpha 0.7", ta, tb, batched ? ", batch 2 with b shared" : "");
    double *w = conf_weights(c, 2 * M * N);
    dn_fd f = {.op = ST_OP_MATMUL, .out = &out, .a = &a, .b = &b, .w = w, .p.matmul = {ta, tb, 0.7f, 0.0f}};
    if (ht_rand(c, k, &a, ST_F32, nd, sa, L_CONTIG, -1, 1) && ht_rand(c, k, &b, ST_F32, 2, sb, L_CONTIG, -1, 1) &&
        ht_out(c, k, &out, ST_F32, nd, so, L_CONTIG) && ht_from(c, k, &dout, ST_F32, nd, so, L_CONTIG, w) &&
        ht_out(c, k, &da, ST_F32, nd, sa, L_CONTIG) && ht_out(c, k, &db, ST_F32, 2, sb, L_CONTIG) &&
        check_ok(k, st_vjp_matmul(da.t, db.t, dout.t, a.t, b.t, ta, tb, 0.7f), "st_vjp_matmul") &&
        ht_fetch(k, &da) && ht_fetch(k, &db) && fd_check(k, "da", &a, da.v, dn_run, &f, 1e-2))
        fd_check(k, "db", &b, db.v, dn_run, &f, 1e-2);
    free(w);
    ht_free(&a);
    ht_free(&b);
    ht_free(&out);
    ht_free(&dout);
    ht_free(&da);
    ht_free(&db);
}

void grad_matmul(conf *c)
{
    check k;
    check_begin(&k, "matmul", ST_F32, "grad (st_vjp_matmul vs finite differences)", GRAD_TOL);
    for (int t = 0; t < 4; t++) matmul_grad_case(c, &k, t & 1, t >> 1, 0);
    matmul_grad_case(c, &k, 0, 1, 1);
    check_end(&k);
}

/* Distinct values at least 0.1 apart, so that a +-eps step never changes which one is the max. */
static void spread_values(conf *c, double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) v[i] = -2.0 + 0.13 * (double)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(conf_rand_u64(c) % (uint64_t)(i + 1));
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static void reduce_grad_case(conf *c, check *k, st_op op, int nd, const int64_t *s, int axis, int keep)
{
    int64_t so[3];
    int ndo = 0, a = axis < 0 ? axis + nd : axis;
    for (int i = 0; i < nd; i++) {
        if (i != a) so[ndo++] = s[i];
        else if (keep) so[ndo++] = 1;
    }
    char s1[64];
    check_case(k, "in %s axis %d%s", shape_str(s1, sizeof s1, nd, s), axis, keep ? " kept" : "");
    ht in = {0}, out = {0}, dout = {0}, din = {0};
    double v[64], *w = NULL;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    spread_values(c, v, n);
    if (ht_from(c, k, &in, ST_F32, nd, s, L_CONTIG, v) && ht_out(c, k, &out, ST_F32, ndo, so, L_CONTIG)) {
        w = conf_weights(c, out.n);
        dn_fd f = {.op = op, .out = &out, .a = &in, .w = w, .p.sum.axis = axis};
        double l0 = 0;
        if (dn_run(&f, k, &l0) &&
            ht_from(c, k, &dout, ST_F32, ndo, so, L_CONTIG, w) && ht_out(c, k, &din, ST_F32, nd, s, L_CONTIG) &&
            check_ok(k, st_vjp_reduce(op, din.t, dout.t, in.t, out.t, axis), "st_vjp_reduce") &&
            ht_fetch(k, &din))
            fd_check(k, "din", &in, din.v, dn_run, &f, 1e-2);
    }
    free(w);
    ht_free(&in);
    ht_free(&out);
    ht_free(&dout);
    ht_free(&din);
}

void grad_reduce(conf *c, st_op op)
{
    static const int64_t s2[2] = {3, 4}, s3[3] = {2, 3, 4};
    check k;
    check_begin(&k, st_op_name(op), ST_F32, "grad (st_vjp_reduce vs finite differences)", GRAD_TOL);
    reduce_grad_case(c, &k, op, 2, s2, 1, 0);
    reduce_grad_case(c, &k, op, 2, s2, 0, 1);
    reduce_grad_case(c, &k, op, 3, s3, 1, 0);
    reduce_grad_case(c, &k, op, 3, s3, -1, 1);
    check_end(&k);
}

void grad_sumsq(conf *c)
{
    static const int64_t s[2] = {3, 5}, one = 1;
    double w = 0.75;
    ht in = {0}, out = {0}, dout = {0}, din = {0};
    dn_fd f = {.op = ST_OP_SUMSQ, .out = &out, .a = &in, .w = &w};
    check k;
    check_begin(&k, "sumsq", ST_F32, "grad (st_vjp_sumsq vs finite differences)", GRAD_TOL);
    check_case(&k, "in [3,5] trans, dout 0.75");
    if (ht_rand(c, &k, &in, ST_F32, 2, s, L_TRANS, -2, 2) && ht_out(c, &k, &out, ST_F32, 1, &one, L_CONTIG) &&
        ht_from(c, &k, &dout, ST_F32, 1, &one, L_CONTIG, &w) && ht_out(c, &k, &din, ST_F32, 2, s, L_CONTIG) &&
        check_ok(&k, st_vjp_sumsq(din.t, dout.t, in.t), "st_vjp_sumsq") && ht_fetch(&k, &din))
        fd_check(&k, "din", &in, din.v, dn_run, &f, 1e-2);
    check_end(&k);
    ht_free(&in);
    ht_free(&out);
    ht_free(&dout);
    ht_free(&din);
}
