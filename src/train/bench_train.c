/* `strata-bench train`: the trainer's step time, tokens/s and MFU for a named config on one
 * backend. It drives train_run (src/train) on random byte data written to a temporary file, reads
 * the per-step times from the trainer's JSON-lines log, and leaves out the first step (graph
 * planning, kernel builds). Flops per token: 6 P + 12 L C T (docs/bench.md).
 * Built as the module libstrata-bench-train.so, which strata-bench (src/tools/bench) dlopens for
 * this sub-command only; the bench_* calls go back into strata-bench. */
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

static const char USAGE[] =
    "usage: strata-bench train --model tiny|gpt-25m|gpt-deep|gpt2-124m [--batch B] [--seq T] [--steps N]\n"
    "       [--grad-accum A] [--backend NAME] [--dtype f32|bf16] [--peak-gflops X] [--json FILE]\n"
    "       [--peer torch|none] [--peer-modes f32,bf16] [--peer-timeout S]\n"
    "  --peer torch: PyTorch's CPU training of the same model and batch in the same run (default none)\n"
    "  (scripts/torch_peer.py via STRATA_PYTHON, the repository's .venv or python3), skipped with\n"
    "  the reason when torch is not importable; --peer-timeout: seconds before it is killed (1800).\n"
    "  under mpirun (or scripts/emulate-cluster.sh), per partitioning scheme, measured beside the planner:\n"
    "       [--partition LIST] [--machine-file F] [--probe-steps N] [--overlap on|off|both]\n"
    "  LIST: scheme names separated by ',' (ddp,zero3,...), and key=value schemes separated by ';'\n"
    "  (\"zero3;params=gcd,grads=node,optim=world\"); default: every named scheme that fits.\n"
    "  --overlap: the shard engine's prefetch and overlap (default on); both runs each scheme off, then\n"
    "  on, and checks the on step against 1.15 x max(compute, communication) of the off one.\n";

/* Parses a non-negative integer option; 0 with a message when it is not one. */
static int int_arg(const char *k, const char *v, int64_t *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < 1 || x > (1LL << 40)) {
        fprintf(stderr, "strata-bench train: %s needs a positive integer, got '%s'\n", k, v);
        return 0;
    }
    *out = x;
    return 1;
}

static int peer_modes_ok(const char *v)
{
    return !strcmp(v, "f32,bf16") || !strcmp(v, "bf16,f32") || !strcmp(v, "f32") || !strcmp(v, "bf16");
}

static int parse(int argc, char **argv, train_args *a)
{
    *a = (train_args){.model = "tiny", .batch = 4, .seq = 64, .steps = 0, .grad_accum = 1, .probe_steps = 3,
                     .overlap = 1, .dtype = "f32", .peer = "none", .peer_modes = "f32,bf16", .peer_timeout = 1800};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "strata-bench train: missing value after '%s'\n", k);
            return 0;
        }
        i++;
        int ok = 1;
        if (strcmp(k, "--model") == 0) a->model = v;
        else if (strcmp(k, "--backend") == 0) a->backend = v;
        else if (strcmp(k, "--json") == 0) a->json = v;
        else if (strcmp(k, "--partition") == 0) a->partition = v;
        else if (strcmp(k, "--machine-file") == 0) a->machine_file = v;
        else if (strcmp(k, "--batch") == 0) ok = int_arg(k, v, &a->batch);
        else if (strcmp(k, "--seq") == 0) ok = int_arg(k, v, &a->seq);
        else if (strcmp(k, "--steps") == 0) ok = int_arg(k, v, &a->steps);
        else if (strcmp(k, "--grad-accum") == 0) ok = int_arg(k, v, &a->grad_accum);
        else if (strcmp(k, "--probe-steps") == 0) ok = int_arg(k, v, &a->probe_steps);
        else if (strcmp(k, "--peak-gflops") == 0) a->peak = atof(v);
        else if (strcmp(k, "--overlap") == 0) {
            a->overlap = !strcmp(v, "off") ? 0 : !strcmp(v, "on") ? 1 : !strcmp(v, "both") ? 2 : -1;
            if (a->overlap < 0) {
                fprintf(stderr, "strata-bench train: --overlap must be on, off or both, got '%s'\n", v);
                return 0;
            }
        }
        else if (strcmp(k, "--dtype") == 0) a->dtype = v, ok = !strcmp(v, "f32") || !strcmp(v, "bf16");
        else if (strcmp(k, "--peer") == 0) a->peer = v, ok = !strcmp(v, "torch") || !strcmp(v, "none");
        else if (strcmp(k, "--peer-modes") == 0) a->peer_modes = v, ok = peer_modes_ok(v);
        else if (strcmp(k, "--peer-timeout") == 0) a->peer_timeout = atof(v), ok = a->peer_timeout > 0;
        else {
            fprintf(stderr, "strata-bench train: unknown argument '%s'\n%s", k, USAGE);
            return 0;
        }
        if (!ok) {
            fprintf(stderr, "strata-bench train: bad value '%s' for %s\n%s", v, k, USAGE);
            return 0;
        }
    }
    if (a->steps == 1) {
        fprintf(stderr, "strata-bench train: --steps must be >= 2 (the first is not timed)\n");
        return 0;
    }
    return 1;
}

