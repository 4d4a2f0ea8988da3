/* Compiled-graph behaviour on cpu: forward equals the same eager ops, repeated steps are
 * identical and parameter gradients accumulate, the arena reuses memory, build/bind/run errors
 * are reported with the node, casts give an f32 parameter an f32 gradient through bf16 compute,
 * and the profiler counts every op. */
#include <math.h>
#include <string.h>
#include "models.h"

h_counts h_total;

/* The MLP of models.c computed with eager ops; returns logits (4, 3) and the loss. */
static void eager_mlp(tmodel *m, float *logits, float *loss)
{
    st_device *d = m->dev;
    st_tensor *h = NULL, *o = NULL, *l = NULL, *pr = NULL, *flat = NULL, *mean = NULL;
    st_tensor_create(d, ST_F32, 2, (int64_t[]){4, 6}, &h);
    st_tensor_create(d, ST_F32, 2, (int64_t[]){4, 3}, &o);
    st_tensor_create(d, ST_F32, 1, (int64_t[]){4}, &l);
    st_tensor_create(d, ST_F32, 2, (int64_t[]){4, 3}, &pr);
    st_tensor_create(d, ST_F32, 0, NULL, &mean);
    st_matmul(h, m->in[0], m->p[0], 0, 0, 1.0f, 0.0f);
    st_add(h, h, m->p[1]);
    st_gelu(h, h);
    st_matmul(o, h, m->p[2], 0, 0, 1.0f, 0.0f);
    st_add(o, o, m->p[3]);
    st_cross_entropy(l, pr, o, m->in[1]);
    st_tensor_reshape(l, 1, (int64_t[]){-1}, &flat);
    st_mean(mean, flat, 0);
    st_tensor_read(o, logits, 12 * sizeof(float));
    st_tensor_read(mean, loss, sizeof *loss);
    st_tensor_destroy(h);
    st_tensor_destroy(o);
    st_tensor_destroy(l);
    st_tensor_destroy(pr);
    st_tensor_destroy(flat);
    st_tensor_destroy(mean);
}

static void test_eager_equal(st_device *dev)
{
    tmodel m;
    CHECK_ST(tm_build(&m, TM_MLP_CE, dev), ST_OK);
    float gl[12], el[12], gloss = NAN, eloss = NAN;
    CHECK_ST(tm_loss(&m, &gloss), ST_OK);
    CHECK_ST(st_tensor_read(st_graph_value(m.plan, m.logits), gl, sizeof gl), ST_OK);
    eager_mlp(&m, el, &eloss);
    CHECK(memcmp(gl, el, sizeof gl) == 0, "graph logits equal eager logits bit for bit");
    CHECK(gloss == eloss, "graph loss %.9g vs eager %.9g", gloss, eloss);
    tm_free(&m);
}

/* Two forward+backward steps without zeroing: same loss, gradients twice the first step's. */
static void test_repeat_accumulate(st_device *dev)
{
    tmodel m;
    CHECK_ST(tm_build(&m, TM_GPT, dev), ST_OK);
    float l1 = NAN, l2 = NAN;
    CHECK_ST(tm_loss(&m, &l1), ST_OK);
    CHECK_ST(st_graph_backward(m.plan), ST_OK);
    static float g1[TM_MAX_PARAMS][512], g2[512];
    for (int k = 0; k < m.np; k++)
        st_tensor_read(m.gp[k], g1[k], sizeof(float) * (size_t)st_tensor_numel(m.gp[k]));
    CHECK_ST(tm_loss(&m, &l2), ST_OK);
    CHECK_ST(st_graph_backward(m.plan), ST_OK);
    CHECK(l1 == l2, "second forward gives the same loss (%.9g vs %.9g)", l1, l2);
    int worst_k = -1;
    double worst = 0;
    for (int k = 0; k < m.np; k++) {
        int64_t n = st_tensor_numel(m.gp[k]);
        st_tensor_read(m.gp[k], g2, sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            double e = fabs(g2[i] - 2.0 * g1[k][i]) / (fabs(2.0 * g1[k][i]) + 1e-6);
            if (e > worst) worst = e, worst_k = k;
        }
    }
    CHECK(worst < 1e-5, "gradients accumulate to 2x (worst rel. error %.3g in %s)", worst,
          worst_k >= 0 ? m.pname[worst_k] : "-");
    CHECK_ST(tm_zero_grads(&m), ST_OK);
    CHECK_ST(tm_loss(&m, &l2), ST_OK);
    CHECK_ST(st_graph_backward(m.plan), ST_OK);
    st_tensor_read(m.gp[0], g2, sizeof(float) * (size_t)st_tensor_numel(m.gp[0]));
    CHECK(memcmp(g2, g1[0], sizeof(float) * (size_t)st_tensor_numel(m.gp[0])) == 0,
          "after zeroing, a step gives the first step's gradient bit for bit");
    st_graph_memory mem;
    CHECK_ST(st_graph_memory_get(m.plan, &mem), ST_OK);
    printf("transformer plan: %d buffers, arena %llu bytes, %llu without reuse\n", mem.buffers,
           (unsigned long long)mem.arena_bytes, (unsigned long long)mem.unshared_bytes);
    CHECK(mem.arena_bytes > 0 && mem.arena_bytes < mem.unshared_bytes, "the arena reuses memory");
    tm_free(&m);
}

