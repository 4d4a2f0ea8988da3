/* strata-bench train under mpirun: each partitioning scheme is trained by train_run on every rank
 * and measured (step time, time inside each level's collectives, compute, memory per rank, bytes
 * per level), then set beside the planner's prediction for the same job (st_plan_evaluate). The
 * planner's machine comes from --machine-file (strata-bench collectives --probe writes one); when
 * it gives no compute rate, a compute probe runs first: every rank trains the model alone, at the
 * same time, and the forward + backward rate and the optimizer's streaming rate of that run become
 * the machine's compute figures, with their source saying so. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench_train.h"
#include "gpt2.h"
#include "train_dist.h"
#include "trainer.h"

typedef struct dist_ctx {
    const train_args *a;
    st_comm *comm;
    int rank0;
    st_device *cpu;
    gpt2_config cfg;
    int64_t n_params;
    char data[64];
    st_plan_input in;
    st_partition parts[BENCH_MAX_SCHEMES];
    bench_train_dist_result *res;
} dist_ctx;

static const char *const level_names[ST_LEVEL_COUNT] = {"gcd", "gpu", "node"};

/* Averages n <= 4 doubles over the ranks (f32 on the wire: figures, not state). */
static st_status rank_mean(dist_ctx *x, double *v, int n)
{
    int64_t shape = n;
    st_tensor *t = NULL;
    float f[4];
    for (int i = 0; i < n; i++) f[i] = (float)v[i];
    st_status s = st_tensor_create(x->cpu, ST_F32, 1, &shape, &t);
    if (!s) s = st_tensor_write(t, f, sizeof(float) * (size_t)n);
    if (!s) s = st_comm_all_reduce(x->comm, t, ST_REDUCE_AVG, ST_SCOPE_WORLD);
    if (!s) s = st_tensor_read(t, f, sizeof(float) * (size_t)n);
    for (int i = 0; !s && i < n; i++) v[i] = f[i];
    st_tensor_destroy(t);
    return s;
}

static void base_opts(const dist_ctx *x, train_opts *o)
{
    train_opts_default(o);
    o->data = x->data, o->model = x->a->model;
    o->batch = x->a->batch, o->seq = x->a->seq, o->seq_set = 1, o->grad_accum = x->a->grad_accum;
}

/* The compute probe: every rank trains alone (no communicator) at once, with per-op profiling;
 * the step less the optimizer is forward + backward, the optimizer's time gives its stream rate. */
static int compute_probe(dist_ctx *x)
{
    train_opts o;
    train_stats st;
    char err[512] = "";
    base_opts(x, &o);
    o.steps = x->a->probe_steps + 1, o.profile = 1, o.stats = &st;
    double v[2] = {0, 0}, bad = 0;
    rank_mean(x, &bad, 1); /* start together */
    int rc = train_run(&o, NULL, NULL, err, sizeof err);
    if (!rc) {
        double opt_ms = 0;
        for (int i = 0; i < st.n_op_times; i++)
            if (strncmp(st.op_times[i].op, "optimizer", 9) == 0) opt_ms = st.op_times[i].ms / (double)st.timed_steps;
        v[0] = (st.ms_median - opt_ms) * 1e-3, v[1] = opt_ms * 1e-3;
    }
    double fails = rc != 0;
    if (rank_mean(x, &fails, 1) != ST_OK || fails > 0) {
        if (x->rank0) fprintf(stderr, "strata-bench train: compute probe failed: %s\n", rc ? err : "on another rank");
        return -1;
    }
    if (rank_mean(x, v, 2) != ST_OK) return -1;
    bench_train_dist_result *res = x->res;
    res->probe_fwdbwd_s = v[0], res->probe_optim_s = v[1];
    st_plan_machine *m = &x->in.machine;
    double tokens = (double)(x->a->batch * x->a->seq * x->a->grad_accum);
    double per_token = 6.0 * (double)x->n_params + 12.0 * x->cfg.L * (double)x->cfg.C * (double)x->a->seq;
    m->compute_gflops = tokens * per_token / v[0] / 1e9;
    snprintf(m->compute_source, ST_PLAN_SOURCE_LEN, "measured here: forward+backward of %s, every rank alone at once",
             x->a->model);
    if (v[1] > 0) {
        m->stream_gbs = (double)x->n_params * (2 * 4 + 4 + 2 * 8) / v[1] / 1e9;
        snprintf(m->stream_source, ST_PLAN_SOURCE_LEN, "measured here: AdamW of all %lld parameters, every rank at once",
                 (long long)x->n_params);
    }
    return 0;
}

