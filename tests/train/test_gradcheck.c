/* Gradient check of the whole GPT-2 training graph: for every parameter tensor of a very small
 * model (L=2, H=2, C=8, context 8, V=13 padded to 16, B=2, T=6), the autograd gradient of the
 * mean cross-entropy at a few elements against central finite differences of the f32 loss.
 * Weights are drawn wider than GPT-2's init (std 0.3, LayerNorm gains around 1) so every path
 * carries a gradient well above f32 rounding. Then a second backward must add the same gradient
 * again (micro-batch accumulation). Runs on cpu, then on opencl when present. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../harness.h"
#include "gpt2.h"

h_counts h_total;

#define NB 2
#define NT 6
#define SAMPLES 4       /* elements per parameter tensor: the largest gradient and 3 random */
#define EPS 1e-2f
#define RTOL 3e-2       /* a wrong rule is off by far more; f32 differences stay within ~1e-3 */
#define ATOL 2e-4

static const gpt2_config CFG = {.L = 2, .H = 2, .C = 8, .T = 8, .V = 13, .Vp = 16};

static int32_t in[NB * NT], tg[NB * NT];

/* Every parameter Normal(0, 0.3), LayerNorm gains 1 + Normal(0, 0.3). */
static st_status init_wide(st_params *ps)
{
    for (int i = 0; i < st_params_count(ps); i++) {
        st_param_info info;
        st_tensor *p;
        st_status s = st_params_info(ps, i, &info);
        if (!s) s = st_params_get(ps, i, &p, NULL);
        int gain = strstr(info.name, "ln_") && strstr(info.name, ".weight");
        if (!s) s = st_rand_normal(p, 99, (uint64_t)info.offset, gain ? 1.0f : 0.0f, 0.3f);
        if (s) return s;
    }
    return ST_OK;
}

static float loss_at(gpt2_graph *m)
{
    float l = NAN;
    return gpt2_forward(m, in, tg, &l) == ST_OK ? l : NAN;
}

/* Central difference of the loss at element k of the flat parameter arena (host copy h). */
static double numeric(gpt2_graph *m, st_tensor *flat, float *h, int64_t n, int64_t k)
{
    float x = h[k];
    h[k] = x + EPS;
    st_tensor_write(flat, h, sizeof(float) * (size_t)n);
    double up = loss_at(m);
    h[k] = x - EPS;
    st_tensor_write(flat, h, sizeof(float) * (size_t)n);
    double down = loss_at(m);
    h[k] = x;
    st_tensor_write(flat, h, sizeof(float) * (size_t)n);
    return (up - down) / (2.0 * (double)EPS);
}

/* The elements of parameter `info` to check: its largest analytic gradient, then random ones. */
static void pick(const st_param_info *info, const float *grad, uint32_t *rng, int64_t *at)
{
    int64_t best = 0;
    for (int64_t j = 1; j < info->numel; j++)
        if (fabsf(grad[info->offset + j]) > fabsf(grad[info->offset + best])) best = j;
    at[0] = info->offset + best;
    for (int k = 1; k < SAMPLES; k++) {
        *rng = *rng * 1664525u + 1013904223u;
        at[k] = info->offset + (int64_t)(*rng >> 8) % info->numel;
    }
}

