/* Conformance of matmul, the reductions and sumsq against ref_dense.c, and of their gradients
 * (st_vjp_matmul, st_vjp_reduce, st_vjp_sumsq) against finite differences. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"
#include "ref.h"

typedef struct mcase {
    int nbatch;
    int64_t batch[2];
    int64_t M, N, K;
    int ta, tb, b_shared;
    float alpha, beta;
    layout la, lb, lout;
    int nan_out; /* out holds NaN before the call (beta = 0 must ignore it) */
} mcase;

static const mcase mcases[] = {
    {0, {0}, 1, 1, 1, 0, 0, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 7, 5, 13, 0, 0, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 7, 5, 13, 1, 0, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 7, 5, 13, 0, 1, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 7, 5, 13, 1, 1, 0, -0.5f, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 33, 65, 17, 0, 0, 0, 0.5f, 1.5f, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 0, 5, 3, 0, 0, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 4, 3, 0, 0, 0, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 1},
    {0, {0}, 4, 3, 0, 0, 0, 0, 1, 1.5f, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 129, 33, 67, 0, 0, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 1},
    {1, {2}, 7, 5, 13, 0, 0, 1, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {2, {2, 3}, 7, 5, 13, 0, 1, 0, 1, 0.5f, L_CONTIG, L_CONTIG, L_CONTIG, 0},
    {0, {0}, 13, 9, 11, 0, 0, 0, 1, 0, L_TRANS, L_STEP, L_STEP, 0},
    {1, {3}, 13, 9, 11, 1, 0, 0, 2, 0, L_STEP, L_TRANS, L_TRANS, 0},
    {0, {0}, 64, 96, 128, 0, 1, 0, 1, 0, L_CONTIG, L_CONTIG, L_CONTIG, 0},
};
#define N_MCASES ((int)(sizeof mcases / sizeof mcases[0]))

static void matmul_case(conf *c, check *k, st_dtype dt, const mcase *m)
{
    int nd = m->nbatch + 2;
    int64_t sa[4], sb[4], so[4], batch = 1;
    for (int i = 0; i < m->nbatch; i++) {
        sa[i] = sb[i] = so[i] = m->batch[i];
        batch *= m->batch[i];
    }
    int ndb = m->b_shared ? 2 : nd, ob = ndb - 2;
    sa[nd - 2] = m->ta ? m->K : m->M, sa[nd - 1] = m->ta ? m->M : m->K;
    sb[ob] = m->tb ? m->N : m->K, sb[ob + 1] = m->tb ? m->K : m->N;
    so[nd - 2] = m->M, so[nd - 1] = m->N;
    check_case(k, "batch %lld%s M %lld N %lld K %lld ta %d tb %d alpha %g beta %g a %s b %s out %s",
               (long long)batch, m->b_shared ? " (b shared)" : "", (long long)m->M, (long long)m->N,
               (long long)m->K, m->ta, m->tb, m->alpha, m->beta, layout_name(m->la),
               layout_name(m->lb), layout_name(m->lout));
    ht a = {0}, b = {0}, out = {0};
    double *ref = NULL, *scale = NULL, *old = NULL;
    if (!ht_rand(c, k, &a, dt, nd, sa, m->la, -1, 1) || !ht_rand(c, k, &b, dt, ndb, sb, m->lb, -1, 1) ||
        !ht_rand(c, k, &out, dt, nd, so, m->lout, -1, 1))
        goto done;
    if (m->nan_out) {
        for (int64_t i = 0; i < out.n; i++) out.v[i] = NAN;
        if (!ht_set(k, &out, out.v)) goto done;
    }
    size_t bytes = sizeof(double) * (size_t)(out.n + 1);
    ref = malloc(bytes), scale = malloc(bytes), old = malloc(bytes);
    memcpy(old, out.v, bytes - sizeof(double));
    ref_matmul(ref, scale, a.v, b.v, batch, m->b_shared, m->M, m->N, m->K, m->ta, m->tb, m->alpha,
               m->beta, old);
    if (check_ok(k, st_matmul(out.t, a.t, b.t, m->ta, m->tb, m->alpha, m->beta), "st_matmul"))
        ht_close(k, &out, "out", ref, scale, 1e-12);
done:
    free(ref);
    free(scale);
    free(old);
    ht_free(&a);
    ht_free(&b);
    ht_free(&out);
}

void grad_matmul(conf *c);
void grad_reduce(conf *c, st_op op);
void grad_sumsq(conf *c);

void test_matmul(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "matmul", dt, "fwd", conf_tol_sum(dt, 128));
    for (int i = 0; i < N_MCASES; i++) matmul_case(c, &k, dt, &mcases[i]);
    check_end(&k);
    if (dt == ST_F32) grad_matmul(c);
}

typedef struct rcase {
    int nd;
    int64_t s[ST_MAX_DIMS];
    int axis, keep;
    layout lin, lout;
} rcase;

