/* ZeRO++'s quantized collectives in the sharded engine (partition.h qw/qg; docs/partitioning.md,
 * section 9), under mpirun on emulated shapes (or one rank), against references computed here:
 *  - qwZ: after st_shard_create every rank's forward gather is the parameters quantized to int8
 *    per block of each master shard (optim scope) and dequantized: compared element by element
 *    with that reference (rounding half to even, scale amax/127), for schemes with params == optim
 *    and params narrower than optim; the hpZ secondary copy holds the same dequantized values.
 *  - qgZ: every rank's gradient is a known function of its rank; the engine's gradient norm after
 *    the step equals the norm of a simulation of the per-level quantized all-to-all (own chunk
 *    exact, peers' dequantized, summed in f32 in peer order), and differs from the exact one.
 *  - a finite outlier saturates its block: with AdamW at beta1 = beta2 = 0 (update = lr sign(g))
 *    the parameters that moved are exactly the simulation's nonzero gradient elements, so the rest
 *    of the outlier's block (quantized to 0) stays put while neighbouring blocks move;
 *  - a NaN in one rank's gradient makes the norm non-finite: the step is skipped, no weight
 *    changes, and the next step works.
 * Bytes per level are checked against st_partition_traffic_get in test_shard. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

h_counts h_total;

enum { NPARAM = 3, QB = 16 };
static const st_param_spec specs[NPARAM] = {{"w", 2, {11, 9}, 1}, {"b", 1, {37}, 0}, {"v", 2, {5, 13}, 1}};

static st_comm *comm;
static st_device *dev;
static int rank, nranks, sz[3];
static st_topo_shape shape;

/* Level l's index of comm rank r (comm.h: r = (gcd * g + gpu) * n + node), and the rank with
 * index j at level l instead. */
static int idx(int r, int l) { return l == 0 ? r / (sz[1] * sz[2]) : l == 1 ? r / sz[2] % sz[1] : r % sz[2]; }
static int with(int r, int l, int j)
{
    int i[3] = {idx(r, 0), idx(r, 1), idx(r, 2)};
    i[l] = j;
    return (i[0] * sz[1] + i[1]) * sz[2] + i[2];
}

/* x dequantized after block-symmetric quantization (bits 8 or 4), in place. A block holding a
 * NaN or inf becomes NaN (ops.h: its scale is not finite). */
static void quant_ref(float *x, int64_t n, int bits, int64_t block)
{
    float qmax = bits == 8 ? 127.0f : 7.0f;
    for (int64_t b = 0; b < n; b += block) {
        int64_t e = b + block < n ? b + block : n;
        float amax = 0;
        for (int64_t i = b; i < e; i++)
            amax = isnan(x[i]) || fabsf(x[i]) > amax ? (isnan(x[i]) ? NAN : fabsf(x[i])) : amax;
        if (isnan(amax) || isinf(amax)) {
            for (int64_t i = b; i < e; i++)
                x[i] = NAN;
            continue;
        }
        float scale = amax / qmax, inv = amax > 0 ? qmax / amax : 0;
        for (int64_t i = b; i < e; i++) {
            float q = rintf(x[i] * inv);
            q = q > qmax ? qmax : q < -qmax ? -qmax : q;
            x[i] = q * scale;
        }
    }
}

static st_params *make_params(void)
{
    st_params *ps = NULL;
    if (st_params_create(dev, specs, NPARAM, &ps) != ST_OK)
        return NULL;
    for (int i = 0; i < NPARAM; i++) {
        st_tensor *p;
        st_params_get(ps, i, &p, NULL);
        st_rand_normal(p, 99 + (uint64_t)i, 0, 0.0f, 1.0f);
    }
    return ps;
}

static void read_flat(st_params *ps, int grads, float *out, int64_t n)
{
    st_tensor *fp, *fg, *head = NULL;
    st_params_flat(ps, &fp, &fg, NULL);
    st_tensor_slice(grads ? fg : fp, 0, 0, n, 1, &head);
    st_tensor_read(head, out, (size_t)n * sizeof(float));
    st_tensor_destroy(head);
}

/* Rank r's gradient element i: moderate values of either sign (none near 0 in int4), one block
 * of rank `odd` carries `special` at element 5 when special is not 0. */
static float grad_of(int r, int64_t i, int64_t P, int odd, float special)
{
    if (i >= P)
        return 0;
    if (special != 0 && r == odd && i == 5)
        return special;
    float v = 1.0f + 0.5f * sinf(0.37f * (float)i + 1.9f * (float)r);
    return ((i + r) % 3 == 0 ? -v : v) * (special != 0 && r != odd ? 0.0f : 1.0f);
}

