/* strata-demo: a tour of the public API on the default device (STRATA_BACKEND / STRATA_DEVICE):
 * Philox random tensors, matmul, layernorm, gelu, softmax, cross-entropy and its backward, then
 * ~20 AdamW steps of a 2-layer MLP on synthetic data with the loss printed as it falls.
 * It stands in for the trainer until strata-train exists; it uses only public ops, so it runs
 * unchanged on every backend. Any failing call prints st_last_error() and exits non-zero. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strata/strata.h>

#define CHECK(call) check((call), #call, __LINE__)
#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof SHAPE(__VA_ARGS__) / sizeof(int64_t)))
/* A new f32/i32 tensor on `dev`, freed at the end of the program. */
#define TENSOR(dt, ...) tensor(dev, dt, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))

static st_tensor *owned[96];
static int n_owned;

static void free_all(void)
{
    while (n_owned > 0) st_tensor_destroy(owned[--n_owned]);
    st_shutdown();
}

static void check(st_status s, const char *what, int line)
{
    if (s == ST_OK) return;
    fprintf(stderr, "strata-demo: line %d: %s\n  failed: %s\n", line, what,
            *st_last_error() ? st_last_error() : st_status_string(s));
    free_all();
    exit(1);
}

static st_tensor *tensor(st_device *dev, st_dtype dt, int ndim, const int64_t *shape)
{
    st_tensor *t = NULL;
    if (n_owned == (int)(sizeof owned / sizeof owned[0])) {
        st_clear_error();
        check(ST_ERR_INTERNAL, "more tensors than the demo's table holds", __LINE__);
    }
    CHECK(st_tensor_create(dev, dt, ndim, shape, &t));
    owned[n_owned++] = t;
    return t;
}

static void read_f32(const st_tensor *t, float *dst)
{
    CHECK(st_tensor_read(t, dst, (size_t)st_tensor_numel(t) * sizeof(float)));
}

static void print_row(const char *label, const float *x, int n)
{
    printf("    %-22s", label);
    for (int i = 0; i < n; i++) printf(" %+.4f", x[i]);
    printf("\n");
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static st_device *pick_device(void)
{
    st_device *dev = NULL;
    st_device_props p;
    CHECK(st_device_default(&dev));
    CHECK(st_device_props_get(dev, &p));
    printf("Strata %s on %s (%s)\n", st_version_string(), st_device_label(dev), p.name);
    if (p.extra && *p.extra) printf("  %s\n", p.extra);
    return dev;
}

/* Random x and w, y = x @ w checked against a host product. Returns y (4, 16). */
static st_tensor *demo_random_matmul(st_device *dev)
{
    enum { M = 4, K = 8, N = 16 };
    float x[M * K], x2[M * K], w[K * N], y[M * N];
    st_tensor *tx = TENSOR(ST_F32, M, K), *tx2 = TENSOR(ST_F32, M, K); /* x drawn twice */
    st_tensor *tw = TENSOR(ST_F32, K, N), *ty = TENSOR(ST_F32, M, N);
    printf("\n[1] Philox random numbers: x (4, 8) ~ N(0, 1), w (8, 16) ~ U[-0.5, 0.5)\n");
    CHECK(st_rand_normal(tx, 1234, 0, 0.0f, 1.0f));
    CHECK(st_rand_normal(tx2, 1234, 0, 0.0f, 1.0f));
    CHECK(st_rand_uniform(tw, 1234, 1 << 20, -0.5f, 0.5f));
    read_f32(tx, x);
    read_f32(tx2, x2);
    read_f32(tw, w);
    print_row("x[0, :4]", x, 4);
    printf("    same seed and offset drawn twice: %s\n", memcmp(x, x2, sizeof x) == 0 ? "identical" : "DIFFERENT");

    printf("\n[2] matmul: y (4, 16) = x @ w\n");
    CHECK(st_matmul(ty, tx, tw, 0, 0, 1.0f, 0.0f));
    read_f32(ty, y);
    double err = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = 0;
            for (int k = 0; k < K; k++) ref += (double)x[i * K + k] * w[k * N + j];
            err = fmax(err, fabs(ref - y[i * N + j]));
        }
    print_row("y[0, :4]", y, 4);
    printf("    largest difference from a host product: %.2e\n", err);
    return ty;
}

