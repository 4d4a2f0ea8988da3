/* strata-train with sharded model state under mpirun (label mpi), on a GPT-2 shrunk until its
 * partitioned length P (19934) divides by neither 4 nor 8, with an emulated STRATA_TOPOLOGY:
 *   test_train_shard train DIR [ckpt]  every named scheme, with --grad-accum 1 and 2, 10 steps:
 *       the losses of ddp (1e-5 relative); per level, the model-state bytes of every step in the
 *       log equal st_partition_traffic_get() for the engine's model (the trainer keeps the loss
 *       all-reduce and the error agreement out of those counters); memory per kind as
 *       st_partition_memory_get() says (exactly for the kinds the engine allocates, which the
 *       allocator's delta around st_shard_create accounts for). With "ckpt": a zero3 run (the
 *       balanced layout: the engine's format-2 checkpoint; format 1 is test_shard's zero2) stopped
 *       after 5 steps leaves its checkpoint in DIR/ck and the straight run's losses in DIR.
 *   test_train_shard resume SCHEME DIR  resumes a copy of that checkpoint with SCHEME on this rank
 *       count (the same global batch of 8 rows): the straight run's losses from step 6; on 2 ranks
 *       also a single process from the same checkpoint.
 *   test_train_shard overlap DIR  zero3, zero++ and frontier3 with --grad-accum 2, --overlap on and
 *       off: bit-identical losses and equal per-level bytes in every step (the same collectives in
 *       the same order, only earlier). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../harness.h"
#include "trainer.h"
#include "train_mpi_util.h"

h_counts h_total;

#define STEPS 10
#define GLOBAL_B 8

static st_comm *comm;
static int rank, nranks;

static train_opts small(const char *data, st_comm *c, int ranks)
{
    train_opts o;
    train_opts_default(&o);
    o.data = data;
    o.steps = STEPS;
    o.batch = GLOBAL_B / ranks;
    o.seq = 16;
    o.seq_set = 1;
    /* C = 30: P is 30 past a multiple of 64; 4 layers, so that per-layer gathering has layers to
     * save on (with one, its two working units are the whole model) */
    o.L = 4, o.H = 2, o.C = 30, o.ctx = 16;
    o.lr = 3e-3;
    o.eval_batches = 1;
    o.comm = c;
    return o;
}

/* Values of `key` in the log's lines, in order (at most max), as integers. */
static int log_u64(const char *path, const char *key, uint64_t *out, int max)
{
    double v[64];
    int n = log_values(path, key, v, max < 64 ? max : 64);
    for (int i = 0; i < n; i++) out[i] = (uint64_t)v[i];
    return n;
}

static uint64_t summary(const char *path, const char *key)
{
    uint64_t v = 0;
    CHECK(log_u64(path, key, &v, 1) == 1, "%s: summary has %s", path, key);
    return v;
}

/* The summary's "unit_sizes" (the balanced layout's units) into out: their count, 0 without. */
static int log_units(const char *path, uint64_t *out, int max)
{
    static char line[1 << 16];
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *u = strstr(line, "\"unit_sizes\": \"");
        if (!u)
            continue;
        u += strlen("\"unit_sizes\": \"");
        if (strchr(u, '"'))
            *strchr(u, '"') = 0;
        n = st_partition_units_parse(u, out, max);
        n = n < 0 ? 0 : n;
    }
    if (f)
        fclose(f);
    return n;
}

