/* Tests of the planner: known machines and models, machine override files (with their errors by
 * line), the time model, and the choice of scheme in a few cases worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "harness.h"

h_counts h_total;

static const st_plan_row *row(const st_plan_result *r, const char *name)
{
    for (int i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].name, name) == 0)
            return &r->rows[i];
    return NULL;
}

static int near(double a, double b) { return fabs(a - b) <= 1e-9 * fabs(b) + 1e-15; }

static void test_tables(void)
{
    st_plan_machine m;
    CHECK_ST(st_plan_machine_get("frontier", &m), ST_OK);
    CHECK(m.bw_gbs[ST_LEVEL_GCD] == 200 && m.bw_gbs[ST_LEVEL_GPU] == 50 && m.bw_gbs[ST_LEVEL_NODE] == 100 &&
          m.memory_gib == 64, "frontier figures");
    CHECK_ST(st_plan_machine_get("summit", &m), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("frontier, local"), "known machines listed: %s", st_last_error());
    st_plan_model md;
    CHECK_ST(st_plan_model_get("gpt2-124m", &md), ST_OK);
    CHECK(md.params == 124439808ULL, "GPT-2 small has 124,439,808 parameters (%llu)", (unsigned long long)md.params);
    CHECK_ST(st_plan_model_get("1.3b", &md), ST_OK);
    CHECK(md.params == 1315723264ULL, "1.3b: %llu", (unsigned long long)md.params);
    CHECK_ST(st_plan_model_get("20b", &md), ST_OK);
    CHECK(md.params == 20256221184ULL && md.layers == 44 && md.hidden == 6144, "20b: %llu",
          (unsigned long long)md.params);
    CHECK_ST(st_plan_model_get("7b", &md), ST_ERR_INVALID_ARG);
}

static void expect_machine_error(const char *text, const char *needle)
{
    st_plan_machine m, before;
    st_plan_machine_get("local", &m);
    before = m;
    CHECK_ST(st_plan_machine_parse(text, "f.conf", &m), ST_ERR_FORMAT);
    CHECK(h_msg_has(needle), "message '%s' mentions '%s'", st_last_error(), needle);
    CHECK(memcmp(&m, &before, sizeof m) == 0, "machine unchanged on error");
}

static void test_machine_file(void)
{
    st_plan_machine m;
    st_plan_machine_get("frontier", &m);
    CHECK_ST(st_plan_machine_parse("# a Frontier node with faster packages\n\n name = frontier-fast \n"
                                   "gpu_gbs=100\r\nnode_us = 0\nmemory_gib = 60.5", "f.conf", &m),
             ST_OK);
    CHECK(strcmp(m.name, "frontier-fast") == 0 && m.bw_gbs[ST_LEVEL_GPU] == 100 && m.lat_us[ST_LEVEL_NODE] == 0 &&
          m.memory_gib == 60.5 && m.bw_gbs[ST_LEVEL_GCD] == 200, "overrides applied, the rest kept");
    CHECK(strcmp(m.bw_source[ST_LEVEL_GPU], "file: f.conf") == 0 && strcmp(m.memory_source, "file: f.conf") == 0 &&
          strcmp(m.bw_source[ST_LEVEL_GCD], "table: frontier") == 0, "sources: %s, %s, %s",
          m.bw_source[ST_LEVEL_GPU], m.memory_source, m.bw_source[ST_LEVEL_GCD]);

    expect_machine_error("gcd_gbs = 10\nnode_gb = 3\n", "f.conf:2: unknown key 'node_gb'");
    expect_machine_error("\n\n\ngpu_gbs 50\n", "f.conf:4: expected key = value");
    expect_machine_error("gpu_gbs = fast\n", "f.conf:1: gpu_gbs = 'fast' is not a finite number > 0");
    expect_machine_error("gpu_gbs = 0\n", "f.conf:1: gpu_gbs");
    expect_machine_error("gpu_us = -1\n", ">= 0");
    expect_machine_error("memory_gib = inf\n", "f.conf:1: memory_gib");
    expect_machine_error("node_gbs = 1\n# again\nnode_gbs = 2\n", "f.conf:3: key 'node_gbs' given twice");
    expect_machine_error("name =\n", "f.conf:1: name must be");

    char path[] = "/tmp/strata_plan_machineXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temp file");
    if (fd >= 0) {
        const char text[] = "node_gbs = 200\nbogus = 1\n";
        CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1), "write");
        close(fd);
        st_plan_machine_get("frontier", &m);
        CHECK_ST(st_plan_machine_load(path, &m), ST_ERR_FORMAT);
        CHECK(h_msg_has(path) && h_msg_has(":2: unknown key 'bogus'"), "file and line named: %s", st_last_error());
        CHECK(m.bw_gbs[ST_LEVEL_NODE] == 100, "unchanged after a failed load");
        unlink(path);
    }
    CHECK_ST(st_plan_machine_load("/nonexistent/strata.machine", &m), ST_ERR_IO);
}

/* The time model on 2x2x2 with a raw P (no layers: one call per collective, model state only). */
static void test_time_model(void)
{
    st_plan_input in;
    st_plan_input_init(&in);
    in.shape = (st_topo_shape){2, 2, 2};
    memset(&in.model, 0, sizeof in.model);
    in.model.params = 16000000;
    in.machine = (st_plan_machine){.name = "t", .bw_gbs = {100, 10, 8}, .lat_us = {1, 2, 4}, .memory_gib = 1};
    st_partition p;
    CHECK_ST(st_partition_parse("ddp", &p), ST_OK);
    st_plan_row r;
    CHECK_ST(st_plan_evaluate(&in, &p, &r), ST_OK);
    /* ddp, bf16: GCD 2*8e6*2 B = 32e6 B at 100 GB/s + 2 messages * 1 us; GPU 2*4e6*2 = 16e6 B at 10 GB/s
     * + 2 * 2 us; NODE 2*2e6*2 = 8e6 B at 8/(2*2) = 2 GB/s per rank + 2 * 4 us. */
    CHECK(near(r.level_s[0], 32e6 / 100e9 + 2e-6) && near(r.level_s[1], 16e6 / 10e9 + 4e-6) &&
          near(r.level_s[2], 8e6 / 2e9 + 8e-6), "level times %g %g %g", r.level_s[0], r.level_s[1], r.level_s[2]);
    CHECK(near(r.comm_s, r.level_s[0] + r.level_s[1] + r.level_s[2]), "total is the sum of levels");
    CHECK(r.working == 0 && r.memory == 16000000ULL * 16, "model state only: %llu", (unsigned long long)r.memory);
    CHECK(r.fits, "256 MB fits in 1 GiB");
    in.micro_batches = 3;
    CHECK_ST(st_partition_parse("zero3", &p), ST_OK);
    CHECK_ST(st_plan_evaluate(&in, &p, &r), ST_OK);
    CHECK(r.messages[0] == 3 * 3 && r.messages[1] == 3 * 3 && r.messages[2] == 3 * 3,
          "zero3: 3 collectives per micro-batch, 1 message each per level (%llu)", (unsigned long long)r.messages[0]);
    in.machine.bw_gbs[1] = 0;
    CHECK_ST(st_plan_evaluate(&in, &p, &r), ST_ERR_INVALID_ARG);
}

