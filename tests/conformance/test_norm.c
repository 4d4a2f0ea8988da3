/* Conformance of softmax and layernorm with their backward ops: forward and backward against
 * ref_dense.c, and the backward ops against finite differences of the forward. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"
#include "ref.h"

#define GRAD_TOL 1e-2

typedef struct scase {
    int nd;
    int64_t s[ST_MAX_DIMS];
    int causal;
    layout lin, lout;
    double shift; /* added to the logits: a stable softmax must not overflow */
} scase;

static const scase scases[] = {
    {1, {7}, 0, L_CONTIG, L_CONTIG, 0},
    {2, {13, 33}, 0, L_CONTIG, L_CONTIG, 0},
    {4, {2, 3, 5, 7}, 0, L_CONTIG, L_CONTIG, 0},
    {2, {1, 1}, 0, L_CONTIG, L_CONTIG, 0},
    {2, {0, 5}, 0, L_CONTIG, L_CONTIG, 0},
    {2, {3, 1031}, 0, L_CONTIG, L_CONTIG, 0},
    {2, {13, 33}, 0, L_TRANS, L_STEP, 0},
    {3, {2, 5, 5}, 1, L_CONTIG, L_CONTIG, 0},
    {3, {3, 4, 9}, 1, L_STEP, L_CONTIG, 0},
    {3, {1, 1, 1}, 1, L_CONTIG, L_CONTIG, 0},
    {2, {4, 33}, 0, L_CONTIG, L_CONTIG, 80},
};
#define N_SCASES ((int)(sizeof scases / sizeof scases[0]))

static int64_t last_dim(int nd, const int64_t *s) { return nd ? s[nd - 1] : 1; }
static int64_t rows_of(int nd, const int64_t *s)
{
    int64_t r = 1;
    for (int i = 0; i + 1 < nd; i++) r *= s[i];
    return r;
}

static void softmax_case(conf *c, check *k, st_dtype dt, const scase *sc, int backward)
{
    char s1[64];
    int64_t S = last_dim(sc->nd, sc->s), R = rows_of(sc->nd, sc->s), T = sc->nd >= 2 ? sc->s[sc->nd - 2] : 1;
    check_case(k, "%s %s%s, out %s, shift %g", shape_str(s1, sizeof s1, sc->nd, sc->s), layout_name(sc->lin),
               sc->causal ? " causal" : "", layout_name(sc->lout), sc->shift);
    ht x = {0}, y = {0}, dy = {0}, out = {0};
    size_t bytes = sizeof(double) * (size_t)(R * S + 1);
    double *ref = malloc(bytes), *yv = malloc(bytes);
    if (!ht_rand(c, k, &x, dt, sc->nd, sc->s, sc->lin, -3 + sc->shift, 3 + sc->shift)) goto done;
    if (!backward) {
        ref_softmax(ref, x.v, R, T, S, sc->causal);
        if (ht_out(c, k, &out, dt, sc->nd, sc->s, sc->lout) &&
            check_ok(k, st_softmax(out.t, x.t, sc->causal), "st_softmax"))
            ht_close(k, &out, "out", ref, NULL, 1e-3);
        goto done;
    }
    /* backward: y a softmax output as dt stores it, dy random */
    ref_softmax(yv, x.v, R, T, S, sc->causal);
    if (ht_from(c, k, &y, dt, sc->nd, sc->s, L_CONTIG, yv) && ht_rand(c, k, &dy, dt, sc->nd, sc->s, sc->lin, -1, 1) &&
        ht_out(c, k, &out, dt, sc->nd, sc->s, sc->lout) &&
        check_ok(k, st_softmax_backward(out.t, dy.t, y.t), "st_softmax_backward")) {
        ref_softmax_backward(ref, dy.v, y.v, R, S);
        ht_close(k, &out, "din", ref, NULL, 1e-3);
    }
done:
    free(ref);
    free(yv);
    ht_free(&x);
    ht_free(&y);
    ht_free(&dy);
    ht_free(&out);
}

/* Forward of a finite-difference loss for softmax and layernorm. */
typedef struct nm_fd {
    int layernorm, causal;
    ht *x, *w, *b, *y, *mean, *rstd;
    const double *wt;
} nm_fd;

static int nm_run(void *ctx, check *k, double *loss)
{
    nm_fd *f = ctx;
    st_status s = f->layernorm ? st_layernorm(f->y->t, f->mean->t, f->rstd->t, f->x->t, f->w->t, f->b->t, 1e-5f)
                               : st_softmax(f->y->t, f->x->t, f->causal);
    if (!check_ok(k, s, f->layernorm ? "st_layernorm" : "st_softmax") || !ht_fetch(k, f->y)) return 0;
    *loss = conf_dot(f->y, f->wt);
    return 1;
}

