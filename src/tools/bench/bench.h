/* strata-bench internals, shared by the files of src/tools/bench/: the run's configuration, the
 * rows of results, the devices with their peaks and vendor baselines, and each part's entry. */
#ifndef STRATA_BENCH_H
#define STRATA_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <strata/strata.h>
#include "tool_json.h"

#define BENCH_SCHEMA "strata-bench/1"
#define BENCH_MAX_DEVICES 16
#define BENCH_MAX_PEAKS 8

/* --peak-gflops / --peak-gbs: a figure given by the user for one device ("" = every device). */
typedef struct bench_user_peak {
    char device[32];
    double value;
} bench_user_peak;

typedef struct bench_config {
    int quick;              /* CI: a few shapes, few repetitions */
    int progress;           /* progress line on stderr */
    const char *backend;    /* NULL: every backend present */
    const char *json_path, *roofline_path;
    double budget_s;        /* time spent repeating one case (after its warm-up) */
    int min_reps, max_reps;
    int64_t stream_elems;   /* f32 elements per array of the triad and stream cases */
    const char *suites;     /* --suites: a comma list of square, tiny, gpt2-124m, stream; NULL all */
    bench_user_peak peak_gflops[BENCH_MAX_PEAKS], peak_gbs[BENCH_MAX_PEAKS];
    int n_peak_gflops, n_peak_gbs;
} bench_config;

/* Wall times of the repetitions of one case, in seconds; q1/q3 the quartiles. */
typedef struct bench_stats {
    double median, min, max, q1, q3;
    int reps;
} bench_stats;

typedef enum bench_unit { BENCH_GFLOPS, BENCH_GBPS } bench_unit;

/* One line of the table. Rates are work / time; work is flops or bytes after `unit`. */
typedef struct bench_row {
    char device[32], backend[16];
    char suite[16];      /* "probe", "square", "tiny", "gpt2-124m", "stream" */
    char op[32];         /* an op of the op table, or a probe / baseline name */
    char shape[64];
    bench_unit unit;
    double flops, bytes; /* per call, as docs/bench.md counts them (0: not counted) */
    bench_stats t;
    int baseline;        /* a probe or a vendor library: what Strata's figures are compared with */
    int target;          /* CPU targets: 1 matmul N >= 1024, 2 elementwise (issue 3), 3 row ops, 4 attention (issue 18) */
    double yardstick;    /* CPU: the probe's best rate just before and after this case; 0: none */
    char ref[32];        /* the baseline row this one is compared with, "" for none */
    double ref_rate;     /* its median rate */
    st_status status;    /* ST_OK, or why the case could not run */
    char error[200];
} bench_row;

typedef struct bench_device bench_device;

/* A backend's vendor library, called directly as the reference for Strata's figures. */
typedef struct bench_vendor {
    const char *gemm_name, *copy_name;
    /* Opens the library on d's device; 0 with the reason in d->vendor_info on failure. */
    int (*open)(bench_device *d);
    /* C (m, n) = A (m, k) B (k, n) (B (n, k) when trans_b), f32 row-major, timed to completion. */
    st_status (*gemm)(bench_device *d, const bench_config *cfg, int m, int n, int k, int trans_b,
                      bench_stats *t);
    /* A plain copy of bytes / 2 into another buffer (bytes = read + written). */
    st_status (*copy)(bench_device *d, const bench_config *cfg, double bytes, bench_stats *t);
    /* FMA throughput probe on the device: GFLOP/s (best), 0 when it has none. */
    double (*fma_probe)(bench_device *d, const bench_config *cfg);
    void (*close)(bench_device *d);
} bench_vendor;

/* The copy references already measured on a device, by size. */
#define BENCH_COPY_CACHE 48
typedef struct bench_copy_ref {
    double bytes;
    bench_stats t;
    st_status status;
} bench_copy_ref;