/* layernorm -> gelu -> softmax on y, then cross-entropy and its backward on the gelu output. */
static void demo_nn_chain(st_device *dev, const st_tensor *y)
{
    enum { M = 4, N = 16 };
    float buf[M * N], row[M];
    st_tensor *ln = TENSOR(ST_F32, M, N), *mean = TENSOR(ST_F32, M), *rstd = TENSOR(ST_F32, M);
    st_tensor *gain = TENSOR(ST_F32, N), *bias = TENSOR(ST_F32, N), *g = TENSOR(ST_F32, M, N);
    st_tensor *p = TENSOR(ST_F32, M, N), *loss = TENSOR(ST_F32, M), *probs = TENSOR(ST_F32, M, N);
    st_tensor *targets = TENSOR(ST_I32, M), *dloss = TENSOR(ST_F32, M), *dlogits = TENSOR(ST_F32, M, N);

    printf("\n[3] layernorm over the last axis (weight 1, bias 0, eps 1e-5)\n");
    CHECK(st_fill(gain, 1.0));
    CHECK(st_fill(bias, 0.0));
    CHECK(st_layernorm(ln, mean, rstd, y, gain, bias, 1e-5f));
    read_f32(ln, buf);
    double s = 0, ss = 0;
    for (int j = 0; j < N; j++) s += buf[j], ss += (double)buf[j] * buf[j];
    printf("    row 0 after layernorm: mean %+.2e, std %.4f\n", s / N, sqrt(ss / N - (s / N) * (s / N)));

    printf("\n[4] gelu (tanh approximation)\n");
    CHECK(st_gelu(g, ln));
    print_row("layernorm[0, :4]", buf, 4);
    read_f32(g, buf);
    print_row("gelu[0, :4]", buf, 4);

    printf("\n[5] softmax over the last axis\n");
    CHECK(st_softmax(p, g, 0));
    read_f32(p, buf);
    for (int i = 0; i < M; i++) {
        row[i] = 0;
        for (int j = 0; j < N; j++) row[i] += buf[i * N + j];
    }
    print_row("row sums", row, M);

    printf("\n[6] cross-entropy of the gelu output against targets {1, 3, 5, 7}, and its backward\n");
    const int32_t tg[M] = {1, 3, 5, 7};
    CHECK(st_tensor_write(targets, tg, sizeof tg));
    CHECK(st_cross_entropy(loss, probs, g, targets));
    CHECK(st_fill(dloss, 1.0 / M)); /* d(mean loss) / d(loss[i]) */
    CHECK(st_cross_entropy_backward(dlogits, dloss, probs, targets));
    read_f32(loss, row);
    print_row("loss per row", row, M);
    read_f32(dlogits, buf);
    double worst = 0;
    for (int i = 0; i < M; i++) {
        double r = 0;
        for (int j = 0; j < N; j++) r += buf[i * N + j];
        worst = fmax(worst, fabs(r));
    }
    printf("    dlogits[0, 1] = %+.4f (probs - 1, over 4); largest |row sum| of dlogits %.1e (should be ~0)\n",
           buf[1], worst);
}

/* ---- a 2-layer MLP trained with AdamW ---- */

enum { B = 64, D = 16, H = 32, C = 4, STEPS = 20 };

typedef struct param {
    const char *name;
    st_tensor *w, *grad, *m, *v; /* same shape; m and v are AdamW's moments */
} param;

static void param_init(st_device *dev, param *p, const char *name, int ndim, const int64_t *shape,
                       uint64_t seed, float std)
{
    p->name = name;
    p->w = tensor(dev, ST_F32, ndim, shape);
    p->grad = tensor(dev, ST_F32, ndim, shape);
    p->m = tensor(dev, ST_F32, ndim, shape);
    p->v = tensor(dev, ST_F32, ndim, shape);
    if (std > 0) CHECK(st_rand_normal(p->w, seed, 0, 0.0f, std));
    else CHECK(st_fill(p->w, 0.0));
    CHECK(st_fill(p->m, 0.0));
    CHECK(st_fill(p->v, 0.0));
}

/* Synthetic task: the class of x is the argmax of x @ teacher, for a random teacher (D, C). */
static void make_data(st_device *dev, st_tensor *x, st_tensor *targets)
{
    float logits[B * C];
    int32_t t[B];
    st_tensor *teacher = TENSOR(ST_F32, D, C), *tl = TENSOR(ST_F32, B, C);
    CHECK(st_rand_normal(x, 7, 0, 0.0f, 1.0f));
    CHECK(st_rand_normal(teacher, 8, 0, 0.0f, 1.0f));
    CHECK(st_matmul(tl, x, teacher, 0, 0, 1.0f, 0.0f));
    read_f32(tl, logits);
    for (int i = 0; i < B; i++) t[i] = argmax(logits + i * C, C);
    CHECK(st_tensor_write(targets, t, sizeof t));
}

