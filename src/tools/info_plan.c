/* strata-info --plan: the partition planner's table for every scheme (bytes per level, time,
 * memory per device, fits) and its choice, for any model, topology and machine: a pure calculation
 * that needs none of those machines. Uses only the public API (strata/plan.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strata/strata.h>
#include "tool_json.h"

int info_plan_main(int argc, char **argv, FILE *out);

typedef struct plan_options {
    const char *model, *params, *topology, *machine, *machine_file, *partition, *dtype, *units, *unit_sizes;
    int grad_accum, micro_batch_size, hidden, json, verbose, help;
} plan_options;

static void plan_usage(FILE *f)
{
    fprintf(f,
            "usage: strata-info --plan [options]\n\n"
            "Predicts, for every partitioning scheme, the bytes each rank moves per optimizer step at\n"
            "each level, the communication time and the memory per device, and picks the fastest\n"
            "scheme that fits (docs/partitioning.md).\n\noptions:\n"
            "  --model NAME         gpt2-124m (default), tiny, gpt-25m, gpt-deep, 1.3b\n"
            "                       or 20b\n"
            "  --params P           a parameter count instead of a named model (model state only)\n"
            "  --hidden H           with --params: the model's hidden width, the elements per row\n"
            "                       that quantized gradients are scaled by (default: unknown, 4096)\n"
            "  --topology NxGxD     nodes x GPUs per node x GCDs per GPU (default: STRATA_TOPOLOGY,\n"
            "                       else this machine)\n"
            "  --machine NAME       frontier or local (default: what hwloc knows of the topology,\n"
            "                       local's figures for the rest)\n"
            "  --machine-file F     key=value overrides of the machine's figures\n"
            "  --grad-accum A       micro-batches per optimizer step (default 1)\n"
            "  --micro-batch-size B sequences per micro-batch (default 1)\n"
            "  --dtype bf16|f32     parameter and gradient storage (default bf16)\n"
            "  --partition SPEC     also evaluate this scheme (name, params=..,grads=..,optim=.., or a name\n"
            "                       with overrides: zero3,qw=int8,qg=int4,qwblock=N,qgblock=N)\n"
            "  --units engine|contiguous|balanced   how each unit's data lies across ranks: engine\n"
            "                       (default: Strata's shard engine, balanced where parameters are\n"
            "                       sharded), contiguous (each unit in few ranks' slices) or balanced\n"
            "                       (1/N of every unit on each rank, as DeepSpeed partitions each one)\n"
            "  --unit-sizes U1,U2,.. the shard engine's units (strata-train's log \"unit_sizes\"): the\n"
            "                       per-unit quantized byte counts, exact (docs/partitioning.md, 9)\n"
            "  --verbose            list each scheme's collectives per level\n"
            "  --json               print the plan as JSON\n"
            "  --help               show this help\n");
}

static int positive_int(const char *flag, const char *v, int *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || errno || x < 1 || x > 1 << 20) {
        fprintf(stderr, "strata-info: %s needs an integer in [1, 1048576], got '%s'\n", flag, v ? v : "");
        return 0;
    }
    *out = (int)x;
    return 1;
}

static int parse_plan_options(int argc, char **argv, plan_options *o)
{
    memset(o, 0, sizeof *o);
    o->grad_accum = o->micro_batch_size = 1;
    const struct {
        const char *flag;
        const char **s;
        int *n;
    } valued[] = {
        {"--model", &o->model, NULL}, {"--params", &o->params, NULL}, {"--topology", &o->topology, NULL},
        {"--machine", &o->machine, NULL}, {"--machine-file", &o->machine_file, NULL},
        {"--partition", &o->partition, NULL}, {"--dtype", &o->dtype, NULL}, {"--units", &o->units, NULL},
        {"--unit-sizes", &o->unit_sizes, NULL},
        {"--grad-accum", NULL, &o->grad_accum}, {"--micro-batch-size", NULL, &o->micro_batch_size},
        {"--hidden", NULL, &o->hidden},
    };
    for (int a = 1; a < argc; a++) {
        int known = 0;
        if (strcmp(argv[a], "--plan") == 0) known = 1;
        if (strcmp(argv[a], "--json") == 0) known = o->json = 1;
        if (strcmp(argv[a], "--verbose") == 0) known = o->verbose = 1;
        if (strcmp(argv[a], "--help") == 0) known = o->help = 1;
        for (size_t i = 0; i < sizeof valued / sizeof valued[0] && !known; i++) {
            if (strcmp(argv[a], valued[i].flag) != 0)
                continue;
            known = 1;
            const char *v = a + 1 < argc ? argv[++a] : NULL;
            if (valued[i].n && !positive_int(valued[i].flag, v, valued[i].n))
                return 0;
            if (valued[i].s && !v) {
                fprintf(stderr, "strata-info: %s needs a value\n", valued[i].flag);
                return 0;
            }
            if (valued[i].s)
                *valued[i].s = v;
        }
        if (!known) {
            fprintf(stderr, "strata-info: unknown --plan option '%s'\n", argv[a]);
            plan_usage(stderr);
            return 0;
        }
    }
    return 1;
}

/* Reports a failed library call with its message; the exit status to return. */
static int fail(const char *what)
{
    fprintf(stderr, "strata-info: %s: %s\n", what, st_last_error());
    return 1;
}

