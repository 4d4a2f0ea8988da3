/* strata-bench: times Strata's ops on every device present against yardsticks taken in the same
 * run (the device's FMA and bandwidth probes, the vendor's own libraries), and dispatches the
 * sub-commands train, collectives and compare. A benchmark, not a test: it exits 0 when a target
 * is missed, non-zero on bad usage, when no device can be used, or when output cannot be written. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"

#if defined(__has_include)
#if __has_include("bench_coll.h")
#include "bench_coll.h"
#define STRATA_BENCH_HAVE_COLL 1
#endif
#endif

/* issue 3's targets for the CPU backend. */
#define TARGET_MATMUL 0.90
#define TARGET_ELEMENTWISE 0.85
#define TARGET_ROWOPS 0.80
#define TARGET_ATTENTION 0.50

static void usage(FILE *f)
{
    fprintf(f, "usage: strata-bench [--quick] [--backend LIST] [--suites LIST] [--json FILE] [--roofline FILE] [--progress]\n"
               "                    [--peak-gflops [DEVICE=]X] [--peak-gbs [DEVICE=]X]\n"
               "       strata-bench train --model tiny|gpt2-124m [--batch B] [--seq T] [--steps N] [--json FILE]\n"
               "       strata-bench collectives [--json FILE] [ARGS...]   (under mpirun)\n"
               "       strata-bench compare A.json B.json [...] [--svg FILE] [--roofline FILE]\n\n"
               "Times every op of the op table at the shapes of the tiny and gpt2-124m configs and square\n"
               "matmuls on every device of every backend present (absent ones are listed as skipped), with\n"
               "the vendor libraries (OpenBLAS, CLBlast, cuBLAS) and the device's probes in the same run.\n\n"
               "  --quick           CI: the tiny config and matmuls up to 1024, few repetitions\n"
               "  --backend LIST    only these backends (comma-separated names)\n"
               "  --suites LIST     only these suites: square, tiny, gpt2-124m, stream (the triad, elementwise\n"
               "                    and row ops), attention (T=1024 against a 1024^3 matmul); default all\n"
               "  --json FILE       every figure and the environment (docs/bench.md)\n"
               "  --roofline FILE   an SVG roofline of this run\n"
               "  --progress        progress line on stderr (default: when stderr is a terminal)\n"
               "  --peak-gflops [DEVICE=]X, --peak-gbs [DEVICE=]X   the device's peak, given by you\n"
               "                    (DEVICE like cuda:0; without it, every device but the host's probes)\n\n"
               "Threads come from OMP_NUM_THREADS (the BLAS's from OPENBLAS_NUM_THREADS too).\n");
}

static int parse_peak(const char *arg, bench_user_peak *peaks, int *n)
{
    const char *eq = strchr(arg, '=');
    char *end;
    double v = strtod(eq ? eq + 1 : arg, &end);
    if (*n == BENCH_MAX_PEAKS || *end || v <= 0) return 0;
    snprintf(peaks[*n].device, sizeof peaks[*n].device, "%.*s", eq ? (int)(eq - arg) : 0, arg);
    peaks[(*n)++].value = v;
    return 1;
}

