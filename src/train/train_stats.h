/* Helpers of the trainer's figures (train_stats in trainer.h): the median step time and the
 * per-op table. Internal to strata-train. */
#ifndef STRATA_TRAIN_TRAIN_STATS_H
#define STRATA_TRAIN_TRAIN_STATS_H

#include "trainer.h"

/* Median of v[0..n) (reordered in place); 0 when n is 0. */
double train_median(double *v, int64_t n);

/* Step times in constant memory, however many steps a run takes: every time while they fit, then
 * every 2nd, 4th, ... (a systematic sample: when the buffer fills, every other kept entry is
 * dropped and the stride doubles). The median is exact up to TRAIN_TIME_SAMPLES steps and the
 * median of an evenly spread sample beyond. */
#define TRAIN_TIME_SAMPLES 4096
typedef struct train_times {
    double v[TRAIN_TIME_SAMPLES];
    int n;                /* kept samples */
    int64_t stride, seen; /* keep step `seen` when seen % stride == 0 */
} train_times;

void train_times_init(train_times *t);
void train_times_add(train_times *t, double ms);
/* Median of the kept samples (reorders a copy); 0 when none. */
double train_times_median(const train_times *t);
/* Appends an entry to s->op_times when there is room. */
void train_stats_add(train_stats *s, const char *op, double ms, int64_t calls);
/* Sorts s->op_times, largest time first. */
void train_stats_sort(train_stats *s);

#endif