static void write_grads(st_params *ps, int64_t P, int odd, float special)
{
    st_tensor *fp, *fg;
    st_params_flat(ps, &fp, &fg, NULL);
    int64_t F = st_tensor_numel(fg);
    float *g = calloc((size_t)F, sizeof(float));
    for (int64_t i = 0; i < F; i++)
        g[i] = grad_of(rank, i, P, odd, special);
    st_tensor_write(fg, g, (size_t)F * sizeof(float));
    free(g);
}

/* The reduced gradient of every rank (its world shard, L / N elements at its offset in `out`)
 * by the engine's algorithm: levels GCD, GPU, NODE, each splitting the current buffer in p
 * contiguous chunks; own chunk exact plus peers' quantized (bits 0: exact), in peer order. */
static void simulate(int64_t L, int64_t P, int bits, int odd, float special, float *out)
{
    float **buf = malloc(sizeof(float *) * (size_t)nranks), **nb = malloc(sizeof(float *) * (size_t)nranks);
    for (int r = 0; r < nranks; r++) {
        buf[r] = malloc(sizeof(float) * (size_t)L);
        nb[r] = malloc(sizeof(float) * (size_t)L);
        for (int64_t i = 0; i < L; i++)
            buf[r][i] = grad_of(r, i, P, odd, special);
    }
    int64_t cur = L, off[64] = {0};
    float *tmp = malloc(sizeof(float) * (size_t)L);
    for (int l = 0; l < 3; l++) {
        int p = sz[l];
        if (p == 1)
            continue;
        int64_t len = cur / p;
        for (int r = 0; r < nranks; r++) {
            int q = idx(r, l);
            memcpy(nb[r], buf[r] + q * len, sizeof(float) * (size_t)len);
            for (int j = 0; j < p; j++) {
                if (j == q)
                    continue;
                memcpy(tmp, buf[with(r, l, j)] + q * len, sizeof(float) * (size_t)len);
                if (bits)
                    quant_ref(tmp, len, bits, QB);
                for (int64_t i = 0; i < len; i++)
                    nb[r][i] += tmp[i];
            }
            off[r] += q * len;
        }
        for (int r = 0; r < nranks; r++) {
            float *t = buf[r];
            buf[r] = nb[r];
            nb[r] = t;
        }
        cur = len;
    }
    for (int r = 0; r < nranks; r++) {
        memcpy(out + off[r], buf[r], sizeof(float) * (size_t)cur);
        free(buf[r]), free(nb[r]);
    }
    free(buf), free(nb), free(tmp);
}

static double norm_of(const float *g, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s) / nranks;
}

/* qwZ: the forward gather equals the reference dequantization of each optim shard's blocks. */
static void test_qw(const char *scheme)
{
    st_partition p;
    CHECK_ST(st_partition_parse(scheme, &p), ST_OK);
    st_params *ps = make_params();
    st_partition_model m;
    int64_t F = 0;
    {
        st_tensor *fp;
        st_params_flat(ps, &fp, NULL, NULL);
        F = st_tensor_numel(fp);
    }
    float *exact = malloc(sizeof(float) * (size_t)(F + 64 * nranks)), *got = malloc(sizeof(float) * (size_t)F);
    memset(exact, 0, sizeof(float) * (size_t)(F + 64 * nranks));
    read_flat(ps, 0, exact, F);
    st_shard_state *s = NULL;
    if (!CHECK(st_shard_create(ps, comm, &p, &(st_adamw_config){0.9f, 0.95f, 1e-8f, 0}, &s) == ST_OK, "%s: %s",
               scheme, st_last_error())) {
        st_params_destroy(ps);
        free(exact), free(got);
        return;
    }
    st_shard_model(s, 1, &m);
    int64_t P = (int64_t)m.params, L = (P + nranks - 1) / nranks * nranks;
    int64_t mlen = L / (int64_t)st_shard_ranks(p.optim, &shape);
    for (int64_t i = P; i < L; i++)
        exact[i] = 0; /* the vector past P: padding (alignment gaps before P are in it) */
    for (int64_t k = 0; k < L; k += mlen)
        quant_ref(exact + k, mlen, 8, QB);
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) { /* forward, then backward (from the secondary copy if any) */
        CHECK(st_shard_gather(s, pass ? ST_PHASE_BACKWARD : ST_PHASE_FORWARD) == ST_OK, "%s", st_last_error());
        read_flat(ps, 0, got, P);
        for (int64_t i = 0; i < P; i++)
            bad += !(fabsf(got[i] - exact[i]) <= 1e-6f * fabsf(exact[i]) + 1e-7f);
    }
    CHECK(bad == 0, "%s: %d elements differ from the int8 reference", scheme, bad);
    if (rank == 0)
        printf("  qw %-44s forward/backward gathers = int8 reference on %lld elements\n", scheme, (long long)P);
    st_shard_destroy(s);
    st_params_destroy(ps);
    free(exact), free(got);
}