static void test_choice_tiny(void)
{
    st_plan_input in;
    st_plan_input_init(&in);
    in.shape = (st_topo_shape){2, 2, 1};
    memset(&in.model, 0, sizeof in.model);
    in.model.params = 1000;
    st_plan_result res;
    CHECK_ST(st_plan_choose(&in, NULL, &res), ST_OK);
    CHECK(res.n_rows == 8 && res.chosen >= 0, "a choice among 8 schemes");
    for (int i = 0; i < res.n_rows; i++)
        CHECK(res.rows[i].fits && (res.rows[i].partition.qw || res.rows[i].partition.qg ||
                                   res.rows[i].comm_s >= res.rows[res.chosen].comm_s),
              "%s fits, and no exact scheme is faster", res.rows[i].name);
    const char *c = res.rows[res.chosen].name;
    /* Equal traffic for ddp, zero1, zero2 and frontier3 here (bf16 grads = params, d = 1); zero2
     * holds the least of them, zero3/zero++ pay per-micro-batch gathers. */
    CHECK(strcmp(c, "zero2") == 0, "tiny model: zero2 (same traffic as ddp, less memory), got %s", c);
    CHECK(strstr(res.explanation, "chose zero2") && !strstr(res.explanation, "did not fit"), "explanation: %s",
          res.explanation);
}

/* The compute term and the step: forward + backward at the machine's rate, AdamW over the optim
 * shard at its stream rate, overlap taking the hidden part off; and the machine file's keys. */