/* The shape (--topology, else the loaded topology's) and, without --machine, the machine figures
 * hwloc knows for the loaded topology (STRATA_TOPOLOGY, else this machine), defaults for the rest. */
static int topology_input(const plan_options *o, st_plan_input *in)
{
    if (o->topology && st_topo_parse_shape(o->topology, &in->shape) != ST_OK)
        return fail("--topology");
    if (o->topology && o->machine)
        return 0;
    st_topo *t;
    if (st_topo_load(&t) != ST_OK)
        return fail("topology");
    st_status s = o->topology ? ST_OK : st_topo_get_shape(t, &in->shape);
    if (s == ST_OK && !o->machine)
        s = st_plan_machine_from_topo(t, &in->machine);
    st_topo_destroy(t);
    if (s != ST_OK)
        return fail("topology");
    /* A detected machine reports no node count (the communicator knows it) and 0 GPUs without any. */
    if (in->shape.nodes < 1) in->shape.nodes = 1;
    if (in->shape.gpus_per_node < 1) in->shape.gpus_per_node = 1;
    if (in->shape.gcds_per_gpu < 1) in->shape.gcds_per_gpu = 1;
    return 0;
}

static int model_input(const plan_options *o, st_plan_input *in)
{
    if (o->params) {
        char *end;
        errno = 0;
        unsigned long long p = strtoull(o->params, &end, 10);
        if (*end || errno || p < 1 || o->params[0] == '-') {
            fprintf(stderr, "strata-info: --params needs a positive integer, got '%s'\n", o->params);
            return 1;
        }
        memset(&in->model, 0, sizeof in->model);
        snprintf(in->model.name, sizeof in->model.name, "custom");
        in->model.params = p;
        in->model.hidden = o->hidden;
    } else if (o->hidden) {
        fprintf(stderr, "strata-info: --hidden goes with --params (a named model has its own)\n");
        return 1;
    } else if (o->model && st_plan_model_get(o->model, &in->model) != ST_OK) {
        return fail("--model");
    }
    if (o->dtype && strcmp(o->dtype, "bf16") != 0 && strcmp(o->dtype, "f32") != 0) {
        fprintf(stderr, "strata-info: --dtype must be bf16 or f32, got '%s'\n", o->dtype);
        return 1;
    }
    in->param_bytes = in->grad_bytes = o->dtype && strcmp(o->dtype, "f32") == 0 ? 4 : 2;
    in->optim_bytes = st_partition_optim_bytes(in->param_bytes);
    in->micro_batches = o->grad_accum;
    in->micro_batch_size = o->micro_batch_size;
    return 0;
}