/* qgZ: one step against the simulation, quantized and exact. With AdamW at beta1 = beta2 = 0, eps
 * = 1 and lr = 1 the update of element i is g_i / (|g_i| + 1) for the reduced gradient g (scaled by
 * 1/N), so when the parameters can be read exactly (no qw) each element of g is recovered from the
 * parameters and compared with the simulation; otherwise the norm is. */
static void test_qg(const char *scheme, int bits, int elementwise)
{
    st_partition p;
    CHECK_ST(st_partition_parse(scheme, &p), ST_OK);
    st_params *ps = make_params();
    st_shard_state *s = NULL;
    if (!CHECK(ps && st_shard_create(ps, comm, &p, &(st_adamw_config){0, 0, 1.0f, 0}, &s) == ST_OK, "%s: %s", scheme,
               st_last_error())) {
        st_params_destroy(ps);
        return;
    }
    st_partition_model m;
    st_shard_model(s, 1, &m);
    int64_t P = (int64_t)m.params, L = (P + nranks - 1) / nranks * nranks;
    float *ref = malloc(sizeof(float) * (size_t)L), *ex = malloc(sizeof(float) * (size_t)L);
    float *before = malloc(sizeof(float) * (size_t)L), *after = malloc(sizeof(float) * (size_t)L);
    simulate(L, P, bits, 0, 0, ref);
    simulate(L, P, 0, 0, 0, ex);
    CHECK(st_shard_gather(s, ST_PHASE_FORWARD) == ST_OK, "%s", st_last_error());
    read_flat(ps, 0, before, P);
    CHECK(st_shard_gather(s, ST_PHASE_BACKWARD) == ST_OK, "%s", st_last_error());
    write_grads(ps, P, 0, 0);
    CHECK(st_shard_reduce_micro(s) == ST_OK, "%s", st_last_error());
    float norm = 0;
    CHECK(st_shard_step(s, 1.0f, 1.0f, 0.0f, &norm) == ST_OK, "%s", st_last_error());
    double want = norm_of(ref, L), exact = norm_of(ex, L);
    CHECK(fabs(norm - want) <= 1e-5 * want, "%s: norm %.9g, simulated %.9g (exact %.9g)", scheme, norm, want, exact);
    int bad = 0, differs = 0;
    if (elementwise) {
        CHECK(st_shard_gather(s, ST_PHASE_FORWARD) == ST_OK, "%s", st_last_error());
        read_flat(ps, 0, after, P);
        for (int64_t i = 0; i < P; i++) {
            double d = (double)before[i] - after[i], g = d / (1 - fabs(d)), r = (double)ref[i] / nranks;
            bad += !(fabs(g - r) <= 2e-5 * (1 + fabs(r)));
            differs += fabs((double)ref[i] - ex[i]) / nranks > 1e-4 * (1 + fabs(r));
        }
        CHECK(bad == 0 && differs > P / 4, "%s: %d gradient elements differ from the simulation (quantization "
              "changes %d of %lld)", scheme, bad, differs, (long long)P);
    } else {
        CHECK(fabs(want - exact) > 1e-4 * exact, "%s: the quantization changes the norm (%.9g vs %.9g)", scheme,
              want, exact);
    }
    if (rank == 0)
        printf("  qg %-44s norm %.9g = simulated %.9g (exact %.9g)%s\n", scheme, norm, want, exact,
               elementwise ? ", every element = simulated" : "");
    free(ref), free(ex), free(before), free(after);
    st_shard_destroy(s);
    st_params_destroy(ps);
}

