/* Parameter sets on cpu: the arena layout (one allocation, aligned offsets, decay region first,
 * views that alias the flat tensors), zeroing, lookup, optimizer state hooks and bad input. */
#include <math.h>
#include "optim_test.h"

h_counts h_total;

static const st_param_spec specs[] = {
    {"wte", 2, {10, 4}, 1}, {"ln.b", 1, {4}, 0}, {"fc.w", 2, {4, 3}, 1},
    {"fc.b", 1, {3}, 0},    {"gain", 0, {0}, 0},  {"empty", 2, {0, 5}, 1},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

static void test_layout(st_params *ps)
{
    CHECK(st_params_count(ps) == N_SPECS, "count %d", st_params_count(ps));
    CHECK(st_params_numel(ps) == 40 + 4 + 12 + 3 + 1, "numel %lld", (long long)st_params_numel(ps));
    st_tensor *fp, *fg;
    int64_t nd = -1;
    CHECK_ST(st_params_flat(ps, &fp, &fg, &nd), ST_OK);
    int64_t total = st_tensor_numel(fp);
    int64_t rem = total % ST_PARAMS_ALIGN;
    CHECK(rem == 0 && st_tensor_numel(fg) == total, "flat %lld", (long long)total);
    CHECK(nd == 2 * ST_PARAMS_ALIGN, "decay region %lld (wte, fc.w each padded, empty adds none)", (long long)nd);
    CHECK(total == nd + 3 * ST_PARAMS_ALIGN, "flat length %lld", (long long)total);
    int64_t want_off[N_SPECS] = {0, 128, 64, 192, 256, 128};
    for (int i = 0; i < N_SPECS; i++) {
        st_param_info in;
        CHECK_ST(st_params_info(ps, i, &in), ST_OK);
        CHECK(strcmp(in.name, specs[i].name) == 0, "name %s", in.name);
        int64_t misalign = in.offset % ST_PARAMS_ALIGN;
        CHECK(misalign == 0 && in.offset == want_off[i], "%s offset %lld", in.name, (long long)in.offset);
        CHECK(in.decay == specs[i].decay && in.ndim == specs[i].ndim, "%s flags", in.name);
        CHECK((in.decay && in.offset + in.numel <= nd) || (!in.decay && in.offset >= nd), "%s region", in.name);
    }
    st_tensor *w, *g;
    CHECK_ST(st_params_get_by_name(ps, "fc.w", &w, &g), ST_OK);
    char buf[64];
    CHECK(strcmp(st_tensor_describe(w, buf, sizeof buf), "f32[4,3] cpu:0") == 0, "%s", buf);
    CHECK(st_tensor_stride(w, 0) == 3 && st_tensor_stride(w, 1) == 1, "row-major view");
    CHECK(st_tensor_ndim(w) == 2 && st_tensor_dim(w, 0) == 4, "shape");
}

/* Values written through the flat tensor appear in the views and the other way round. */
static void test_aliasing(st_params *ps)
{
    st_tensor *fp, *fg;
    st_params_flat(ps, &fp, &fg, NULL);
    int64_t total = st_tensor_numel(fp);
    double *x = malloc(sizeof(double) * (size_t)total), y[40];
    for (int64_t i = 0; i < total; i++) x[i] = (double)i;
    CHECK_ST(t_write(fp, x, total), ST_OK);
    for (int i = 0; i < N_SPECS; i++) {
        st_param_info in;
        st_tensor *p;
        st_params_info(ps, i, &in);
        st_params_get(ps, i, &p, NULL);
        CHECK_ST(t_read(p, y, in.numel), ST_OK);
        int ok = 1;
        for (int64_t j = 0; j < in.numel; j++) ok &= y[j] == (double)(in.offset + j);
        CHECK(ok, "%s reads flat[offset + j]", in.name);
    }
    st_tensor *b, *bg;
    st_params_get_by_name(ps, "fc.b", &b, &bg);
    double v[3] = {-1, -2, -3};
    CHECK_ST(t_write(bg, v, 3), ST_OK);
    CHECK_ST(t_read(fg, x, total), ST_OK);
    CHECK(x[192] == -1 && x[194] == -3 && x[195] == 0, "gradient view writes land in the flat gradients");
    CHECK_ST(st_params_zero_grad(ps), ST_OK);
    CHECK_ST(t_read(fg, x, total), ST_OK);
    int zero = 1;
    for (int64_t i = 0; i < total; i++) zero &= x[i] == 0.0;
    CHECK(zero, "zero_grad clears the whole gradient arena");
    free(x);
}

static void test_norm(st_params *ps)
{
    st_tensor *g;
    st_params_get_by_name(ps, "fc.w", NULL, &g);
    double v[12];
    for (int i = 0; i < 12; i++) v[i] = (i % 2 ? -1.0 : 1.0) * (i + 1);
    t_write(g, v, 12);
    st_params_get_by_name(ps, "gain", NULL, &g);
    double three = 3.0;
    t_write(g, &three, 1);
    double want = sqrt(650.0 + 9.0); /* sum of i^2 for i = 1..12, plus 3^2 */
    float norm = 0, scale = 0;
    CHECK_ST(st_params_grad_norm(ps, &norm), ST_OK);
    CHECK(fabs(norm - want) < 1e-5 * want, "norm %g want %g", (double)norm, want);
    CHECK_ST(st_params_grad_scale(ps, 0.25f, 1.0f, &norm, &scale), ST_OK);
    CHECK(fabs(norm - 0.25 * want) < 1e-5 * want, "averaged norm %g", (double)norm);
    CHECK(fabs(scale - 0.25 / (0.25 * want + 1e-6)) < 1e-6, "scale %g", (double)scale);
    CHECK_ST(st_params_grad_scale(ps, 0.25f, 100.0f, NULL, &scale), ST_OK);
    CHECK(scale == 0.25f, "no clipping under max_norm: scale %g", (double)scale);
    CHECK(st_grad_clip_factor(10.0f, 0.0f) == 1.0f && st_grad_clip_factor(0.5f, 1.0f) == 1.0f, "no clip");
    CHECK(fabsf(st_grad_clip_factor(4.0f, 1.0f) - 0.25f) < 1e-6f, "clip factor");
    CHECK(isnan(st_grad_clip_factor(NAN, 1.0f)) && st_grad_clip_factor(INFINITY, 1.0f) == 0.0f, "non-finite");
}

static void test_state(st_params *ps)
{
    st_optim *a = NULL, *s = NULL;
    st_adamw_config ac = {0.9f, 0.95f, 1e-8f, 0.1f};
    st_sgd_config sc = {0.0f, 0.0f};
    CHECK_ST(st_optim_adamw_create(ps, &ac, &a), ST_OK);
    CHECK_ST(st_optim_sgd_create(ps, &sc, &s), ST_OK);
    st_optim_state st;
    CHECK_ST(st_optim_state_get(a, &st), ST_OK);
    st_tensor *fp;
    st_params_flat(ps, &fp, NULL, NULL);
    CHECK(st.m && st.v && st_tensor_numel(st.m) == st_tensor_numel(fp) && st.step == 0, "adamw state");
    CHECK(strcmp(st_optim_name(a), "adamw") == 0 && strcmp(st_optim_name(s), "sgd") == 0, "names");
    CHECK_ST(st_optim_step(a, 1e-3f, 1.0f), ST_OK);
    CHECK_ST(st_optim_set_step(a, 41), ST_OK);
    st_optim_state_get(a, &st);
    CHECK(st.step == 41, "step restored");
    st_tensor *wrong;
    int64_t n = 7;
    st_tensor_create(st_params_device(ps), ST_F32, 1, &n, &wrong);
    CHECK_ST(st_tensor_copy(st.m, wrong), ST_ERR_SHAPE);
    st_tensor_destroy(wrong);
    CHECK_ST(st_optim_state_get(s, &st), ST_OK);
    CHECK(st.m == NULL && st.v == NULL, "plain sgd has no buffers");
    CHECK_ST(st_optim_step(a, NAN, 1.0f), ST_ERR_INVALID_ARG);
    CHECK_ST(st_optim_step(s, 1.0f, INFINITY), ST_ERR_INVALID_ARG);
    CHECK_ST(st_optim_set_step(a, -1), ST_ERR_INVALID_ARG);
    ac.beta1 = 1.0f;
    st_optim *bad = NULL;
    CHECK_ST(st_optim_adamw_create(ps, &ac, &bad), ST_ERR_INVALID_ARG);
    ac.beta1 = 0.9f;
    ac.eps = 0.0f;
    CHECK_ST(st_optim_adamw_create(ps, &ac, &bad), ST_ERR_INVALID_ARG);
    sc.momentum = -0.5f;
    CHECK_ST(st_optim_sgd_create(ps, &sc, &bad), ST_ERR_INVALID_ARG);
    CHECK(bad == NULL, "no optimizer on error");
    st_optim_destroy(a);
    st_optim_destroy(s);
}

static void test_errors(st_device *dev, st_params *ps)
{
    st_params *bad = NULL;
    st_param_spec sp[2] = {{"a", 1, {3}, 1}, {"a", 1, {2}, 0}};
    CHECK_ST(st_params_create(NULL, sp, 1, &bad), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_create(dev, NULL, 1, &bad), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_create(dev, sp, 0, &bad), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_create(dev, sp, 2, &bad), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("'a' given twice"), "%s", st_last_error());
    sp[1].name = "";
    CHECK_ST(st_params_create(dev, sp, 2, &bad), ST_ERR_INVALID_ARG);
    sp[1].name = NULL;
    CHECK_ST(st_params_create(dev, sp, 2, &bad), ST_ERR_INVALID_ARG);
    sp[1].name = "b";
    sp[1].ndim = 5;
    CHECK_ST(st_params_create(dev, sp, 2, &bad), ST_ERR_SHAPE);
    sp[1].ndim = 1;
    sp[1].shape[0] = -2;
    CHECK_ST(st_params_create(dev, sp, 2, &bad), ST_ERR_SHAPE);
    sp[1].shape[0] = INT64_MAX / 2;
    CHECK_ST(st_params_create(dev, sp, 2, &bad), ST_ERR_INVALID_ARG);
    CHECK(bad == NULL, "no set on error");
    st_tensor *t = NULL;
    int idx = -1;
    CHECK_ST(st_params_get_by_name(ps, "nope", &t, NULL), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("'nope'") && t == NULL, "%s", st_last_error());
    CHECK_ST(st_params_index(ps, NULL, &idx), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_index(ps, "fc.b", &idx), ST_OK);
    CHECK(idx == 3, "index %d", idx);
    CHECK_ST(st_params_get(ps, N_SPECS, &t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_get(ps, -1, &t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_get(NULL, 0, &t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_info(ps, 0, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_flat(NULL, &t, NULL, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_zero_grad(NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_grad_norm(ps, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_params_grad_scale(ps, 0.0f, 1.0f, NULL, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_optim_adamw_create(NULL, &(st_adamw_config){0.9f, 0.95f, 1e-8f, 0}, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_optim_step(NULL, 1.0f, 1.0f), ST_ERR_INVALID_ARG);
    CHECK(st_params_count(NULL) == 0 && st_params_numel(NULL) == 0 && !st_params_device(NULL), "NULL set");
    CHECK(strcmp(st_optim_name(NULL), "?") == 0, "NULL optimizer name");
    st_params_destroy(NULL);
    st_optim_destroy(NULL);
}

int main(void)
{
    st_device *dev;
    if (st_device_get("cpu", 0, &dev) != ST_OK) {
        printf("cpu: %s\n", st_last_error());
        return 1;
    }
    st_params *ps = NULL;
    CHECK_ST(st_params_create(dev, specs, N_SPECS, &ps), ST_OK);
    if (ps) {
        test_layout(ps);
        test_aliasing(ps);
        test_norm(ps);
        test_state(ps);
        test_errors(dev, ps);
    }
    st_params_destroy(ps);
    int rc = h_finish();
    st_shutdown();
    return rc;
}
