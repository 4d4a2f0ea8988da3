/* A least-squares problem y = X w + b trained with AdamW (warmup + cosine schedule) and with SGD
 * momentum, gradients accumulated over two micro-batches and clipped by global norm, on every
 * backend present (absent ones are reported as skipped). Gradients come from public ops only:
 * r = X W + b - y;  dW += (2/N) X_k^T r_k;  db += (2/N) sum(r_k). */
#include <math.h>
#include "optim_test.h"

h_counts h_total;

enum { N = 64, D = 8, K = 2, NK = N / K };

typedef struct problem {
    st_device *dev;
    st_tensor *x[K], *y[K], *r, *rsum, *loss;   /* x (NK, D), y and r (NK, 1), rsum (1), loss (1) */
    st_params *ps;
    st_tensor *w, *b, *gw, *gb;                 /* W (D, 1) with decay, b (1) without */
} problem;

#define TRY(expr)                           \
    do {                                    \
        st_status try_s_ = (expr);          \
        if (try_s_ != ST_OK) return try_s_; \
    } while (0)

static st_status upload(problem *pr, uint64_t seed)
{
    double x[NK * D], y[NK], wt[D];
    for (int j = 0; j < D; j++) wt[j] = t_rand(&seed) * 2.0;
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < NK; i++) {
            y[i] = 0.5;
            for (int j = 0; j < D; j++) {
                x[i * D + j] = t_rand(&seed) * 1.7;
                y[i] += x[i * D + j] * wt[j];
            }
        }
        TRY(t_write(pr->x[k], x, NK * D));
        TRY(t_write(pr->y[k], y, NK));
    }
    return ST_OK;
}

static st_status setup(problem *pr, st_device *dev)
{
    int64_t xs[2] = {NK, D}, ys[2] = {NK, 1}, one = 1;
    pr->dev = dev;
    for (int k = 0; k < K; k++) {
        TRY(st_tensor_create(dev, ST_F32, 2, xs, &pr->x[k]));
        TRY(st_tensor_create(dev, ST_F32, 2, ys, &pr->y[k]));
    }
    TRY(st_tensor_create(dev, ST_F32, 2, ys, &pr->r));
    TRY(st_tensor_create(dev, ST_F32, 1, &one, &pr->rsum));
    TRY(st_tensor_create(dev, ST_F32, 1, &one, &pr->loss));
    st_param_spec sp[2] = {{"w", 2, {D, 1}, 1}, {"b", 1, {1}, 0}};
    TRY(st_params_create(dev, sp, 2, &pr->ps));
    TRY(st_params_get_by_name(pr->ps, "w", &pr->w, &pr->gw));
    TRY(st_params_get_by_name(pr->ps, "b", &pr->b, &pr->gb));
    return upload(pr, 7);
}

static void teardown(problem *pr)
{
    for (int k = 0; k < K; k++) {
        st_tensor_destroy(pr->x[k]);
        st_tensor_destroy(pr->y[k]);
    }
    st_tensor_destroy(pr->r);
    st_tensor_destroy(pr->rsum);
    st_tensor_destroy(pr->loss);
    st_params_destroy(pr->ps);
}

/* Mean squared error over all N rows; gradients of it accumulated over the K micro-batches. */
static st_status forward_backward(problem *pr, double *loss)
{
    TRY(st_params_zero_grad(pr->ps));
    *loss = 0;
    for (int k = 0; k < K; k++) {
        float ss;
        TRY(st_matmul(pr->r, pr->x[k], pr->w, 0, 0, 1.0f, 0.0f));
        TRY(st_add(pr->r, pr->r, pr->b));
        TRY(st_sub(pr->r, pr->r, pr->y[k]));
        TRY(st_sumsq(pr->loss, pr->r));
        TRY(st_tensor_read(pr->loss, &ss, sizeof ss));
        *loss += ss / N;
        /* Each micro-batch's gradient is that of its own mean (2/NK), so the sum of K of them
         * is K times the full gradient: the step's averaging factor 1/K restores it. */
        TRY(st_matmul(pr->gw, pr->x[k], pr->r, 1, 0, 2.0f / NK, 1.0f));
        TRY(st_sum(pr->rsum, pr->r, 0));
        TRY(st_scale(pr->rsum, pr->rsum, 2.0f / NK, 0.0f));
        TRY(st_add(pr->gb, pr->gb, pr->rsum));
    }
    return ST_OK;
}

/* Trains from zero weights; returns the first and last losses. */
static st_status train(problem *pr, int adamw, int steps, double *first, double *last)
{
    st_tensor *flat;
    st_optim *o = NULL;
    TRY(st_params_flat(pr->ps, &flat, NULL, NULL));
    TRY(st_fill(flat, 0.0));
    st_adamw_config ac = {0.9f, 0.95f, 1e-8f, 1e-4f};
    st_sgd_config sc = {0.9f, 0.0f};
    TRY(adamw ? st_optim_adamw_create(pr->ps, &ac, &o) : st_optim_sgd_create(pr->ps, &sc, &o));
    st_lr_schedule sched = {adamw ? 0.1 : 0.02, adamw ? 0.002 : 0.002, 10, steps};
    st_status s = ST_OK;
    for (int t = 0; t < steps && s == ST_OK; t++) {
        float norm, scale;
        s = forward_backward(pr, last);
        if (t == 0) *first = *last;
        if (s == ST_OK) s = st_params_grad_scale(pr->ps, 1.0f / K, 10.0f, &norm, &scale);
        if (s == ST_OK) s = st_optim_step(o, (float)st_lr_cosine(&sched, t), scale);
    }
    if (s == ST_OK) s = forward_backward(pr, last);
    st_optim_destroy(o);
    return s;
}

static void run_backend(const char *name)
{
    st_device *dev;
    problem pr = {0};
    CHECK_ST(st_device_get(name, 0, &dev), ST_OK);
    st_status s = setup(&pr, dev);
    CHECK(s == ST_OK, "%s: setup: %s", name, st_last_error());
    for (int adamw = 1; s == ST_OK && adamw >= 0; adamw--) {
        double first = 0, last = 0;
        s = train(&pr, adamw, adamw ? 300 : 150, &first, &last);
        CHECK(s == ST_OK, "%s: training: %s", name, st_last_error());
        CHECK(last < 1e-4 * first, "%s %s: loss %.4g -> %.4g", name, adamw ? "adamw" : "sgd", first, last);
        printf("%s %s: loss %.4g -> %.4g\n", name, adamw ? "adamw" : "sgd", first, last);
    }
    teardown(&pr);
}

int main(void)
{
    for (int i = 0; i < st_backend_count(); i++) {
        st_backend_info info;
        if (st_backend_info_get(i, &info) != ST_OK) continue;
        if (!info.loaded || info.device_count == 0) {
            h_skip("backend %s: %s", info.name, info.reason[0] ? info.reason : "no device");
            continue;
        }
        run_backend(info.name);
    }
    int rc = h_finish();
    st_shutdown();
    return rc;
}