static int parse_args(int argc, char **argv, bench_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->progress = isatty(2);
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;
        int ok = 1, takes = 1;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "--quick") == 0) {
            cfg->quick = 1, takes = 0;
        } else if (strcmp(arg, "--progress") == 0) {
            cfg->progress = 1, takes = 0;
        } else if (strcmp(arg, "--backend") == 0 && val) {
            cfg->backend = val;
        } else if (strcmp(arg, "--suites") == 0 && val) {
            cfg->suites = val;
        } else if (strcmp(arg, "--json") == 0 && val) {
            cfg->json_path = val;
        } else if (strcmp(arg, "--roofline") == 0 && val) {
            cfg->roofline_path = val;
        } else if (strcmp(arg, "--peak-gflops") == 0 && val) {
            ok = parse_peak(val, cfg->peak_gflops, &cfg->n_peak_gflops);
        } else if (strcmp(arg, "--peak-gbs") == 0 && val) {
            ok = parse_peak(val, cfg->peak_gbs, &cfg->n_peak_gbs);
        } else {
            fprintf(stderr, "strata-bench: %s '%s'\n", arg[0] == '-' && !val ? "missing value after" : "unknown argument",
                    arg);
            usage(stderr);
            return 0;
        }
        if (!ok) {
            fprintf(stderr, "strata-bench: bad value '%s' for %s (a positive number, DEVICE=X)\n", val, arg);
            return 0;
        }
        a += takes;
    }
    cfg->budget_s = cfg->quick ? 0.05 : 0.5;
    cfg->min_reps = cfg->quick ? 3 : 5;
    cfg->max_reps = cfg->quick ? 20 : 200;
    cfg->stream_elems = (int64_t)(cfg->quick ? 16 : 32) << 20; /* 64 / 128 MB an array: beyond the caches */
    return 1;
}

static int wanted(const bench_config *cfg, const char *name)
{
    if (!cfg->backend) return 1;
    size_t len = strlen(name);
    for (const char *p = cfg->backend; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, n) == 0) return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

static void skip(bench_report *r, const char *backend, const char *reason)
{
    if (r->n_skipped == BENCH_MAX_DEVICES) return;
    bench_skip *s = &r->skipped[r->n_skipped++];
    snprintf(s->backend, sizeof s->backend, "%s", backend);
    snprintf(s->reason, sizeof s->reason, "%s", reason && reason[0] ? reason : "no device");
}

/* Every device of every backend wanted; the rest recorded as skipped with the loader's reason. */
static int open_devices(const bench_config *cfg, bench_report *r)
{
    for (const char *p = cfg->backend; p && *p;) {
        char name[32];
        size_t n = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        st_backend_info bi;
        if (st_backend_info_by_name(name, &bi) != ST_OK) {
            fprintf(stderr, "strata-bench: %s\n", st_last_error());
            return 0;
        }
        p += n + (p[n] == ',');
    }
    for (int i = 0; i < st_backend_count(); i++) {
        st_backend_info bi;
        if (st_backend_info_get(i, &bi) != ST_OK || !wanted(cfg, bi.name)) continue;
        if (!bi.loaded || bi.device_count == 0) skip(r, bi.name, bi.reason);
        for (int k = 0; bi.loaded && k < bi.device_count && r->n_devs < BENCH_MAX_DEVICES; k++) {
            bench_device *d = &r->devs[r->n_devs];
            memset(d, 0, sizeof *d);
            if (st_device_get(bi.name, k, &d->dev) != ST_OK || st_device_props_get(d->dev, &d->props) != ST_OK) {
                skip(r, bi.name, st_last_error());
                continue;
            }
            snprintf(d->label, sizeof d->label, "%s", st_device_label(d->dev));
            snprintf(d->backend, sizeof d->backend, "%s", bi.name);
            r->n_devs++;
        }
    }
    if (r->n_devs == 0) fprintf(stderr, "strata-bench: no device to benchmark\n");
    return r->n_devs > 0;
}

/* A figure for this device, else one for every device (the cpu backend keeps its probes). */
static double user_peak(const bench_user_peak *peaks, int n, const char *label, int is_cpu)
{
    for (int i = 0; i < n; i++)
        if (strcmp(peaks[i].device, label) == 0) return peaks[i].value;
    for (int i = 0; i < n && !is_cpu; i++)
        if (!peaks[i].device[0]) return peaks[i].value;
    return 0;
}

/* The peaks of d: the user's figure first, then the probes (host probes for the cpu backend, the
 * vendor file's kernels elsewhere), then the device's own properties. */
