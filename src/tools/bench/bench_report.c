/* strata-bench's output: the devices with their peaks, the table of rows, and the JSON document
 * (docs/bench.md; docs/bench.schema.json). Every key is written on every backend, null where a
 * figure does not apply, so documents from different machines line up. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bench.h"

static const bench_device *device_of(const bench_report *r, const bench_row *row)
{
    for (int i = 0; i < r->n_devs; i++)
        if (strcmp(r->devs[i].label, row->device) == 0) return &r->devs[i];
    return NULL;
}

/* Best rate over the yardstick's best (STREAM's way: on a shared machine other work only ever
 * slows a run down). The yardstick is the probe run beside the case, else the device's peak. */
double bench_peak_fraction(const bench_report *r, const bench_row *row)
{
    const bench_device *d = device_of(r, row);
    double peak = row->unit == BENCH_GFLOPS ? (d ? d->peak_gflops : r->peak_gflops) : (d ? d->peak_gbs : r->triad_gbps);
    double ref = row->yardstick > 0 ? row->yardstick : peak;
    return ref > 0 && row->status == ST_OK ? bench_rate(row, row->t.min) / ref : -1.0;
}

static double ref_ratio(const bench_row *row)
{
    return row->ref[0] && row->ref_rate > 0 && row->status == ST_OK ? bench_rate(row, row->t.median) / row->ref_rate
                                                                    : -1.0;
}

static const char *unit_name(bench_unit u) { return u == BENCH_GFLOPS ? "GFLOP/s" : "GB/s"; }

void bench_print_devices(const bench_report *r)
{
    for (int i = 0; i < r->n_devs; i++) {
        const bench_device *d = &r->devs[i];
        printf("  %-10s %s (%s; driver %s)\n", d->label, d->props.name, d->props.type ? d->props.type : "?",
               d->props.driver && d->props.driver[0] ? d->props.driver : "-");
        printf("             peak %.1f GFLOP/s (%s), %.1f GB/s (%s)\n", d->peak_gflops, d->peak_gflops_src,
               d->peak_gbs, d->peak_gbs_src);
        printf("             reference: %s\n", d->vendor_info);
        if (strcmp(d->backend, "cpu") == 0) printf("             also: %s\n", bench_mkl_describe());
    }
    for (int i = 0; i < r->n_skipped; i++)
        printf("  %-10s skipped: %s\n", r->skipped[i].backend, r->skipped[i].reason);
}

void bench_print_table(const bench_report *r)
{
    printf("\nmedian/min/max: rates at the median, slowest and fastest repetition; %%peak: best rate over\n"
           "the device's peak (CPU: over the probe run just before and after the case); vs ref: median\n"
           "rate over the vendor reference's median rate at the same shape.\n");
    printf("%-9s %-9s %-22s %-34s %9s %9s %9s %-7s %4s %6s  %s\n", "device", "suite", "op", "shape", "median", "min",
           "max", "unit", "reps", "%peak", "vs ref");
    for (int i = 0; i < r->n_rows; i++) {
        const bench_row *row = &r->rows[i];
        if (row->status != ST_OK) {
            printf("%-9s %-9s %-22s %-34s   failed: %s\n", row->device, row->suite, row->op, row->shape, row->error);
            continue;
        }
        char pct[16] = "-", vs[48] = "";
        double q = bench_peak_fraction(r, row), x = ref_ratio(row);
        if (q >= 0) snprintf(pct, sizeof pct, "%.0f%%", 100.0 * q);
        if (x >= 0) snprintf(vs, sizeof vs, "%.2fx %s", x, row->ref);
        else if (row->baseline) snprintf(vs, sizeof vs, "(reference)");
        printf("%-9s %-9s %-22s %-34s %9.2f %9.2f %9.2f %-7s %4d %6s  %s\n", row->device, row->suite, row->op,
               row->shape, bench_rate(row, row->t.median), bench_rate(row, row->t.max), bench_rate(row, row->t.min),
               unit_name(row->unit), row->t.reps, pct, vs);
    }
}