static void test_compute_model(void)
{
    st_plan_input in;
    st_plan_input_init(&in);
    in.shape = (st_topo_shape){2, 2, 1};
    CHECK_ST(st_plan_model_get("gpt-25m", &in.model), ST_OK);
    in.param_bytes = in.grad_bytes = 4;
    in.optim_bytes = st_partition_optim_bytes(4);
    in.micro_batches = 2, in.micro_batch_size = 3;
    st_partition p;
    st_plan_row r;
    CHECK_ST(st_partition_parse("zero1", &p), ST_OK);
    CHECK_ST(st_plan_evaluate(&in, &p, &r), ST_OK);
    CHECK(r.compute_s == 0 && r.step_s == r.comm_s, "compute rate unknown: the step is communication only");
    CHECK_ST(st_plan_machine_parse("compute_gflops = 50\nstream_gbs = 10", "c.conf", &in.machine), ST_OK);
    CHECK(strcmp(in.machine.compute_source, "file: c.conf") == 0, "compute source %s", in.machine.compute_source);
    CHECK_ST(st_plan_evaluate(&in, &p, &r), ST_OK);
    const st_plan_model *m = &in.model;
    double tokens = 2.0 * 3 * m->seq, flops = 6.0 * (double)m->params + 12.0 * m->layers * m->hidden * m->seq;
    CHECK(near(r.fwdbwd_s, tokens * flops / 50e9), "fwdbwd %g, want %g", r.fwdbwd_s, tokens * flops / 50e9);
    /* zero1: AdamW on a quarter of the padded vector, 2*4 + 4 + 2*8 bytes per element. */
    CHECK(near(r.optim_s, (double)r.traffic.padded / 4 * 28 / 10e9), "optimizer %g", r.optim_s);
    CHECK(near(r.step_s, r.fwdbwd_s + r.optim_s + r.comm_s), "zero1 (no per-unit collectives): the sum");
    /* zero3 on 2 nodes: overlap on pipelines the per-unit collectives with the units' compute
     * (docs/partitioning.md section 7); off is the sum; 0.5 halfway; on is never above off. */
    st_plan_row on, off, half;
    in.shape = (st_topo_shape){2, 1, 1};
    CHECK_ST(st_partition_parse("zero3", &p), ST_OK);
    in.overlap = 0;
    CHECK_ST(st_plan_evaluate(&in, &p, &off), ST_OK);
    CHECK(near(off.step_s, off.fwdbwd_s + off.optim_s + off.comm_s), "overlap off: the sum");
    in.overlap = 1;
    CHECK_ST(st_plan_evaluate(&in, &p, &on), ST_OK);
    CHECK(on.step_s < off.step_s && on.step_s >= off.step_s - (off.fwdbwd_s < off.comm_s ? off.fwdbwd_s : off.comm_s) - 1e-12,
          "overlap on: %g s, off %g s: hides at most the shorter part", on.step_s, off.step_s);
    CHECK(on.comm_s == off.comm_s && on.fwdbwd_s == off.fwdbwd_s, "overlap changes only the step");
    in.overlap = 0.5;
    CHECK_ST(st_plan_evaluate(&in, &p, &half), ST_OK);
    CHECK(near(half.step_s, 0.5 * (on.step_s + off.step_s)), "0.5: halfway");
    in.shape = (st_topo_shape){1, 1, 1};
    in.overlap = 1.5;
    CHECK_ST(st_plan_evaluate(&in, &p, &r), ST_ERR_INVALID_ARG);
    in.overlap = 0;
    st_plan_machine before = in.machine;
    CHECK_ST(st_plan_machine_parse("stream_gbs = -1", "c.conf", &in.machine), ST_ERR_FORMAT);
    CHECK(in.machine.stream_gbs == before.stream_gbs, "a bad value changes nothing");
}

/* The engine's per-unit collectives: with contiguous slices each GPT block lies in one rank's half
 * on 2 ranks, so zero3's gathers and reduce-scatters move their units one way (twice the balanced
 * ring's time); the balanced layout is the closed forms; whole-vector schemes are unaffected. */
