/* The sharded-state engine (shard.h) on a small model whose gradient is computed through the ops:
 * a quadratic loss 0.5 |p - t|^2 against per-rank, per-micro-batch random targets t, so every
 * scheme's losses and parameters can be compared with ddp's. Under mpirun with an emulated
 * STRATA_TOPOLOGY (or one rank without a launcher):
 *   test_shard train [CKPT_DIR]  every scheme with A = 1 and 2, 10 steps: losses and parameters
 *                                equal ddp's (1e-5 relative; quantized schemes within the bounds of
 *                                compare_quantized), per-level bytes of every step equal
 *                                st_partition_traffic_get, memory per kind as st_partition_memory_get;
 *                                with CKPT_DIR, also writes a zero2 checkpoint there and reference
 *                                parameters before and after one rank-count-independent step.
 *   test_shard load SCHEME DIR   loads that checkpoint into SCHEME on this rank count: parameters
 *                                identical, then the same step gives the same parameters.
 *   test_shard load SCHEME DIR requant   a checkpoint of a qwZ scheme loaded where the master
 *                                shards are cut elsewhere (another rank count, or an exact scheme):
 *                                the gathered parameters are another int8 rounding of the same
 *                                exact master (or the master itself), so within one quantization
 *                                step (max |x| / 127) of the saved ones, and so after the step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

h_counts h_total;

enum { STEPS = 10, MAX_A = 2, NPARAM = 4 };
static const st_param_spec specs[NPARAM] = {
    {"w1", 2, {13, 7}, 1}, {"b1", 1, {13}, 0}, {"w2", 2, {4, 16}, 1}, {"b2", 1, {63}, 0}};
static const st_adamw_config adamw = {0.9f, 0.95f, 1e-8f, 0.1f};

static st_comm *comm;
static st_device *dev;
static int rank, nranks;
static st_topo_shape shape;

/* A fresh set with the same initial parameters on every rank. */
static st_params *make_params(void)
{
    st_params *ps = NULL;
    if (st_params_create(dev, specs, NPARAM, &ps) != ST_OK)
        return NULL;
    for (int i = 0; i < NPARAM; i++) {
        st_tensor *p;
        st_params_get(ps, i, &p, NULL);
        st_rand_normal(p, 1234 + (uint64_t)i, 0, 0.0f, 0.5f);
    }
    return ps;
}

/* One micro-batch's forward and backward: grads += p - t, returns 0.5 |p - t|^2. The targets
 * depend on `seed` only (the caller mixes in the rank when it wants per-rank data). */
static double micro_batch(st_shard_state *s, st_params *ps, uint64_t seed)
{
    double loss = 0;
    CHECK(st_shard_gather(s, ST_PHASE_FORWARD) == ST_OK, "%s", st_last_error());
    CHECK(st_shard_gather(s, ST_PHASE_BACKWARD) == ST_OK, "%s", st_last_error());
    for (int i = 0; i < NPARAM; i++) {
        st_tensor *p, *g, *t = NULL, *sq = NULL;
        st_param_info info;
        st_params_get(ps, i, &p, &g);
        st_params_info(ps, i, &info);
        int64_t one = 1;
        st_tensor_create(dev, ST_F32, info.ndim, info.shape, &t);
        st_tensor_create(dev, ST_F32, 1, &one, &sq);
        st_rand_normal(t, seed, (uint64_t)info.offset, 0.3f, 1.0f);
        st_sub(t, p, t);
        st_add(g, g, t);
        st_sumsq(sq, t);
        float v = 0;
        st_tensor_read(sq, &v, sizeof v);
        loss += 0.5 * v;
        st_tensor_destroy(t);
        st_tensor_destroy(sq);
    }
    CHECK(st_shard_reduce_micro(s) == ST_OK, "%s", st_last_error());
    return loss;
}

/* The first P parameters as every rank sees them after a forward gather. */
static void full_params(st_shard_state *s, st_params *ps, float *out, int64_t P)
{
    st_tensor *flat, *head = NULL;
    CHECK(st_shard_gather(s, ST_PHASE_FORWARD) == ST_OK, "%s", st_last_error());
    st_params_flat(ps, &flat, NULL, NULL);
    st_tensor_slice(flat, 0, 0, P, 1, &head);
    st_tensor_read(head, out, (size_t)P * sizeof(float));
    st_tensor_destroy(head);
}

