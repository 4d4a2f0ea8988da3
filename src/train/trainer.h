/* strata-train's training loop, apart from its command line so that tests can drive it: options,
 * the run (data, model, AdamW under a schedule, accumulation, clipping, evaluation, logs), on
 * one process or data-parallel over the ranks of a communicator. */
#ifndef STRATA_TRAIN_TRAINER_H
#define STRATA_TRAIN_TRAINER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include "strata/comm.h"
#include "strata/graph.h"

#define TRAIN_MAX_OP_TIMES 48

/* Bounds of the run's counts (train_args.c): with them, steps x accumulation, batch x seq x ranks
 * and every byte count derived from them stay far inside int64. */
#define TRAIN_MAX_STEPS (INT64_C(1) << 40)
#define TRAIN_MAX_BATCH (INT64_C(1) << 24)
#define TRAIN_MAX_ACCUM (INT64_C(1) << 16)

/* train_run's return when o->stop (a signal) ended the run early, after its checkpoint. */
#define TRAIN_STOPPED 2

/* --lr-schedule: after a linear warmup (nanoGPT's (step + 1) / (warmup + 1)), cosine or linear decay
 * to min_lr at --steps, constant at lr, or wsd (warmup, stable at lr, then 1 - sqrt decay to min_lr
 * over the last 20% of the steps, llm.c's). */
enum { TRAIN_SCHED_COSINE, TRAIN_SCHED_LINEAR, TRAIN_SCHED_CONSTANT, TRAIN_SCHED_WSD };
/* --data-order: random windows (st_dataset_batch), or llm.c's DataLoader without shuffling. */
enum { TRAIN_DATA_RANDOM, TRAIN_DATA_SEQUENTIAL };
extern const char *const TRAIN_SCHED_NAMES[4], *const TRAIN_DATA_ORDER_NAMES[2];


/* Figures of a run, filled by train_run when train_opts.stats is set.
 * flops_per_token = 6 P + 12 L C T: P every parameter (the padded wte included, as llm.c counts
 * it), 6 = 2 (multiply-add) x 3 (forward, and backward's two products per weight); 12 L C T is
 * attention's QK^T and PV products over the full T x T square, forward and backward (PaLM,
 * appendix B), T the run's sequence length. Timings exclude nothing: a step is zero_grad, the
 * micro-batches' data, forward and backward, clipping and AdamW. */
typedef struct train_stats {
    int64_t n_params;
    double flops_per_token;
    double ms_median;            /* median step time of this run's steps */
    double tokens_per_s;         /* ranks B T K / median step time (global tokens) */
    int n_op_times;              /* with --profile: per-op time summed over the timed steps, */
    int64_t timed_steps;         /* every step but the first (warm-up) when there are several; */
    st_graph_op_time op_times[TRAIN_MAX_OP_TIMES]; /* largest first, ms per run (not per step) */
} train_stats;

typedef struct train_opts {
    const char *data, *val, *model, *log;
    const char *tokenizer;       /* --tokenizer: text data is tokenized with it (train_tok.h) */
    int64_t steps, batch, seq, grad_accum, eval_every, eval_batches, warmup;
    double lr, min_lr_ratio, weight_decay, max_norm; /* max_norm: --grad-clip (0: off) */
    double min_lr;               /* --min-lr: the schedule's floor; < 0: lr x min_lr_ratio */
    double beta1, beta2, eps;    /* AdamW's */
    int lr_schedule;             /* TRAIN_SCHED_* (--lr-schedule) */
    int no_decay_emb;            /* --no-decay-embeddings: wte and wpe out of weight decay */
    int data_order;              /* TRAIN_DATA_RANDOM or TRAIN_DATA_SEQUENTIAL (--data-order) */
    int64_t log_every;           /* a permanent progress line every N steps (0: steps/50, >= 1) */
    int status_line;             /* progress is a terminal: one status line rewritten in place */
    const char *trace;           /* --trace FILE: Chrome trace of one profiled step (with --profile) */
    const char *export_hf;       /* --export-hf DIR: write --model as a Hugging Face directory, no training */
    int heads_only;              /* internal: --heads given for a model file that lacks n_head */
    uint64_t seed;
    int L, H, C, V, ctx;         /* overrides of the config; 0 = the config's */
    int64_t seq_set;             /* nonzero when --seq was given (else seq = the context) */
    const char *ckpt;            /* checkpoint directory, NULL for none */
    int resume;                  /* continue from ckpt's checkpoint when there is one */
    int64_t ckpt_every;          /* also save every N steps (0: only at the end) */
    int64_t ckpt_keep;           /* committed checkpoints kept in ckpt (0 = 1: only the newest) */
    int64_t stop_at;             /* stop after this step, as if interrupted (0: run to steps) */
    int64_t sample_every, sample_len, top_k;
    double temperature;
    int bf16;                    /* --dtype bf16: bf16 compute copy of weights and activations */
    int profile;                 /* time every op (st_graph_set_profile) and the optimizer */
    double peak_gflops;          /* --peak-gflops: the MFU reference (0: unknown) */
    const char *partition;       /* --partition: scheme text, "auto", or NULL (ddp; strata-train's
                                  * main makes it "auto" under mpirun) */
    int dry_run;                 /* --dry-run: check the options, data, model size and memory, then stop */
    int no_overlap;              /* --overlap off: the shard engine's per-unit collectives finish before
                                  * the compute that follows them (st_shard_set_overlap; default on) */
    const volatile sig_atomic_t *stop; /* when not NULL and nonzero after a step (on any rank), the
                                  * run saves a checkpoint (with ckpt) and returns TRAIN_STOPPED; a
                                  * signal handler sets it to the signal's number (strata_train.c) */
    st_comm *comm;               /* borrowed; NULL or one rank: a plain single-process run */
    train_stats *stats;          /* filled at the end of train_run when not NULL */
} train_opts;