static void test_build_errors(st_device *dev)
{
    st_graph *g = NULL;
    CHECK_ST(st_graph_create(&g), ST_OK);
    st_node x = st_graph_input(g, "x", ST_F32, 2, (int64_t[]){4, 5});
    st_node w = st_graph_input(g, "w", ST_F32, 2, (int64_t[]){6, 3});
    CHECK(st_graph_status(g) == ST_OK, "inputs build");
    st_clear_error();
    st_node y = st_graph_matmul(g, x, w, 0, 0);
    CHECK(y == ST_NODE_NONE, "matmul (4,5)@(6,3) is refused");
    CHECK(st_graph_status(g) == ST_ERR_SHAPE, "the graph records ST_ERR_SHAPE (%s)", st_status_string(st_graph_status(g)));
    CHECK(h_msg_has("matmul #2") && h_msg_has("K=5"), "the message names the node: %s", st_last_error());
    CHECK(st_graph_gelu(g, y) == ST_NODE_NONE, "ops on a failed node fail quietly");
    CHECK(h_msg_has("matmul #2"), "the first message is kept: %s", st_last_error());
    st_graph_plan *p = NULL;
    CHECK_ST(st_graph_compile(g, dev, &p), ST_ERR_SHAPE);
    CHECK(p == NULL, "no plan from a broken graph");
    st_graph_destroy(g);

    CHECK_ST(st_graph_create(&g), ST_OK);
    x = st_graph_input(g, "x", ST_F32, 2, (int64_t[]){4, 5});
    st_node b = st_graph_input(g, "b", ST_F32, 1, (int64_t[]){4});
    CHECK(st_graph_add(g, x, b) == ST_NODE_NONE && h_msg_has("do not broadcast"), "add (4,5)+(4): %s", st_last_error());
    st_graph_destroy(g);

    CHECK_ST(st_graph_create(&g), ST_OK);
    x = st_graph_input(g, "x", ST_F32, 2, (int64_t[]){4, 5});
    CHECK(st_graph_slice(g, x, 1, 3, 4) == ST_NODE_NONE, "slice past the end is refused");
    CHECK(st_graph_reshape(g, x, 2, (int64_t[]){3, -1}) == ST_NODE_NONE, "reshape of 20 into (3,-1) refused");
    st_graph_destroy(g);
}

static void test_run_errors(st_device *dev)
{
    st_graph *g = NULL;
    st_graph_plan *p = NULL;
    st_tensor *t = NULL, *wrong = NULL;
    CHECK_ST(st_graph_create(&g), ST_OK);
    st_node x = st_graph_input(g, "x", ST_F32, 2, (int64_t[]){2, 3});
    st_node s = st_graph_sum(g, st_graph_scale(g, x, 2.0f, 1.0f), ST_GRAPH_ALL_AXES);
    CHECK_ST(st_graph_set_loss(g, s), ST_OK);
    CHECK_ST(st_graph_compile(g, dev, &p), ST_OK);
    CHECK_ST(st_graph_forward(p), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("'x'"), "forward names the unbound input: %s", st_last_error());
    CHECK_ST(st_graph_backward(p), ST_ERR_INVALID_ARG);
    st_tensor_create(dev, ST_F32, 2, (int64_t[]){2, 3}, &t);
    st_tensor_create(dev, ST_F32, 2, (int64_t[]){3, 2}, &wrong);
    CHECK_ST(st_graph_bind(p, x, wrong), ST_ERR_SHAPE);
    CHECK_ST(st_graph_bind(p, s, t), ST_ERR_INVALID_ARG);
    float v[6] = {1, 2, 3, 4, 5, 6}, r = 0;
    st_tensor_write(t, v, sizeof v);
    CHECK_ST(st_graph_bind(p, x, t), ST_OK);
    CHECK_ST(st_graph_forward(p), ST_OK);
    CHECK_ST(st_graph_backward(p), ST_OK); /* no parameters: nothing to do */
    st_tensor_read(st_graph_value(p, s), &r, sizeof r);
    CHECK(r == 48.0f, "sum(2x+1) = 48, got %g", r);
    st_graph_plan_destroy(p);
    st_graph_destroy(g); /* the plan may outlive the graph: destroy order does not matter */
    st_tensor_destroy(t);
    st_tensor_destroy(wrong);
    st_graph_destroy(NULL);
    st_graph_plan_destroy(NULL);
}