struct bench_device {
    st_device *dev;
    st_device_props props;
    char label[32], backend[16];
    double peak_gflops, peak_gbs; /* 0: unknown */
    const char *peak_gflops_src, *peak_gbs_src; /* "probe", "user", "device" (its properties), "none" */
    const bench_vendor *vendor;   /* NULL: none in this build or it failed to open */
    void *vctx;
    char vendor_info[256];        /* library and version, or why there is none */
    char vendor_error[200];       /* the last failure of a vendor call */
    bench_copy_ref copies[BENCH_COPY_CACHE];
    int n_copies;
};

/* Everything the run records beside the rows (bench_env.c). */
typedef struct bench_env {
    char date[32], host[128], git[64], cpu_model[160], hwloc[128], hwloc_version[32];
    char openblas[256], clblast[64], cublas[64], rocblas[64], os[128];
    int threads;
    double busy0, self0, wall0, others; /* others: CPU share of other processes during the run */
} bench_env;

typedef struct bench_skip {
    char backend[16];
    char reason[256];
} bench_skip;

/* PyTorch's CPU training of the same model and batch (strata-bench train's peer, bench_peer.c):
 * one mode (f32 eager, bf16 autocast), timed as Strata's step is. */
typedef struct bench_peer_mode {
    int ok;
    double ms_median, ms_min, ms_max;
    int64_t timed_steps;
    char error[200];
} bench_peer_mode;

typedef struct bench_peer {
    int ran;                 /* the peer ran (ok or failed per mode); else skip says why not */
    char skip[256], torch[48], python[200];
    int threads;
    bench_peer_mode f32, bf16;
} bench_peer;

typedef struct bench_train_result {
    char model[32], device[32], backend[16], error[256];
    char dtype[8];           /* "f32" or "bf16": Strata's --dtype */
    bench_peer peer;
    int64_t batch, seq, steps, n_params, timed_steps;
    double flops_per_token, ms_median, ms_min, ms_max, tokens_per_s, achieved_gflops;
    double peak_gflops, mfu;
    const char *peak_src;
    int ok;
} bench_train_result;

/* One partitioning scheme of `strata-bench train` under mpirun: measured (rank 0's figures; the
 * ranks are symmetric) beside the planner's prediction (st_plan_evaluate). Times in seconds per
 * optimizer step: medians over the timed steps (the first step left out), min and max of the step. */
#define BENCH_MAX_SCHEMES 16
typedef struct bench_scheme_result {
    char scheme[32], partition[128], error[256];
    int ok;
    int overlap;          /* the shard engine's overlap in this run (strata-bench train --overlap) */
    int64_t timed_steps;
    double step_s, step_min_s, step_max_s;
    double comm_s[ST_LEVEL_COUNT], comm_total_s, compute_s; /* compute: step minus the levels' time */
    uint64_t bytes[ST_LEVEL_COUNT], peak_bytes, state_bytes, working_bytes;
    st_plan_row pred;
} bench_scheme_result;

/* The multi-rank train benchmark: the job, the planner's machine and each scheme. */
typedef struct bench_train_dist_result {
    int ranks;
    st_topo_shape shape;
    st_plan_machine machine;
    int64_t partitioned_params;
    double probe_fwdbwd_s, probe_optim_s;  /* the compute probe's step parts (0: not run) */
    bench_scheme_result schemes[BENCH_MAX_SCHEMES];
    int n_schemes;
    double max_step_error;                 /* largest |predicted - measured| / measured */
    int order_same, significant_pairs, misordered_pairs;
} bench_train_dist_result;

/* issue 3's targets for the CPU backend, judged on the worst case of each. */
typedef struct bench_verdict {
    const char *name, *reference;
    double goal, value;  /* value: the worst ratio over the target's cases, -1 none */
    char worst[96];      /* which case that was, or the failure */
    const char *result;  /* "OK", "MISSED", "NOT MEASURED" */
} bench_verdict;