/* Defaults: model tiny, 50 steps, batch 8, lr 1e-3, accumulation 1, evaluation every 0 (only at
 * the end when a validation split exists), 4 evaluation batches, seed 1337, samples of 64
 * tokens at temperature 1 with top-k 40 (when --sample-every is given); AdamW betas 0.9, 0.95,
 * eps 1e-8, weight decay 0.1 (embeddings included), clipping at 1.0, warmup + cosine to lr/10,
 * random data order, a progress line every steps/50 steps. */
void train_opts_default(train_opts *o);

/* The usage text. */
void train_usage(FILE *out);

/* Parses argv into *o. Returns 0 on success, 1 when --help was asked (usage printed to out),
 * -1 on bad input with a message in err. Every integer is checked against its bounds and the
 * options against each other (train_check_opts). */
int train_parse_args(int argc, char **argv, train_opts *o, FILE *out, char *err, size_t errlen);

/* The checks across options (warmup and stop-at within steps, a finite positive lr); train_run
 * applies them too, for callers that fill train_opts themselves. Returns 0 or -1 with err. */
int train_check_opts(const train_opts *o, char *err, size_t errlen);

/* The learning rate of step (0-based) under o's schedule, warmup `warmup` steps. */
double train_lr(const train_opts *o, int64_t warmup, int64_t step);
/* The schedule's floor: o->min_lr when set, else lr x min_lr_ratio. */
double train_min_lr(const train_opts *o);

/* The options every rank of a multi-rank run must share, as (name, value) text pairs for
 * st_comm_init_world_ex's agreement: the model and its overrides, batch, seq, accumulation, steps,
 * schedule and every hyperparameter, data order, evaluation, sampling and checkpoint cadence,
 * partition, dtype, --profile and --export-hf. --data, --val, --log, --log-every and --trace may
 * differ (node-local copies; only rank 0 logs and prints; each rank writes its own trace). Fills at most max pairs into names and
 * vals (vals[i] points into buf, of buflen bytes) and returns the count. */
int train_must_agree(const train_opts *o, const char **names, const char **vals, int max, char *buf,
                     size_t buflen);

/* Prints the per-op breakdown of s (op, ms per step, share, calls per step) and the throughput:
 * GFLOP/s, and MFU against peak_gflops when it is > 0. */
void train_print_stats(const train_stats *s, double peak_gflops, FILE *out);

/* Runs the training described by o on the default device (STRATA_BACKEND). Progress lines go to
 * `progress` (may be NULL). losses, when not NULL, has `steps` entries: the loss of step i (0-based)
 * goes to losses[i] for the steps this run takes (after a resume, from the saved step on). Returns 0,
 * TRAIN_STOPPED when *o->stop ended it early (its checkpoint saved when o->ckpt is set: every rank
 * stops after the same step), or -1 with a message in err.
 *
 * With o->comm of K > 1 ranks it is collective over them (every rank calls it with the same
 * options): each rank trains on rows [r B, (r+1) B) of a global batch of K B rows (r =
 * st_comm_rank), the model state is partitioned by the shard engine (shard.h) as o->partition says
 * (NULL: ddp; "auto": st_plan_choose), and losses (training and validation) are averages over the
 * ranks, so a run equals a single-process run with batch K B (up to f32 summation order). Only
 * rank 0 writes progress and the log; checkpoints are the engine's (a file per optimizer shard and
 * an index, recording the global batch K B) and resume with any rank count or scheme, as do
 * single-process checkpoints. The log's bytes_* fields are the model-state bytes of each step (the
 * loss all-reduce and error agreement excluded); a final "summary" line gives memory per kind. An error on any rank
 * makes train_run return -1 on every rank, the others with "rank R: " and its message. */
int train_run(const train_opts *o, FILE *progress, float *losses, char *err, size_t errlen);

#endif
