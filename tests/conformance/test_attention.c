/* Conformance of causal attention and its backward op (reference and finite differences), and of
 * the fused AdamW step. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"
#include "ref.h"

#define GRAD_TOL 1e-2

typedef struct acase {
    int64_t s[4]; /* B, H, T, D */
    layout l, lout;
} acase;

static const acase acases[] = {
    {{1, 1, 1, 1}, L_CONTIG, L_CONTIG},   {{2, 3, 7, 5}, L_CONTIG, L_CONTIG},
    {{1, 2, 13, 16}, L_CONTIG, L_CONTIG}, {{1, 1, 33, 8}, L_CONTIG, L_CONTIG},
    {{1, 1, 0, 4}, L_CONTIG, L_CONTIG},   {{2, 1, 5, 1}, L_CONTIG, L_CONTIG},
    {{2, 3, 7, 5}, L_SWAP12, L_SWAP12},   {{1, 2, 65, 32}, L_STEP, L_CONTIG},
    /* several 64-row tiles of the CPU's blocked kernel, a partial last one, head dims off its
     * 16-wide register block */
    {{1, 2, 150, 24}, L_CONTIG, L_CONTIG}, {{1, 1, 130, 80}, L_CONTIG, L_CONTIG},
};
#define N_ACASES ((int)(sizeof acases / sizeof acases[0]))

static void attention_case(conf *c, check *k, st_dtype dt, const acase *a, int backward)
{
    int64_t BH = a->s[0] * a->s[1], T = a->s[2], D = a->s[3], n = BH * T * D;
    char s1[64];
    check_case(k, "%s q,k,v %s out %s", shape_str(s1, sizeof s1, 4, a->s), layout_name(a->l), layout_name(a->lout));
    ht q = {0}, kk = {0}, v = {0}, o = {0}, lse = {0}, dout = {0}, dq = {0}, dk = {0}, dv = {0};
    size_t bytes = sizeof(double) * (size_t)(n + 1);
    double *ro = malloc(bytes), *rl = malloc(bytes), *rq = malloc(bytes), *rk = malloc(bytes), *rv = malloc(bytes);
    if (!ht_rand(c, k, &q, dt, 4, a->s, a->l, -1, 1) || !ht_rand(c, k, &kk, dt, 4, a->s, a->l, -1, 1) ||
        !ht_rand(c, k, &v, dt, 4, a->s, a->l, -1, 1) || !ht_out(c, k, &lse, ST_F32, 3, a->s, L_CONTIG))
        goto done;
    ref_attention(ro, rl, q.v, kk.v, v.v, BH, T, D);
    if (!backward) {
        if (ht_out(c, k, &o, dt, 4, a->s, a->lout) &&
            check_ok(k, st_attention(o.t, lse.t, q.t, kk.t, v.t), "st_attention") &&
            ht_close(k, &o, "out", ro, NULL, 1.0))
            ht_close(k, &lse, "lse", rl, NULL, 1.0);
        goto done;
    }
    /* backward from the reference forward, as the forward stores it */
    if (ht_from(c, k, &o, dt, 4, a->s, L_CONTIG, ro) && ht_set(k, &lse, rl) &&
        ht_rand(c, k, &dout, dt, 4, a->s, a->l, -1, 1) && ht_out(c, k, &dq, dt, 4, a->s, a->lout) &&
        ht_out(c, k, &dk, dt, 4, a->s, L_CONTIG) && ht_out(c, k, &dv, dt, 4, a->s, L_CONTIG) &&
        check_ok(k, st_attention_backward(dq.t, dk.t, dv.t, dout.t, q.t, kk.t, v.t, o.t, lse.t),
                 "st_attention_backward")) {
        ref_attention_backward(rq, rk, rv, dout.v, q.v, kk.v, v.v, BH, T, D);
        if (ht_close(k, &dq, "dq", rq, NULL, 1.0) && ht_close(k, &dk, "dk", rk, NULL, 1.0))
            ht_close(k, &dv, "dv", rv, NULL, 1.0);
    }
done:
    free(ro);
    free(rl);
    free(rq);
    free(rk);
    free(rv);
    ht *all[] = {&q, &kk, &v, &o, &lse, &dout, &dq, &dk, &dv};
    for (int i = 0; i < 9; i++) ht_free(all[i]);
}

void test_attention(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "attention", dt, "fwd", conf_tol_sum(dt, 65));
    for (int i = 0; i < N_ACASES; i++) attention_case(c, &k, dt, &acases[i], 0);
    check_end(&k);
}

typedef struct at_fd {
    ht *q, *k, *v, *o, *lse;
    const double *w;
} at_fd;

static int at_run(void *ctx, check *k, double *loss)
{
    at_fd *f = ctx;
    if (!check_ok(k, st_attention(f->o->t, f->lse->t, f->q->t, f->k->t, f->v->t), "st_attention") ||
        !ht_fetch(k, f->o))
        return 0;
    *loss = conf_dot(f->o, f->w);
    return 1;
}

