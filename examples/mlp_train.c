/* A user's own model with Strata's API: a 2-layer MLP classifying synthetic data, trained with
 * the graph (autograd + planned memory), AdamW and a cosine schedule, on the backend that
 * STRATA_BACKEND / STRATA_DEVICE select. Exits non-zero unless the loss falls by 10x. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strata/strata.h>

enum { N = 256, IN = 8, HID = 32, OUT = 4, STEPS = 150 };

#define CHECK(call)                                                              \
    do {                                                                         \
        if ((call) != ST_OK) {                                                   \
            fprintf(stderr, "mlp_train: %s failed: %s\n", #call, st_last_error()); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* Class c's points scatter around a centre of their own: learnable, not trivially. */
static void make_data(float *x, int32_t *y)
{
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        y[i] = i % OUT;
        for (int j = 0; j < IN; j++) {
            s = s * 1103515245u + 12345u;
            float noise = ((float)((s >> 8) & 0xffff) / 65536.0f - 0.5f) * 1.5f;
            x[i * IN + j] = (float)((j * 7 + y[i] * 3) % 5) / 4.0f - 0.5f + noise;
        }
    }
}

int main(void)
{
    st_device *dev;
    if (st_device_default(&dev) != ST_OK) {
        fprintf(stderr, "mlp_train: no device: %s\n", st_last_error());
        return 2;
    }
    printf("training on %s\n", st_device_label(dev));

    /* Parameters, gradients and AdamW state each live in one arena on the device. */
    st_param_spec specs[4] = {
        {"w1", 2, {IN, HID}, 1}, {"b1", 1, {HID}, 0}, {"w2", 2, {HID, OUT}, 1}, {"b2", 1, {OUT}, 0}};
    st_params *ps;
    CHECK(st_params_create(dev, specs, 4, &ps));
    st_tensor *p[4], *g[4];
    for (int i = 0; i < 4; i++) {
        CHECK(st_params_get(ps, i, &p[i], &g[i]));
        if (specs[i].ndim == 2) CHECK(st_rand_normal(p[i], 7, (uint64_t)i << 32, 0.0f, 0.3f));
    }

    /* The model, recorded once: logits = gelu(x w1 + b1) w2 + b2, loss = mean cross-entropy. */
    st_graph *gr;
    CHECK(st_graph_create(&gr));
    st_node x = st_graph_input(gr, "x", ST_F32, 2, (int64_t[]){N, IN});
    st_node y = st_graph_input(gr, "y", ST_I32, 1, (int64_t[]){N});
    st_node w[4];
    for (int i = 0; i < 4; i++) w[i] = st_graph_param(gr, specs[i].name, p[i], g[i]);
    st_node h = st_graph_gelu(gr, st_graph_add(gr, st_graph_matmul(gr, x, w[0], 0, 0), w[1]));
    st_node logits = st_graph_add(gr, st_graph_matmul(gr, h, w[2], 0, 0), w[3]);
    st_node loss = st_graph_mean(gr, st_graph_cross_entropy(gr, logits, y), ST_GRAPH_ALL_AXES);
    CHECK(st_graph_set_loss(gr, loss));
    st_graph_plan *plan;
    CHECK(st_graph_compile(gr, dev, &plan)); /* reports any error of the build above */

    static float hx[N * IN];
    static int32_t hy[N];
    make_data(hx, hy);
    st_tensor *tx, *ty;
    CHECK(st_tensor_create(dev, ST_F32, 2, (int64_t[]){N, IN}, &tx));
    CHECK(st_tensor_create(dev, ST_I32, 1, (int64_t[]){N}, &ty));
    CHECK(st_tensor_write(tx, hx, sizeof hx));
    CHECK(st_tensor_write(ty, hy, sizeof hy));
    CHECK(st_graph_bind(plan, x, tx));
    CHECK(st_graph_bind(plan, y, ty));

    st_optim *opt;
    st_adamw_config acfg = {0.9f, 0.999f, 1e-8f, 0.01f};
    CHECK(st_optim_adamw_create(ps, &acfg, &opt));
    st_lr_schedule sched = {1e-2, 1e-3, 10, STEPS};
    float first = 0.0f, last = 0.0f;
    for (int step = 0; step < STEPS; step++) {
        float norm, scale;
        CHECK(st_params_zero_grad(ps));
        CHECK(st_graph_forward(plan));
        CHECK(st_graph_backward(plan));
        CHECK(st_params_grad_scale(ps, 1.0f, 1.0f, &norm, &scale)); /* clip at norm 1 */
        CHECK(st_optim_step(opt, (float)st_lr_cosine(&sched, step), scale));
        CHECK(st_tensor_read(st_graph_value(plan, loss), &last, sizeof last));
        if (step == 0) first = last;
        if (step % 25 == 0 || step == STEPS - 1) printf("step %3d  loss %.4f  grad norm %.3f\n", step, last, norm);
    }
    printf("loss %.4f -> %.4f\n", first, last);

    st_optim_destroy(opt);
    st_graph_plan_destroy(plan);
    st_graph_destroy(gr);
    st_tensor_destroy(tx);
    st_tensor_destroy(ty);
    st_params_destroy(ps);
    st_shutdown();
    return isfinite(last) && last < first / 10.0f ? 0 : 1;
}
