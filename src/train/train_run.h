/* The state of one train_run, shared by its setup (train_setup.c) and its loop (trainer.c).
 * Internal to strata-train. */
#ifndef STRATA_TRAIN_TRAIN_RUN_H
#define STRATA_TRAIN_TRAIN_RUN_H

#include <stdio.h>
#include "ckpt.h"
#include "gpt2.h"
#include "train_shard.h"
#include "train_stats.h"
#include "trainer.h"

typedef struct run {
    const train_opts *o;
    st_comm *comm;               /* o->comm: NULL or one rank for a plain run */
    int rank, ranks;             /* st_comm_rank, st_comm_size */
    train_opts eff;              /* o with seq = the sequence length used (for checkpoints) */
    int64_t start;               /* steps taken before this run (resume) */
    gpt2_config cfg;
    int64_t T;
    st_device *dev;
    st_dataset *ds;
    st_llmc_model *llmc;         /* --model llmc:FILE, open from config to weights */
    int from_ckpt;               /* --model is a strata-train checkpoint (weights only) */
    st_params *ps;
    st_optim *opt;               /* single-process runs; multi-rank runs step through `shard` */
    train_shard shard;
    st_adamw_config adamw;
    gpt2_graph m;
    int have_graph, have_val;
    FILE *log, *progress;
    int32_t *in, *tg;
    st_lr_schedule sched;
    train_times *times;          /* this run's step times, for the median (constant memory) */
    double opt_ms, timed_ms;     /* --profile: optimizer and whole-step time of the timed steps */
    double comm_ms;              /* --profile: the engine's gathers and reduce-scatters of the timed steps */
    uint64_t step_bytes[ST_LEVEL_COUNT]; /* model-state bytes this rank sent in the last step */
    double step_comm_s[ST_LEVEL_COUNT];  /* and the seconds it spent in those collectives */
    int64_t timed_steps;
    st_ckpt_dir *ckdir;          /* rank 0 with --ckpt: the checkpoint directory's writer (its lock) */
    int stopping;                /* every rank agreed to stop after this step (o->stop was set) */
    char *err;
    size_t errlen;
} run;

/* Records the failure; with a library status, appends st_last_error(). Returns -1. */
int train_fail(run *r, st_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Everything before the first step (train_setup.c), agreed across ranks. Returns 0, 1 after a dry
 * run (nothing trained), or -1 with the message in r->err on every rank. */
int train_setup(run *r);

#endif