static const rcase rcases[] = {
    {1, {7}, 0, 1, L_CONTIG, L_CONTIG},
    {1, {7}, 0, 0, L_CONTIG, L_CONTIG},
    {2, {13, 33}, 0, 0, L_CONTIG, L_CONTIG},
    {2, {13, 33}, 1, 1, L_CONTIG, L_CONTIG},
    {2, {13, 33}, -1, 0, L_TRANS, L_CONTIG},
    {4, {2, 3, 5, 7}, 1, 1, L_CONTIG, L_CONTIG},
    {4, {2, 3, 5, 7}, 2, 0, L_CONTIG, L_STEP},
    {4, {2, 3, 5, 7}, 3, 0, L_STEP, L_CONTIG},
    {2, {5, 0}, 1, 0, L_CONTIG, L_CONTIG},
    {2, {0, 5}, 0, 1, L_CONTIG, L_CONTIG},
    {2, {3, 0}, 0, 0, L_CONTIG, L_CONTIG},
    {2, {1, 1}, 0, 0, L_CONTIG, L_CONTIG},
    {2, {4, 1025}, 1, 0, L_CONTIG, L_CONTIG},
    {3, {5, 7, 9}, 2, 0, L_SWAP12, L_STEP},
    {3, {67, 3, 129}, 0, 1, L_CONTIG, L_CONTIG},
};
#define N_RCASES ((int)(sizeof rcases / sizeof rcases[0]))

static void reduce_case(conf *c, check *k, st_dtype dt, st_op op, const rcase *r)
{
    int a = r->axis < 0 ? r->axis + r->nd : r->axis, ndo = 0;
    int64_t so[ST_MAX_DIMS], outer = 1, inner = 1;
    for (int i = 0; i < r->nd; i++) {
        if (i < a) outer *= r->s[i];
        if (i > a) inner *= r->s[i];
        if (i != a) so[ndo++] = r->s[i];
        else if (r->keep) so[ndo++] = 1;
    }
    char s1[64];
    check_case(k, "in %s %s axis %d%s, out %s", shape_str(s1, sizeof s1, r->nd, r->s),
               layout_name(r->lin), r->axis, r->keep ? " kept" : "", layout_name(r->lout));
    ht in = {0}, out = {0};
    if (ht_rand(c, k, &in, dt, r->nd, r->s, r->lin, -2, 2) && ht_out(c, k, &out, dt, ndo, so, r->lout)) {
        double *ref = malloc(sizeof(double) * (size_t)(out.n + 1)), *scale = malloc(sizeof(double) * (size_t)(out.n + 1));
        ref_reduce(ref, scale, in.v, outer, r->s[a], inner, op);
        st_status s = op == ST_OP_SUM ? st_sum(out.t, in.t, r->axis)
                      : op == ST_OP_MEAN ? st_mean(out.t, in.t, r->axis) : st_max(out.t, in.t, r->axis);
        if (check_ok(k, s, st_op_name(op))) ht_close(k, &out, "out", ref, scale, 1e-12);
        free(ref);
        free(scale);
    }
    ht_free(&in);
    ht_free(&out);
}

static void reduce_test(conf *c, st_dtype dt, st_op op)
{
    check k;
    check_begin(&k, st_op_name(op), dt, "fwd", conf_tol_sum(dt, 1025));
    for (int i = 0; i < N_RCASES; i++) reduce_case(c, &k, dt, op, &rcases[i]);
    check_end(&k);
    if (dt == ST_F32) grad_reduce(c, op);
}

void test_sum(conf *c, st_dtype dt) { reduce_test(c, dt, ST_OP_SUM); }
void test_mean(conf *c, st_dtype dt) { reduce_test(c, dt, ST_OP_MEAN); }
void test_max(conf *c, st_dtype dt) { reduce_test(c, dt, ST_OP_MAX); }

void test_sumsq(conf *c, st_dtype dt)
{
    static const struct {
        int nd;
        int64_t s[4];
        layout l;
        int ndo;
    } cases[] = {
        {0, {0}, L_CONTIG, 1}, {1, {0}, L_CONTIG, 0}, {1, {7}, L_CONTIG, 2},
        {2, {13, 33}, L_TRANS, 1}, {4, {2, 3, 5, 7}, L_STEP, 1}, {2, {129, 513}, L_CONTIG, 1},
    };
    static const int64_t ones[2] = {1, 1};
    check k;
    check_begin(&k, "sumsq", dt, "fwd", conf_tol_sum(ST_F32, 129 * 513)); /* f32 out: no rounding to dt */
    for (int i = 0; i < 6; i++) {
        char s1[64];
        ht in = {0}, out = {0};
        check_case(&k, "in %s %s, out of %d dims", shape_str(s1, sizeof s1, cases[i].nd, cases[i].s),
                   layout_name(cases[i].l), cases[i].ndo);
        if (ht_rand(c, &k, &in, dt, cases[i].nd, cases[i].s, cases[i].l, -2, 2) &&
            ht_out(c, &k, &out, ST_F32, cases[i].ndo, ones, L_CONTIG) &&
            check_ok(&k, st_sumsq(out.t, in.t), "st_sumsq")) {
            double ref = 0;
            for (int64_t e = 0; e < in.n; e++) ref += in.v[e] * in.v[e];
            ht_close(&k, &out, "out", &ref, NULL, 1e-12);
        }
        ht_free(&in);
        ht_free(&out);
    }
    check_end(&k);
    if (dt == ST_F32) grad_sumsq(c);
}
