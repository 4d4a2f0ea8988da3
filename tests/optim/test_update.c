/* Optimizer updates on cpu against host double-precision references: AdamW over decay and no-decay
 * groups with grad_scale and bias correction, SGD with momentum and weight decay, clipping (the
 * update with grad_scale equals the update with pre-scaled gradients), resume from saved state,
 * and the learning-rate schedule at its key steps. */
#include <math.h>
#include "optim_test.h"

h_counts h_total;

static const st_param_spec specs[] = {
    {"w1", 2, {3, 5}, 1}, {"b1", 1, {5}, 0}, {"w2", 2, {5, 2}, 1}, {"ln", 1, {7}, 0}, {"s", 0, {0}, 1},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))
#define MAXN 64 /* elements of the largest parameter, and steps below */

/* Host copy of the set, parameter-major: p[i][j], and its state. */
typedef struct host {
    double p[N_SPECS][MAXN], m[N_SPECS][MAXN], v[N_SPECS][MAXN];
    int64_t n[N_SPECS];
} host;

static st_params *make_set(st_device *dev, host *h, uint64_t seed)
{
    st_params *ps = NULL;
    CHECK_ST(st_params_create(dev, specs, N_SPECS, &ps), ST_OK);
    if (!ps) return NULL;
    memset(h, 0, sizeof *h);
    for (int i = 0; i < N_SPECS; i++) {
        st_param_info in;
        st_tensor *p;
        st_params_info(ps, i, &in);
        st_params_get(ps, i, &p, NULL);
        h->n[i] = in.numel;
        for (int64_t j = 0; j < in.numel; j++) h->p[i][j] = t_rand(&seed);
        t_write(p, h->p[i], in.numel);
    }
    return ps;
}

/* Writes gradients g[i][j] = scale * rand into the set. */
static void set_grads(st_params *ps, const host *h, uint64_t seed, double scale, double g[N_SPECS][MAXN])
{
    for (int i = 0; i < N_SPECS; i++) {
        st_tensor *gt;
        st_params_get(ps, i, NULL, &gt);
        for (int64_t j = 0; j < h->n[i]; j++) g[i][j] = scale * t_rand(&seed);
        t_write(gt, g[i], h->n[i]);
    }
}

static double max_diff(st_params *ps, const host *h)
{
    double worst = 0, got[MAXN];
    for (int i = 0; i < N_SPECS; i++) {
        st_tensor *p;
        st_params_get(ps, i, &p, NULL);
        t_read(p, got, h->n[i]);
        for (int64_t j = 0; j < h->n[i]; j++) worst = fmax(worst, fabs(got[j] - h->p[i][j]));
    }
    return worst;
}

static void host_adamw(host *h, double g[N_SPECS][MAXN], const st_adamw_config *c, double lr, double gs,
                       int64_t t)
{
    for (int i = 0; i < N_SPECS; i++) {
        double wd = specs[i].decay ? c->weight_decay : 0.0;
        for (int64_t j = 0; j < h->n[i]; j++) {
            double gj = g[i][j] * gs, *m = &h->m[i][j], *v = &h->v[i][j], *p = &h->p[i][j];
            *m = c->beta1 * *m + (1 - (double)c->beta1) * gj;
            *v = c->beta2 * *v + (1 - (double)c->beta2) * gj * gj;
            double mhat = *m / (1 - pow(c->beta1, (double)t)), vhat = *v / (1 - pow(c->beta2, (double)t));
            *p -= lr * (mhat / (sqrt(vhat) + c->eps) + wd * *p);
        }
    }
}

static void test_adamw(st_device *dev)
{
    host h;
    st_params *ps = make_set(dev, &h, 11);
    st_optim *o = NULL;
    st_adamw_config c = {0.9f, 0.95f, 1e-8f, 0.1f};
    CHECK_ST(st_optim_adamw_create(ps, &c, &o), ST_OK);
    if (!o) return;
    const float lrs[4] = {1e-2f, 3e-2f, 2e-2f, 5e-3f}, gss[4] = {1.0f, 0.5f, 2.0f, 0.25f};
    double g[N_SPECS][MAXN];
    for (int t = 0; t < 4; t++) {
        set_grads(ps, &h, 100 + (uint64_t)t, 1.0, g);
        CHECK_ST(st_optim_step(o, lrs[t], gss[t]), ST_OK);
        host_adamw(&h, g, &c, lrs[t], gss[t], t + 1);
        double d = max_diff(ps, &h);
        CHECK(d < 2e-6, "adamw step %d: max |param - host| = %.3g", t + 1, d);
    }
    st_optim_destroy(o);
    st_params_destroy(ps);
}