static void softmax_grad(conf *c)
{
    static const int64_t s2[2] = {3, 5}, s3[3] = {2, 3, 4};
    check k;
    check_begin(&k, "softmax", ST_F32, "grad (backward op vs finite differences)", GRAD_TOL);
    for (int causal = 0; causal < 2; causal++) {
        int nd = causal ? 3 : 2;
        const int64_t *s = causal ? s3 : s2;
        ht x = {0}, y = {0}, dy = {0}, dx = {0};
        check_case(&k, "%s", causal ? "[2,3,4] causal" : "[3,5]");
        double *w = conf_weights(c, 24);
        nm_fd f = {.causal = causal, .x = &x, .y = &y, .wt = w};
        double l0;
        if (ht_rand(c, &k, &x, ST_F32, nd, s, L_CONTIG, -2, 2) && ht_out(c, &k, &y, ST_F32, nd, s, L_CONTIG) &&
            nm_run(&f, &k, &l0) && ht_from(c, &k, &dy, ST_F32, nd, s, L_CONTIG, w) &&
            ht_out(c, &k, &dx, ST_F32, nd, s, L_CONTIG) &&
            check_ok(&k, st_softmax_backward(dx.t, dy.t, y.t), "st_softmax_backward") && ht_fetch(&k, &dx))
            fd_check(&k, "din", &x, dx.v, nm_run, &f, 1e-2);
        free(w);
        ht_free(&x);
        ht_free(&y);
        ht_free(&dy);
        ht_free(&dx);
    }
    check_end(&k);
}

void test_softmax(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "softmax", dt, "fwd", conf_tol(dt));
    for (int i = 0; i < N_SCASES; i++) softmax_case(c, &k, dt, &scases[i], 0);
    check_end(&k);
}

void test_softmax_backward(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "softmax_backward", dt, "fwd", conf_tol_sum(dt, 1031));
    for (int i = 0; i < N_SCASES; i++) softmax_case(c, &k, dt, &scases[i], 1);
    check_end(&k);
    if (dt == ST_F32) softmax_grad(c);
}

typedef struct lcase {
    int nd;
    int64_t s[3];
    layout lin;
    double shift;
} lcase;

static const lcase lcases[] = {
    {2, {7, 13}, L_CONTIG, 0}, {2, {1, 1}, L_CONTIG, 0},     {3, {2, 3, 33}, L_CONTIG, 0},
    {2, {0, 5}, L_CONTIG, 0},  {2, {3, 1031}, L_CONTIG, 0},  {2, {13, 7}, L_TRANS, 0},
    {1, {9}, L_CONTIG, 0},     {2, {5, 64}, L_STEP, 3},
};
#define N_LCASES ((int)(sizeof lcases / sizeof lcases[0]))

/* Layernorm operands of one case: x, w, b of dt; mean, rstd f32 with the leading shape. */
static int ln_inputs(conf *c, check *k, st_dtype dt, const lcase *l, ht *x, ht *w, ht *b, ht *mean,
                     ht *rstd)
{
    int64_t C = l->s[l->nd - 1];
    int nr = l->nd - 1;
    return ht_rand(c, k, x, dt, l->nd, l->s, l->lin, -2 + l->shift, 2 + l->shift) &&
           ht_rand(c, k, w, dt, 1, &C, L_CONTIG, 0.5, 1.5) && ht_rand(c, k, b, dt, 1, &C, L_CONTIG, -1, 1) &&
           ht_out(c, k, mean, ST_F32, nr, l->s, L_CONTIG) && ht_out(c, k, rstd, ST_F32, nr, l->s, L_CONTIG);
}

