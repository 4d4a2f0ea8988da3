/* Bucketing of small whole units (issue 17): the rule the shard engine's balanced layout
 * (shard_layout.c) and the planner's unit model (plan_units.c) both apply, so that the planner
 * predicts the collectives the engine runs. docs/partitioning.md, "the balanced layout". */
#ifndef STRATA_SHARD_BUCKET_H
#define STRATA_SHARD_BUCKET_H

#include <stdint.h>
#include "strata/status.h"

/* The default threshold in elements: 1 Mi elements (4 MiB of f32), see shard_bucket.c. */
#define SHARD_BUCKET_DEFAULT (UINT64_C(1) << 20)

/* The threshold in elements: STRATA_SHARD_BUCKET (a decimal count; 0 = no bucketing) or the
 * default. Errors: ST_ERR_INVALID_ARG (a value that is not a non-negative decimal integer). */
st_status shard_bucket_threshold(uint64_t *out);

/* Merges consecutive units (in index order) smaller than `threshold` elements: a unit below it
 * opens a bucket (or joins the open one) and the bucket closes once it holds `threshold` or more;
 * a unit of `threshold` or more stays alone (closing any open bucket first). merged_of[k]
 * receives unit k's bucket; returns the bucket count. threshold 0: every unit alone. A bucket
 * holds less than 2 threshold elements unless it is one unit. */
int shard_bucket_merge(const uint64_t *numel, int n, uint64_t threshold, int *merged_of);

#endif
