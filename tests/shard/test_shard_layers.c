/* The sharded engine with a graph attached (st_shard_attach_graph): an 8-layer tanh MLP with a
 * cross-entropy head, per-rank random batches, every named scheme for 10 AdamW steps with A = 1
 * and 2. Checks that losses and gradient norms equal ddp's (1e-5 relative), that per-level bytes
 * of every step equal st_partition_traffic_get, that attaching leaves ddp's device peak exactly as
 * it was (quantized schemes, qblock 64: losses within 20%, bytes the per-unit closed forms exactly
 * where parameters are sharded, plus the scales of blocks that unit boundaries split in zero2's
 * contiguous runs; with sharded parameters overlap on and off bit-identical, and with one unit the
 * queue's quantized machines bit-identical to the whole-arena path's blocking collectives), and
 * that each scheme's device peak (st_device_memory_get, from the allocator) drops
 * below ddp's by what the persistent state saves (st_shard_memory; the sharded kinds equal
 * st_partition_memory_get) less the working slots (st_shard_working_memory), within 1 KiB; and that
 * with overlap off (st_shard_set_overlap) every sharded scheme gives bit-identical losses, norms
 * and per-level bytes, and needs no more slots than with it on; and that small units are bucketed
 * (bucketing()). Run with STRATA_SHARD_BUCKET=0 (tests/shard/CMakeLists.txt) so that the 9 units
 * stay 9 elsewhere. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

h_counts h_total;

enum { STEPS = 10, MAX_A = 2, LAYERS = 8, C = 48, V = 20, B = 8, NPARAM = 2 * LAYERS + 1 };
static const st_adamw_config adamw = {0.9f, 0.95f, 1e-8f, 0.1f};

static st_comm *comm;
static st_device *dev;
static int rank;
static st_topo_shape shape;
static st_param_spec specs[NPARAM];
static char names[NPARAM][32];

/* one_unit: names without a layer prefix, so the engine's default units put every parameter in one
 * unit, whose per-unit collectives (the queue's machines) then move exactly what the whole-arena
 * path's blocking collectives move. */
static void make_specs(int one_unit)
{
    for (int l = 0; l < LAYERS; l++) {
        snprintf(names[2 * l], sizeof names[0], one_unit ? "hw%d" : "h.%d.w", l);
        snprintf(names[2 * l + 1], sizeof names[0], one_unit ? "hb%d" : "h.%d.b", l);
        specs[2 * l] = (st_param_spec){names[2 * l], 2, {C, C}, 1};
        specs[2 * l + 1] = (st_param_spec){names[2 * l + 1], 1, {C}, 0};
    }
    specs[NPARAM - 1] = (st_param_spec){"head.w", 2, {C, V}, 1};
}

typedef struct model {
    st_params *ps;
    st_graph_plan *plan;
    st_node x, y, loss;
    st_tensor *xt, *yt;
} model;

/* Parameters (same on every rank), the graph on their views, compiled; the builder destroyed so
 * that the plan holds the only references to the arenas. */
static int model_create(model *m)
{
    memset(m, 0, sizeof *m);
    if (st_params_create(dev, specs, NPARAM, &m->ps) != ST_OK) return 0;
    for (int i = 0; i < NPARAM; i++) {
        st_tensor *p;
        st_params_get(m->ps, i, &p, NULL);
        st_rand_normal(p, 99 + (uint64_t)i, 0, 0.0f, i % 2 ? 0.05f : 0.25f);
    }
    st_graph *g = NULL;
    st_graph_create(&g);
    m->x = st_graph_input(g, "x", ST_F32, 2, (int64_t[]){B, C});
    m->y = st_graph_input(g, "y", ST_I32, 1, (int64_t[]){B});
    st_node h = m->x;
    for (int i = 0; i < NPARAM; i++) {
        st_tensor *p, *gr;
        st_params_get(m->ps, i, &p, &gr);
        st_node w = st_graph_param(g, specs[i].name, p, gr);
        if (i % 2 == 0) h = st_graph_matmul(g, h, w, 0, 0); /* layers' weights and the head */
        else h = st_graph_unary(g, ST_OP_TANH, st_graph_add(g, h, w));
    }
    m->loss = st_graph_mean(g, st_graph_cross_entropy(g, h, m->y), ST_GRAPH_ALL_AXES);
    st_status s = st_graph_set_loss(g, m->loss);
    if (s == ST_OK) s = st_graph_compile(g, dev, &m->plan);
    st_graph_destroy(g);
    if (s == ST_OK) s = st_tensor_create(dev, ST_F32, 2, (int64_t[]){B, C}, &m->xt);
    if (s == ST_OK) s = st_tensor_create(dev, ST_I32, 1, (int64_t[]){B}, &m->yt);
    if (s == ST_OK) s = st_graph_bind(m->plan, m->x, m->xt);
    if (s == ST_OK) s = st_graph_bind(m->plan, m->y, m->yt);
    return CHECK(s == ST_OK, "model: %s", st_last_error());
}