static void attention_grad(conf *c)
{
    static const int64_t s[4] = {1, 2, 4, 3};
    ht q = {0}, kk = {0}, v = {0}, o = {0}, lse = {0}, dout = {0}, dq = {0}, dk = {0}, dv = {0};
    double *w = conf_weights(c, 24), l0;
    at_fd f = {.q = &q, .k = &kk, .v = &v, .o = &o, .lse = &lse, .w = w};
    check k;
    check_begin(&k, "attention", ST_F32, "grad (backward op vs finite differences)", GRAD_TOL);
    check_case(&k, "[1,2,4,3], d/dq, d/dk, d/dv");
    if (ht_rand(c, &k, &q, ST_F32, 4, s, L_CONTIG, -1, 1) && ht_rand(c, &k, &kk, ST_F32, 4, s, L_CONTIG, -1, 1) &&
        ht_rand(c, &k, &v, ST_F32, 4, s, L_CONTIG, -1, 1) && ht_out(c, &k, &o, ST_F32, 4, s, L_CONTIG) &&
        ht_out(c, &k, &lse, ST_F32, 3, s, L_CONTIG) && at_run(&f, &k, &l0) &&
        ht_from(c, &k, &dout, ST_F32, 4, s, L_CONTIG, w) && ht_out(c, &k, &dq, ST_F32, 4, s, L_CONTIG) &&
        ht_out(c, &k, &dk, ST_F32, 4, s, L_CONTIG) && ht_out(c, &k, &dv, ST_F32, 4, s, L_CONTIG) &&
        check_ok(&k, st_attention_backward(dq.t, dk.t, dv.t, dout.t, q.t, kk.t, v.t, o.t, lse.t),
                 "st_attention_backward") &&
        ht_fetch(&k, &dq) && ht_fetch(&k, &dk) && ht_fetch(&k, &dv) &&
        fd_check(&k, "dq", &q, dq.v, at_run, &f, 1e-2) && fd_check(&k, "dk", &kk, dk.v, at_run, &f, 1e-2))
        fd_check(&k, "dv", &v, dv.v, at_run, &f, 1e-2);
    check_end(&k);
    free(w);
    ht *all[] = {&q, &kk, &v, &o, &lse, &dout, &dq, &dk, &dv};
    for (int i = 0; i < 9; i++) ht_free(all[i]);
}

void test_attention_backward(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "attention_backward", dt, "fwd", conf_tol_sum(dt, 65));
    for (int i = 0; i < N_ACASES; i++) attention_case(c, &k, dt, &acases[i], 1);
    check_end(&k);
    if (dt == ST_F32) attention_grad(c);
}

static void adamw_ref(double *p, double *m, double *v, const double *g, int64_t n, const st_adamw_params *a)
{
    double b1 = a->beta1, b2 = a->beta2;
    double c1 = 1.0 - pow(b1, (double)a->step), c2 = 1.0 - pow(b2, (double)a->step);
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i] * a->grad_scale;
        m[i] = b1 * m[i] + (1.0 - b1) * gi;
        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
        p[i] -= a->lr * ((m[i] / c1) / (sqrt(v[i] / c2) + a->eps) + a->weight_decay * p[i]);
    }
}

typedef struct wcase {
    int nd;
    int64_t s[2];
    layout lp;
    int64_t step;
} wcase;

void test_adamw(conf *c, st_dtype dt)
{
    static const wcase cases[] = {
        {1, {7}, L_CONTIG, 1},   {2, {13, 33}, L_CONTIG, 10}, {1, {0}, L_CONTIG, 1},
        {1, {1}, L_CONTIG, 3},   {0, {0}, L_CONTIG, 2},       {2, {13, 33}, L_STEP, 5},
        {2, {129, 513}, L_CONTIG, 1000},
    };
    /* dt is the gradient's dtype (the op's one choice); param, m and v are f32 */
    check k;
    check_begin(&k, "adamw", dt, "fwd", conf_tol(ST_F32));
    for (int i = 0; i < 7; i++) {
        const wcase *w = &cases[i];
        st_dtype gdt = dt;
        st_adamw_params a = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                             .weight_decay = 0.1f, .grad_scale = 0.5f, .step = w->step};
        char s1[64];
        ht p = {0}, m = {0}, v = {0}, g = {0};
        check_case(&k, "param %s %s, grad %s, step %lld", shape_str(s1, sizeof s1, w->nd, w->s),
                   layout_name(w->lp), st_dtype_name(gdt), (long long)w->step);
        if (ht_rand(c, &k, &p, ST_F32, w->nd, w->s, w->lp, -1, 1) &&
            ht_rand(c, &k, &m, ST_F32, w->nd, w->s, L_CONTIG, -0.1, 0.1) &&
            ht_rand(c, &k, &v, ST_F32, w->nd, w->s, w->lp, 0, 0.01) && ht_rand(c, &k, &g, gdt, w->nd, w->s, L_TRANS, -1, 1)) {
            double *rp = malloc(sizeof(double) * (size_t)(3 * p.n + 1)), *rm = rp + p.n, *rv = rm + p.n;
            memcpy(rp, p.v, sizeof(double) * (size_t)p.n);
            memcpy(rm, m.v, sizeof(double) * (size_t)p.n);
            memcpy(rv, v.v, sizeof(double) * (size_t)p.n);
            adamw_ref(rp, rm, rv, g.v, p.n, &a);
            if (check_ok(&k, st_adamw(p.t, m.t, v.t, g.t, &a), "st_adamw") && ht_close(&k, &p, "param", rp, NULL, 1.0) &&
                ht_close(&k, &m, "m", rm, NULL, 1.0))
                ht_close(&k, &v, "v", rv, NULL, 1.0);
            free(rp);
        }
        ht_free(&p);
        ht_free(&m);
        ht_free(&v);
        ht_free(&g);
    }
    check_end(&k);
}
