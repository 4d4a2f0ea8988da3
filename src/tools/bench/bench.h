/* strata-bench internals: the timing helper, the machine probes (FMA peak, triad) and the op
 * cases, shared by the files of src/tools/bench/. */
#ifndef STRATA_BENCH_H
#define STRATA_BENCH_H

#include <stdint.h>
#include <strata/strata.h>

typedef struct bench_config {
    int quick;              /* seconds instead of a minute: fewer repetitions */
    const char *backend;    /* NULL: STRATA_BACKEND / STRATA_DEVICE rules */
    const char *json_path;  /* NULL: no JSON */
    double budget_s;        /* time spent repeating one case (after its warm-up) */
    int min_reps, max_reps;
    int64_t stream_elems;   /* f32 elements per array of the triad and elementwise cases */
} bench_config;

/* Wall times of the repetitions of one case, in seconds. */
typedef struct bench_stats {
    double median, min, max;
    int reps;
} bench_stats;

typedef enum bench_unit { BENCH_GFLOPS, BENCH_GBPS } bench_unit;

/* One line of the table. Rates are work / time: median from the median time, and the range. */
typedef struct bench_row {
    char op[24];
    char size[40];
    bench_unit unit;
    double work;         /* flops or bytes per call */
    bench_stats t;
    int reference;       /* a probe or the BLAS: what Strata's figures are compared with */
    int target;          /* 1: counts towards the matmul target, 2: the elementwise target */
    double yardstick;    /* the probe's best rate just before and after this case; 0: none */
    st_status status;    /* ST_OK, or why the case could not run */
    char error[256];
} bench_row;

#define BENCH_MAX_ROWS 48

typedef struct bench_report {
    bench_row rows[BENCH_MAX_ROWS];
    int n_rows;
    double peak_gflops;  /* FMA probe, best rate of the whole run */
    double triad_gbps;   /* triad probe, best rate of the whole run */
    const char *fma_isa; /* "avx512f", "avx2", or "none" */
    char blas[256];      /* the BLAS reference: where cblas_sgemm came from */
} bench_report;

/* Runs `fn(ctx)` once untimed (the first call pays page faults, plans, kernel builds), then
 * repeats it within the config's budget. Stops at the first error and returns it. */
typedef st_status (*bench_fn)(void *ctx);
st_status bench_time(const bench_config *cfg, bench_fn fn, void *ctx, bench_stats *out);
double bench_now(void);

/* A row appended to the report (NULL when the table is full). */
bench_row *bench_add_row(bench_report *r, const char *op, const char *size, bench_unit unit, double work);
/* Rate of a row at its median time, and at its best and worst. */
double bench_rate(const bench_row *row, double seconds);

/* Probes (bench_probes.c): the FMA peak and the triad bandwidth of the host, on all threads. */
void bench_probe_fma(const bench_config *cfg, bench_report *r);
/* Leaves the triad buffers allocated until bench_probes_free (they are touched once). */
void bench_probe_triad(const bench_config *cfg, bench_report *r);
void bench_probes_free(void);
/* The probes again, briefly, around each op case: this machine's memory bandwidth and clock
 * drift by tens of percent within a minute (neighbours on the host), so each case is compared
 * with a yardstick taken beside it. Returns the best rate seen (0 if the probe is unavailable)
 * and raises the report's figure when it beats it. */
double bench_fma_now(const bench_config *cfg, bench_report *r);
double bench_triad_now(const bench_config *cfg, bench_report *r);

/* Strata op cases (bench_ops.c) on `dev`. */
void bench_matmul(const bench_config *cfg, st_device *dev, bench_report *r);
void bench_elementwise(const bench_config *cfg, st_device *dev, bench_report *r);

#endif