/* sum(cast(cast(x, bf16) @ cast(w, bf16), f32)) with bf16-exact values: w's f32 gradient is
 * exactly the column sums of x; the profile counts 3 forward casts, 2 cast rules, 1 matmul. */
static void test_cast_and_profile(st_device *dev)
{
    st_graph *g;
    st_tensor *w, *gw, *x;
    CHECK_ST(st_graph_create(&g), ST_OK);
    st_tensor_create(dev, ST_F32, 2, (int64_t[]){3, 4}, &w);
    st_tensor_create(dev, ST_F32, 2, (int64_t[]){3, 4}, &gw);
    st_tensor_create(dev, ST_F32, 2, (int64_t[]){2, 3}, &x);
    const float xv[6] = {1, 2, 3, 0.5f, -1, 4};
    st_tensor_write(x, xv, sizeof xv);
    st_fill(w, 0.25);
    st_fill(gw, 0.0);
    st_node xn = st_graph_input(g, "x", ST_F32, 2, (int64_t[]){2, 3});
    st_node wb = st_graph_cast(g, st_graph_param(g, "w", w, gw), ST_BF16);
    st_node y = st_graph_matmul(g, st_graph_cast(g, xn, ST_BF16), wb, 0, 0);
    st_node loss = st_graph_sum(g, st_graph_cast(g, y, ST_F32), ST_GRAPH_ALL_AXES);
    CHECK(st_graph_node_dtype(g, y) == ST_BF16 && st_graph_node_dtype(g, loss) == ST_F32, "dtypes");
    CHECK_ST(st_graph_set_loss(g, loss), ST_OK);
    st_graph_plan *p = NULL;
    CHECK_ST(st_graph_compile(g, dev, &p), ST_OK);
    if (!p) goto out;
    CHECK_ST(st_graph_bind(p, xn, x), ST_OK);
    CHECK_ST(st_graph_set_profile(p, 1), ST_OK);
    CHECK_ST(st_graph_forward(p), ST_OK);
    CHECK_ST(st_graph_backward(p), ST_OK);
    float gv[12];
    st_tensor_read(gw, gv, sizeof gv);
    int exact = 1;
    for (int k = 0; k < 12; k++) exact &= gv[k] == xv[k / 4] + xv[3 + k / 4];
    CHECK(exact, "w's gradient is the column sums of x: %g %g %g", gv[0], gv[4], gv[8]);
    st_graph_op_time t[16];
    int n = st_graph_profile(p, t, 16), casts = 0, rules = 0, mm = 0;
    for (int i = 0; i < n && i < 16; i++) {
        if (!strcmp(t[i].op, "cast")) casts = (int)t[i].calls;
        if (!strcmp(t[i].op, "cast.bwd")) rules = (int)t[i].calls;
        if (!strcmp(t[i].op, "matmul")) mm = (int)t[i].calls;
        CHECK(t[i].ms >= 0 && (i == 0 || t[i].ms <= t[i - 1].ms), "%s: %g ms, sorted", t[i].op, t[i].ms);
    }
    CHECK(casts == 3 && rules == 2 && mm == 1, "profile: cast x%d, cast.bwd x%d, matmul x%d", casts, rules, mm);
    st_graph_profile_reset(p);
    CHECK_ST(st_graph_set_profile(p, 0), ST_OK);
    CHECK_ST(st_graph_forward(p), ST_OK);
    CHECK(st_graph_profile(p, NULL, 0) == 0, "nothing timed with profiling off");
    CHECK(st_graph_cast(g, xn, ST_I32) == ST_NODE_NONE && st_graph_status(g) == ST_ERR_DTYPE, "cast to i32 refused");
out:
    st_graph_plan_destroy(p);
    st_graph_destroy(g);
    st_tensor_destroy(w);
    st_tensor_destroy(gw);
    st_tensor_destroy(x);
}

int main(void)
{
    st_device *cpu = NULL;
    if (st_device_get("cpu", 0, &cpu) != ST_OK) {
        printf("cpu: %s\n", st_last_error());
        return 1;
    }
    test_eager_equal(cpu);
    test_repeat_accumulate(cpu);
    test_build_errors(cpu);
    test_run_errors(cpu);
    test_cast_and_profile(cpu);
    int rc = h_finish();
    st_shutdown();
    return rc;
}