static int build_input(const plan_options *o, st_plan_input *in)
{
    st_plan_input_init(in);
    if (topology_input(o, in) || model_input(o, in))
        return 1;
    if (o->machine && st_plan_machine_get(o->machine, &in->machine) != ST_OK)
        return fail("--machine");
    if (o->machine_file && st_plan_machine_load(o->machine_file, &in->machine) != ST_OK)
        return fail("--machine-file");
    if (o->units && strcmp(o->units, "balanced") == 0)
        in->unit_layout = ST_PLAN_UNITS_BALANCED;
    else if (o->units && strcmp(o->units, "contiguous") == 0)
        in->unit_layout = ST_PLAN_UNITS_CONTIGUOUS;
    else if (o->units && strcmp(o->units, "engine") != 0) {
        fprintf(stderr, "strata-info: --units must be engine, contiguous or balanced, got '%s'\n", o->units);
        return 1;
    }
    if (o->unit_sizes) {
        static uint64_t sizes[1 << 16];
        int n = st_partition_units_parse(o->unit_sizes, sizes, 1 << 16);
        if (n < 0)
            return fail("--unit-sizes");
        in->n_units = n;
        in->unit_numel = sizes;
    }
    return 0;
}

static const char *const level_names[ST_LEVEL_COUNT] = {"GCD", "GPU", "NODE"};
static const char *const short_shard[ST_SHARD_COUNT] = {"repl", "gcd", "node", "world"};

static void print_phases(FILE *out, const st_plan_row *r)
{
    static const char *const when[] = {"forward", "backward", "step"};
    for (int i = 0; i < r->traffic.n_phases; i++) {
        const st_partition_phase *ph = &r->traffic.phases[i];
        static const char *const bits[] = {"", " int4", "", " int8"};
        fprintf(out, "             %-8s %-14s %-4s %-6s %14llu bytes%s%s\n", when[ph->when],
                ph->op == ST_COLL_ALL_GATHER ? "all-gather" : ph->op == ST_COLL_REDUCE_SCATTER ? "reduce-scatter"
                : ph->op == ST_COLL_ALL_TO_ALL ? "all-to-all" : "all-reduce",
                level_names[ph->level], ph->is_grad ? "grads" : "params", (unsigned long long)ph->bytes,
                bits[(ph->bits / 4) & 3], ph->when == ST_PHASE_STEP ? "" : " per micro-batch");
    }
}