static void device_peaks(const bench_config *cfg, bench_report *r, bench_device *d)
{
    int is_cpu = strcmp(d->backend, "cpu") == 0;
    double ug = user_peak(cfg->peak_gflops, cfg->n_peak_gflops, d->label, is_cpu);
    double ub = user_peak(cfg->peak_gbs, cfg->n_peak_gbs, d->label, is_cpu);
    d->peak_gflops_src = d->peak_gbs_src = "none";
    if (is_cpu) {
        d->peak_gflops = r->peak_gflops, d->peak_gflops_src = "probe";
        d->peak_gbs = r->triad_gbps, d->peak_gbs_src = "probe";
    } else if (d->vendor) {
        if (d->vendor->fma_probe && (d->peak_gflops = d->vendor->fma_probe(d, cfg)) > 0) d->peak_gflops_src = "probe";
        bench_stats t;
        double bytes = 8.0 * (double)cfg->stream_elems;
        if (d->vendor->copy && d->vendor->copy(d, cfg, bytes, &t) == ST_OK && t.min > 0)
            d->peak_gbs = bytes / t.min * 1e-9, d->peak_gbs_src = "probe";
    }
    if (d->peak_gflops <= 0 && d->props.peak_gflops_f32 > 0)
        d->peak_gflops = d->props.peak_gflops_f32, d->peak_gflops_src = "device";
    if (d->peak_gbs <= 0 && d->props.peak_gbps > 0) d->peak_gbs = d->props.peak_gbps, d->peak_gbs_src = "device";
    if (ug > 0) d->peak_gflops = ug, d->peak_gflops_src = "user";
    if (ub > 0) d->peak_gbs = ub, d->peak_gbs_src = "user";
}

/* A first matmul loads the backend's BLAS and kernels, so that the vendor file finds the same
 * library instance (OpenBLAS) and the probes run on a warm device. */
static void device_setup(const bench_config *cfg, bench_report *r, bench_device *d)
{
    int64_t shape[2] = {64, 64};
    st_tensor *a = NULL;
    if (st_tensor_create(d->dev, ST_F32, 2, shape, &a) == ST_OK && st_fill(a, 1.0) == ST_OK &&
        st_matmul(a, a, a, 0, 0, 1.0f, 0.0f) != ST_OK)
        st_clear_error();
    st_device_sync(d->dev);
    st_tensor_destroy(a);
    char why[256] = "";
    d->vendor = bench_vendor_for(d->backend, why, sizeof why);
    if (!d->vendor) snprintf(d->vendor_info, sizeof d->vendor_info, "%s", why);
    else if (!d->vendor->open(d)) d->vendor = NULL;
    device_peaks(cfg, r, d);
}

static void judge(bench_report *r, int target, bench_verdict *v)
{
    v->value = -1.0;
    v->worst[0] = '\0';
    v->result = "NOT MEASURED";
    for (int i = 0; i < r->n_rows; i++) {
        const bench_row *row = &r->rows[i];
        if (row->target != target) continue;
        double q = bench_peak_fraction(r, row);
        if (q < 0) {
            snprintf(v->worst, sizeof v->worst, "%.31s %.50s failed", row->op, row->shape);
            v->value = -1.0;
            return;
        }
        if (v->value < 0 || q < v->value) {
            v->value = q;
            snprintf(v->worst, sizeof v->worst, "%s %s", row->op, row->shape);
        }
    }
    if (v->value >= 0) v->result = v->value >= v->goal ? "OK" : "MISSED";
}

