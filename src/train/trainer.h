/* strata-train's training loop, apart from its command line so that tests can drive it: options,
 * the run (data, model, AdamW with warmup + cosine, accumulation, clipping, evaluation, logs), on
 * one process or data-parallel over the ranks of a communicator. */
#ifndef STRATA_TRAIN_TRAINER_H
#define STRATA_TRAIN_TRAINER_H

#include <stdint.h>
#include <stdio.h>
#include "strata/comm.h"
#include "strata/graph.h"

#define TRAIN_MAX_OP_TIMES 48

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
    double lr, min_lr_ratio, weight_decay, max_norm;
    uint64_t seed;
    int L, H, C, V, ctx;         /* overrides of the config; 0 = the config's */
    int64_t seq_set;             /* nonzero when --seq was given (else seq = the context) */
    const char *ckpt;            /* checkpoint directory, NULL for none */
    int resume;                  /* continue from ckpt's checkpoint when there is one */
    int64_t ckpt_every;          /* also save every N steps (0: only at the end) */
    int64_t stop_at;             /* stop after this step, as if interrupted (0: run to steps) */
    int64_t sample_every, sample_len, top_k;
    double temperature;
    int bf16;                    /* --dtype bf16: bf16 compute copy of weights and activations */
    int profile;                 /* time every op (st_graph_set_profile) and the optimizer */
    double peak_gflops;          /* --peak-gflops: the MFU reference (0: unknown) */
    const char *partition;       /* --partition: scheme text, "auto", or NULL (ddp; strata-train's
                                  * main makes it "auto" under mpirun) */
    st_comm *comm;               /* borrowed; NULL or one rank: a plain single-process run */
    train_stats *stats;          /* filled at the end of train_run when not NULL */
} train_opts;

/* Defaults: model tiny, 50 steps, batch 8, lr 1e-3, accumulation 1, evaluation every 0 (only at
 * the end when a validation split exists), 4 evaluation batches, seed 1337, samples of 64
 * tokens at temperature 1 with top-k 40 (when --sample-every is given). */
void train_opts_default(train_opts *o);

/* Parses argv into *o. Returns 0 on success, 1 when --help was asked (usage printed to out),
 * -1 on bad input with a message in err. */
int train_parse_args(int argc, char **argv, train_opts *o, FILE *out, char *err, size_t errlen);

/* Prints the per-op breakdown of s (op, ms per step, share, calls per step) and the throughput:
 * GFLOP/s, and MFU against peak_gflops when it is > 0. */
void train_print_stats(const train_stats *s, double peak_gflops, FILE *out);

/* Runs the training described by o on the default device (STRATA_BACKEND). Progress lines go to
 * `progress` (may be NULL). losses, when not NULL, has `steps` entries: the loss of step i (0-based)
 * goes to losses[i] for the steps this run takes (after a resume, from the saved step on). Returns 0,
 * or -1 with a message in err.
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