static void layernorm_case(conf *c, check *k, st_dtype dt, const lcase *l, int backward)
{
    char s1[64];
    int64_t C = l->s[l->nd - 1], R = rows_of(l->nd, l->s);
    check_case(k, "%s %s shift %g", shape_str(s1, sizeof s1, l->nd, l->s), layout_name(l->lin), l->shift);
    ht x = {0}, w = {0}, b = {0}, mean = {0}, rstd = {0}, y = {0}, dy = {0}, dw = {0}, db = {0};
    size_t bytes = sizeof(double) * (size_t)(R * C + C + 1);
    double *ry = malloc(bytes), *rm = malloc(bytes), *rr = malloc(bytes), *rw = malloc(bytes), *rb = malloc(bytes);
    if (!ln_inputs(c, k, dt, l, &x, &w, &b, &mean, &rstd) || !ht_out(c, k, &y, dt, l->nd, l->s, L_CONTIG))
        goto done;
    ref_layernorm(ry, rm, rr, x.v, w.v, b.v, R, C, 1e-5);
    if (!backward) {
        if (check_ok(k, st_layernorm(y.t, mean.t, rstd.t, x.t, w.t, b.t, 1e-5f), "st_layernorm") &&
            ht_close(k, &y, "out", ry, NULL, 1.0) && ht_close(k, &mean, "mean", rm, NULL, 1.0))
            ht_close(k, &rstd, "rstd", rr, NULL, 1e-12);
        goto done;
    }
    /* backward from the reference statistics, rounded to f32 as the forward stores them */
    if (ht_set(k, &mean, rm) && ht_set(k, &rstd, rr) && ht_rand(c, k, &dy, dt, l->nd, l->s, L_TRANS, -1, 1) &&
        ht_out(c, k, &dw, dt, 1, &C, L_CONTIG) && ht_out(c, k, &db, dt, 1, &C, L_CONTIG) &&
        check_ok(k, st_layernorm_backward(y.t, dw.t, db.t, dy.t, x.t, w.t, mean.t, rstd.t),
                 "st_layernorm_backward")) {
        ref_layernorm_backward(ry, rw, rb, dy.v, x.v, w.v, mean.v, rstd.v, R, C);
        if (ht_close(k, &y, "din", ry, NULL, 1.0) && ht_close(k, &dw, "dweight", rw, NULL, 1.0))
            ht_close(k, &db, "dbias", rb, NULL, 1.0);
    }
done:
    free(ry);
    free(rm);
    free(rr);
    free(rw);
    free(rb);
    ht *all[] = {&x, &w, &b, &mean, &rstd, &y, &dy, &dw, &db};
    for (int i = 0; i < 9; i++) ht_free(all[i]);
}

static void layernorm_grad(conf *c)
{
    static const lcase l = {2, {3, 5}, L_CONTIG, 0};
    int64_t C = 5;
    ht x = {0}, w = {0}, b = {0}, mean = {0}, rstd = {0}, y = {0}, dy = {0}, dx = {0}, dw = {0}, db = {0};
    double *wt = conf_weights(c, 15);
    nm_fd f = {.layernorm = 1, .x = &x, .w = &w, .b = &b, .y = &y, .mean = &mean, .rstd = &rstd, .wt = wt};
    double l0;
    check k;
    check_begin(&k, "layernorm", ST_F32, "grad (backward op vs finite differences)", GRAD_TOL);
    check_case(&k, "[3,5], d/dx, d/dweight, d/dbias");
    if (ln_inputs(c, &k, ST_F32, &l, &x, &w, &b, &mean, &rstd) && ht_out(c, &k, &y, ST_F32, 2, l.s, L_CONTIG) &&
        nm_run(&f, &k, &l0) && ht_fetch(&k, &mean) && ht_fetch(&k, &rstd) &&
        ht_from(c, &k, &dy, ST_F32, 2, l.s, L_CONTIG, wt) && ht_out(c, &k, &dx, ST_F32, 2, l.s, L_CONTIG) &&
        ht_out(c, &k, &dw, ST_F32, 1, &C, L_CONTIG) && ht_out(c, &k, &db, ST_F32, 1, &C, L_CONTIG) &&
        check_ok(&k, st_layernorm_backward(dx.t, dw.t, db.t, dy.t, x.t, w.t, mean.t, rstd.t),
                 "st_layernorm_backward") &&
        ht_fetch(&k, &dx) && ht_fetch(&k, &dw) && ht_fetch(&k, &db) &&
        fd_check(&k, "din", &x, dx.v, nm_run, &f, 1e-2) && fd_check(&k, "dweight", &w, dw.v, nm_run, &f, 1e-2))
        fd_check(&k, "dbias", &b, db.v, nm_run, &f, 1e-2);
    check_end(&k);
    free(wt);
    ht *all[] = {&x, &w, &b, &mean, &rstd, &y, &dy, &dx, &dw, &db};
    for (int i = 0; i < 10; i++) ht_free(all[i]);
}

void test_layernorm(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "layernorm", dt, "fwd", conf_tol_sum(dt, 1031));
    for (int i = 0; i < N_LCASES; i++) layernorm_case(c, &k, dt, &lcases[i], 0);
    check_end(&k);
}

void test_layernorm_backward(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "layernorm_backward", dt, "fwd", conf_tol_sum(dt, 1031));
    for (int i = 0; i < N_LCASES; i++) layernorm_case(c, &k, dt, &lcases[i], 1);
    check_end(&k);
    if (dt == ST_F32) layernorm_grad(c);
}
