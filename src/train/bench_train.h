/* strata-bench train, shared by its single-process part (bench_train.c) and its multi-rank part
 * (bench_train_dist.c): the options, and the helpers both use to drive the trainer. */
#ifndef STRATA_BENCH_TRAIN_H
#define STRATA_BENCH_TRAIN_H

#include <stdint.h>
#include "bench.h"

typedef struct train_args {
    const char *model, *backend, *json;
    const char *partition;     /* --partition LIST (multi-rank): scheme texts, NULL = every one that fits */
    const char *machine_file;  /* --machine-file F: the planner's machine (strata-bench collectives --probe) */
    int64_t batch, seq, steps, grad_accum;
    int64_t probe_steps;       /* steps of the compute probe (multi-rank, without compute_gflops) */
    double peak;
    int overlap;               /* --overlap: 1 on (default), 0 off, 2 both (each scheme off, then on) */
} train_args;

/* Random bytes, 8 (T + 1) of them, into a new file from the mkstemp template `path` (modified):
 * the trainer's 10% validation split then holds fewer than T + 1 tokens, so no evaluation pass runs
 * inside the timed loop. 1 on success. */
int bench_train_write_data(char *path, int64_t seq);

/* The multi-rank benchmark: every scheme of a.partition through train_run over `comm`, measured and
 * set beside the planner's prediction (bench_train_dist.c). Collective; returns the exit status. */
int bench_train_dist(const train_args *a, st_comm *comm, bench_report *r);

#endif
