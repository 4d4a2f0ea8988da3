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
    const char *dtype;         /* --dtype f32|bf16: Strata's compute precision */
    const char *peer;          /* --peer torch|none (default torch: run when it can) */
    const char *peer_modes;    /* --peer-modes: the peer's modes, "f32,bf16" by default */
    double peer_timeout;       /* --peer-timeout S */
} train_args;

/* PyTorch's CPU training of the same model and batch (bench_peer.c). */
typedef struct bench_peer_opts {
    int enabled;
    const char *modes; /* "f32,bf16", "f32" or "bf16" */
    double timeout_s;
} bench_peer_opts;

/* Runs scripts/torch_peer.py through STRATA_PYTHON, the repository's .venv or python3 (a child
 * process, killed at the timeout) for t's model, batch and steps with the OpenMP thread count;
 * fills t->peer: the modes' step times, or the reason it was skipped. */
void bench_peer_run(const bench_peer_opts *o, bench_train_result *t);

/* The peer's lines beside Strata's step (stdout): step times and PyTorch ms / Strata ms. */
void bench_peer_print(const bench_train_result *t);

/* Random bytes, 8 (T + 1) of them, into a new file from the mkstemp template `path` (modified):
 * the trainer's 10% validation split then holds fewer than T + 1 tokens, so no evaluation pass runs
 * inside the timed loop. 1 on success. */
int bench_train_write_data(char *path, int64_t seq);

/* The multi-rank benchmark: every scheme of a.partition through train_run over `comm`, measured and
 * set beside the planner's prediction (bench_train_dist.c). Collective; returns the exit status. */
int bench_train_dist(const train_args *a, st_comm *comm, bench_report *r);

#endif