/* The planner's input for this job: the communicator's shape, the machine (hwloc's figures, the
 * machine file over them), the model as the trainer builds it, f32 state and AdamW. */
static int plan_input(dist_ctx *x)
{
    st_plan_input *in = &x->in;
    st_plan_input_init(in);
    st_comm_shape(x->comm, &in->shape);
    st_topo *t = NULL;
    if (st_topo_load(&t) == ST_OK) st_plan_machine_from_topo(t, &in->machine);
    st_topo_destroy(t);
    if (x->a->machine_file && st_plan_machine_load(x->a->machine_file, &in->machine) != ST_OK) {
        if (x->rank0) fprintf(stderr, "strata-bench train: --machine-file: %s\n", st_last_error());
        return -1;
    }
    in->model = (st_plan_model){.params = (uint64_t)x->n_params, .layers = x->cfg.L, .hidden = x->cfg.C,
                                .heads = x->cfg.H, .seq = (int)x->a->seq, .vocab = x->cfg.Vp};
    snprintf(in->model.name, sizeof in->model.name, "%s", x->a->model);
    in->param_bytes = in->grad_bytes = 4;
    in->optim_bytes = st_partition_optim_bytes(4);
    in->micro_batches = (int)x->a->grad_accum;
    in->micro_batch_size = (int)x->a->batch;
    return 0;
}

/* One row per scheme, or two (off, then on) with --overlap both. */
static int add_scheme(dist_ctx *x, const char *text)
{
    bench_train_dist_result *res = x->res;
    int both = x->a->overlap == 2;
    for (int k = 0; k <= both; k++) {
        if (res->n_schemes == BENCH_MAX_SCHEMES) {
            if (x->rank0) fprintf(stderr, "strata-bench train: more than %d schemes\n", BENCH_MAX_SCHEMES);
            return -1;
        }
        st_partition *p = &x->parts[res->n_schemes];
        if (st_partition_parse(text, p) != ST_OK) {
            if (x->rank0) fprintf(stderr, "strata-bench train: --partition '%s': %s\n", text, st_last_error());
            return -1;
        }
        bench_scheme_result *s = &res->schemes[res->n_schemes++];
        const char *name = st_partition_name(p);
        s->overlap = both ? k : x->a->overlap;
        snprintf(s->scheme, sizeof s->scheme, "%s%s", name ? name : "custom", both ? (k ? "/on" : "/off") : "");
        st_partition_format(p, s->partition, sizeof s->partition);
    }
    return 0;
}

/* --partition LIST: ';' separates items; an item with '=' is one key=value scheme, others are
 * ','-separated names. Without a list, every named scheme the planner says fits. */
static int scheme_list(dist_ctx *x)
{
    if (!x->a->partition) {
        for (int i = 0; i < st_partition_scheme_count(); i++) {
            const char *name;
            st_partition p;
            st_plan_row row;
            if (st_partition_scheme(i, &name, &p) != ST_OK) continue;
            if (st_plan_evaluate(&x->in, &p, &row) == ST_OK && !row.fits) {
                if (x->rank0) printf("%s left out: the planner puts it at %.1f MiB per rank, more than %.1f GiB\n", name,
                                     row.memory / 1048576.0, x->in.machine.memory_gib);
                continue;
            }
            if (add_scheme(x, name)) return -1;
        }
        return 0;
    }
    char *list = strdup(x->a->partition), *save = NULL;
    int rc = list ? 0 : -1;
    for (char *item = list ? strtok_r(list, ";", &save) : NULL; item && !rc; item = strtok_r(NULL, ";", &save)) {
        if (strchr(item, '=')) {
            rc = add_scheme(x, item);
            continue;
        }
        char *save2 = NULL;
        for (char *n = strtok_r(item, ",", &save2); n && !rc; n = strtok_r(NULL, ",", &save2)) rc = add_scheme(x, n);
    }
    free(list);
    return rc;
}