static void model_destroy(model *m)
{
    st_graph_plan_destroy(m->plan);
    st_tensor_destroy(m->xt);
    st_tensor_destroy(m->yt);
    st_params_destroy(m->ps);
}

static double micro_batch(model *m, uint64_t seed)
{
    int32_t y[B];
    for (int i = 0; i < B; i++) y[i] = (int32_t)((seed * 7 + (uint64_t)i * 13) % V);
    st_rand_normal(m->xt, seed, 0, 0.0f, 1.0f);
    st_tensor_write(m->yt, y, sizeof y);
    float loss = 0;
    CHECK(st_graph_forward(m->plan) == ST_OK, "%s", st_last_error());
    CHECK(st_graph_backward(m->plan) == ST_OK, "%s", st_last_error());
    st_tensor_read(st_graph_value(m->plan, m->loss), &loss, sizeof loss);
    return loss;
}

static uint64_t level_bytes(int level)
{
    uint64_t sum = 0;
    for (int k = 0; k < ST_COLL_COUNT; k++) {
        st_comm_bytes b;
        st_comm_bytes_get(comm, (st_level)level, (st_collective)k, &b);
        sum += b.sent;
    }
    return sum;
}

typedef struct result {
    double loss[STEPS][MAX_A];
    float norm[STEPS];
    uint64_t bytes[STEPS][ST_LEVEL_COUNT];
    uint64_t peak, state, slots;
    st_partition_memory mem;
    int n_units;                        /* st_shard_model's units (the balanced layout's) */
    uint64_t unit_numel[NPARAM + 1];
} result;

/* Trains `p` (attached when `attach`), checking bytes per step; the device peak from after setup. */
static void train(const char *name, const st_partition *p, int A, int attach, int overlap, result *r)
{
    model m;
    st_shard_state *s = NULL;
    if (!model_create(&m) || !CHECK(st_shard_create(m.ps, comm, p, &adamw, &s) == ST_OK, "%s", st_last_error()))
        return;
    CHECK(st_shard_overlap(s) == 1, "%s: overlap is not on by default", name);
    CHECK(st_shard_set_overlap(s, overlap) == ST_OK, "%s", st_last_error());
    CHECK(st_shard_set_overlap(s, 2) == ST_ERR_INVALID_ARG, "%s: overlap 2 accepted", name);
    if (attach) CHECK(st_shard_attach_graph(s, m.plan, NULL) == ST_OK, "%s: %s", name, st_last_error());
    st_partition_model pm;
    st_partition_traffic tr;
    st_shard_model(s, A, &pm);
    r->n_units = pm.n_units;
    for (int k = 0; k < pm.n_units && k <= NPARAM; k++) r->unit_numel[k] = pm.unit_numel[k];
    CHECK(st_partition_traffic_get(p, &shape, &pm, &tr) == ST_OK, "%s", st_last_error());
    st_device_memory_reset_peak(dev);
    for (int t = 0; t < STEPS; t++) {
        st_comm_bytes_reset(comm);
        for (int k = 0; k < A; k++) {
            CHECK(st_shard_gather(s, ST_PHASE_FORWARD) == ST_OK, "%s", st_last_error());
            CHECK(st_shard_gather(s, ST_PHASE_BACKWARD) == ST_OK, "%s", st_last_error());
            r->loss[t][k] = micro_batch(&m, 1 + (uint64_t)rank * 1000 + (uint64_t)t * 10 + (uint64_t)k);
            CHECK(st_shard_reduce_micro(s) == ST_OK, "%s", st_last_error());
        }
        CHECK(st_shard_step(s, 1e-2f, 1.0f / (float)A, 1.0f, &r->norm[t]) == ST_OK, "%s", st_last_error());
        /* qgZ per run of the contiguous layout (replicated parameters): a block that a unit
         * boundary splits sends one more scale per piece (docs/partitioning.md, section 9): at most
         * 4 bytes per run, peer and micro-batch above the closed form. The balanced layout's
         * per-unit closed forms (st_shard_model's units) and everything else are exact. */
        uint64_t slack = p->qg && p->params == ST_SHARD_NONE
                             ? 4u * 2 * (2 * LAYERS + 1) * (uint64_t)st_comm_size(comm) * (uint64_t)A : 0;
        for (int l = 0; l < ST_LEVEL_COUNT; l++)
            r->bytes[t][l] = level_bytes(l);
        for (int l = 0; l < ST_LEVEL_COUNT; l++)
            CHECK(level_bytes(l) >= tr.step[l].sent && level_bytes(l) - tr.step[l].sent <= slack,
                  "%s A=%d step %d level %d: %llu bytes, closed form %llu (+ at most %llu)", name, A, t, l,
                  (unsigned long long)level_bytes(l), (unsigned long long)tr.step[l].sent, (unsigned long long)slack);
    }
    st_device_memory mem;
    st_device_memory_get(dev, &mem);
    r->peak = mem.peak;
    st_partition_memory sm;
    st_shard_memory(s, &sm);
    r->state = sm.total;
    st_shard_working_memory(s, &r->slots);
    CHECK(st_partition_memory_get(p, &shape, &pm, &r->mem) == ST_OK, "%s", st_last_error());
    st_shard_destroy(s);
    model_destroy(&m);
}

