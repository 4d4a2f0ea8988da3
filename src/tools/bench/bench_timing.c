/* strata-bench's timing: a warm-up call, then repetitions within a time budget, summarised as
 * median, min and max. Each sample is one call, and the case's own function syncs the device. */
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
    qsort(samples, (size_t)n, sizeof samples[0], cmp_double);
    out->reps = n;
    out->min = samples[0];
    out->max = samples[n - 1];
    out->median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
    return ST_OK;
}

bench_row *bench_add_row(bench_report *r, const char *op, const char *size, bench_unit unit, double work)
{
    if (r->n_rows == BENCH_MAX_ROWS) return NULL;
    bench_row *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    snprintf(row->op, sizeof row->op, "%s", op);
    snprintf(row->size, sizeof row->size, "%s", size);
    row->unit = unit;
    row->work = work;
    return row;
}

double bench_rate(const bench_row *row, double seconds)
{
    return seconds > 0 ? row->work / seconds * 1e-9 : 0.0;
}