/* The number after "key": in a JSON line, or NAN. */
static double field(const char *line, const char *key)
{
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static int cmp_double(const void *a, const void *b)
{
    double u = *(const double *)a, v = *(const double *)b;
    return u < v ? -1 : u > v;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Rank 0's log of one scheme: every step but the first, and the summary line. */
enum { MAX_STEPS = 1024 };
static int read_log(const char *path, bench_scheme_result *s, int64_t *P)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    static double step[MAX_STEPS], lv[ST_LEVEL_COUNT][MAX_STEPS], comp[MAX_STEPS];
    char line[2048];
    int n = 0, seen = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"summary\"")) {
            s->peak_bytes = (uint64_t)field(line, "peak_bytes");
            s->state_bytes = (uint64_t)(field(line, "mem_params") + field(line, "mem_grads") + field(line, "mem_optim") +
                                        field(line, "mem_secondary"));
            s->working_bytes = (uint64_t)field(line, "working_bytes");
            *P = (int64_t)field(line, "partitioned_params");
            continue;
        }
        double ms = field(line, "ms");
        if (isnan(ms) || seen++ == 0 || n == MAX_STEPS) continue;
        step[n] = ms * 1e-3;
        double total = 0;
        for (int l = 0; l < ST_LEVEL_COUNT; l++) {
            char key[32];
            snprintf(key, sizeof key, "comm_ms_%s", level_names[l]);
            lv[l][n] = field(line, key) * 1e-3;
            total += lv[l][n];
            snprintf(key, sizeof key, "bytes_%s", level_names[l]);
            s->bytes[l] = (uint64_t)field(line, key);
        }
        comp[n] = step[n] - total;
        n++;
    }
    fclose(f);
    if (n == 0) return -1;
    s->timed_steps = n;
    double lo = step[0], hi = step[0];
    for (int i = 1; i < n; i++) lo = fmin(lo, step[i]), hi = fmax(hi, step[i]);
    s->step_s = median(step, n), s->step_min_s = lo, s->step_max_s = hi;
    s->comm_total_s = 0;
    for (int l = 0; l < ST_LEVEL_COUNT; l++) s->comm_s[l] = median(lv[l], n), s->comm_total_s += s->comm_s[l];
    s->compute_s = median(comp, n);
    return 0;
}

/* The engine's units from the log's summary ("unit_sizes", balanced layout): their count, 0 without. */
enum { MAX_UNITS = 4096 };
static int read_units(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "r");
    static char line[1 << 16];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *u = strstr(line, "\"unit_sizes\": \"");
        if (!strstr(line, "\"summary\"") || !u)
            continue;
        u += strlen("\"unit_sizes\": \"");
        char *q = strchr(u, '"');
        if (q)
            *q = 0;
        n = st_partition_units_parse(u, out, MAX_UNITS);
        n = n < 0 ? 0 : n;
    }
    if (f)
        fclose(f);
    return n;
}