typedef struct bench_report {
    bench_row *rows;
    int n_rows, cap;
    bench_device devs[BENCH_MAX_DEVICES];
    int n_devs;
    bench_skip skipped[BENCH_MAX_DEVICES];
    int n_skipped;
    double peak_gflops;  /* host FMA probe, best rate of the whole run */
    double triad_gbps;   /* host triad probe, best rate of the whole run */
    const char *fma_isa; /* "avx512f", "avx2", or "none" */
    char blas[256];      /* the OpenBLAS reference: where cblas_sgemm came from */
    bench_env env;
    bench_verdict verdicts[4];
    int n_verdicts;
    bench_train_result train;
    int has_train;
    bench_train_dist_result *dist;  /* multi-rank train mode, NULL otherwise */
    int collectives_built;
    const char *mode;    /* the document's "mode": "ops" (default), "train", "collectives" */
    double t0;           /* for the progress line */
} bench_report;

/* ---- timing and rows (bench_timing.c) ---- */
/* Runs `fn(ctx)` once untimed (the first call pays page faults, plans, kernel builds), then
 * repeats it within the config's budget. Stops at the first error and returns it. */
typedef st_status (*bench_fn)(void *ctx);
st_status bench_time(const bench_config *cfg, bench_fn fn, void *ctx, bench_stats *out);
/* Sorts `samples` and fills out (reps = n >= 1). */
void bench_summarise(double *samples, int n, bench_stats *out);
double bench_now(void);
/* A row appended to the report, tagged with d (NULL: the host); NULL when memory runs out. */
bench_row *bench_add_row(bench_report *r, const bench_device *d, const char *suite, const char *op,
                         const char *shape, bench_unit unit, double flops, double bytes);
/* Work of a row in its unit, and its rate at a time in GFLOP/s or GB/s. */
double bench_work(const bench_row *row);
double bench_rate(const bench_row *row, double seconds);
/* Records the last Strata error in the row. */
void bench_row_fail(bench_row *row, st_status s);
/* The progress line (stderr), when cfg->progress. */
void bench_progress(const bench_config *cfg, const bench_report *r, const bench_row *row);

/* ---- host probes (bench_probes.c): the FMA peak and triad bandwidth, on all threads ---- */
void bench_probe_fma(const bench_config *cfg, bench_report *r);
/* Leaves the triad buffers allocated until bench_probes_free (they are touched once). */
void bench_probe_triad(const bench_config *cfg, bench_report *r);
void bench_probes_free(void);
/* The probes again, briefly, around each CPU case: this machine's bandwidth and clock drift by
 * tens of percent within a minute, so each case is compared with a yardstick taken beside it.
 * Returns the best rate seen (0 if unavailable) and raises the report's figure when beaten. */
double bench_fma_now(const bench_config *cfg, bench_report *r);
double bench_triad_now(const bench_config *cfg, bench_report *r);

/* ---- vendor baselines (bench_vendor.c and the per-vendor files) ---- */
/* The vendor of a backend in this build; NULL with the reason in why. */
const bench_vendor *bench_vendor_for(const char *backend, char *why, size_t whylen);
/* Appends the vendor rows: gemm at (m, n, k, trans_b) and the copy reference at `bytes`; the
 * Strata row `row` (may be NULL) gets the reference's name and rate. Copy references are
 * measured once per size and device. */
void bench_ref_gemm(const bench_config *cfg, bench_report *r, bench_device *d, const char *suite,
                    int m, int n, int k, int trans_b, int row_index);
void bench_ref_copy(const bench_config *cfg, bench_report *r, bench_device *d, const char *suite,
                    double bytes, int row_index);
/* cblas_sgemm as OpenBLAS and MKL export it (LP64: int sizes; the enums are ints). */
typedef void (*bench_cblas_sgemm)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* Times fn's row-major C = A op(B) at (m, n, k) on filled host buffers (bench_time); the caller sets
 * the library's threads. ST_ERR_OUT_OF_MEMORY when the buffers cannot be had. */
st_status bench_cblas_time(bench_cblas_sgemm fn, const bench_config *cfg, int m, int n, int k, int trans_b,
                           bench_stats *t);
/* Intel's oneMKL SGEMM as a second CPU reference (bench_mkl.c): a "mkl_sgemm" row at (m, n, k)
 * when libmkl_rt is found (STRATA_MKL, a venv's lib), nothing otherwise; and what was found or why
 * not ("MKL: skipped: ..."). */
