/* Conformance of the index-taking ops: embedding and cross_entropy with their backward ops,
 * out-of-range indices (cpu: error; device backends: zero rows / ignored, or the same error),
 * and the backward ops against finite differences of the forward. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"
#include "ref.h"

#define GRAD_TOL 1e-2

typedef struct ecase {
    int64_t V, C;
    int nd;
    int64_t s[3];   /* idx shape */
    layout ltab, lidx;
} ecase;

static const ecase ecases[] = {
    {11, 13, 1, {7}, L_CONTIG, L_CONTIG},  {11, 13, 2, {2, 5}, L_CONTIG, L_CONTIG},
    {11, 13, 0, {0}, L_CONTIG, L_CONTIG},  {11, 13, 1, {0}, L_CONTIG, L_CONTIG},
    {11, 13, 2, {3, 4}, L_TRANS, L_STEP},  {1, 1, 1, {5}, L_CONTIG, L_CONTIG},
    {5, 33, 1, {40}, L_CONTIG, L_CONTIG},  {64, 129, 3, {2, 3, 7}, L_CONTIG, L_CONTIG},
};
#define N_ECASES ((int)(sizeof ecases / sizeof ecases[0]))

static void embedding_case(conf *c, check *k, st_dtype dt, const ecase *e, int backward)
{
    char s1[64];
    int64_t tshape[2] = {e->V, e->C}, oshape[4], N = 1;
    for (int i = 0; i < e->nd; i++) N *= (oshape[i] = e->s[i]);
    oshape[e->nd] = e->C;
    check_case(k, "table [%lld,%lld] %s, idx %s %s", (long long)e->V, (long long)e->C,
               layout_name(e->ltab), shape_str(s1, sizeof s1, e->nd, e->s), layout_name(e->lidx));
    ht tab = {0}, idx = {0}, rows = {0};
    double *ref = malloc(sizeof(double) * (size_t)(e->V * e->C + N * e->C + 1));
    double *scale = malloc(sizeof(double) * (size_t)(e->V * e->C + 1));
    if (!ht_rand(c, k, &idx, ST_I32, e->nd, e->s, e->lidx, 0, (double)e->V)) goto done;
    if (!backward) {
        if (ht_rand(c, k, &tab, dt, 2, tshape, e->ltab, -2, 2) && ht_out(c, k, &rows, dt, e->nd + 1, oshape, L_CONTIG) &&
            check_ok(k, st_embedding(rows.t, tab.t, idx.t), "st_embedding")) {
            for (int64_t n = 0; n < N; n++)
                for (int64_t j = 0; j < e->C; j++) ref[n * e->C + j] = tab.v[(int64_t)idx.v[n] * e->C + j];
            ht_close(k, &rows, "out", ref, NULL, 1.0);
        }
        goto done;
    }
    if (ht_rand(c, k, &rows, dt, e->nd + 1, oshape, e->ltab == L_TRANS ? L_TRANS : L_CONTIG, -2, 2) &&
        ht_out(c, k, &tab, dt, 2, tshape, L_CONTIG) &&
        check_ok(k, st_embedding_backward(tab.t, rows.t, idx.t), "st_embedding_backward")) {
        for (int64_t i = 0; i < e->V * e->C; i++) ref[i] = scale[i] = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = 0; j < e->C; j++) {
                ref[(int64_t)idx.v[n] * e->C + j] += rows.v[n * e->C + j];
                scale[(int64_t)idx.v[n] * e->C + j] += fabs(rows.v[n * e->C + j]);
            }
        ht_close(k, &tab, "dtable", ref, scale, 1e-12);
    }
done:
    free(ref);
    free(scale);
    ht_free(&tab);
    ht_free(&idx);
    ht_free(&rows);
}