static void demo_mlp(st_device *dev)
{
    st_tensor *x = TENSOR(ST_F32, B, D), *targets = TENSOR(ST_I32, B);
    st_tensor *pre = TENSOR(ST_F32, B, H), *h = TENSOR(ST_F32, B, H), *logits = TENSOR(ST_F32, B, C);
    st_tensor *loss = TENSOR(ST_F32, B), *probs = TENSOR(ST_F32, B, C), *mean = TENSOR(ST_F32, 1);
    st_tensor *dloss = TENSOR(ST_F32, B), *dlogits = TENSOR(ST_F32, B, C);
    st_tensor *dh = TENSOR(ST_F32, B, H), *dpre = TENSOR(ST_F32, B, H);
    param ps[4];
    param *w1 = &ps[0], *b1 = &ps[1], *w2 = &ps[2], *b2 = &ps[3];
    param_init(dev, w1, "w1", 2, SHAPE(D, H), 11, 1.0f / sqrtf(D));
    param_init(dev, b1, "b1", 1, SHAPE(H), 0, 0.0f);
    param_init(dev, w2, "w2", 2, SHAPE(H, C), 12, 1.0f / sqrtf(H));
    param_init(dev, b2, "b2", 1, SHAPE(C), 0, 0.0f);
    make_data(dev, x, targets);
    CHECK(st_fill(dloss, 1.0 / B));

    printf("\n[7] MLP %d -> %d (gelu) -> %d classes, batch %d of synthetic data, AdamW lr 0.03\n", D, H, C, B);
    st_adamw_params opt = {.lr = 0.03f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = 0.01f, .grad_scale = 1.0f};
    float first = 0, last = 0;
    for (int step = 1; step <= STEPS; step++) {
        /* forward: pre = x w1 + b1 (B, H); h = gelu(pre); logits = h w2 + b2 (B, C) */
        CHECK(st_matmul(pre, x, w1->w, 0, 0, 1.0f, 0.0f));
        CHECK(st_add(pre, pre, b1->w));
        CHECK(st_gelu(h, pre));
        CHECK(st_matmul(logits, h, w2->w, 0, 0, 1.0f, 0.0f));
        CHECK(st_add(logits, logits, b2->w));
        CHECK(st_cross_entropy(loss, probs, logits, targets));
        CHECK(st_mean(mean, loss, 0));
        /* backward, outputs first: dW = in^T dout, db = column sums, din = dout W^T */
        CHECK(st_cross_entropy_backward(dlogits, dloss, probs, targets));
        CHECK(st_matmul(w2->grad, h, dlogits, 1, 0, 1.0f, 0.0f));
        CHECK(st_sum(b2->grad, dlogits, 0));
        CHECK(st_matmul(dh, dlogits, w2->w, 0, 1, 1.0f, 0.0f));
        CHECK(st_gelu_backward(dpre, dh, pre));
        CHECK(st_matmul(w1->grad, x, dpre, 1, 0, 1.0f, 0.0f));
        CHECK(st_sum(b1->grad, dpre, 0));
        opt.step = step;
        for (int i = 0; i < 4; i++) CHECK(st_adamw(ps[i].w, ps[i].m, ps[i].v, ps[i].grad, &opt));
        read_f32(mean, &last);
        if (step == 1) first = last;
        printf("    step %2d  loss %.4f\n", step, last);
    }

    float p[B * C];
    int32_t t[B];
    int correct = 0;
    read_f32(probs, p);
    CHECK(st_tensor_read(targets, t, sizeof t));
    for (int i = 0; i < B; i++) correct += argmax(p + i * C, C) == t[i];
    printf("    loss %.4f -> %.4f over %d steps; %d/%d of the batch classified right (last forward)\n", first, last,
           STEPS, correct, B);
    if (!(last < first)) {
        fprintf(stderr, "strata-demo: the loss did not fall: an op gives wrong results on %s\n",
                st_device_label(dev));
        free_all();
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fprintf(help ? stdout : stderr,
                "usage: strata-demo\n\nRuns a short chain of Strata ops and trains a small MLP for %d steps on\n"
                "the device that STRATA_BACKEND and STRATA_DEVICE select (see strata-info).\n", STEPS);
        return help ? 0 : 2;
    }
    st_device *dev = pick_device();
    const st_tensor *y = demo_random_matmul(dev);
    demo_nn_chain(dev, y);
    demo_mlp(dev);
    printf("\nDone.\n");
    free_all();
    return 0;
}