/* Returns train_run's status (every rank's agrees). */
static int run_scheme(dist_ctx *x, int i)
{
    bench_scheme_result *s = &x->res->schemes[i];
    char log[] = "/tmp/strata-bench-dist-log-XXXXXX";
    train_opts o;
    base_opts(x, &o);
    o.steps = x->a->steps, o.partition = s->partition, o.comm = x->comm, o.no_overlap = !s->overlap;
    if (x->rank0) {
        int fd = mkstemp(log);
        if (fd >= 0) close(fd);
        o.log = fd >= 0 ? log : NULL;
        fprintf(stderr, "strata-bench train: %s (%s), %lld steps\n", s->scheme, s->partition, (long long)o.steps);
    }
    int rc = train_run(&o, NULL, NULL, s->error, sizeof s->error);
    if (x->rank0) {
        int64_t P = x->n_params;
        if (!rc && (!o.log || read_log(log, s, &P) != 0))
            snprintf(s->error, sizeof s->error, "no step times in the trainer's log");
        else if (!rc)
            s->ok = 1;
        if (P != x->res->partitioned_params && s->ok) x->res->partitioned_params = P;
        st_plan_input in = x->in;
        in.model.params = (uint64_t)P; /* the engine's flat vector: what the counters count */
        in.overlap = s->overlap;
        static uint64_t units[MAX_UNITS]; /* the per-unit closed forms (docs/partitioning.md, 9) */
        in.n_units = o.log && s->ok ? read_units(log, units) : 0;
        in.unit_numel = in.n_units ? units : NULL;
        if (st_plan_evaluate(&in, &x->parts[i], &s->pred) != ST_OK)
            snprintf(s->error, sizeof s->error, "planner: %s", st_last_error()), s->ok = 0;
        if (o.log) unlink(log);
    }
    return rc;
}

/* Ordering: the measured and predicted step times rank the schemes alike; a pair counts as
 * significant when the measured times differ by more than either's spread (max - min). */
static void judge(bench_train_dist_result *res)
{
    res->order_same = 1, res->significant_pairs = res->misordered_pairs = 0, res->max_step_error = 0;
    for (int i = 0; i < res->n_schemes; i++) {
        const bench_scheme_result *a = &res->schemes[i];
        if (!a->ok) continue;
        res->max_step_error = fmax(res->max_step_error, fabs(a->pred.step_s - a->step_s) / a->step_s);
        for (int j = i + 1; j < res->n_schemes; j++) {
            const bench_scheme_result *b = &res->schemes[j];
            if (!b->ok) continue;
            int same = (a->step_s < b->step_s) == (a->pred.step_s < b->pred.step_s);
            if (!same) res->order_same = 0;
            double spread = fmax(a->step_max_s - a->step_min_s, b->step_max_s - b->step_min_s);
            if (fabs(a->step_s - b->step_s) > spread) {
                res->significant_pairs++;
                res->misordered_pairs += !same;
            }
        }
    }
}

static void print_machine(const bench_train_dist_result *res)
{
    const st_plan_machine *m = &res->machine;
    printf("planner machine '%s':", m->name);
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        int p = l == 0 ? res->shape.gcds_per_gpu : l == 1 ? res->shape.gpus_per_node : res->shape.nodes;
        if (p > 1) printf(" %s %.4g GB/s%s %.3g us (%s) |", level_names[l], m->bw_gbs[l], l == 2 ? " per node" : "",
                          m->lat_us[l], m->bw_source[l]);
    }
    printf(" memory %.2f GiB\n  compute %.4g GFLOP/s per rank (%s)\n  optimizer stream %.4g GB/s per rank (%s)\n",
           m->memory_gib, m->compute_gflops, m->compute_source, m->stream_gbs, m->stream_source);
}

static double pct(double pred, double meas) { return meas > 0 ? 100.0 * (pred - meas) / meas : NAN; }

/* --overlap both: each scheme's step with overlap against max(compute, communication) of its run
 * without (issue 17's target: at most 1.15 times), the planner's prediction beside it. */