/* Rank 0: the log's per-step bytes and the summary's memory against the closed forms. */
static void check_log(const char *log, const char *name, const st_partition *p, int A, const st_partition_memory *ddp)
{
    st_topo_shape sh;
    st_comm_shape(comm, &sh);
    static uint64_t units[256];
    int nu = log_units(log, units, 256);
    st_partition_model m = {summary(log, "partitioned_params"), 4, 4, st_partition_optim_bytes(4), A,
                            summary(log, "model_row"), nu, units};
    CHECK(p->params == ST_SHARD_NONE || st_comm_size(comm) == 1 || nu > 0, "%s: the log lists the units", name);
    st_partition_traffic tr;
    st_partition_memory want;
    CHECK((m.params & 3) != 0, "P = %llu divides by neither 4 nor 8", (unsigned long long)m.params);
    /* the engine's row (the default qgZ block) is the hidden width, not the position table's 16 */
    CHECK(m.row == 30, "model_row %llu, the hidden width C = 30", (unsigned long long)m.row);
    if (!CHECK(st_partition_traffic_get(p, &sh, &m, &tr) == ST_OK && st_partition_memory_get(p, &sh, &m, &want) == ST_OK,
               "%s: closed forms: %s", name, st_last_error()))
        return;
    static const char *const keys[3] = {"bytes_gcd", "bytes_gpu", "bytes_node"};
    for (int l = 0; l < 3; l++) {
        uint64_t got[STEPS];
        int n = log_u64(log, keys[l], got, STEPS), bad = 0;
        /* qgZ per run of the contiguous layout (replicated parameters, zero2's): a block a unit
         * boundary splits costs one more scale per piece (at most 4 B per run of the graph's units,
         * peer and micro-batch: docs/partitioning.md, section 9); the balanced layout's per-unit
         * closed forms (the log's units) are exact */
        uint64_t slack =
            p->qg && p->params == ST_SHARD_NONE ? 4u * 64 * (uint64_t)st_comm_size(comm) * (uint64_t)A : 0;
        for (int i = 0; i < n; i++) bad += got[i] < tr.step[l].sent || got[i] - tr.step[l].sent > slack;
        CHECK(n == STEPS && bad == 0, "%s A=%d %s: %d steps logged, %d differ from %llu (step 1: %llu)", name, A,
              keys[l], n, bad, (unsigned long long)tr.step[l].sent, (unsigned long long)(n ? got[0] : 0));
    }
    st_partition_memory got = {summary(log, "mem_params"), summary(log, "mem_grads"), summary(log, "mem_optim"),
                               summary(log, "mem_secondary"), 0};
    const st_shard kinds[4] = {p->params, p->grads, ST_SHARD_WORLD, p->secondary};
    const uint64_t g[4] = {got.params, got.grads, got.optim, got.secondary};
    const uint64_t w[4] = {want.params, want.grads, want.optim, want.secondary};
    const uint64_t d[4] = {ddp->params, ddp->grads, ddp->optim, 0};
    static const char *const kn[4] = {"params", "grads", "optim", "secondary"};
    for (int k = 0; k < 4; k++) {
        /* a replicated kind is the arena, which may be longer than the padded length */
        int exact = k >= 2 || st_shard_ranks(kinds[k], &sh) > 1;
        CHECK(exact ? g[k] == w[k] : g[k] >= w[k], "%s %s: %llu bytes, closed form %llu", name, kn[k],
              (unsigned long long)g[k], (unsigned long long)w[k]);
        if (k < 3 && st_shard_ranks(k == 2 ? p->optim : kinds[k], &sh) > 1)
            CHECK(g[k] < d[k], "%s %s shrinks: %llu < ddp's %llu", name, kn[k], (unsigned long long)g[k],
                  (unsigned long long)d[k]);
    }
    /* The allocator's high-water mark while training: sharded kinds are not held in full (the
     * per-layer gathering of st_shard_attach_graph), so every scheme but ddp peaks lower. */
    uint64_t peak = summary(log, "peak_bytes");
    if (ddp->total)
        CHECK(p->params || p->grads || p->optim ? peak < ddp->total : peak == ddp->total,
              "%s A=%d: device peak %llu bytes against ddp's %llu", name, A, (unsigned long long)peak,
              (unsigned long long)ddp->total);
    printf("%s A=%d: device peak while training %llu bytes\n", name, A, (unsigned long long)peak);
    uint64_t eng = summary(log, "engine_bytes"), kinds_sum = summary(log, "engine_kinds");
    CHECK(eng >= kinds_sum && eng - kinds_sum < 64, "%s: the allocator saw %llu bytes for the engine, its kinds "
          "are %llu (+ one scalar)", name, (unsigned long long)eng, (unsigned long long)kinds_sum);
}