static void test_unit_layout(void)
{
    st_plan_input in;
    st_plan_input_init(&in);
    in.shape = (st_topo_shape){2, 1, 1};
    CHECK_ST(st_plan_model_get("gpt-25m", &in.model), ST_OK);
    in.machine = (st_plan_machine){.name = "t", .bw_gbs = {100, 10, 1}, .lat_us = {0, 0, 0}, .memory_gib = 64};
    st_plan_row contiguous, balanced, engine;
    st_partition p;
    CHECK_ST(st_partition_parse("zero3", &p), ST_OK);
    CHECK(in.unit_layout == ST_PLAN_UNITS_ENGINE, "the default layout is the engine's");
    CHECK_ST(st_plan_evaluate(&in, &p, &engine), ST_OK);
    in.unit_layout = ST_PLAN_UNITS_CONTIGUOUS;
    CHECK_ST(st_plan_evaluate(&in, &p, &contiguous), ST_OK);
    in.unit_layout = ST_PLAN_UNITS_BALANCED;
    CHECK_ST(st_plan_evaluate(&in, &p, &balanced), ST_OK);
    double want = (double)balanced.traffic.micro_batch[ST_LEVEL_NODE].sent / 1e9;
    CHECK(near(balanced.level_s[ST_LEVEL_NODE], want), "balanced: the closed form %g vs %g",
          balanced.level_s[ST_LEVEL_NODE], want);
    CHECK(near(engine.level_s[ST_LEVEL_NODE], want), "the engine shards zero3's units balanced");
    double ratio = contiguous.level_s[ST_LEVEL_NODE] / balanced.level_s[ST_LEVEL_NODE];
    CHECK(ratio > 1.9 && ratio <= 2.0, "contiguous units on 2 ranks: %.3fx the balanced time", ratio);
    CHECK(contiguous.traffic.step[ST_LEVEL_NODE].sent == balanced.traffic.step[ST_LEVEL_NODE].sent,
          "the same bytes either way");
    CHECK_ST(st_partition_parse("ddp", &p), ST_OK);
    CHECK_ST(st_plan_evaluate(&in, &p, &balanced), ST_OK);
    in.unit_layout = ST_PLAN_UNITS_CONTIGUOUS;
    CHECK_ST(st_plan_evaluate(&in, &p, &contiguous), ST_OK);
    CHECK(near(contiguous.comm_s, balanced.comm_s), "ddp: no per-unit collectives");
    in.unit_layout = 7;
    CHECK_ST(st_plan_evaluate(&in, &p, &contiguous), ST_ERR_INVALID_ARG);
}

static void test_choice_20b(void)
{
    st_plan_input in;
    st_plan_input_init(&in);
    in.unit_layout = ST_PLAN_UNITS_BALANCED; /* the schemes themselves, not this engine's layout */
    in.shape = (st_topo_shape){48, 4, 2};
    CHECK_ST(st_plan_machine_get("frontier", &in.machine), ST_OK);
    CHECK_ST(st_plan_model_get("20b", &in.model), ST_OK);
    st_plan_result res;
    CHECK_ST(st_plan_choose(&in, NULL, &res), ST_OK);
    CHECK(!row(&res, "ddp")->fits && !row(&res, "zero1")->fits, "20b: ddp and zero1 do not fit in 64 GiB");
    for (int i = 0; i < res.n_rows; i++)
        if (res.rows[i].partition.grads != ST_SHARD_NONE)
            CHECK(res.rows[i].fits, "%s (sharded gradients) fits", res.rows[i].name);
    CHECK(strstr(res.explanation, "did not fit") && strstr(res.explanation, "ddp") && strstr(res.explanation, "zero1"),
          "explanation names what did not fit: %s", res.explanation);
    /* A = 1: zero2 and frontier3 cross nodes with the same bytes; zero2 moves less within the node. */
    CHECK(res.chosen >= 0 && strcmp(res.rows[res.chosen].name, "zero2") == 0, "A=1: zero2, got %s",
          res.chosen >= 0 ? res.rows[res.chosen].name : "none");
    /* frontier3 beats zero++ at every A, and wins outright once micro-batches repeat. */
    CHECK(row(&res, "frontier3")->comm_s < row(&res, "zero3+hpz")->comm_s, "frontier3 faster than zero3+hpz at A=1");
    /* quantized schemes are predicted faster but never chosen by themselves; the explanation names
     * the fastest of them */
    CHECK(row(&res, "zero++")->comm_s < row(&res, "zero3+hpz")->comm_s, "zero++ (quantized) faster than hpZ alone");
    /* bf16: ZeRO++'s published 3M -> 0.75M across nodes, plus the scales */
    double ratio = (double)row(&res, "zero++")->traffic.step[ST_LEVEL_NODE].sent /
                   (double)row(&res, "zero3")->traffic.step[ST_LEVEL_NODE].sent;
    CHECK(ratio > 0.25 && ratio < 0.2504, "bf16 zero++ / zero3 across nodes = %.5f", ratio);
    CHECK(strstr(res.explanation, "with quantized communication"), "explanation: %s", res.explanation);
    in.micro_batches = 4;
    CHECK_ST(st_plan_choose(&in, NULL, &res), ST_OK);
    CHECK(res.chosen >= 0 && strcmp(res.rows[res.chosen].name, "frontier3") == 0, "A=4: frontier3, got %s",
          res.chosen >= 0 ? res.rows[res.chosen].name : "none");
    CHECK(row(&res, "frontier3")->traffic.micro_batch[ST_LEVEL_NODE].sent == 0, "no inter-node traffic per micro-batch");
    /* A custom scheme joins the table. */
    st_partition extra;
    CHECK_ST(st_partition_parse("params=gcd,grads=world,optim=world", &extra), ST_OK);
    CHECK_ST(st_plan_choose(&in, &extra, &res), ST_OK);
    CHECK(res.n_rows == 9 && row(&res, "custom") != NULL, "custom row added");
    /* Nothing fits in 0.5 GiB. */
    in.machine.memory_gib = 0.5;
    CHECK_ST(st_plan_choose(&in, NULL, &res), ST_OK);
    CHECK(res.chosen == -1 && strstr(res.explanation, "no scheme fits"), "nothing fits: %s", res.explanation);
}

