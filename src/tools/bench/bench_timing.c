/* strata-bench's timing: a warm-up call, then repetitions within a time budget, summarised as
 * median, quartiles, min and max; and the rows of the report with the progress line. Each sample
 * is one call, and the case's own function syncs the device before returning. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

#define MAX_SAMPLES 1000

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between the order statistics, as numpy's default percentile. */
static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)pos;
    return lo + 1 < n ? sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[n - 1];
}

void bench_summarise(double *samples, int n, bench_stats *out)
{
    qsort(samples, (size_t)n, sizeof samples[0], cmp_double);
    out->reps = n;
    out->min = samples[0];
    out->max = samples[n - 1];
    out->median = quantile(samples, n, 0.5);
    out->q1 = quantile(samples, n, 0.25);
    out->q3 = quantile(samples, n, 0.75);
}

st_status bench_time(const bench_config *cfg, bench_fn fn, void *ctx, bench_stats *out)
{
    static double samples[MAX_SAMPLES];
    int max = cfg->max_reps < MAX_SAMPLES ? cfg->max_reps : MAX_SAMPLES;
    memset(out, 0, sizeof *out);
    st_status s = fn(ctx);
    if (s != ST_OK) return s;
    int n = 0;
    double start = bench_now();
    while (n < max && (n < cfg->min_reps || bench_now() - start < cfg->budget_s)) {
        double t0 = bench_now();
        if ((s = fn(ctx)) != ST_OK) return s;
        samples[n++] = bench_now() - t0;
    }
    bench_summarise(samples, n, out);
    return ST_OK;
}

bench_row *bench_add_row(bench_report *r, const bench_device *d, const char *suite, const char *op,
                         const char *shape, bench_unit unit, double flops, double bytes)
{
    if (r->n_rows == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        bench_row *grown = realloc(r->rows, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        r->rows = grown;
        r->cap = cap;
    }
    bench_row *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    snprintf(row->device, sizeof row->device, "%s", d ? d->label : "host");
    snprintf(row->backend, sizeof row->backend, "%s", d ? d->backend : "host");
    snprintf(row->suite, sizeof row->suite, "%s", suite);
    snprintf(row->op, sizeof row->op, "%s", op);
    snprintf(row->shape, sizeof row->shape, "%s", shape);
    row->unit = unit;
    row->flops = flops;
    row->bytes = bytes;
    return row;
}

double bench_work(const bench_row *row)
{
    return row->unit == BENCH_GFLOPS ? row->flops : row->bytes;
}

double bench_rate(const bench_row *row, double seconds)
{
    return seconds > 0 ? bench_work(row) / seconds * 1e-9 : 0.0;
}

void bench_row_fail(bench_row *row, st_status s)
{
    row->status = s;
    snprintf(row->error, sizeof row->error, "%s", st_last_error());
    st_clear_error();
}

void bench_progress(const bench_config *cfg, const bench_report *r, const bench_row *row)
{
    if (!cfg->progress || !row) return;
    fprintf(stderr, "\r\033[K[%4d rows, %5.1f s] %s %s %s %s", r->n_rows, bench_now() - r->t0, row->device,
            row->suite, row->op, row->shape);
    fflush(stderr);
}
