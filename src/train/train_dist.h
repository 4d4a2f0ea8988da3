/* strata-train across ranks (internal): agreement on errors, the scalar and gradient all-reduces,
 * per-level bytes of a step, rank binding and the --partition choice. With a NULL communicator or
 * one rank every function is local and moves nothing, so a plain run behaves as it always did. */
#ifndef STRATA_TRAIN_TRAIN_DIST_H
#define STRATA_TRAIN_TRAIN_DIST_H

#include <stdint.h>
#include <stdio.h>
#include "strata/strata.h"
#include "gpt2.h"

/* Collective: every rank says whether it failed (err holding its message). Returns 0 when no rank
 * failed, else -1 on every rank; a rank that did not fail gets the message of the lowest failing
 * rank, prefixed "rank R: ", in err. A failure of the agreement itself also gives -1. */
int dist_agree(st_comm *c, int failed, char *err, size_t errlen);

/* Collective: in place, v[0..n) becomes the sum over ranks (n <= 8). */
st_status dist_sum(st_comm *c, float *v, int n);

/* Collective: *same = 1 when every rank passed the same v. */
st_status dist_same(st_comm *c, int64_t v, int *same);

/* Bytes this rank sent at each level over every collective since the last st_comm_bytes_reset. */
void dist_level_bytes(const st_comm *c, uint64_t out[ST_LEVEL_COUNT]);

/* Seconds this rank spent in each level's collective calls since the last st_comm_bytes_reset. */
void dist_level_seconds(const st_comm *c, double out[ST_LEVEL_COUNT]);

/* Binds this process to cores near its device (st_topo_bind_rank) when c has several ranks; a
 * failure is only noted on `note` by rank 0. */
void dist_bind(st_comm *c, FILE *note);

/* The scheme the run uses, into *out: the text of --partition (NULL = ddp; "auto" = the planner's
 * fastest scheme that fits, its explanation printed on `progress` by rank 0). With one rank (or no
 * communicator) always ddp: there is nothing to partition over. Returns 0, or -1 with a message
 * in err (a bad scheme, or nothing fits). */
int dist_partition(st_comm *c, const char *text, const gpt2_config *cfg, int64_t n_params, int64_t batch,
                   int64_t grad_accum, FILE *progress, st_partition *out, char *err, size_t errlen);

#endif
