/* Gradient checks of compiled graphs against central finite differences: an MLP with
 * cross-entropy, an MLP with a squared error (scale, sub, mul, sum), and a one-block transformer
 * (embedding, layernorm, qkv split by views, attention, residuals, GELU MLP, tied head), on cpu
 * and on every other backend present. */
#include <math.h>
#include <stdlib.h>
#include "models.h"

h_counts h_total;

/* Element `i` of param k moved by delta; returns the loss. */
static float loss_at(tmodel *m, int k, float *host, int64_t n, int64_t i, float delta)
{
    float saved = host[i], loss = NAN;
    host[i] = saved + delta;
    if (st_tensor_write(m->p[k], host, sizeof(float) * (size_t)n) == ST_OK) tm_loss(m, &loss);
    host[i] = saved;
    return loss;
}

/* Compares the analytic gradient of every parameter with finite differences on up to 12
 * elements each; returns the worst relative error. */
static double check_model(tmodel *m, const char *what)
{
    const float h = 1e-2f;
    double worst = 0;
    for (int k = 0; k < m->np; k++) {
        int64_t n = st_tensor_numel(m->p[k]);
        float *p = malloc(sizeof(float) * (size_t)n), *gr = malloc(sizeof(float) * (size_t)n);
        st_tensor_read(m->p[k], p, sizeof(float) * (size_t)n);
        st_tensor_read(m->gp[k], gr, sizeof(float) * (size_t)n);
        int64_t step = n > 12 ? n / 12 : 1;
        int bad = 0;
        for (int64_t i = 0; i < n; i += step) {
            double num = (loss_at(m, k, p, n, i, h) - loss_at(m, k, p, n, i, -h)) / (2.0 * h);
            double err = fabs(num - gr[i]) / (fabs(num) + 1e-2);
            if (err > worst) worst = err;
            if (err > 2e-2 && !bad++)
                printf("%s %s[%lld]: analytic %.6g vs numeric %.6g\n", what, m->pname[k], (long long)i, gr[i], num);
        }
        CHECK(!bad, "%s: gradient of %s", what, m->pname[k]);
        st_tensor_write(m->p[k], p, sizeof(float) * (size_t)n);
        free(p);
        free(gr);
    }
    return worst;
}

static void check_kind(st_device *dev, tm_kind kind, const char *name)
{
    char what[96];
    snprintf(what, sizeof what, "%s on %s", name, st_device_label(dev));
    tmodel m;
    st_status s = tm_build(&m, kind, dev);
    CHECK(s == ST_OK, "%s: build: %s", what, st_last_error());
    float loss = NAN;
    if (s == ST_OK) s = tm_loss(&m, &loss);
    if (s == ST_OK) s = st_graph_backward(m.plan);
    CHECK(s == ST_OK && isfinite(loss), "%s: forward/backward: %s", what, st_last_error());
    if (s == ST_OK) {
        double worst = check_model(&m, what);
        printf("%-28s loss %.5f  worst relative gradient error %.2e\n", what, loss, worst);
    }
    tm_free(&m);
}

int main(void)
{
    for (int b = 0; b < st_backend_count(); b++) {
        st_backend_info info;
        st_device *dev = NULL;
        if (st_backend_info_get(b, &info) != ST_OK || !info.loaded || info.device_count == 0) {
            h_skip("backend %s: %s", info.name ? info.name : "?", info.reason && info.reason[0] ? info.reason : "absent");
            continue;
        }
        if (st_device_get(info.name, 0, &dev) != ST_OK) {
            CHECK(0, "st_device_get(%s): %s", info.name, st_last_error());
            continue;
        }
        check_kind(dev, TM_MLP_CE, "mlp+cross_entropy");
        check_kind(dev, TM_MLP_MSE, "mlp+squared_error");
        check_kind(dev, TM_GPT, "transformer block");
    }
    int rc = h_finish();
    st_shutdown();
    return rc;
}