static uint64_t level_bytes(int level)
{
    uint64_t sum = 0;
    for (int k = 0; k < ST_COLL_COUNT; k++) {
        st_comm_bytes b;
        st_comm_bytes_get(comm, (st_level)level, (st_collective)k, &b);
        CHECK(b.sent == b.received, "level %d collective %d sent %llu received %llu", level, k,
              (unsigned long long)b.sent, (unsigned long long)b.received);
        sum += b.sent;
    }
    return sum;
}

/* Checks memory per kind against the closed form: sharded kinds exactly, replicated ones are the
 * whole arena, or the padded copy when the padded length exceeds the arena. */
static void check_memory(st_shard_state *s, const st_partition *p, const st_partition_model *m, const char *name,
                         int64_t arena_bytes)
{
    st_partition_memory got, want;
    CHECK(st_shard_memory(s, &got) == ST_OK, "%s", st_last_error());
    CHECK(st_partition_memory_get(p, &shape, m, &want) == ST_OK, "%s", st_last_error());
    uint64_t g[3] = {got.params, got.grads, got.optim}, w[3] = {want.params, want.grads, want.optim};
    st_shard kinds[3] = {p->params, p->grads, p->optim};
    for (int k = 0; k < 3; k++) {
        if (kinds[k] == ST_SHARD_NONE && k < 2)
            CHECK(g[k] == ((uint64_t)arena_bytes > w[k] ? (uint64_t)arena_bytes : w[k]),
                  "%s kind %d: %llu, arena %lld, closed form %llu", name, k, (unsigned long long)g[k],
                  (long long)arena_bytes, (unsigned long long)w[k]);
        else
            CHECK(g[k] == w[k], "%s kind %d: measured %llu bytes, closed form %llu", name, k,
                  (unsigned long long)g[k], (unsigned long long)w[k]);
    }
    CHECK(got.secondary == want.secondary, "%s secondary %llu vs %llu", name, (unsigned long long)got.secondary,
          (unsigned long long)want.secondary);
    if (rank == 0)
        printf("  memory %-9s params %6llu grads %6llu optim %6llu secondary %5llu bytes/rank\n", name,
               (unsigned long long)got.params, (unsigned long long)got.grads, (unsigned long long)got.optim,
               (unsigned long long)got.secondary);
}

typedef struct run_result {
    double loss[STEPS][MAX_A];
    float norm[STEPS];
    float *params; /* P elements after the last step */
    int64_t P;
} run_result;

static int max_rel(const float *a, const float *b, int64_t n, double *worst)
{
    double mx = 0, ref = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (isnan(d))
            d = INFINITY;
        mx = d > mx ? d : mx;
        ref = fabs(b[i]) > ref ? fabs(b[i]) : ref;
    }
    *worst = ref > 0 ? mx / ref : mx;
    return *worst <= 1e-5;
}

/* Trains `name` for STEPS steps of A micro-batches, checking bytes per step and memory. */
static void train(const char *name, const st_partition *p, int A, run_result *r)
{
    st_params *ps = make_params();
    st_shard_state *s = NULL;
    if (!CHECK(ps && st_shard_create(ps, comm, p, &adamw, &s) == ST_OK, "%s: %s", name, st_last_error())) {
        st_params_destroy(ps);
        return;
    }
    st_partition_model m;
    st_partition_traffic tr;
    st_shard_model(s, A, &m);
    CHECK(st_partition_traffic_get(p, &shape, &m, &tr) == ST_OK, "%s", st_last_error());
    st_tensor *flat;
    st_params_flat(ps, &flat, NULL, NULL);
    check_memory(s, p, &m, name, st_tensor_numel(flat) * 4);
    r->P = (int64_t)m.params;
    int bytes_ok = 1;
    for (int t = 0; t < STEPS; t++) {
        st_comm_bytes_reset(comm);
        for (int k = 0; k < A; k++)
            r->loss[t][k] = micro_batch(s, ps, 1 + (uint64_t)rank * 1000 + (uint64_t)t * 10 + (uint64_t)k);
        float norm = 0;
        CHECK(st_shard_step(s, 1e-2f, 1.0f / (float)A, 1.0f, &norm) == ST_OK, "%s", st_last_error());
        r->norm[t] = norm;
        for (int l = 0; l < ST_LEVEL_COUNT; l++) {
            uint64_t got = level_bytes(l);
            bytes_ok &= CHECK(got == tr.step[l].sent, "%s A=%d step %d level %d: %llu bytes, closed form %llu",
                              name, A, t, l, (unsigned long long)got, (unsigned long long)tr.step[l].sent);
        }
    }
    if (rank == 0)
        printf("  bytes  %-9s A=%d per step gcd %llu gpu %llu node %llu%s\n", name, A,
               (unsigned long long)tr.step[0].sent, (unsigned long long)tr.step[1].sent,
               (unsigned long long)tr.step[2].sent, bytes_ok ? " (measured equal)" : " MISMATCH");
    CHECK(st_shard_step_count(s) == STEPS, "%s: %lld steps", name, (long long)st_shard_step_count(s));
    r->params = malloc((size_t)r->P * sizeof(float));
    full_params(s, ps, r->params, r->P);
    st_shard_destroy(s);
    st_params_destroy(ps);
}