/* A finite outlier: only its block's other elements (quantized to 0) stay put; a NaN: skipped. */
static void test_outlier_nan(void)
{
    st_partition p;
    CHECK_ST(st_partition_parse("zero2,qg=int4,qblock=16", &p), ST_OK);
    st_params *ps = make_params();
    st_shard_state *s = NULL;
    st_adamw_config sign_sgd = {0, 0, 1e-12f, 0}; /* beta1 = beta2 = 0: the update is lr * sign(g) */
    if (!CHECK(ps && st_shard_create(ps, comm, &p, &sign_sgd, &s) == ST_OK, "%s", st_last_error())) {
        st_params_destroy(ps);
        return;
    }
    st_partition_model m;
    st_shard_model(s, 1, &m);
    int64_t P = (int64_t)m.params, L = (P + nranks - 1) / nranks * nranks;
    int odd = nranks - 1;
    float *before = malloc(sizeof(float) * (size_t)L), *after = malloc(sizeof(float) * (size_t)L);
    float *ref = malloc(sizeof(float) * (size_t)L);
    /* NaN in one element of one rank: the norm is not finite, nothing moves, the step is not counted. */
    read_flat(ps, 0, before, P);
    write_grads(ps, P, odd, NAN);
    CHECK(st_shard_reduce_micro(s) == ST_OK, "%s", st_last_error());
    float norm = 0;
    CHECK(st_shard_step(s, 1e-2f, 1.0f, 0.0f, &norm) == ST_OK, "%s", st_last_error());
    read_flat(ps, 0, after, P);
    CHECK(!isfinite(norm) && st_shard_step_count(s) == 0, "NaN: norm %g, %lld steps", norm,
          (long long)st_shard_step_count(s));
    CHECK(memcmp(before, after, sizeof(float) * (size_t)P) == 0, "NaN: no weight changed");
    /* 1e15 in one element: its block saturates. */
    simulate(L, P, 4, odd, 1e15f, ref);
    write_grads(ps, P, odd, 1e15f);
    CHECK(st_shard_reduce_micro(s) == ST_OK, "%s", st_last_error());
    CHECK(st_shard_step(s, 1e-2f, 1.0f, 0.0f, &norm) == ST_OK && isfinite(norm) && st_shard_step_count(s) == 1,
          "outlier: a finite norm %g and a step", norm);
    read_flat(ps, 0, after, P);
    int wrong = 0, zeros = 0, moved = 0;
    for (int64_t i = 0; i < P; i++) {
        float d = after[i] - before[i];
        int want_move = ref[i] != 0;
        zeros += !want_move;
        moved += want_move;
        wrong += !isfinite(after[i]) || (want_move ? fabsf(fabsf(d) - 1e-2f) > 1e-6f || (d > 0) == (ref[i] > 0)
                                                   : d != 0);
    }
    CHECK(wrong == 0 && zeros >= QB - 1 && moved > P / 2, "outlier: %d parameters moved unlike the simulation's "
          "gradient (%d held by the saturated block, %d moved)", wrong, zeros, moved);
    if (rank == 0)
        printf("  outlier 1e15: %d elements quantized to 0 (its block), %d moved by lr; NaN: step skipped\n", zeros,
               moved);
    free(before), free(after), free(ref);
    st_shard_destroy(s);
    st_params_destroy(ps);
}

/* One rank: nothing crosses a wire, so nothing is quantized; a step still works. */
static void test_single(void)
{
    st_partition p;
    CHECK_ST(st_partition_parse("zero++,qblock=16", &p), ST_OK);
    st_params *ps = make_params();
    st_shard_state *s = NULL;
    float before[64], after[64];
    read_flat(ps, 0, before, 64);
    CHECK(ps && st_shard_create(ps, comm, &p, &(st_adamw_config){0.9f, 0.95f, 1e-8f, 0}, &s) == ST_OK, "%s",
          st_last_error());
    CHECK(s && st_shard_gather(s, ST_PHASE_FORWARD) == ST_OK, "%s", st_last_error());
    read_flat(ps, 0, after, 64);
    CHECK(memcmp(before, after, sizeof before) == 0, "one rank: the gathered parameters are exact");
    float norm = 0;
    CHECK(s && st_shard_reduce_micro(s) == ST_OK && st_shard_step(s, 1e-2f, 1, 1, &norm) == ST_OK, "%s",
          st_last_error());
    st_shard_destroy(s);
    st_params_destroy(ps);
}

int main(void)
{
    if (st_device_get("cpu", 0, &dev) != ST_OK || st_comm_init_world(&comm) != ST_OK) {
        printf("FAIL setup: %s\n", st_last_error());
        return 1;
    }
    rank = st_comm_rank(comm);
    nranks = st_comm_size(comm);
    st_comm_shape(comm, &shape);
    sz[0] = shape.gcds_per_gpu, sz[1] = shape.gpus_per_node, sz[2] = shape.nodes;
    if (rank == 0)
        printf("test_shard_quant on %d ranks (%dx%dx%d)\n", nranks, shape.nodes, shape.gpus_per_node,
               shape.gcds_per_gpu);
    if (nranks > 1) {
        test_qw("zero3,qw=int8,qblock=16");
        test_qw("zero++,qblock=16");
        test_qw("frontier3q,qblock=16");
        test_qw("params=gcd,grads=node,optim=node,qw=int8,qblock=16");
        test_qg("zero2,qg=int4,qblock=16", 4, 1);
        test_qg("zero2,qg=int8,qblock=16", 8, 1);
        test_qg("zero3,qg=int4,qblock=16", 4, 1);
        test_qg("params=node,grads=node,optim=world,qg=int8,qblock=16", 8, 1);
        test_qg("zero++,qblock=16", 4, 0);
        test_qg("frontier3q,qblock=16", 4, 0);
        test_outlier_nan();
    } else {
        test_single();
    }
    st_comm_destroy(comm);
    int rc = h_finish();
    st_shutdown();
    return rc;
}