/* Index V and -1: the cpu backend refuses them; device backends give zero rows or refuse. */
static void embedding_oob(conf *c, check *k, st_dtype dt)
{
    int64_t tshape[2] = {4, 3}, n = 3, oshape[2] = {3, 3};
    for (int bad = 0; bad < 2; bad++) {
        double iv[3] = {1, bad ? -1 : 4, 0};
        ht tab = {0}, idx = {0}, rows = {0};
        check_case(k, "index %g of 4 rows", iv[1]);
        if (ht_rand(c, k, &tab, dt, 2, tshape, L_CONTIG, -2, 2) && ht_from(c, k, &idx, ST_I32, 1, &n, L_CONTIG, iv) &&
            ht_out(c, k, &rows, dt, 2, oshape, L_CONTIG)) {
            st_status s = st_embedding(rows.t, tab.t, idx.t);
            if (s == ST_OK && !c->is_cpu && ht_fetch(k, &rows)) {
                double ref[9];
                for (int j = 0; j < 3; j++) ref[j] = tab.v[3 + j], ref[3 + j] = 0, ref[6 + j] = tab.v[j];
                check_close(k, "out (zero row for the bad index)", rows.v, ref, NULL, 9, 1.0);
            } else if (s != ST_ERR_INVALID_ARG) {
                check_fail(k, "out-of-range index gave %s, expected ST_ERR_INVALID_ARG%s (%s)",
                           st_status_string(s), c->is_cpu ? "" : " or zero rows", st_last_error());
            }
        }
        ht_free(&tab);
        ht_free(&idx);
        ht_free(&rows);
    }
}

void test_embedding(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "embedding", dt, "fwd", 0.0);
    for (int i = 0; i < N_ECASES; i++) embedding_case(c, &k, dt, &ecases[i], 0);
    embedding_oob(c, &k, dt);
    check_end(&k);
}

typedef struct ix_fd {
    int ce;
    ht *tab, *idx, *out, *probs;
    const double *w;
} ix_fd;

static int ix_run(void *ctx, check *k, double *loss)
{
    ix_fd *f = ctx;
    st_status s = f->ce ? st_cross_entropy(f->out->t, f->probs->t, f->tab->t, f->idx->t)
                        : st_embedding(f->out->t, f->tab->t, f->idx->t);
    if (!check_ok(k, s, f->ce ? "st_cross_entropy" : "st_embedding") || !ht_fetch(k, f->out)) return 0;
    *loss = conf_dot(f->out, f->w);
    return 1;
}

void test_embedding_backward(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "embedding_backward", dt, "fwd", conf_tol_sum(dt, 40));
    for (int i = 0; i < N_ECASES; i++) embedding_case(c, &k, dt, &ecases[i], 1);
    check_end(&k);
    if (dt != ST_F32) return;
    /* d/dtable of sum(embedding(table, idx) * w), with repeated indices */
    int64_t ts[2] = {4, 3}, n = 6, os[2] = {6, 3};
    double iv[6] = {2, 0, 2, 3, 2, 0};
    ht tab = {0}, idx = {0}, out = {0}, dout = {0}, dtab = {0};
    double *w = conf_weights(c, 18);
    ix_fd f = {.tab = &tab, .idx = &idx, .out = &out, .w = w};
    check_begin(&k, "embedding", ST_F32, "grad (backward op vs finite differences)", GRAD_TOL);
    check_case(&k, "table [4,3], idx [6] with repeats");
    if (ht_rand(c, &k, &tab, ST_F32, 2, ts, L_CONTIG, -1, 1) && ht_from(c, &k, &idx, ST_I32, 1, &n, L_CONTIG, iv) &&
        ht_out(c, &k, &out, ST_F32, 2, os, L_CONTIG) && ht_from(c, &k, &dout, ST_F32, 2, os, L_CONTIG, w) &&
        ht_out(c, &k, &dtab, ST_F32, 2, ts, L_CONTIG) &&
        check_ok(&k, st_embedding_backward(dtab.t, dout.t, idx.t), "st_embedding_backward") && ht_fetch(&k, &dtab))
        fd_check(&k, "dtable", &tab, dtab.v, ix_run, &f, 1e-2);
    check_end(&k);
    free(w);
    ht *all[] = {&tab, &idx, &out, &dout, &dtab};
    for (int i = 0; i < 5; i++) ht_free(all[i]);
}