int bench_train_write_data(char *path, int64_t seq)
{
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) return 0;
    unsigned x = 12345;
    for (int64_t i = 0; i < 8 * (seq + 1); i++) {
        x = x * 1103515245u + 12345u;
        fputc((int)(x >> 16) & 0xff, f);
    }
    return fclose(f) == 0;
}

/* Step times from the log's {"step": N, ..., "ms": X} lines, the first step left out. */
static int read_steps(const char *path, bench_train_result *t)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    double ms[4096];
    int n = 0, seen = 0;
    while (f && fgets(line, sizeof line, f) && n < 4096) {
        const char *p = strstr(line, "\"ms\":");
        if (!p) continue;
        if (seen++ > 0) ms[n++] = atof(p + 5);
    }
    if (f) fclose(f);
    if (n == 0) return 0;
    bench_stats s;
    bench_summarise(ms, n, &s);
    t->timed_steps = n;
    t->ms_median = s.median, t->ms_min = s.min, t->ms_max = s.max;
    return 1;
}

static void model_figures(bench_train_result *t)
{
    gpt2_config g;
    st_param_spec *specs;
    int n;
    if (gpt2_config_named(t->model, &g) != ST_OK || gpt2_param_specs(&g, 1, &specs, &n) != ST_OK) return;
    for (int i = 0; i < n; i++) {
        int64_t e = 1;
        for (int k = 0; k < specs[i].ndim; k++) e *= specs[i].shape[k];
        t->n_params += e;
    }
    free(specs);
    t->flops_per_token = 6.0 * (double)t->n_params + 12.0 * g.L * (double)g.C * (double)t->seq;
}

/* The MFU reference: the user's figure, the host FMA probe on the cpu backend, else the device's. */
static void train_peak(const train_args *a, bench_report *r, bench_train_result *t, const st_device_props *p)
{
    t->peak_src = "none";
    if (a->peak > 0) {
        t->peak_gflops = a->peak, t->peak_src = "user";
    } else if (strcmp(t->backend, "cpu") == 0) {
        bench_config cfg = {.quick = 1, .budget_s = 0.1, .min_reps = 3, .max_reps = 10};
        bench_probe_fma(&cfg, r);
        if (r->peak_gflops > 0) t->peak_gflops = r->peak_gflops, t->peak_src = "probe";
    } else if (p->peak_gflops_f32 > 0) {
        t->peak_gflops = p->peak_gflops_f32, t->peak_src = "device";
    }
}

static void run_training(const train_args *a, bench_train_result *t)
{
    char data[] = "/tmp/strata-bench-data-XXXXXX", log[] = "/tmp/strata-bench-log-XXXXXX";
    int lfd = mkstemp(log);
    if (lfd >= 0) close(lfd);
    if (lfd < 0 || !bench_train_write_data(data, a->seq)) {
        snprintf(t->error, sizeof t->error, "cannot write temporary files in /tmp");
        return;
    }
    train_opts o;
    train_opts_default(&o);
    o.data = data, o.log = log, o.model = a->model;
    o.batch = a->batch, o.seq = a->seq, o.seq_set = 1, o.steps = a->steps, o.grad_accum = a->grad_accum;
    o.bf16 = strcmp(a->dtype, "bf16") == 0;
    char err[512] = "";
    fprintf(stderr, "strata-bench train: %s %s, B=%lld T=%lld, %lld steps on %s\n", a->model, a->dtype,
            (long long)a->batch, (long long)a->seq, (long long)a->steps, t->device);
    if (train_run(&o, isatty(2) ? stderr : NULL, NULL, err, sizeof err) != 0) snprintf(t->error, sizeof t->error, "%s", err);
    else if (!read_steps(log, t)) snprintf(t->error, sizeof t->error, "no step times in the trainer's log");
    else t->ok = 1;
    unlink(data);
    unlink(log);
}