static void json_row(tool_json *j, const bench_report *r, const bench_row *row)
{
    int ok = row->status == ST_OK;
    double q = bench_peak_fraction(r, row), x = ref_ratio(row);
    tj_object_begin(j, NULL);
    tj_string(j, "device", row->device);
    tj_string(j, "backend", row->backend);
    tj_string(j, "suite", row->suite);
    tj_string(j, "op", row->op);
    tj_string(j, "shape", row->shape);
    tj_string(j, "unit", unit_name(row->unit));
    tj_bool(j, "baseline", row->baseline);
    tj_double(j, "flops", row->flops);
    tj_double(j, "bytes", row->bytes);
    tj_bool(j, "ok", ok);
    tj_string(j, "error", ok ? NULL : row->error);
    tj_int(j, "reps", ok ? row->t.reps : 0);
    tj_double(j, "median_ms", ok ? 1e3 * row->t.median : NAN);
    tj_double(j, "q1_ms", ok ? 1e3 * row->t.q1 : NAN);
    tj_double(j, "q3_ms", ok ? 1e3 * row->t.q3 : NAN);
    tj_double(j, "min_ms", ok ? 1e3 * row->t.min : NAN);
    tj_double(j, "max_ms", ok ? 1e3 * row->t.max : NAN);
    tj_double(j, "rate_median", ok ? bench_rate(row, row->t.median) : NAN);
    tj_double(j, "rate_best", ok ? bench_rate(row, row->t.min) : NAN);
    tj_double(j, "rate_worst", ok ? bench_rate(row, row->t.max) : NAN);
    tj_double(j, "fraction_of_peak", q >= 0 ? q : NAN);
    tj_string(j, "reference", row->ref[0] ? row->ref : NULL);
    tj_double(j, "reference_rate", row->ref[0] ? row->ref_rate : NAN);
    tj_double(j, "ratio_to_reference", x >= 0 ? x : NAN);
    tj_object_end(j);
}

static void json_devices(tool_json *j, const bench_report *r)
{
    tj_array_begin(j, "devices");
    for (int i = 0; i < r->n_devs; i++) {
        const bench_device *d = &r->devs[i];
        tj_object_begin(j, NULL);
        tj_string(j, "device", d->label);
        tj_string(j, "backend", d->backend);
        tj_string(j, "name", d->props.name);
        tj_string(j, "vendor", d->props.vendor);
        tj_string(j, "type", d->props.type);
        tj_string(j, "driver", d->props.driver);
        tj_string(j, "extra", d->props.extra);
        tj_int(j, "compute_units", d->props.compute_units);
        tj_double(j, "memory_bytes", (double)d->props.memory_bytes);
        tj_double(j, "peak_gflops", d->peak_gflops > 0 ? d->peak_gflops : NAN);
        tj_string(j, "peak_gflops_source", d->peak_gflops_src);
        tj_double(j, "peak_gbs", d->peak_gbs > 0 ? d->peak_gbs : NAN);
        tj_string(j, "peak_gbs_source", d->peak_gbs_src);
        tj_string(j, "reference_library", d->vendor_info);
        if (strcmp(d->backend, "cpu") == 0) tj_string(j, "mkl", bench_mkl_describe());
        tj_object_end(j);
    }
    tj_array_end(j);
    tj_array_begin(j, "skipped");
    for (int i = 0; i < r->n_skipped; i++) {
        tj_object_begin(j, NULL);
        tj_string(j, "backend", r->skipped[i].backend);
        tj_string(j, "reason", r->skipped[i].reason);
        tj_object_end(j);
    }
    tj_array_end(j);
}

void bench_json_head(tool_json *j, const char *mode, const bench_config *cfg, const bench_report *r)
{
    tj_object_begin(j, NULL);
    tj_string(j, "schema", BENCH_SCHEMA);
    tj_string(j, "program", "strata-bench");
    tj_string(j, "mode", mode);
    bench_env_json(j, &r->env, cfg);
    tj_object_begin(j, "host_probes");
    tj_string(j, "fma_isa", r->fma_isa ? r->fma_isa : "none");
    tj_double(j, "fma_peak_gflops", r->peak_gflops > 0 ? r->peak_gflops : NAN);
    tj_double(j, "triad_gbs", r->triad_gbps > 0 ? r->triad_gbps : NAN);
    tj_object_end(j);
    json_devices(j, r);
}