static void host_sgd(host *h, double g[N_SPECS][MAXN], const st_sgd_config *c, double lr, double gs)
{
    for (int i = 0; i < N_SPECS; i++)
        for (int64_t j = 0; j < h->n[i]; j++) {
            double d = gs * g[i][j] + (specs[i].decay ? c->weight_decay * h->p[i][j] : 0.0);
            h->m[i][j] = c->momentum * h->m[i][j] + d;
            h->p[i][j] -= lr * h->m[i][j];
        }
}

static void test_sgd(st_device *dev, float momentum, float wd)
{
    host h;
    st_params *ps = make_set(dev, &h, 12);
    st_optim *o = NULL;
    st_sgd_config c = {momentum, wd};
    CHECK_ST(st_optim_sgd_create(ps, &c, &o), ST_OK);
    if (!o) return;
    double g[N_SPECS][MAXN];
    for (int t = 0; t < 5; t++) {
        float lr = 0.1f / (float)(t + 1), gs = t % 2 ? 0.5f : 1.0f;
        set_grads(ps, &h, 200 + (uint64_t)t, 1.0, g);
        CHECK_ST(st_optim_step(o, lr, gs), ST_OK);
        host_sgd(&h, g, &c, lr, gs);
        double d = max_diff(ps, &h);
        CHECK(d < 2e-6, "sgd momentum %g wd %g step %d: max |param - host| = %.3g", (double)momentum,
              (double)wd, t + 1, d);
    }
    st_optim_destroy(o);
    st_params_destroy(ps);
}

/* Clipping: the norm matches the host's, and stepping with the clip scale equals stepping with
 * gradients scaled beforehand and grad_scale 1. */
static void test_clip(st_device *dev, int adamw)
{
    host ha, hb;
    st_params *a = make_set(dev, &ha, 13), *b = make_set(dev, &hb, 13);
    st_optim *oa = NULL, *ob = NULL;
    st_adamw_config ac = {0.9f, 0.999f, 1e-8f, 0.05f};
    st_sgd_config sc = {0.9f, 0.01f};
    CHECK_ST(adamw ? st_optim_adamw_create(a, &ac, &oa) : st_optim_sgd_create(a, &sc, &oa), ST_OK);
    CHECK_ST(adamw ? st_optim_adamw_create(b, &ac, &ob) : st_optim_sgd_create(b, &sc, &ob), ST_OK);
    double g[N_SPECS][MAXN], ss = 0;
    for (int t = 0; t < 3; t++) {
        set_grads(a, &ha, 300 + (uint64_t)t, 4.0, g);
        ss = 0;
        for (int i = 0; i < N_SPECS; i++)
            for (int64_t j = 0; j < ha.n[i]; j++) ss += g[i][j] * g[i][j];
        float norm = 0, scale = 0;
        CHECK_ST(st_params_grad_scale(a, 0.5f, 1.0f, &norm, &scale), ST_OK);
        double want = 0.5 * sqrt(ss);
        CHECK(fabs(norm - want) < 1e-5 * want, "norm %g, host %g", (double)norm, want);
        CHECK(fabs(scale - 0.5 / (want + 1e-6)) < 1e-6 * scale, "scale %g", (double)scale);
        set_grads(b, &hb, 300 + (uint64_t)t, 4.0 * scale, g);
        CHECK_ST(st_optim_step(oa, 0.01f, scale), ST_OK);
        CHECK_ST(st_optim_step(ob, 0.01f, 1.0f), ST_OK);
        double pa[MAXN], pb[MAXN], worst = 0;
        for (int i = 0; i < N_SPECS; i++) {
            st_tensor *ta, *tb;
            st_params_get(a, i, &ta, NULL);
            st_params_get(b, i, &tb, NULL);
            t_read(ta, pa, ha.n[i]);
            t_read(tb, pb, ha.n[i]);
            for (int64_t j = 0; j < ha.n[i]; j++) worst = fmax(worst, fabs(pa[j] - pb[j]));
        }
        CHECK(worst < 1e-6, "%s step %d: clipped via grad_scale vs pre-scaled differ by %.3g",
              adamw ? "adamw" : "sgd", t + 1, worst);
    }
    st_optim_destroy(oa);
    st_optim_destroy(ob);
    st_params_destroy(a);
    st_params_destroy(b);
}