/* Checks every parameter tensor of ps; returns the number of elements that disagree. */
static int check_params(gpt2_graph *m, st_params *ps, const char *backend)
{
    st_tensor *flat, *gflat;
    st_params_flat(ps, &flat, &gflat, NULL);
    int64_t n = st_tensor_numel(flat);
    float *h = malloc(sizeof(float) * (size_t)n), *g = malloc(sizeof(float) * (size_t)n);
    int bad = 0, checked = 0;
    uint32_t rng = 12345;
    if (!CHECK(h && g && st_tensor_read(flat, h, sizeof(float) * (size_t)n) == ST_OK &&
               st_tensor_read(gflat, g, sizeof(float) * (size_t)n) == ST_OK, "%s: read arenas", backend))
        goto out;
    for (int i = 0; i < st_params_count(ps); i++) {
        st_param_info info;
        int64_t at[SAMPLES];
        st_params_info(ps, i, &info);
        pick(&info, g, &rng, at);
        for (int k = 0; k < SAMPLES; k++) {
            double num = numeric(m, flat, h, n, at[k]), ana = g[at[k]];
            double tol = ATOL + RTOL * fmax(fabs(num), fabs(ana));
            checked++;
            if (!CHECK(fabs(num - ana) <= tol, "%s: d loss / d %s[%lld]: autograd %.6g, finite "
                       "difference %.6g", backend, info.name, (long long)(at[k] - info.offset), ana, num))
                bad++;
        }
        CHECK(fabsf(g[at[0]]) > 1e-3f, "%s: %s has a gradient (largest %.3g)", backend, info.name, g[at[0]]);
    }
    printf("%s: %d gradient elements over %d parameter tensors, %d off\n", backend, checked,
           st_params_count(ps), bad);
out:
    free(h);
    free(g);
    return bad;
}

/* A second backward without zeroing adds the same gradient again: every parameter's gradient,
 * including wte's two uses (head and embedding), accumulates rather than being overwritten. */
static void check_accumulates(gpt2_graph *m, st_params *ps, const char *backend)
{
    st_tensor *gflat;
    st_params_flat(ps, NULL, &gflat, NULL);
    int64_t n = st_tensor_numel(gflat);
    float *g1 = malloc(sizeof(float) * (size_t)n), *g2 = malloc(sizeof(float) * (size_t)n);
    float l;
    st_status s = g1 && g2 ? st_tensor_read(gflat, g1, sizeof(float) * (size_t)n) : ST_ERR_OUT_OF_MEMORY;
    if (!s) s = gpt2_forward(m, in, tg, &l);
    if (!s) s = st_graph_backward(m->plan);
    if (!s) s = st_tensor_read(gflat, g2, sizeof(float) * (size_t)n);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; !s && i < n; i++)
        if (fabsf(g2[i] - 2 * g1[i]) > 1e-5f + 1e-5f * fabsf(g2[i]) && bad++ == 0) first = i;
    CHECK(s == ST_OK && bad == 0, "%s: two backwards give twice the gradient: %lld elements differ "
          "(first at %lld) %s", backend, (long long)bad, (long long)first, s ? st_last_error() : "");
    free(g1);
    free(g2);
}

static void run_on(const char *backend)
{
    st_device *dev;
    if (st_device_get(backend, 0, &dev) != ST_OK) {
        h_skip("%s: %s", backend, st_last_error());
        return;
    }
    st_param_spec *specs;
    int n;
    st_params *ps = NULL;
    gpt2_graph m = {0};
    st_status s = gpt2_param_specs(&CFG, 1, &specs, &n);
    if (!s) {
        s = st_params_create(dev, specs, n, &ps);
        free(specs);
    }
    if (!s) s = init_wide(ps);
    if (!s) s = gpt2_graph_create(&m, &CFG, ps, NB, NT, ST_F32);
    float l = 0;
    if (!s) s = st_params_zero_grad(ps);
    if (!s) s = gpt2_forward(&m, in, tg, &l);
    if (!s) s = st_graph_backward(m.plan);
    if (CHECK(s == ST_OK, "%s: model and backward: %s", backend, st_last_error())) {
        check_params(&m, ps, backend);
        check_accumulates(&m, ps, backend);
    }
    gpt2_graph_destroy(&m);
    st_params_destroy(ps);
}

int main(void)
{
    for (int i = 0; i < NB * NT; i++) {
        in[i] = (i * 7 + 3) % CFG.V;
        tg[i] = (i * 5 + 1) % CFG.V;
    }
    run_on("cpu");
    run_on("opencl");
    st_shutdown();
    return h_finish();
}