/* The train entry's fields, inside an object the caller opened and closes. */
static void json_train_fields(tool_json *j, const bench_train_result *t)
{
    tj_string(j, "model", t->model);
    tj_string(j, "device", t->device);
    tj_string(j, "backend", t->backend);
    tj_bool(j, "ok", t->ok);
    tj_string(j, "error", t->ok ? NULL : t->error);
    tj_int(j, "batch", t->batch);
    tj_int(j, "seq", t->seq);
    tj_int(j, "steps", t->steps);
    tj_int(j, "timed_steps", t->timed_steps);
    tj_int(j, "n_params", t->n_params);
    tj_double(j, "flops_per_token", t->flops_per_token);
    tj_double(j, "step_ms_median", t->ok ? t->ms_median : NAN);
    tj_double(j, "step_ms_min", t->ok ? t->ms_min : NAN);
    tj_double(j, "step_ms_max", t->ok ? t->ms_max : NAN);
    tj_double(j, "tokens_per_s", t->ok ? t->tokens_per_s : NAN);
    tj_double(j, "achieved_gflops", t->ok ? t->achieved_gflops : NAN);
    tj_double(j, "peak_gflops", t->peak_gflops > 0 ? t->peak_gflops : NAN);
    tj_string(j, "peak_gflops_source", t->peak_src ? t->peak_src : "none");
    tj_double(j, "mfu", t->ok && t->peak_gflops > 0 ? t->mfu : NAN);
}

static void json_peer_mode(tool_json *j, const char *key, const bench_peer_mode *m, const bench_train_result *t)
{
    tj_object_begin(j, key);
    tj_bool(j, "ok", m->ok);
    tj_string(j, "error", m->ok ? NULL : m->error);
    tj_double(j, "step_ms_median", m->ok ? m->ms_median : NAN);
    tj_double(j, "step_ms_min", m->ok ? m->ms_min : NAN);
    tj_double(j, "step_ms_max", m->ok ? m->ms_max : NAN);
    tj_int(j, "timed_steps", m->ok ? m->timed_steps : 0);
    tj_double(j, "peer_ms_over_strata_ms", m->ok && t->ok ? m->ms_median / t->ms_median : NAN);
    tj_object_end(j);
}

/* PyTorch's CPU training of the same model and batch, or why it was skipped. */
static void json_peer(tool_json *j, const bench_train_result *t)
{
    const bench_peer *p = &t->peer;
    tj_object_begin(j, "peer");
    tj_string(j, "name", "pytorch-cpu");
    tj_bool(j, "ran", p->ran);
    tj_string(j, "skipped", p->ran ? NULL : p->skip);
    if (p->ran) {
        tj_string(j, "torch", p->torch);
        tj_string(j, "python", p->python);
        tj_int(j, "threads", p->threads);
        json_peer_mode(j, "f32_eager", &p->f32, t);
        json_peer_mode(j, "bf16_autocast", &p->bf16, t);
    }
    tj_object_end(j);
}

static void json_train(tool_json *j, const bench_train_result *t)
{
    tj_object_begin(j, NULL);
    json_train_fields(j, t);
    tj_string(j, "dtype", t->dtype[0] ? t->dtype : "f32");
    json_peer(j, t);
    tj_object_end(j);
}

static void json_levels(tool_json *j, const char *key, const double *v)
{
    static const char *const names[ST_LEVEL_COUNT] = {"gcd", "gpu", "node"};
    tj_object_begin(j, key);
    for (int l = 0; l < ST_LEVEL_COUNT; l++) tj_double(j, names[l], v[l]);
    tj_object_end(j);
}

/* One scheme of the multi-rank train mode: the train entry's fields, plus the job, the measured
 * breakdown and the planner's prediction. */
