/* strata-train's multi-rank model state (internal): the shard engine for the run's scheme, and what
 * each kind of state costs this rank as the device allocator counts it. */
#ifndef STRATA_TRAIN_TRAIN_SHARD_H
#define STRATA_TRAIN_TRAIN_SHARD_H

#include <stdint.h>
#include <stdio.h>
#include "strata/strata.h"

typedef struct train_shard {
    st_shard_state *s;          /* NULL in a single-process run */
    st_partition p;
    uint64_t arena_bytes;       /* allocator delta of st_params_create: parameter and gradient arenas */
    uint64_t engine_bytes;      /* allocator delta of st_shard_create: the engine's persistent state */
    uint64_t released_bytes;    /* allocator drop at attach: the arenas of the sharded kinds freed */
} train_shard;

/* Creates the engine for scheme *p over c's ranks on the set ps (collective), measuring what it
 * allocates. Returns 0, or -1 with a message in err. */
int train_shard_create(train_shard *t, st_params *ps, st_comm *c, const st_partition *p,
                       const st_adamw_config *ac, char *err, size_t errlen);

/* Attaches the compiled plan so that sharded parameters are gathered and sharded gradients
 * reduced unit by unit inside forward/backward (st_shard_attach_graph), which frees the full
 * arenas of those kinds; then resets the device's peak so that it measures training. Returns 0,
 * or -1 with a message in err. */
int train_shard_attach(train_shard *t, st_graph_plan *plan, st_device *dev, char *err, size_t errlen);

/* One line naming the scheme and what each kind of state is sharded over. */
void train_shard_describe(const train_shard *t, FILE *out);

/* The end-of-run memory figures: per kind of state (engine runs), the allocator's deltas, and the
 * device's peak tensor bytes; to `progress` as text and to `log` as a JSON "summary" line (either
 * may be NULL). */
void train_shard_report(const train_shard *t, st_device *dev, FILE *progress, FILE *log);

/* Frees the engine (not the arenas). */
void train_shard_destroy(train_shard *t);

#endif