/* Quantized (qw/qg, blocks of 64): 10 AdamW steps of this small MLP amplify the quantization's
 * noise (AdamW normalises every element's step), so losses within 20% and norms within 25% of
 * ddp's, and not equal to them; test_shard_quant checks the collectives against exact references. */
static void compare_quantized(const char *name, int A, const result *r, const result *ref)
{
    double worst_loss = 0, worst_norm = 0;
    for (int t = 0; t < STEPS; t++) {
        worst_norm = fmax(worst_norm, fabs(r->norm[t] - ref->norm[t]) / ref->norm[t]);
        for (int k = 0; k < A; k++)
            worst_loss = fmax(worst_loss, fabs(r->loss[t][k] - ref->loss[t][k]) / fabs(ref->loss[t][k]));
    }
    CHECK(worst_loss <= 2e-1 && worst_norm <= 2.5e-1 && (worst_norm > 0 || st_comm_size(comm) == 1),
          "%s A=%d: losses %.3g, norms %.3g relative from ddp", name, A, worst_loss, worst_norm);
    if (rank == 0)
        printf("  %-9s A=%d vs ddp: losses %.2g, norms %.2g relative; peak %7llu B\n", name, A, worst_loss,
               worst_norm, (unsigned long long)r->peak);
}

static void compare(const char *name, int A, const result *r, const result *ref)
{
    double worst = 0;
    for (int t = 0; t < STEPS; t++) {
        double rel = fabs(r->norm[t] - ref->norm[t]) / ref->norm[t];
        worst = rel > worst ? rel : worst;
        for (int k = 0; k < A; k++) {
            rel = fabs(r->loss[t][k] - ref->loss[t][k]) / fabs(ref->loss[t][k]);
            worst = rel > worst ? rel : worst;
        }
    }
    CHECK(worst <= 1e-5, "%s A=%d: losses/norms differ from ddp by %.3g relative", name, A, worst);
    /* Persistent state saved, less the slots; activations and temporaries are the same ops. */
    int64_t want = (int64_t)ref->state - (int64_t)r->state - (int64_t)r->slots;
    int64_t got = (int64_t)ref->peak - (int64_t)r->peak;
    int64_t form = (int64_t)(ref->mem.params + ref->mem.grads) - (int64_t)(r->mem.params + r->mem.grads);
    CHECK(llabs(got - want) <= 1024, "%s A=%d: peak drop %lld bytes, expected %lld", name, A, (long long)got,
          (long long)want);
    if (rank == 0)
        printf("  %-9s A=%d vs ddp %.1g rel; peak %7llu B, drop %6lld B (state saved %6lld, slots %6llu; "
               "closed form params+grads %6lld)\n", name, A, worst, (unsigned long long)r->peak, (long long)got,
               (long long)((int64_t)ref->state - (int64_t)r->state), (unsigned long long)r->slots, (long long)form);
}

/* Overlap on (r) and off (or: r per unit, off the whole-arena path, one unit): the same
 * collectives in the same order with the same arithmetic, so everything is bit-identical. */