/* Restore: state saved after 2 steps into a fresh set and optimizer gives bit-identical steps. */
static void test_resume(st_device *dev)
{
    host h;
    st_params *a = make_set(dev, &h, 14), *b = make_set(dev, &h, 99);
    st_optim *oa = NULL, *ob = NULL;
    st_adamw_config c = {0.9f, 0.95f, 1e-8f, 0.1f};
    CHECK_ST(st_optim_adamw_create(a, &c, &oa), ST_OK);
    CHECK_ST(st_optim_adamw_create(b, &c, &ob), ST_OK);
    double g[N_SPECS][MAXN];
    for (int t = 0; t < 2; t++) {
        set_grads(a, &h, 400 + (uint64_t)t, 1.0, g);
        st_optim_step(oa, 1e-2f, 1.0f);
    }
    st_optim_state sa, sb;
    st_tensor *fa, *fb;
    st_optim_state_get(oa, &sa);
    st_optim_state_get(ob, &sb);
    st_params_flat(a, &fa, NULL, NULL);
    st_params_flat(b, &fb, NULL, NULL);
    CHECK_ST(st_tensor_copy(fb, fa), ST_OK);
    CHECK_ST(st_tensor_copy(sb.m, sa.m), ST_OK);
    CHECK_ST(st_tensor_copy(sb.v, sa.v), ST_OK);
    CHECK_ST(st_optim_set_step(ob, sa.step), ST_OK);
    for (int t = 2; t < 4; t++) {
        set_grads(a, &h, 400 + (uint64_t)t, 1.0, g);
        set_grads(b, &h, 400 + (uint64_t)t, 1.0, g);
        st_optim_step(oa, 1e-2f, 1.0f);
        st_optim_step(ob, 1e-2f, 1.0f);
    }
    int64_t n = st_tensor_numel(fa);
    float *xa = malloc(sizeof(float) * (size_t)n), *xb = malloc(sizeof(float) * (size_t)n);
    st_tensor_read(fa, xa, sizeof(float) * (size_t)n);
    st_tensor_read(fb, xb, sizeof(float) * (size_t)n);
    CHECK(memcmp(xa, xb, sizeof(float) * (size_t)n) == 0, "resumed run is bit-identical");
    free(xa);
    free(xb);
    st_optim_destroy(oa);
    st_optim_destroy(ob);
    st_params_destroy(a);
    st_params_destroy(b);
}

static void test_schedule(void)
{
    st_lr_schedule s = {6e-4, 6e-5, 10, 100};
    struct {
        int64_t step;
        double want;
    } k[] = {
        {-5, 6e-4 / 11}, {0, 6e-4 / 11}, {9, 6e-4 * 10 / 11}, {10, 6e-4},
        {55, 6e-5 + 0.5 * (6e-4 - 6e-5)}, {100, 6e-5}, {101, 6e-5}, {1000, 6e-5},
        {32, 6e-5 + 0.5 * (1 + cos(3.14159265358979323846 * 22 / 90)) * (6e-4 - 6e-5)},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        double got = st_lr_cosine(&s, k[i].step);
        CHECK(fabs(got - k[i].want) < 1e-15, "lr(%lld) = %.17g, want %.17g", (long long)k[i].step, got,
              k[i].want);
    }
    st_lr_schedule flat = {1.0, 0.1, 5, 5};
    CHECK(st_lr_cosine(&flat, 4) == 5.0 / 6.0 && st_lr_cosine(&flat, 5) == 0.1, "total <= warmup");
    st_lr_schedule nowarm = {1.0, 0.0, 0, 10};
    CHECK(st_lr_cosine(&nowarm, 0) == 1.0 && fabs(st_lr_cosine(&nowarm, 5) - 0.5) < 1e-15, "no warmup");
    CHECK(st_lr_cosine(NULL, 3) == 0.0, "NULL schedule");
}

int main(void)
{
    st_device *dev;
    if (st_device_get("cpu", 0, &dev) != ST_OK) {
        printf("cpu: %s\n", st_last_error());
        return 1;
    }
    test_adamw(dev);
    test_sgd(dev, 0.9f, 0.05f);
    test_sgd(dev, 0.0f, 0.1f);
    test_sgd(dev, 0.5f, 0.0f);
    test_clip(dev, 1);
    test_clip(dev, 0);
    test_resume(dev);
    test_schedule();
    int rc = h_finish();
    st_shutdown();
    return rc;
}
