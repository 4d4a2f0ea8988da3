/* Helpers of the trainer's figures (train_stats in trainer.h): the median step time and the
 * per-op table. Internal to strata-train. */
#ifndef STRATA_TRAIN_TRAIN_STATS_H
#define STRATA_TRAIN_TRAIN_STATS_H

#include "trainer.h"

/* Median of v[0..n) (reordered in place); 0 when n is 0. */
double train_median(double *v, int64_t n);
/* Appends an entry to s->op_times when there is room. */
void train_stats_add(train_stats *s, const char *op, double ms, int64_t calls);
/* Sorts s->op_times, largest time first. */
void train_stats_sort(train_stats *s);

#endif