static void identical_as(const char *what, const char *name, int A, const result *r, const result *off)
{
    int same = memcmp(r->norm, off->norm, sizeof r->norm) == 0 && memcmp(r->bytes, off->bytes, sizeof r->bytes) == 0;
    for (int t = 0; t < STEPS; t++)
        for (int k = 0; k < A; k++)
            same &= r->loss[t][k] == off->loss[t][k];
    CHECK(same, "%s A=%d: %s differ (losses, norms or bytes)", name, A, what);
    CHECK(off->slots <= r->slots, "%s A=%d: %llu slot bytes without overlap, %llu with", name, A,
          (unsigned long long)off->slots, (unsigned long long)r->slots);
    if (rank == 0 && same)
        printf("  %-9s A=%d %s: bit-identical losses, norms and bytes; slots %llu / %llu B\n", name, A, what,
               (unsigned long long)r->slots, (unsigned long long)off->slots);
}

static void identical(const char *name, int A, const result *r, const result *off)
{
    identical_as("overlap on/off", name, A, r, off);
}

/* Quantized schemes with sharded parameters (the balanced layout, the queue's quantized machines):
 * overlap on and off bit-identical, and with every parameter in one unit, the per-unit machines
 * bit-identical to the whole-arena path's blocking collectives (comm_quant.c). */
static void quantized_async(int A)
{
    static const char *const quant[] = {"zero++,qblock=64", "frontier3q,qblock=64", "zero3,qw=int8,qg=int4,qblock=40"};
    for (int i = 0; i < 3; i++) {
        st_partition p;
        CHECK_ST(st_partition_parse(quant[i], &p), ST_OK);
        result on = {0}, off = {0}, blocking = {0}, unit = {0};
        train(quant[i], &p, A, 1, 1, &on);
        train(quant[i], &p, A, 1, 0, &off);
        identical(quant[i], A, &on, &off);
        make_specs(1);
        train(quant[i], &p, A, 0, 1, &blocking);
        train(quant[i], &p, A, 1, 1, &unit);
        make_specs(0);
        identical_as("one unit per-unit/whole-arena", quant[i], A, &unit, &blocking);
    }
    /* qwZ alone, the per-layer units: the master shard is quantized once whichever path gathers it
     * and dequantization is per element, so per unit (each unit's pieces with their shards' scales)
     * and whole-arena are bit-identical where the exact gradient sums are too (two ranks a level:
     * a + b is b + a; MPI's reduce-scatter and the ring may order three operands differently). */
    if (shape.nodes <= 2 && shape.gpus_per_node <= 2 && shape.gcds_per_gpu <= 2) {
        st_partition p;
        CHECK_ST(st_partition_parse("zero3,qw=int8,qblock=40", &p), ST_OK);
        result unit = {0}, blocking = {0};
        train("zero3,qw=int8,qblock=40", &p, A, 1, 1, &unit);
        train("zero3,qw=int8,qblock=40", &p, A, 0, 1, &blocking);
        identical_as("per-unit/whole-arena", "zero3,qw=int8", A, &unit, &blocking);
    }
}

/* The bucketing rule (shard_bucket.h), written again here: consecutive units below `thr` join
 * until the bucket holds thr or more; returns the bucket count and their sizes. */
static int buckets_of(const uint64_t *numel, int n, uint64_t thr, uint64_t *out)
{
    int count = 0;
    uint64_t size = 0;
    for (int k = 0; k < n; k++) {
        if (count > 0 && size < thr && numel[k] < thr) {
            size += numel[k];
        } else {
            count++;
            size = numel[k];
        }
        out[count - 1] = size;
    }
    return count;
}

/* Small units bucketed (STRATA_SHARD_BUCKET): 5000 elements joins the 8 blocks (C^2 + C = 2352)
 * three and three and the last two with the head, so 9 units become 3: one gather per pass and
 * one reduce-scatter per micro-batch for each, each unit's slot its bucket. The units st_shard_model
 * reports are the buckets of the unbucketed units, the bytes every step the closed forms of those
 * units exactly (train() checks; zero3's also the unbucketed run's), zero3's losses within 1e-5 of
 * the unbucketed run's (not bit-identical in general: the layout changes which rank holds, and so
 * sums and squares for the norm, which element; the Release build on 2x2x1 happens to match
 * exactly, the sanitized one differs by 2e-7), overlap on/off bit-identical, and a malformed
 * setting refused. */
