/* The trainer's figures: median step time, the per-op breakdown table, and the model FLOPs
 * utilisation against a peak the user measured (strata-bench's FMA probe, or a datasheet). */
#include <stdlib.h>
#include <string.h>
#include "train_stats.h"

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

double train_median(double *v, int64_t n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void train_times_init(train_times *t)
{
    t->n = 0;
    t->stride = 1;
    t->seen = 0;
}

void train_times_add(train_times *t, double ms)
{
    if (t->seen++ % t->stride) return;
    if (t->n == TRAIN_TIME_SAMPLES) { /* keep entries 0, 2, 4, ...: the samples of stride 2x */
        for (int i = 0; i < TRAIN_TIME_SAMPLES / 2; i++) t->v[i] = t->v[2 * i];
        t->n = TRAIN_TIME_SAMPLES / 2;
        t->stride *= 2;
        if ((t->seen - 1) % t->stride) return;
    }
    t->v[t->n++] = ms;
}

double train_times_median(const train_times *t)
{
    double copy[TRAIN_TIME_SAMPLES];
    memcpy(copy, t->v, (size_t)t->n * sizeof *copy);
    return train_median(copy, t->n);
}

void train_stats_add(train_stats *s, const char *op, double ms, int64_t calls)
{
    if (s->n_op_times >= TRAIN_MAX_OP_TIMES) return;
    st_graph_op_time *t = &s->op_times[s->n_op_times++];
    snprintf(t->op, sizeof t->op, "%s", op);
    t->ms = ms;
    t->calls = calls;
}

static int by_ms_desc(const void *x, const void *y)
{
    const st_graph_op_time *a = x, *b = y;
    return a->ms < b->ms ? 1 : a->ms > b->ms ? -1 : strcmp(a->op, b->op);
}

void train_stats_sort(train_stats *s)
{
    qsort(s->op_times, (size_t)s->n_op_times, sizeof s->op_times[0], by_ms_desc);
}

void train_print_stats(const train_stats *s, double peak_gflops, FILE *out)
{
    if (s->n_op_times && s->timed_steps) {
        double total = 0, n = (double)s->timed_steps;
        for (int i = 0; i < s->n_op_times; i++) total += s->op_times[i].ms;
        fprintf(out, "per-op time over %lld timed steps (every op synchronised; first step left out "
                "when there are several):\n", (long long)s->timed_steps);
        fprintf(out, "  %-26s %10s %7s %11s\n", "op", "ms/step", "share", "calls/step");
        for (int i = 0; i < s->n_op_times; i++) {
            const st_graph_op_time *t = &s->op_times[i];
            fprintf(out, "  %-26s %10.2f %6.1f%% %11.1f\n", t->op, t->ms / n,
                    total > 0 ? 100.0 * t->ms / total : 0.0, (double)t->calls / n);
        }
        fprintf(out, "  %-26s %10.2f\n", "step", total / n);
    }
    double gflops = s->flops_per_token * s->tokens_per_s / 1e9;
    fprintf(out, "throughput: %.1f ms/step (median), %.0f tokens/s, %.1f GFLOP/s at %.4g FLOP/token "
            "(6 x %lld parameters + attention 12 L C T)\n", s->ms_median, s->tokens_per_s, gflops,
            s->flops_per_token, (long long)s->n_params);
    if (peak_gflops > 0)
        fprintf(out, "MFU: %.1f%% of a %.1f GFLOP/s peak\n", 100.0 * gflops / peak_gflops, peak_gflops);
    else
        fprintf(out, "MFU needs the machine's peak: give --peak-gflops X (e.g. strata-bench's FMA "
                "peak); achieved %.1f GFLOP/s\n", gflops);
}