static void print_overlap(const bench_train_dist_result *res)
{
    for (int i = 0; i + 1 < res->n_schemes; i++) {
        const bench_scheme_result *off = &res->schemes[i], *on = &res->schemes[i + 1];
        if (off->overlap || !on->overlap || strcmp(off->partition, on->partition) != 0 || !off->ok || !on->ok)
            continue;
        double bound = fmax(off->compute_s, off->comm_total_s), ratio = on->step_s / bound;
        printf("overlap %-10s: off %.3f s (compute %.3f + comm %.3f, planner %.3f) -> on %.3f s (planner %.3f) = "
               "%.2f x max(compute, comm) of the run without: %s (target <= 1.15)\n", on->partition, off->step_s,
               off->compute_s, off->comm_total_s, off->pred.step_s, on->step_s, on->pred.step_s, ratio,
               ratio <= 1.15 ? "met" : "MISSED");
    }
}

static void print_results(const dist_ctx *x)
{
    const bench_train_dist_result *res = x->res;
    const train_args *a = x->a;
    printf("\nstrata-bench train: %s (%.1fM parameters), %d ranks = %d nodes x %d GPUs x %d GCDs, per rank B=%lld "
           "T=%lld A=%lld, f32, median of %lld timed steps per scheme\n", a->model, x->n_params / 1e6, res->ranks,
           res->shape.nodes, res->shape.gpus_per_node, res->shape.gcds_per_gpu, (long long)a->batch,
           (long long)a->seq, (long long)a->grad_accum, (long long)a->steps - 1);
    print_machine(res);
    printf("\n%-10s | %-37s | %-44s | %-16s | %-22s | %s\n", "scheme", "step s: measured (min-max) pred err",
           "comm s gcd / gpu / node: measured (predicted)", "compute s (pred)", "peak MiB (pred) err", "bytes");
    for (int i = 0; i < res->n_schemes; i++) {
        const bench_scheme_result *s = &res->schemes[i];
        if (!s->ok) {
            printf("%-10s | failed: %s\n", s->scheme, s->error);
            continue;
        }
        const st_plan_row *p = &s->pred;
        int bytes_ok = 1;
        for (int l = 0; l < ST_LEVEL_COUNT; l++) bytes_ok &= s->bytes[l] == p->traffic.step[l].sent;
        printf("%-10s | %7.4f (%6.4f-%6.4f) %7.4f %+5.0f%% |", s->scheme, s->step_s, s->step_min_s, s->step_max_s,
               p->step_s, pct(p->step_s, s->step_s));
        for (int l = 0; l < ST_LEVEL_COUNT; l++) printf(" %6.3f (%6.3f)", s->comm_s[l], p->level_s[l]);
        printf(" | %6.3f (%6.3f) | %7.1f (%7.1f) %+4.0f%% | %s\n", s->compute_s, p->compute_s, s->peak_bytes / 1048576.0,
               p->memory / 1048576.0, pct((double)p->memory, (double)s->peak_bytes),
               bytes_ok ? "= closed forms" : "DIFFER from the closed forms");
    }
    printf("\nmeasured order:");
    int idx[BENCH_MAX_SCHEMES], n = 0;
    for (int i = 0; i < res->n_schemes; i++)
        if (res->schemes[i].ok) idx[n++] = i;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) /* insertion sort by measured (pass 0) or predicted (pass 1) time */
            for (int j = i; j > 0; j--) {
                const bench_scheme_result *u = &res->schemes[idx[j - 1]], *v = &res->schemes[idx[j]];
                double tu = pass ? u->pred.step_s : u->step_s, tv = pass ? v->pred.step_s : v->step_s;
                if (tv < tu) { int t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t; }
            }
        for (int i = 0; i < n; i++) printf(" %s%s", res->schemes[idx[i]].scheme, i + 1 < n ? " <" : "");
        printf(pass ? "\n" : "\npredicted order:");
    }
    printf("pairs ordered differently:");
    int swapped = 0;
    for (int i = 0; i < res->n_schemes; i++)
        for (int j = i + 1; j < res->n_schemes; j++) {
            const bench_scheme_result *u = &res->schemes[i], *v = &res->schemes[j];
            if (!u->ok || !v->ok || (u->step_s < v->step_s) == (u->pred.step_s < v->pred.step_s)) continue;
            double spread = fmax(u->step_max_s - u->step_min_s, v->step_max_s - v->step_min_s);
            printf(" %s/%s (measured %.1f%% apart, %s)", u->scheme, v->scheme,
                   100 * fabs(u->step_s - v->step_s) / fmin(u->step_s, v->step_s),
                   fabs(u->step_s - v->step_s) > spread ? "MORE than their spread" : "within their spread");
            swapped++;
        }
    printf("%s\n", swapped ? "" : " none");
    print_overlap(res);
    printf("targets: every prediction within 25%% of the measured step: %s (largest error %.1f%%); the planner ranks "
           "the schemes in the measured order: %s (%d of %d pairs that differ by more than their spread misordered)\n",
           res->max_step_error <= 0.25 ? "met" : "MISSED", 100 * res->max_step_error,
           res->misordered_pairs == 0 ? (res->order_same ? "met, exactly" : "met, up to pairs within the noise")
                                      : "MISSED", res->misordered_pairs, res->significant_pairs);
}