static void train_all(const char *dir, const char *data, const char *ckpt)
{
    char err[1024] = "", log[600];
    st_partition_memory ddp = {0};
    for (int A = 1; A <= 2; A++) {
        float ref[STEPS], got[STEPS];
        for (int i = 0; i < st_partition_scheme_count(); i++) {
            const char *name;
            st_partition p;
            st_partition_scheme(i, &name, &p);
            train_opts o = small(data, comm, nranks);
            o.partition = name;
            o.grad_accum = A;
            snprintf(log, sizeof log, "%s/%s-A%d.jsonl", dir, name, A);
            o.log = log;
            if (!CHECK(train_run(&o, NULL, i == 0 ? ref : got, err, sizeof err) == 0, "%s A=%d rank %d: %s", name,
                       A, rank, err))
                continue;
            double worst = 0;
            /* quantized schemes (zero++, frontier3q): within 2% of ddp's losses */
            float tol = p.qw || p.qg ? 2e-2f : 1e-5f;
            for (int s = 0; i > 0 && s < STEPS; s++) {
                CHECK(fabsf(got[s] - ref[s]) <= tol * fabsf(ref[s]), "%s A=%d step %d: %.8f vs ddp %.8f", name,
                      A, s + 1, got[s], ref[s]);
                worst = fmax(worst, fabs((double)got[s] - ref[s]) / fabs((double)ref[s]));
            }
            if (rank != 0) continue;
            if (i == 0) {
                /* total: ddp's device peak, the reference for the others' */
                ddp = (st_partition_memory){summary(log, "mem_params"), summary(log, "mem_grads"),
                                            summary(log, "mem_optim"), 0, summary(log, "peak_bytes")};
            }
            check_log(log, name, &p, A, &ddp);
            printf("%s A=%d on %d ranks: largest relative loss difference from ddp %.2e\n", name, A, nranks, worst);
        }
        if (A == 1 && ckpt) {
            train_opts o = small(data, comm, nranks);
            o.partition = "zero3";
            o.ckpt = ckpt;
            o.stop_at = 5;
            CHECK(train_run(&o, NULL, got, err, sizeof err) == 0, "zero3 5 steps with a checkpoint: %s", err);
            snprintf(log, sizeof log, "%s/straight.bin", dir);
            FILE *f = rank == 0 ? fopen(log, "wb") : NULL;
            if (f) CHECK(fwrite(ref, sizeof ref, 1, f) == 1 && fclose(f) == 0, "writing %s", log);
        }
    }
}

static void resume(const char *scheme, const char *dir, const char *data)
{
    char from[600], to[600], cmd[4200], err[1024] = "";
    float straight[STEPS], got[STEPS];
    snprintf(from, sizeof from, "%s/straight.bin", dir);
    FILE *f = fopen(from, "rb");
    if (!CHECK(f && fread(straight, sizeof straight, 1, f) == 1, "reading %s", from)) return;
    fclose(f);
    snprintf(from, sizeof from, "%s/ck", dir);
    snprintf(to, sizeof to, "%s/ck-%s-np%d", dir, scheme, nranks);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s-single' && cp -r '%s' '%s' && cp -r '%s' '%s-single'", to, to, from, to,
             from, to);
    if (rank == 0) CHECK(system(cmd) == 0, "%s", cmd);
    barrier(comm);
    train_opts o = small(data, comm, nranks);
    o.partition = scheme;
    o.ckpt = to;
    o.resume = 1;
    if (CHECK(train_run(&o, NULL, got, err, sizeof err) == 0, "rank %d resuming with %s: %s", rank, scheme, err))
        for (int i = 5; i < STEPS; i++)
            CHECK(fabsf(got[i] - straight[i]) <= 1e-5f * fabsf(straight[i]), "%s step %d: %.8f vs %.8f", scheme,
                  i + 1, got[i], straight[i]);
    if (rank != 0 || nranks != 2) return;
    train_opts one = small(data, NULL, 1); /* the sharded checkpoint into a single process */
    strcat(to, "-single");
    one.ckpt = to;
    one.resume = 1;
    if (CHECK(train_run(&one, NULL, got, err, sizeof err) == 0, "one process resuming: %s", err))
        for (int i = 5; i < STEPS; i++)
            CHECK(fabsf(got[i] - straight[i]) <= 1e-5f * fabsf(straight[i]), "one process step %d: %.8f vs %.8f",
                  i + 1, got[i], straight[i]);
}