static void print_text(FILE *out, const st_plan_input *in, const st_plan_result *res, int verbose)
{
    const st_topo_shape *s = &in->shape;
    const st_plan_machine *m = &in->machine;
    int g_d = s->gpus_per_node * s->gcds_per_gpu;
    fprintf(out, "Partition plan: model %s (%.4g G parameters", in->model.name, in->model.params / 1e9);
    if (in->model.layers)
        fprintf(out, ", %d layers x %d, seq %d", in->model.layers, in->model.hidden, in->model.seq);
    fprintf(out, "), topology %dx%dx%d (%d ranks), A = %d micro-batch(es) of %d\n", s->nodes, s->gpus_per_node,
            s->gcds_per_gpu, s->nodes * g_d, in->micro_batches, in->micro_batch_size);
    fprintf(out, "machine %s: GCD %g GB/s %g us | GPU %g GB/s %g us | NODE %g GB/s per node (%.3g per rank) "
                 "%g us | %.1f GiB per device\n", m->name, m->bw_gbs[0], m->lat_us[0], m->bw_gbs[1], m->lat_us[1],
            m->bw_gbs[2], m->bw_gbs[2] / g_d, m->lat_us[2], m->memory_gib);
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        fprintf(out, "%-8s %-4s %g GB/s: %s | %g us: %s\n", l ? "" : "sources:", level_names[l], m->bw_gbs[l],
                m->bw_source[l], m->lat_us[l], m->lat_source[l]);
    fprintf(out, "%-8s memory %.1f GiB: %s\n", "", m->memory_gib, m->memory_source);
    if (m->compute_gflops > 0)
        fprintf(out, "%-8s compute %.4g GFLOP/s per rank: %s | optimizer stream %.4g GB/s: %s\n", "",
                m->compute_gflops, m->compute_source, m->stream_gbs, m->stream_source);
    else
        fprintf(out, "%-8s compute rate unknown (compute_gflops in a machine file): times are communication "
                     "only\n", "");
    fprintf(out, "%-8s overlap of compute and communication: %g (1: the shard engine's prefetch and "
                 "overlap, its default); units %s\n", "", in->overlap,
            in->unit_layout == ST_PLAN_UNITS_BALANCED     ? "balanced (1/N of every unit per rank)"
            : in->unit_layout == ST_PLAN_UNITS_CONTIGUOUS ? "contiguous (each unit in few ranks' slices)"
                                                          : "the engine's (balanced where parameters are sharded)");
    fprintf(out, "%s params and grads, optimizer %d B/param, flat buffers padded to %llu elements\n\n",
            in->param_bytes == 2 ? "bf16" : "f32", in->optim_bytes,
            res->n_rows ? (unsigned long long)res->rows[0].traffic.padded : 0ULL);
    fprintf(out, "%-10s %-5s %-5s %-5s %-5s %-5s | %-23s | %-30s | %-15s | %-20s | fits\n", "scheme", "param",
            "grad", "optim", "2nd", "quant", "GB per step: GCD GPU NODE", "seconds per step: GCD GPU NODE comm", "compute step",
            "GiB: state work total");
    for (int i = 0; i < res->n_rows; i++) {
        const st_plan_row *r = &res->rows[i];
        const st_partition *p = &r->partition;
        char quant[16] = "-";
        if (p->qw || p->qg)
            snprintf(quant, sizeof quant, "w%dg%d", p->qw, p->qg);
        fprintf(out, "%-10s %-5s %-5s %-5s %-5s %-5s | %7.2f %7.2f %7.2f | %7.3f %7.3f %7.3f %7.3f | %7.3f %7.3f | "
                     "%6.2f %5.2f %6.2f | %s%s\n",
                r->name, short_shard[p->params], short_shard[p->grads], short_shard[p->optim],
                p->secondary ? short_shard[p->secondary] : "-", quant, r->traffic.step[0].sent / 1e9,
                r->traffic.step[1].sent / 1e9, r->traffic.step[2].sent / 1e9, r->level_s[0], r->level_s[1],
                r->level_s[2], r->comm_s, r->compute_s, r->step_s, r->state.total / 1073741824.0,
                r->working / 1073741824.0, r->memory / 1073741824.0, r->fits ? "yes" : "no",
                i == res->chosen ? "  <- chosen" : "");
        if (verbose)
            print_phases(out, r);
    }
    fprintf(out, "\n%s\n", res->explanation);
}

static void json_levels_bytes(tool_json *j, const char *key, const st_comm_bytes *b)
{
    tj_object_begin(j, key);
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        tj_int(j, level_names[l], (int64_t)b[l].sent);
    tj_object_end(j);
}

static void json_row(tool_json *j, const st_plan_row *r)
{
    char spec[128];
    st_partition_format(&r->partition, spec, sizeof spec);
    tj_object_begin(j, NULL);
    tj_string(j, "name", r->name);
    tj_string(j, "partition", spec);
    json_levels_bytes(j, "bytes_per_step", r->traffic.step);
    json_levels_bytes(j, "bytes_per_micro_batch", r->traffic.micro_batch);
    json_levels_bytes(j, "bytes_once_per_step", r->traffic.once);
    tj_object_begin(j, "seconds_per_step");
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        tj_double(j, level_names[l], r->level_s[l]);
    tj_double(j, "total", r->comm_s);
    tj_double(j, "fwdbwd", r->fwdbwd_s);
    tj_double(j, "optimizer", r->optim_s);
    tj_double(j, "compute", r->compute_s);
    tj_double(j, "step", r->step_s);
    tj_object_end(j);
    tj_object_begin(j, "memory_bytes");
    tj_int(j, "params", (int64_t)r->state.params);
    tj_int(j, "grads", (int64_t)r->state.grads);
    tj_int(j, "optim", (int64_t)r->state.optim);
    tj_int(j, "secondary", (int64_t)r->state.secondary);
    tj_int(j, "activations", (int64_t)r->activations);
    tj_int(j, "slots", (int64_t)r->slots);
    tj_int(j, "working", (int64_t)r->working);
    tj_int(j, "total", (int64_t)r->memory);
    tj_object_end(j);
    tj_bool(j, "fits", r->fits);
    tj_object_end(j);
}

