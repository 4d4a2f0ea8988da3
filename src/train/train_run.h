/* The state of one train_run, shared by its setup (train_setup.c) and its loop (trainer.c).
 * Internal to strata-train. */
#ifndef STRATA_TRAIN_TRAIN_RUN_H
#define STRATA_TRAIN_TRAIN_RUN_H

#include <stdio.h>
#include "ckpt.h"
#include "gpt2.h"
#include "train_shard.h"
#include "train_stats.h"
#include "train_tok.h"
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
    train_tok tk;                /* --tokenizer: the vocabulary and the token files it made */
    int from_ckpt;               /* --model is a strata-train checkpoint (weights only) */
    st_params *ps;
    st_optim *opt;               /* single-process runs; multi-rank runs step through `shard` */
    train_shard shard;
    st_adamw_config adamw;
    gpt2_graph m;
    int have_graph, have_val;
    FILE *log, *progress;
    int32_t *in, *tg;
    int64_t warmup;              /* the schedule's warmup steps (--warmup or steps/10) */
    train_times *times;          /* this run's step times, for the median (constant memory) */
    double opt_ms, timed_ms;     /* --profile: optimizer and whole-step time of the timed steps */
    double comm_ms;              /* --profile: the engine's gathers and reduce-scatters of the timed steps */
    uint64_t step_bytes[ST_LEVEL_COUNT]; /* model-state bytes this rank sent in the last step */
    double step_comm_s[ST_LEVEL_COUNT];  /* and the seconds it spent in those collectives */
    int64_t timed_steps;
    st_ckpt_dir *ckdir;          /* rank 0 with --ckpt: the checkpoint directory's writer (its lock) */
    int status_shown;            /* a status line (no newline) is on the terminal */
    double status_ms;            /* when it was last written (train_now_ms) */
    struct train_trace *trace;   /* --trace: the events of the step being recorded (train_trace.c) */
    int stopping;                /* every rank agreed to stop after this step (o->stop was set) */
    char *err;
    size_t errlen;
} run;

/* The batch of `index` of split (trainer's --data-order; train_data.c): this rank's B rows. */
st_status train_batch(const run *r, st_split split, uint64_t seed, uint64_t index, int32_t *in, int32_t *tg);
/* Tokens of one sequential sample: ranks x B x T (a split needs one more). */
int64_t train_seq_block(const run *r);

/* The log's first line of this run: {"header": {...}} with the model, every option and hyperparameter
 * (train_log.c). */
void train_log_header(run *r);

/* Progress (train_progress.c): the permanent lines' period, the stream for any other line (a status
 * line shown is cleared first; NULL when this rank does not print), and a step's report. */
int64_t train_log_every(const train_opts *o);
FILE *train_out(run *r);
void train_report_step(run *r, int64_t step, int64_t end, float loss, float lr, float norm, double ms, double avg_ms);

/* --trace (train_trace.c): events of the current step while recording, written at the end of the run.
 * train_trace_open sets the graph's callback; train_trace_step starts a new step (dropping the
 * previous one's events); train_trace_add records an interval; train_trace_write writes the last
 * recorded step as Chrome trace JSON (one file per rank under several ranks). */
int train_trace_open(run *r);
void train_trace_step(run *r, int64_t step);
void train_trace_add(run *r, const char *name, const char *cat, double t0_ms, double t1_ms);
int train_trace_write(run *r);
void train_trace_close(run *r);
double train_now_ms(void);

/* Records the failure; with a library status, appends st_last_error(). Returns -1. */
int train_fail(run *r, st_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Everything before the first step (train_setup.c), agreed across ranks. Returns 0, 1 after a dry
 * run (nothing trained), or -1 with the message in r->err on every rank. */
int train_setup(run *r);

#endif