static void verdicts(bench_report *r)
{
    r->verdicts[0] = (bench_verdict){"cpu matmul N>=1024", "FMA peak", TARGET_MATMUL, 0, "", ""};
    r->verdicts[1] = (bench_verdict){"cpu elementwise", "triad", TARGET_ELEMENTWISE, 0, "", ""};
    r->verdicts[2] = (bench_verdict){"cpu row ops", "triad", TARGET_ROWOPS, 0, "", ""};
    r->verdicts[3] = (bench_verdict){"cpu attention fwd+bwd T=1024", "FMA peak", TARGET_ATTENTION, 0, "", ""};
    r->n_verdicts = 4;
    printf("\n");
    for (int i = 0; i < r->n_verdicts; i++) {
        bench_verdict *v = &r->verdicts[i];
        judge(r, i + 1, v);
        if (v->value >= 0)
            printf("%s: %.0f%% of %s (worst: %s) (target %.0f%%): %s\n", v->name, 100.0 * v->value, v->reference,
                   v->worst, 100.0 * v->goal, v->result);
        else
            printf("%s: %s (%s) (target %.0f%% of %s)\n", v->name, v->result, v->worst, 100.0 * v->goal, v->reference);
    }
}

/* Whether --suites (a comma list; unset: all) names this suite. */
static int suite_on(const bench_config *cfg, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = cfg->suites; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, n) == 0) return 1;
        p += n + (p[n] == ',');
    }
    return !cfg->suites;
}

static void run_device(const bench_config *cfg, bench_report *r, bench_device *d)
{
    device_setup(cfg, r, d);
    if (suite_on(cfg, "square")) bench_square(cfg, r, d);
    if (suite_on(cfg, "tiny")) bench_model_ops(cfg, r, d, "tiny");
    if (!cfg->quick && suite_on(cfg, "gpt2-124m")) bench_model_ops(cfg, r, d, "gpt2-124m");
    if (strcmp(d->backend, "cpu") == 0 && suite_on(cfg, "stream")) bench_stream(cfg, r, d);
    if (suite_on(cfg, "attention")) bench_attention(cfg, r, d);
    /* the CPU's probe figures only ever rise during the run */
    if (strcmp(d->backend, "cpu") == 0 && strcmp(d->peak_gflops_src, "probe") == 0) d->peak_gflops = r->peak_gflops;
    if (strcmp(d->backend, "cpu") == 0 && strcmp(d->peak_gbs_src, "probe") == 0) d->peak_gbs = r->triad_gbps;
    if (d->vendor && d->vendor->close) d->vendor->close(d);
}

/* The roofline of this run goes through the JSON document, as compare's does. */
static int write_roofline(const bench_config *cfg, const bench_report *r)
{
    char *text = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return 0;
    bench_json_document(f, cfg, r);
    fclose(f);
    tj_value *doc = tj_parse(text, err, sizeof err);
    free(text);
    int ok = doc && bench_roofline_svg(cfg->roofline_path, doc);
    if (!doc) fprintf(stderr, "strata-bench: internal JSON error: %s\n", err);
    tj_value_free(doc);
    return ok;
}

static int ops_main(int argc, char **argv)
{
    bench_config cfg;
    static bench_report report;
    bench_report *r = &report;
    if (!parse_args(argc, argv, &cfg)) return 2;
    if (!open_devices(&cfg, r)) return 1;
    r->t0 = bench_now();
#ifdef STRATA_BENCH_HAVE_COLL
    r->collectives_built = 1;
#endif
    printf("strata-bench %s, %s run, %d device%s\n", st_version_string(), cfg.quick ? "quick" : "full", r->n_devs,
           r->n_devs == 1 ? "" : "s");
    fflush(stdout);
    bench_env_others_start(&r->env);
    bench_probe_fma(&cfg, r);
    bench_probe_triad(&cfg, r);
    for (int i = 0; i < r->n_devs; i++) run_device(&cfg, r, &r->devs[i]);
    bench_probes_free();
    bench_env_others_stop(&r->env);
    bench_env_collect(&r->env);
    if (cfg.progress) fprintf(stderr, "\r\033[K");
    printf("  %s, git %s, %s, %s\n  CPU: %s; hwloc %s: %s\n  OpenBLAS: %s\n  rocBLAS: %s\n", r->env.host, r->env.git,
           r->env.date, r->env.os, r->env.cpu_model, r->env.hwloc_version, r->env.hwloc, r->env.openblas,
           r->env.rocblas);
    if (r->env.others >= 0)
        printf("  other processes used %.0f%% of the CPUs during the run%s\n", 100.0 * r->env.others,
               r->env.others > 0.05 ? ": the machine was busy, expect low and noisy figures" : "");
    bench_print_devices(r);
    bench_print_table(r);
    verdicts(r);
    printf("collectives: %s\n", r->collectives_built ? "run `strata-bench collectives` under mpirun" : "not built");
    int ok = 1;
    if (cfg.json_path && (ok = bench_write_json(cfg.json_path, &cfg, r))) printf("figures written to %s\n", cfg.json_path);
    if (ok && cfg.roofline_path && (ok = write_roofline(&cfg, r))) printf("roofline written to %s\n", cfg.roofline_path);
    free(r->rows);
    st_shutdown();
    return ok ? 0 : 1;
}