static void json_scheme(tool_json *j, const bench_report *r, const bench_scheme_result *s)
{
    const bench_train_dist_result *d = r->dist;
    bench_train_result t = r->train; /* the run's figures, with this scheme's times */
    double tokens = (double)(t.batch * t.seq) * d->ranks;
    t.ok = s->ok, t.timed_steps = s->timed_steps, t.peak_gflops = 0, t.peak_src = "none";
    snprintf(t.error, sizeof t.error, "%s", s->error);
    t.ms_median = s->step_s * 1e3, t.ms_min = s->step_min_s * 1e3, t.ms_max = s->step_max_s * 1e3;
    t.tokens_per_s = s->ok ? tokens / s->step_s : NAN;
    t.achieved_gflops = s->ok ? tokens * t.flops_per_token / s->step_s * 1e-9 : NAN;
    tj_object_begin(j, NULL);
    json_train_fields(j, &t);
    tj_int(j, "ranks", d->ranks);
    tj_string(j, "scheme", s->scheme);
    tj_string(j, "partition", s->partition);
    tj_string(j, "overlap", s->overlap ? "on" : "off");
    tj_object_begin(j, "measured");
    json_levels(j, "comm_s", s->comm_s);
    tj_double(j, "compute_s", s->compute_s);
    double b[ST_LEVEL_COUNT];
    for (int l = 0; l < ST_LEVEL_COUNT; l++) b[l] = (double)s->bytes[l];
    json_levels(j, "bytes", b);
    tj_int(j, "peak_bytes", (int64_t)s->peak_bytes);
    tj_int(j, "state_bytes", (int64_t)s->state_bytes);
    tj_int(j, "working_bytes", (int64_t)s->working_bytes);
    tj_object_end(j);
    tj_object_begin(j, "predicted");
    tj_double(j, "step_s", s->pred.step_s);
    json_levels(j, "comm_s", s->pred.level_s);
    tj_double(j, "compute_s", s->pred.compute_s);
    for (int l = 0; l < ST_LEVEL_COUNT; l++) b[l] = (double)s->pred.traffic.step[l].sent;
    json_levels(j, "bytes", b);
    tj_int(j, "memory_bytes", (int64_t)s->pred.memory);
    tj_object_end(j);
    tj_object_end(j);
}

static void json_plan_machine(tool_json *j, const bench_train_dist_result *d)
{
    const st_plan_machine *m = &d->machine;
    tj_object_begin(j, "plan_machine");
    tj_string(j, "name", m->name);
    tj_int(j, "nodes", d->shape.nodes);
    tj_int(j, "gpus_per_node", d->shape.gpus_per_node);
    tj_int(j, "gcds_per_gpu", d->shape.gcds_per_gpu);
    json_levels(j, "bw_gbs", m->bw_gbs);
    json_levels(j, "lat_us", m->lat_us);
    tj_double(j, "memory_gib", m->memory_gib);
    tj_double(j, "compute_gflops", m->compute_gflops);
    tj_string(j, "compute_source", m->compute_source);
    tj_double(j, "stream_gbs", m->stream_gbs);
    tj_string(j, "stream_source", m->stream_source);
    tj_double(j, "max_step_error", d->max_step_error);
    tj_bool(j, "order_same", d->order_same);
    tj_int(j, "significant_pairs", d->significant_pairs);
    tj_int(j, "misordered_pairs", d->misordered_pairs);
    tj_object_end(j);
}

/* results, train, collectives (left open when the caller adds collectives), and the end. */
void bench_json_tail(tool_json *j, const bench_report *r, int with_collectives)
{
    tj_array_begin(j, "results");
    for (int i = 0; i < r->n_rows; i++) json_row(j, r, &r->rows[i]);
    tj_array_end(j);
    tj_array_begin(j, "train");
    if (r->has_train && r->dist)
        for (int i = 0; i < r->dist->n_schemes; i++) json_scheme(j, r, &r->dist->schemes[i]);
    else if (r->has_train)
        json_train(j, &r->train);
    tj_array_end(j);
    if (r->dist) json_plan_machine(j, r->dist);
    tj_array_begin(j, "verdicts");
    for (int i = 0; i < r->n_verdicts; i++) {
        const bench_verdict *v = &r->verdicts[i];
        tj_object_begin(j, NULL);
        tj_string(j, "target", v->name);
        tj_string(j, "reference", v->reference);
        tj_double(j, "goal", v->goal);
        tj_double(j, "value", v->value >= 0 ? v->value : NAN);
        tj_string(j, "worst_case", v->worst);
        tj_string(j, "result", v->result);
        tj_object_end(j);
    }
    tj_array_end(j);
    tj_bool(j, "collectives_built", r->collectives_built);
    if (with_collectives) return;
    tj_array_begin(j, "collectives");
    tj_array_end(j);
    tj_object_end(j);
    tj_finish(j);
}

void bench_json_document(FILE *f, const bench_config *cfg, const bench_report *r)
{
    tool_json j;
    tj_init(&j, f);
    bench_json_head(&j, r->mode ? r->mode : "ops", cfg, r);
    bench_json_tail(&j, r, 0);
}

int bench_write_json(const char *path, const bench_config *cfg, const bench_report *r)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 0;
    }
    bench_json_document(f, cfg, r);
    if (fclose(f) != 0) {
        perror(path);
        return 0;
    }
    return 1;
}