typedef struct ccase {
    int nd;
    int64_t s[3];
    layout l;
} ccase;

static const ccase ccases[] = {
    {2, {7, 11}, L_CONTIG}, {3, {2, 3, 5}, L_CONTIG}, {2, {1, 1}, L_CONTIG},   {2, {0, 5}, L_CONTIG},
    {2, {4, 1031}, L_CONTIG}, {2, {9, 13}, L_TRANS}, {1, {6}, L_STEP},
};
#define N_CCASES ((int)(sizeof ccases / sizeof ccases[0]))

/* Targets in [0, V) with every third one -1 (ignored). */
static int ce_targets(conf *c, check *k, ht *t, int nd, const int64_t *s, int64_t V)
{
    if (!ht_rand(c, k, t, ST_I32, nd, s, L_CONTIG, 0, (double)V)) return 0;
    for (int64_t i = 2; i < t->n; i += 3) t->v[i] = -1;
    return ht_set(k, t, t->v);
}

static void ce_case(conf *c, check *k, st_dtype dt, const ccase *cc, int backward)
{
    char s1[64];
    int nr = cc->nd - 1;
    int64_t V = cc->s[nr], R = 1;
    for (int i = 0; i < nr; i++) R *= cc->s[i];
    check_case(k, "logits %s %s", shape_str(s1, sizeof s1, cc->nd, cc->s), layout_name(cc->l));
    ht lg = {0}, tg = {0}, loss = {0}, probs = {0}, dl = {0};
    size_t bytes = sizeof(double) * (size_t)(R * V + 1);
    double *rl = malloc(bytes), *rp = malloc(bytes), *rd = malloc(bytes);
    if (!ht_rand(c, k, &lg, dt, cc->nd, cc->s, cc->l, -4, 4) || !ce_targets(c, k, &tg, nr, cc->s, V) ||
        !ht_out(c, k, &loss, ST_F32, nr, cc->s, L_CONTIG))
        goto done;
    ref_cross_entropy(rl, rp, lg.v, tg.v, R, V);
    if (!backward) {
        if (ht_out(c, k, &probs, ST_F32, cc->nd, cc->s, L_CONTIG) &&
            check_ok(k, st_cross_entropy(loss.t, probs.t, lg.t, tg.t), "st_cross_entropy") &&
            ht_close(k, &loss, "loss", rl, NULL, 1.0))
            ht_close(k, &probs, "probs", rp, NULL, 1e-3);
        goto done;
    }
    /* backward from reference probabilities (f32) and a random dloss (in `loss`) */
    for (int64_t i = 0; i < loss.n; i++) loss.v[i] = conf_rand(c, -1, 1);
    if (ht_from(c, k, &probs, ST_F32, cc->nd, cc->s, L_CONTIG, rp) && ht_set(k, &loss, loss.v) &&
        ht_out(c, k, &dl, dt, cc->nd, cc->s, cc->l == L_TRANS ? L_STEP : L_CONTIG) &&
        check_ok(k, st_cross_entropy_backward(dl.t, loss.t, probs.t, tg.t), "st_cross_entropy_backward")) {
        ref_cross_entropy_backward(rd, loss.v, probs.v, tg.v, R, V);
        ht_close(k, &dl, "dlogits", rd, NULL, 1.0);
    }
done:
    free(rl);
    free(rp);
    free(rd);
    ht *all[] = {&lg, &tg, &loss, &probs, &dl};
    for (int i = 0; i < 5; i++) ht_free(all[i]);
}