/* `collectives [--json FILE] ARGS...`: bench_coll_main (bench_coll.c, by the comm work) appends one
 * object per measurement to the open "collectives" array (json NULL without --json, and on
 * every rank but 0). Without it, the document says so with an empty array. */
int bench_collectives_main(int argc, char **argv)
{
    bench_config cfg = {0};
    static bench_report report;
    const char *json_path = NULL;
    const char *rank = getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : getenv("PMI_RANK");
    int n = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--json") == 0 && a + 1 < argc) json_path = argv[++a];
        else argv[++n] = argv[a];
    }
    bench_env_collect(&report.env);
    FILE *f = json_path && (!rank || atoi(rank) == 0) ? fopen(json_path, "w") : NULL;
    if (json_path && (!rank || atoi(rank) == 0) && !f) {
        perror(json_path);
        return 1;
    }
    tool_json j;
    if (f) tj_init(&j, f), bench_json_head(&j, "collectives", &cfg, &report);
    int rc = 0;
#ifdef STRATA_BENCH_HAVE_COLL
    report.collectives_built = 1;
    if (f) bench_json_tail(&j, &report, 1), tj_array_begin(&j, "collectives");
    rc = bench_coll_main(n + 1, argv, stdout, f ? &j : NULL);
    if (f) tj_array_end(&j), tj_object_end(&j), tj_finish(&j);
#else
    printf("collectives: not built\n");
    if (f) bench_json_tail(&j, &report, 0);
#endif
    if (f && fclose(f) != 0) rc = 1;
    st_shutdown();
    return rc;
}

/* strata-bench's modules live beside libstrata (in the build tree and when installed): found
 * through libstrata's own path as the backend plugins are, since a bare name would depend on the
 * dlopen caller's run path, which sanitizer builds replace with their runtime's. */
void *bench_module_open(const char *name)
{
    char path[4096];
    size_t len = strlen(name) + 1;
    Dl_info info;
    if (dladdr((void *)&st_last_error, &info) && info.dli_fname && realpath(info.dli_fname, path)) {
        char *slash = strrchr(path, '/');
        if (slash && (size_t)(slash - path) + len + 1 < sizeof path) {
            memcpy(slash + 1, name, len);
            if (access(path, F_OK) == 0) return dlopen(path, RTLD_NOW | RTLD_LOCAL); /* its error kept */
        }
    }
    return dlopen(name, RTLD_NOW | RTLD_LOCAL);
}

int bench_train_module(int argc, char **argv)
{
    void *dl = bench_module_open("libstrata-bench-train.so");
    int (*entry)(int, char **) = NULL;
    if (dl) *(void **)&entry = dlsym(dl, "bench_train_main");
    if (!entry) {
        fprintf(stderr, "strata-bench train: the trainer's module libstrata-bench-train.so is not available (%s)\n",
                dlerror());
        return 1;
    }
    return entry(argc, argv); /* the module stays loaded until exit: its atexit work is the trainer's */
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "train") == 0) return bench_train_module(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "compare") == 0) return bench_compare_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "collectives") == 0) return bench_collectives_main(argc - 1, argv + 1);
    return ops_main(argc, argv);
}