/* Scheme i of the named ones, then a few that only the key=value form reaches (optim narrower
 * than the world, secondary at the GCD level). */
static const char *const extra[] = {"params=replicated,grads=gcd,optim=node", "params=gcd,grads=gcd,optim=gcd",
                                    "params=node,grads=node,optim=world,secondary=gcd",
                                    "zero3,qw=int8,qg=int4,qblock=32", "zero2,qg=int8",
                                    "params=gcd,grads=gcd,optim=node,qw=int8,qg=int4,qblock=16"};

/* A quantized scheme (qw/qg) against ddp, within bounds: AdamW moves an element by at most lr per
 * step (plus decay), so two runs on different gradients differ by at most 2 lr per step, and
 * reading the parameters through an int8 gather adds half a quantum (amax / 254); the loss of each
 * micro-batch within 1%, the gradient norm within 5% (int4 blocks: about 1/14 of a block's amax
 * per element). And the run must differ from ddp's: the quantization took place. */
static void compare_quantized(const char *name, int A, const st_partition *p, const run_result *r,
                              const run_result *ref)
{
    double worst_loss = 0, worst_norm = 0, worst_param = 0, amax = 0;
    for (int t = 0; t < STEPS; t++) {
        double rel = fabs(r->norm[t] - ref->norm[t]) / ref->norm[t];
        worst_norm = rel > worst_norm ? rel : worst_norm;
        for (int k = 0; k < A; k++) {
            rel = fabs(r->loss[t][k] - ref->loss[t][k]) / fabs(ref->loss[t][k]);
            worst_loss = rel > worst_loss ? rel : worst_loss;
        }
    }
    for (int64_t i = 0; r->params && ref->params && i < r->P; i++) {
        double d = fabs((double)r->params[i] - ref->params[i]);
        worst_param = d > worst_param || isnan(d) ? d : worst_param;
        amax = fabs(ref->params[i]) > amax ? fabs(ref->params[i]) : amax;
    }
    double bound = 2 * 1e-2 * STEPS + (p->qw ? amax / 254 : 0);
    CHECK(worst_loss <= 1e-2 && worst_norm <= 5e-2, "%s A=%d: loss %.3g, norm %.3g relative from ddp", name, A,
          worst_loss, worst_norm);
    CHECK(worst_param <= bound && (worst_param > 1e-6 || st_comm_size(comm) == 1),
          "%s A=%d: parameters %.3g from ddp's (bound %.3g, and not 0 with several ranks)", name, A, worst_param, bound);
    if (rank == 0)
        printf("  near   %-9s A=%d vs ddp: loss %.2g, norm %.2g relative, params %.2g (bound %.2g)\n", name, A,
               worst_loss, worst_norm, worst_param, bound);
}

