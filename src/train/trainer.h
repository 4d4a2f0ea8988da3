/* strata-train's training loop, apart from its command line so that tests can drive it: options,
 * the run (data, model, AdamW with warmup + cosine, accumulation, clipping, evaluation, logs). */
#ifndef STRATA_TRAIN_TRAINER_H
#define STRATA_TRAIN_TRAINER_H

#include <stdint.h>
#include <stdio.h>

typedef struct train_opts {
    const char *data, *val, *model, *log;
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
} train_opts;

/* Defaults: model tiny, 50 steps, batch 8, lr 1e-3, accumulation 1, evaluation every 0 (only at
 * the end when a validation split exists), 4 evaluation batches, seed 1337, samples of 64
 * tokens at temperature 1 with top-k 40 (when --sample-every is given). */
void train_opts_default(train_opts *o);

/* Parses argv into *o. Returns 0 on success, 1 when --help was asked (usage printed to out),
 * -1 on bad input with a message in err. */
int train_parse_args(int argc, char **argv, train_opts *o, FILE *out, char *err, size_t errlen);

/* Runs the training described by o on the default device (STRATA_BACKEND). Progress lines go to
 * `progress` (may be NULL). losses, when not NULL, has `steps` entries: the loss of step i (0-based)
 * goes to losses[i] for the steps this run takes (after a resume, from the saved step on). Returns 0,
 * or -1 with a message in err. */
int train_run(const train_opts *o, FILE *progress, float *losses, char *err, size_t errlen);

#endif