static void print_json(FILE *out, const st_plan_input *in, const st_plan_result *res)
{
    tool_json j;
    tj_init(&j, out);
    tj_object_begin(&j, NULL);
    tj_string(&j, "model", in->model.name);
    tj_int(&j, "params", (int64_t)in->model.params);
    tj_int(&j, "padded_params", res->n_rows ? (int64_t)res->rows[0].traffic.padded : 0);
    tj_object_begin(&j, "topology");
    tj_int(&j, "nodes", in->shape.nodes);
    tj_int(&j, "gpus_per_node", in->shape.gpus_per_node);
    tj_int(&j, "gcds_per_gpu", in->shape.gcds_per_gpu);
    tj_object_end(&j);
    tj_object_begin(&j, "machine");
    tj_string(&j, "name", in->machine.name);
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        char key[32];
        snprintf(key, sizeof key, "%s_gbs", level_names[l]);
        tj_double(&j, key, in->machine.bw_gbs[l]);
        snprintf(key, sizeof key, "%s_us", level_names[l]);
        tj_double(&j, key, in->machine.lat_us[l]);
    }
    tj_double(&j, "memory_gib", in->machine.memory_gib);
    tj_double(&j, "compute_gflops", in->machine.compute_gflops);
    tj_double(&j, "stream_gbs", in->machine.stream_gbs);
    tj_object_begin(&j, "sources");
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        char key[32];
        snprintf(key, sizeof key, "%s_gbs", level_names[l]);
        tj_string(&j, key, in->machine.bw_source[l]);
        snprintf(key, sizeof key, "%s_us", level_names[l]);
        tj_string(&j, key, in->machine.lat_source[l]);
    }
    tj_string(&j, "memory_gib", in->machine.memory_source);
    tj_string(&j, "compute_gflops", in->machine.compute_source);
    tj_string(&j, "stream_gbs", in->machine.stream_source);
    tj_object_end(&j);
    tj_object_end(&j);
    tj_int(&j, "micro_batches", in->micro_batches);
    tj_int(&j, "micro_batch_size", in->micro_batch_size);
    tj_double(&j, "overlap", in->overlap);
    tj_string(&j, "units", in->unit_layout == ST_PLAN_UNITS_BALANCED     ? "balanced"
                           : in->unit_layout == ST_PLAN_UNITS_CONTIGUOUS ? "contiguous"
                                                                         : "engine");
    tj_array_begin(&j, "schemes");
    for (int i = 0; i < res->n_rows; i++)
        json_row(&j, &res->rows[i]);
    tj_array_end(&j);
    tj_string(&j, "chosen", res->chosen >= 0 ? res->rows[res->chosen].name : NULL);
    tj_string(&j, "explanation", res->explanation);
    tj_object_end(&j);
    tj_finish(&j);
}

int info_plan_main(int argc, char **argv, FILE *out)
{
    plan_options o;
    if (!parse_plan_options(argc, argv, &o))
        return 2;
    if (o.help) {
        plan_usage(out);
        return 0;
    }
    st_plan_input in;
    if (build_input(&o, &in))
        return 1;
    st_partition extra;
    if (o.partition && st_partition_parse(o.partition, &extra) != ST_OK)
        return fail("--partition");
    /* Static: the result holds every scheme's phase list, too big to be polite on the stack. */
    static st_plan_result res;
    if (st_plan_choose(&in, o.partition ? &extra : NULL, &res) != ST_OK)
        return fail("plan");
    if (o.json)
        print_json(out, &in, &res);
    else
        print_text(out, &in, &res, o.verbose);
    return 0;
}