void bench_ref_mkl_gemm(const bench_config *cfg, bench_report *r, bench_device *d, const char *suite, int m, int n,
                        int k, int trans_b);
const char *bench_mkl_describe(void);
/* OpenBLAS's identity (openblas_get_config, core), "" when it is not loaded. */
void bench_openblas_describe(char *out, size_t len);

/* ---- the suites (bench_ops.c, bench_opcases.c) ---- */
void bench_square(const bench_config *cfg, bench_report *r, bench_device *d);
void bench_stream(const bench_config *cfg, bench_report *r, bench_device *d);
/* The row ops (softmax, layernorm, cross-entropy, backwards) over stream-sized arrays (bench_rowops.c). */
void bench_rowops(const bench_config *cfg, bench_report *r, bench_device *d);
/* quantize and dequantize (int8, int4) over stream-sized arrays (bench_quant.c). */
void bench_quant(const bench_config *cfg, bench_report *r, bench_device *d);
/* Causal attention forward/backward at T = 1024, H = 12, D = 64 against a 1024^3 matmul (bench_attention.c). */
void bench_attention(const bench_config *cfg, bench_report *r, bench_device *d);
/* Every op of the op table at the shapes of the named trainer config (`tiny`, `gpt2-124m`). */
void bench_model_ops(const bench_config *cfg, bench_report *r, bench_device *d, const char *model);

/* ---- environment (bench_env.c) ---- */
void bench_env_collect(bench_env *e);
void bench_env_others_start(bench_env *e);
void bench_env_others_stop(bench_env *e);
void bench_env_json(tool_json *j, const bench_env *e, const bench_config *cfg);

/* ---- output (bench_report.c) ---- */
void bench_print_devices(const bench_report *r);
void bench_print_table(const bench_report *r);
/* Fraction of the device's peak (best rate over the peak in the row's unit), -1 when unknown. */
double bench_peak_fraction(const bench_report *r, const bench_row *row);
/* Writes the whole document to f (bench_write_json: to a file); 0 with a message on failure. */
void bench_json_document(FILE *f, const bench_config *cfg, const bench_report *r);
int bench_write_json(const char *path, const bench_config *cfg, const bench_report *r);
/* The document's common parts, for the sub-commands that write their own documents. */
void bench_json_head(tool_json *j, const char *mode, const bench_config *cfg, const bench_report *r);
void bench_json_tail(tool_json *j, const bench_report *r, int with_collectives);

/* ---- sub-commands ---- */
/* strata-bench train lives with the trainer (src/train/bench_train*.c) as the module
 * libstrata-bench-train.so, which strata-bench dlopens for this sub-command alone: the op suites
 * never link the trainer's GPT-2 code. The module calls back into this program (ENABLE_EXPORTS). */
int bench_train_main(int argc, char **argv);           /* the module's entry point */
int bench_train_module(int argc, char **argv);         /* bench_main.c: loads it and calls it */
/* dlopen of one of strata-bench's modules (libstrata-bench-*.so) from libstrata's directory, else
 * by name; NULL with dlerror() set when neither loads (bench_main.c). */
void *bench_module_open(const char *name);
int bench_compare_main(int argc, char **argv);         /* bench_compare.c */
int bench_collectives_main(int argc, char **argv);     /* bench_main.c */
/* Roofline of one document's rows (bench_svg.c): 0 with a message on failure. */
int bench_roofline_svg(const char *path, const tj_value *doc);
/* Grouped bars (bench_svg.c): values[s * n_groups + g] of series s in group g, <= 0 for none;
 * the y axis is logarithmic when the values span more than a factor 30. */
int bench_compare_svg(const char *path, const char *const *group_names, int n_groups,
                      const char *const *series_names, int n_series, const double *values);
/* Converts an SVG to PNG with rsvg-convert or ImageMagick when one is on PATH; prints what it did. */
void bench_svg_to_png(const char *svg_path);

#endif