static void overlap_all(const char *dir, const char *data)
{
    static const char *const schemes[3] = {"zero3", "zero++", "frontier3"};
    static const char *const keys[3] = {"bytes_gcd", "bytes_gpu", "bytes_node"};
    for (int i = 0; i < 3; i++) {
        float loss[2][STEPS];
        uint64_t bytes[2][3][STEPS], peak[2] = {0, 0};
        char log[2][700], err[1024] = "";
        for (int on = 0; on < 2; on++) {
            train_opts o = small(data, comm, nranks);
            o.partition = schemes[i];
            o.grad_accum = 2;
            o.no_overlap = !on;
            snprintf(log[on], sizeof log[on], "%s/overlap-%s-%d.jsonl", dir, schemes[i], on);
            o.log = rank == 0 ? log[on] : NULL;
            CHECK(train_run(&o, NULL, loss[on], err, sizeof err) == 0, "%s overlap %d: %s", schemes[i], on, err);
            for (int l = 0; rank == 0 && l < 3; l++)
                CHECK(log_u64(log[on], keys[l], bytes[on][l], STEPS) == STEPS, "%s: %s per step", log[on], keys[l]);
            if (rank == 0) peak[on] = summary(log[on], "peak_bytes");
        }
        CHECK(memcmp(loss[0], loss[1], sizeof loss[0]) == 0, "%s: losses differ with and without overlap", schemes[i]);
        CHECK(rank != 0 || memcmp(bytes[0], bytes[1], sizeof bytes[0]) == 0,
              "%s: per-level bytes differ with and without overlap", schemes[i]);
        if (rank == 0)
            printf("%s on %d ranks, overlap on/off: bit-identical losses (last %.7f), equal bytes; device peak %llu / "
                   "%llu bytes\n", schemes[i], nranks, loss[1][STEPS - 1], (unsigned long long)peak[1],
                   (unsigned long long)peak[0]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || st_comm_init_world(&comm) != ST_OK) {
        printf("usage: test_train_shard train DIR [ckpt] | resume SCHEME DIR, under mpirun\n");
        return 1;
    }
    setenv("STRATA_BACKEND", "cpu", 1);
    rank = st_comm_rank(comm), nranks = st_comm_size(comm);
    int ov = strcmp(argv[1], "overlap") == 0, train = ov || strcmp(argv[1], "train") == 0;
    const char *dir = train ? argv[2] : argv[3];
    char data[600];
    snprintf(data, sizeof data, "%s/text", dir);
    if (train && rank == 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        FILE *f = system(cmd) == 0 ? fopen(data, "w") : NULL;
        for (int i = 0; f && i < 60; i++)
            fputs("It was the best of times, it was the worst of times, it was the age of wisdom.\n", f);
        CHECK(f && fclose(f) == 0, "writing %s", data);
    }
    barrier(comm);
    char ck[620];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    if (ov) overlap_all(dir, data);
    else if (train) train_all(dir, data, argc > 3 && strcmp(argv[3], "ckpt") == 0 ? ck : NULL);
    else if (argc > 3) resume(argv[2], dir, data);
    barrier(comm);
    st_comm_destroy(comm);
    st_shutdown();
    return h_finish();
}