/* Strata's figures, then the peer's beside them (run after Strata's steps, never during). */
static void report_figures(const train_args *a, bench_train_result *t)
{
    if (!t->ok) {
        fprintf(stderr, "strata-bench train: %s\n", t->error);
        snprintf(t->peer.skip, sizeof t->peer.skip, "Strata's own run failed");
        return;
    }
    t->tokens_per_s = (double)(a->batch * a->seq) / (t->ms_median * 1e-3);
    t->achieved_gflops = t->flops_per_token * t->tokens_per_s * 1e-9;
    t->mfu = t->peak_gflops > 0 ? t->achieved_gflops / t->peak_gflops : NAN;
    printf("%-10s %-8s %4s %5s %10s %10s %10s %12s %10s %8s\n", "model", "device", "B", "T", "params", "step ms",
           "(min-max)", "tokens/s", "GFLOP/s", "MFU");
    printf("%-10s %-8s %4lld %5lld %9.1fM %10.1f %4.0f-%-5.0f %12.0f %10.1f %7.1f%%  (peak %.0f GFLOP/s, %s; %s)\n",
           t->model, t->device, (long long)t->batch, (long long)t->seq, (double)t->n_params * 1e-6, t->ms_median,
           t->ms_min, t->ms_max, t->tokens_per_s, t->achieved_gflops, 100.0 * (isnan(t->mfu) ? 0 : t->mfu),
           t->peak_gflops, t->peak_src, t->dtype);
    fflush(stdout);
    bench_peer_opts po = {.enabled = strcmp(a->peer, "torch") == 0, .modes = a->peer_modes,
                          .timeout_s = a->peer_timeout};
    bench_peer_run(&po, t);
    bench_peer_print(t);
}

/* Started by a launcher: MPI's ranks, even a single one. */
static int launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

__attribute__((visibility("default"))) int bench_train_main(int argc, char **argv)
{
    train_args a;
    static bench_report report;
    bench_report *r = &report;
    bench_train_result *t = &r->train;
    if (!parse(argc, argv, &a)) return 2;
    if (a.backend) setenv("STRATA_BACKEND", a.backend, 1);
    if (launched()) { /* under mpirun: the schemes, measured beside the planner */
        st_comm *comm = NULL;
        if (st_comm_init_world(&comm) != ST_OK) {
            fprintf(stderr, "strata-bench train: %s\n", st_last_error());
            return 1;
        }
        int multi = st_comm_size(comm) > 1, rc = 0;
        if (multi) {
            if (!a.steps) a.steps = 4;
            rc = bench_train_dist(&a, comm, r);
        }
        st_comm_destroy(comm);
        if (multi) {
            st_shutdown();
            return rc;
        }
    }
    if (!a.steps) a.steps = 10;
    if (a.partition || a.machine_file) {
        fprintf(stderr, "strata-bench train: --partition and --machine-file need several ranks (mpirun)\n");
        return 2;
    }
    st_device *dev;
    st_device_props props;
    if (st_device_default(&dev) != ST_OK || st_device_props_get(dev, &props) != ST_OK) {
        fprintf(stderr, "strata-bench train: no device: %s\n", st_last_error());
        return 1;
    }
    snprintf(t->model, sizeof t->model, "%s", a.model);
    snprintf(t->device, sizeof t->device, "%s", st_device_label(dev));
    snprintf(t->backend, sizeof t->backend, "%s", st_device_backend(dev));
    snprintf(t->dtype, sizeof t->dtype, "%s", a.dtype);
    t->batch = a.batch, t->seq = a.seq, t->steps = a.steps;
    model_figures(t);
    train_peak(&a, r, t, &props);
    run_training(&a, t);
    r->has_train = 1;
    r->mode = "train";
    bench_env_collect(&r->env);
    report_figures(&a, t);
    bench_config cfg = {0};
    int ok = !a.json || bench_write_json(a.json, &cfg, r);
    st_shutdown();
    return t->ok && ok ? 0 : 1;
}