static void compare(const char *name, int A, const run_result *r, const run_result *ref)
{
    double worst_loss = 0, worst_param = 0;
    for (int t = 0; t < STEPS; t++) {
        double rel = fabs(r->norm[t] - ref->norm[t]) / ref->norm[t];
        CHECK(rel <= 1e-5, "%s A=%d step %d: gradient norm %.7g, ddp's %.7g", name, A, t, r->norm[t], ref->norm[t]);
        for (int k = 0; k < A; k++) {
            double rel = fabs(r->loss[t][k] - ref->loss[t][k]) / fabs(ref->loss[t][k]);
            worst_loss = rel > worst_loss ? rel : worst_loss;
        }
    }
    CHECK(worst_loss <= 1e-5, "%s A=%d: loss differs from ddp by %.3g relative", name, A, worst_loss);
    int ok = r->params && ref->params && max_rel(r->params, ref->params, r->P, &worst_param);
    CHECK(ok, "%s A=%d: parameters differ from ddp by %.3g relative", name, A, worst_param);
    if (rank == 0)
        printf("  equal  %-9s A=%d vs ddp: loss %.2g, params %.2g relative (final loss %.6f)\n", name, A,
               worst_loss, worst_param, r->loss[STEPS - 1][A - 1]);
}

/* One step on targets every rank shares, so its result does not depend on the rank count. */
static void common_step(st_shard_state *s, st_params *ps)
{
    micro_batch(s, ps, 777);
    float norm;
    CHECK(st_shard_step(s, 1e-2f, 1.0f, 1.0f, &norm) == ST_OK, "%s", st_last_error());
}

/* `scheme` (zero2: the contiguous layout, format 1; zero3: the balanced one, format 2): 3 steps, a
 * checkpoint, the parameters then and after a common step. */
static void checkpoint_write(const char *dir, const char *scheme)
{
    st_partition p;
    st_partition_parse(scheme, &p);
    st_params *ps = make_params();
    st_shard_state *s = NULL;
    if (!CHECK(st_shard_create(ps, comm, &p, &adamw, &s) == ST_OK, "%s", st_last_error()))
        return;
    for (int t = 0; t < 3; t++) {
        micro_batch(s, ps, 5000 + (uint64_t)rank * 10 + (uint64_t)t);
        CHECK(st_shard_step(s, 1e-2f, 1.0f, 1.0f, NULL) == ST_OK, "%s", st_last_error());
    }
    st_ckpt_meta meta = {"test.note", "written by test_shard"};
    st_ckpt_meta bad = {"strata.shard.P", "1"};
    CHECK_ST(st_shard_save(s, dir, &bad, 1), ST_ERR_INVALID_ARG);
    CHECK(st_shard_save(s, dir, &meta, 1) == ST_OK, "%s", st_last_error());
    st_partition_model m;
    st_shard_model(s, 1, &m);
    int64_t P = (int64_t)m.params;
    float *ref = malloc(2 * (size_t)P * sizeof(float));
    full_params(s, ps, ref, P);
    common_step(s, ps);
    full_params(s, ps, ref + P, P);
    if (rank == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/reference.safetensors", dir);
        st_ckpt_tensor t[2] = {{"before", ST_F32, 1, {P}, ref}, {"after", ST_F32, 1, {P}, ref + P}};
        CHECK(st_safetensors_write(path, t, 2, NULL, 0) == ST_OK, "%s", st_last_error());
        printf("  checkpoint: %s on %d ranks, %lld elements, written to %s\n", scheme, nranks, (long long)P, dir);
    }
    free(ref);
    st_shard_destroy(s);
    st_params_destroy(ps);
}