/* The planner buckets the engine's units as the engine does (STRATA_SHARD_BUCKET): "tiny" has an
 * embeddings unit of 20608 elements and two blocks of 49984. Unbucketed: 3 units; at 60000 the
 * embeddings and the first block join (70592) and the second block stays alone: 2; at the default
 * (1 Mi) all three are one. Per-micro-batch messages go 3 : 2 : 1 and the slots hold the buckets. */
static void test_bucket(void)
{
    st_plan_input in;
    st_plan_input_init(&in);
    in.shape = (st_topo_shape){2, 1, 1};
    CHECK_ST(st_plan_model_get("tiny", &in.model), ST_OK);
    in.machine = (st_plan_machine){.name = "t", .bw_gbs = {100, 10, 1}, .lat_us = {1, 2, 10}, .memory_gib = 64};
    st_partition p;
    CHECK_ST(st_partition_parse("zero3", &p), ST_OK);
    st_plan_row r0, r60, rd;
    setenv("STRATA_SHARD_BUCKET", "0", 1);
    CHECK_ST(st_plan_evaluate(&in, &p, &r0), ST_OK);
    setenv("STRATA_SHARD_BUCKET", "60000", 1);
    CHECK_ST(st_plan_evaluate(&in, &p, &r60), ST_OK);
    unsetenv("STRATA_SHARD_BUCKET");
    CHECK_ST(st_plan_evaluate(&in, &p, &rd), ST_OK);
    int l = ST_LEVEL_NODE;
    double x0 = (double)r0.messages[l], x60 = (double)r60.messages[l], xd = (double)rd.messages[l];
    double once = (3 * xd - x0) / 2; /* x = once + units * per-unit messages */
    CHECK(x0 > xd && near(x60 - once, 2 * (xd - once)), "messages %g, %g, %g: not 3 : 2 : 1 units", x0, x60, xd);
    CHECK(rd.level_s[l] < r60.level_s[l] && r60.level_s[l] < r0.level_s[l], "fewer calls, less latency");
    double e = 20608, b = 49984;
    CHECK(near((double)r60.slots / (double)r0.slots, (e + b + 2 * b) / (e + 2 * b)) &&
          near((double)rd.slots / (double)r0.slots, (e + 2 * b) / (e + 2 * b)),
          "slots: the buckets (%llu, %llu, %llu)", (unsigned long long)r0.slots, (unsigned long long)r60.slots,
          (unsigned long long)rd.slots);
    setenv("STRATA_SHARD_BUCKET", "-5", 1);
    CHECK_ST(st_plan_evaluate(&in, &p, &r0), ST_ERR_INVALID_ARG);
    unsetenv("STRATA_SHARD_BUCKET");
}

int main(void)
{
    test_tables();
    test_machine_file();
    test_time_model();
    test_compute_model();
    test_unit_layout();
    test_bucket();
    test_choice_tiny();
    test_choice_20b();
    return h_finish();
}