static void bucketing(int A)
{
    static const char *const schemes[] = {"zero3", "zero++,qblock=64"};
    for (int i = 0; i < 2; i++) {
        st_partition p;
        CHECK_ST(st_partition_parse(schemes[i], &p), ST_OK);
        result plain = {0}, on = {0}, off = {0};
        setenv("STRATA_SHARD_BUCKET", "0", 1);
        train(schemes[i], &p, A, 1, 1, &plain);
        setenv("STRATA_SHARD_BUCKET", "5000", 1);
        train(schemes[i], &p, A, 1, 1, &on);
        train(schemes[i], &p, A, 1, 0, &off);
        uint64_t want[NPARAM + 1];
        int n = buckets_of(plain.unit_numel, plain.n_units, 5000, want);
        int same = on.n_units == n;
        for (int k = 0; same && k < n; k++) same = on.unit_numel[k] == want[k];
        CHECK(plain.n_units == LAYERS + 1 && n == 3 && same, "%s: %d units unbucketed, %d bucketed (want %d)",
              schemes[i], plain.n_units, on.n_units, n);
        identical_as("bucketed overlap on/off", schemes[i], A, &on, &off);
        double worst = 0;
        for (int t = 0; t < STEPS; t++)
            for (int k = 0; k < A; k++)
                worst = fmax(worst, fabs(on.loss[t][k] - plain.loss[t][k]) / fabs(plain.loss[t][k]));
        if (p.qw || p.qg) {
            compare_quantized(schemes[i], A, &on, &plain);
        } else {
            CHECK(worst <= 1e-5 && memcmp(on.bytes, plain.bytes, sizeof on.bytes) == 0,
                  "%s: bucketed losses %.3g relative from unbucketed, or other bytes", schemes[i], worst);
        }
        if (rank == 0)
            printf("  %-9s A=%d bucketed at 5000: %d units -> %d, slots %llu -> %llu B, losses %.2g relative "
                   "from unbucketed\n", schemes[i], A, plain.n_units, on.n_units, (unsigned long long)plain.slots,
                   (unsigned long long)on.slots, worst);
    }
    model m;
    st_shard_state *s = NULL;
    st_partition p;
    st_partition_parse("zero3", &p);
    setenv("STRATA_SHARD_BUCKET", "12abc", 1);
    if (model_create(&m)) {
        CHECK_ST(st_shard_create(m.ps, comm, &p, &adamw, &s), ST_ERR_INVALID_ARG);
        model_destroy(&m);
    }
    setenv("STRATA_SHARD_BUCKET", "0", 1);
}

int main(void)
{
    make_specs(0);
    if (st_device_get("cpu", 0, &dev) != ST_OK || st_comm_init_world(&comm) != ST_OK) {
        printf("FAIL setup: %s\n", st_last_error());
        return 1;
    }
    rank = st_comm_rank(comm);
    st_comm_shape(comm, &shape);
    if (rank == 0)
        printf("test_shard_layers on %d ranks (%dx%dx%d), %d-layer MLP\n", st_comm_size(comm), shape.nodes,
               shape.gpus_per_node, shape.gcds_per_gpu, LAYERS);
    for (int A = 1; A <= MAX_A; A++) {
        result ref = {0}, plain = {0};
        st_partition ddp;
        st_partition_parse("ddp", &ddp);
        train("ddp", &ddp, A, 0, 1, &plain);
        train("ddp", &ddp, A, 1, 1, &ref);
        CHECK(ref.peak == plain.peak, "ddp A=%d: attaching changed the peak: %llu -> %llu bytes", A,
              (unsigned long long)plain.peak, (unsigned long long)ref.peak);
        if (rank == 0)
            printf("  ddp       A=%d peak %7llu B attached and not\n", A, (unsigned long long)ref.peak);
        for (int i = 1; i < st_partition_scheme_count(); i++) {
            const char *name;
            st_partition p;
            st_partition_scheme(i, &name, &p);
            if (p.qw || p.qg) /* below, with blocks that suit this small model */
                continue;
            result r = {0}, off = {0};
            train(name, &p, A, 1, 1, &r);
            compare(name, A, &r, &ref);
            train(name, &p, A, 1, 0, &off);
            identical(name, A, &r, &off);
        }
        static const char *const quant[] = {"zero++,qblock=64", "frontier3q,qblock=64", "zero2,qg=int8,qblock=64"};
        for (int i = 0; i < 3; i++) {
            st_partition p;
            CHECK_ST(st_partition_parse(quant[i], &p), ST_OK);
            result r = {0};
            train(quant[i], &p, A, 1, 1, &r);
            compare_quantized(quant[i], A, &r, &ref);
        }
        /* with accumulation (A = 2) only, to keep the sanitized run short; one rank: nothing crosses
         * a wire, nothing is quantized */
        if (A == MAX_A && st_comm_size(comm) > 1) {
            quantized_async(A);
            bucketing(A);
        }
    }
    st_comm_destroy(comm);
    int rc = h_finish();
    st_shutdown();
    return rc;
}