/* A target >= V: the cpu backend refuses it; device backends ignore the row or refuse. */
static void ce_oob(conf *c, check *k, st_dtype dt)
{
    int64_t s[2] = {2, 3}, r = 2;
    double tv[2] = {3, 1};
    ht lg = {0}, tg = {0}, loss = {0}, probs = {0};
    check_case(k, "target 3 of 3 classes");
    if (ht_rand(c, k, &lg, dt, 2, s, L_CONTIG, -1, 1) && ht_from(c, k, &tg, ST_I32, 1, &r, L_CONTIG, tv) &&
        ht_out(c, k, &loss, ST_F32, 1, &r, L_CONTIG) && ht_out(c, k, &probs, ST_F32, 2, s, L_CONTIG)) {
        st_status st = st_cross_entropy(loss.t, probs.t, lg.t, tg.t);
        if (st == ST_OK && !c->is_cpu && ht_fetch(k, &loss)) {
            if (loss.v[0] != 0.0 || !isfinite(loss.v[1]))
                check_fail(k, "out-of-range target: loss %g (expected 0, ignored), next row %g", loss.v[0], loss.v[1]);
        } else if (st != ST_ERR_INVALID_ARG) {
            check_fail(k, "out-of-range target gave %s, expected ST_ERR_INVALID_ARG%s (%s)",
                       st_status_string(st), c->is_cpu ? "" : " or an ignored row", st_last_error());
        }
    }
    ht *all[] = {&lg, &tg, &loss, &probs};
    for (int i = 0; i < 4; i++) ht_free(all[i]);
}

/* Loss and probabilities are f32 whatever the logits' dtype: f32 tolerances for both. */
void test_cross_entropy(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "cross_entropy", dt, "fwd", conf_tol_sum(ST_F32, 1031));
    for (int i = 0; i < N_CCASES; i++) ce_case(c, &k, dt, &ccases[i], 0);
    ce_oob(c, &k, dt);
    check_end(&k);
}

void test_cross_entropy_backward(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "cross_entropy_backward", dt, "fwd", conf_tol(dt));
    for (int i = 0; i < N_CCASES; i++) ce_case(c, &k, dt, &ccases[i], 1);
    check_end(&k);
    if (dt != ST_F32) return;
    /* d/dlogits of sum(loss * w), one row ignored */
    int64_t s[2] = {4, 5}, r = 4;
    ht lg = {0}, tg = {0}, loss = {0}, probs = {0}, dloss = {0}, dl = {0};
    double *w = conf_weights(c, 4);
    ix_fd f = {.ce = 1, .tab = &lg, .idx = &tg, .out = &loss, .probs = &probs, .w = w};
    double l0;
    check_begin(&k, "cross_entropy", ST_F32, "grad (backward op vs finite differences)", GRAD_TOL);
    check_case(&k, "logits [4,5], targets with an ignored row");
    if (ht_rand(c, &k, &lg, ST_F32, 2, s, L_CONTIG, -2, 2) && ce_targets(c, &k, &tg, 1, s, 5) &&
        ht_out(c, &k, &loss, ST_F32, 1, &r, L_CONTIG) && ht_out(c, &k, &probs, ST_F32, 2, s, L_CONTIG) &&
        ix_run(&f, &k, &l0) && ht_from(c, &k, &dloss, ST_F32, 1, &r, L_CONTIG, w) &&
        ht_out(c, &k, &dl, ST_F32, 2, s, L_CONTIG) &&
        check_ok(&k, st_cross_entropy_backward(dl.t, dloss.t, probs.t, tg.t), "st_cross_entropy_backward") &&
        ht_fetch(&k, &dl))
        fd_check(&k, "dlogits", &lg, dl.v, ix_run, &f, 1e-2);
    check_end(&k);
    free(w);
    ht *all[] = {&lg, &tg, &loss, &probs, &dloss, &dl};
    for (int i = 0; i < 6; i++) ht_free(all[i]);
}