static void checkpoint_load(const char *scheme, const char *dir, int requant)
{
    st_partition p;
    if (!CHECK(st_partition_parse(scheme, &p) == ST_OK, "%s", st_last_error()))
        return;
    st_params *ps = make_params();
    st_shard_state *s = NULL;
    if (!CHECK(st_shard_create(ps, comm, &p, &adamw, &s) == ST_OK, "%s", st_last_error()))
        return;
    CHECK_ST(st_shard_load(s, "/nonexistent/strata-shard-ckpt"), ST_ERR_IO);
    CHECK(st_shard_load(s, dir) == ST_OK, "%s", st_last_error());
    CHECK(st_shard_step_count(s) == 3, "step count %lld after load", (long long)st_shard_step_count(s));
    st_partition_model m;
    st_shard_model(s, 1, &m);
    int64_t P = (int64_t)m.params;
    float *ref = malloc(2 * (size_t)P * sizeof(float)), *got = malloc((size_t)P * sizeof(float));
    char path[4096];
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    st_safetensors *f = NULL;
    CHECK(st_safetensors_open(path, &f) == ST_OK, "%s", st_last_error());
    CHECK(st_safetensors_read(f, "before", ref, (size_t)P * 4) == ST_OK, "%s", st_last_error());
    CHECK(st_safetensors_read(f, "after", ref + P, (size_t)P * 4) == ST_OK, "%s", st_last_error());
    st_safetensors_destroy(f);
    full_params(s, ps, got, P);
    double worst = 0, bound = 1.0 / 127 + 2e-2; /* a step (lr 1e-2) on another rounding: 2 lr at most */
    if (requant) {
        max_rel(got, ref, P, &worst);
        CHECK(worst <= 1.0 / 127 && memcmp(got, ref, (size_t)P * 4) != 0, "%s: loaded parameters %.3g relative "
              "from the saved ones (one int8 step: %.3g, and not identical)", scheme, worst, 1.0 / 127);
    } else {
        CHECK(memcmp(got, ref, (size_t)P * 4) == 0, "%s: loaded parameters differ from the saved ones", scheme);
    }
    common_step(s, ps);
    full_params(s, ps, got, P);
    if (requant)
        CHECK(max_rel(got, ref + P, P, &worst) || worst <= bound, "%s: the step after loading differs by %.3g "
              "relative (bound %.3g)", scheme, worst, bound);
    else
        CHECK(max_rel(got, ref + P, P, &worst), "%s: the step after loading differs by %.3g relative", scheme,
              worst);
    if (rank == 0)
        printf("  checkpoint: loaded into %s on %d ranks: parameters %s, next step within %.2g\n", scheme, nranks,
               requant ? "within one int8 step" : "identical", worst);
    free(ref);
    free(got);
    st_shard_destroy(s);
    st_params_destroy(ps);
}

static void train_all(void)
{
    int nnamed = st_partition_scheme_count(), n = nnamed + (int)(sizeof extra / sizeof extra[0]);
    for (int A = 1; A <= MAX_A; A++) {
        run_result ref = {0};
        for (int i = 0; i < n; i++) {
            const char *name;
            st_partition p;
            if (i < nnamed) {
                st_partition_scheme(i, &name, &p);
            } else {
                name = extra[i - nnamed];
                CHECK(st_partition_parse(name, &p) == ST_OK, "%s", st_last_error());
            }
            run_result r = {0};
            train(name, &p, A, i == 0 ? &ref : &r);
            if (i > 0 && (p.qw || p.qg))
                compare_quantized(name, A, &p, &r, &ref);
            else if (i > 0)
                compare(name, A, &r, &ref);
            free(r.params);
        }
        free(ref.params);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "train") != 0 && strcmp(argv[1], "load") != 0 && strcmp(argv[1], "save") != 0) ||
        (strcmp(argv[1], "train") != 0 && argc != 4 && !(argc == 5 && strcmp(argv[4], "requant") == 0))) {
        fprintf(stderr, "usage: test_shard train [CKPT_DIR] | test_shard save|load SCHEME DIR [requant]\n");
        return 2;
    }
    if (st_device_get("cpu", 0, &dev) != ST_OK || st_comm_init_world(&comm) != ST_OK) {
        printf("FAIL setup: %s\n", st_last_error());
        return 1;
    }
    rank = st_comm_rank(comm);
    nranks = st_comm_size(comm);
    st_comm_shape(comm, &shape);
    if (rank == 0)
        printf("test_shard %s on %d ranks (%dx%dx%d)\n", argv[1], nranks, shape.nodes, shape.gpus_per_node,
               shape.gcds_per_gpu);
    if (strcmp(argv[1], "train") == 0) {
        train_all();
        if (argc > 2)
            checkpoint_write(argv[2], "zero2");
    } else if (strcmp(argv[1], "save") == 0) {
        checkpoint_write(argv[3], argv[2]);
    } else {
        checkpoint_load(argv[2], argv[3], argc == 5);
    }
    st_comm_destroy(comm);
    int rc = h_finish();
    st_shutdown();
    return rc;
}