int bench_train_dist(const train_args *a, st_comm *comm, bench_report *r)
{
    static bench_train_dist_result result;
    dist_ctx x = {.a = a, .comm = comm, .rank0 = st_comm_rank(comm) == 0, .res = &result};
    memset(&result, 0, sizeof result);
    r->dist = &result;
    st_param_spec *specs = NULL;
    int n = 0;
    if (gpt2_config_named(a->model, &x.cfg) != ST_OK || gpt2_param_specs(&x.cfg, 1, &specs, &n) != ST_OK) {
        if (x.rank0) fprintf(stderr, "strata-bench train: unknown model '%s' (tiny, gpt-25m, gpt-deep, gpt2-124m)\n", a->model);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        int64_t e = 1;
        for (int k = 0; k < specs[i].ndim; k++) e *= specs[i].shape[k];
        x.n_params += e;
    }
    free(specs);
    if (st_device_get("cpu", 0, &x.cpu) != ST_OK) return 1;
    dist_bind(comm, stderr);
    result.ranks = st_comm_size(comm);
    st_comm_shape(comm, &result.shape);
    result.partitioned_params = x.n_params;
    snprintf(x.data, sizeof x.data, "/tmp/strata-bench-data-XXXXXX");
    int rc = bench_train_write_data(x.data, a->seq) ? 0 : -1;
    if (!rc) rc = plan_input(&x);
    if (!rc && !(x.in.machine.compute_gflops > 0)) rc = compute_probe(&x);
    if (!rc) rc = scheme_list(&x);
    int failed = 0;
    for (int i = 0; !rc && i < result.n_schemes; i++) failed |= run_scheme(&x, i) != 0;
    unlink(x.data);
    if (rc) return 1;
    result.machine = x.in.machine;
    judge(&result);
    int ok = !failed;
    for (int i = 0; x.rank0 && i < result.n_schemes; i++) ok &= result.schemes[i].ok;
    if (x.rank0) {
        print_results(&x);
        bench_train_result *t = &r->train;
        st_device *dev = NULL;
        if (st_device_default(&dev) == ST_OK) {
            snprintf(t->device, sizeof t->device, "%s", st_device_label(dev));
            snprintf(t->backend, sizeof t->backend, "%s", st_device_backend(dev));
        }
        snprintf(t->model, sizeof t->model, "%s", a->model);
        t->batch = a->batch, t->seq = a->seq, t->steps = a->steps, t->n_params = x.n_params;
        t->flops_per_token = 6.0 * (double)x.n_params + 12.0 * x.cfg.L * (double)x.cfg.C * (double)a->seq;
        r->has_train = 1;
        r->mode = "train";
        bench_env_collect(&r->env);
        bench_config cfg = {0};
        if (a->json && !bench_write_json(a->json, &cfg, r)) ok = 0;
    }
    return ok ? 0 : 1;
}
