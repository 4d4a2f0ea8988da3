/* Bucketing of small whole units (shard_bucket.h).
 * The default, 1 Mi elements (4 MiB of f32 parameters): a collective of that size moves for
 * ~160 us at 25 GB/s (one HDR InfiniBand or Slingshot NIC per GPU), several times the 5-20 us
 * of latency each ring step or level adds, so a unit of that size is bandwidth-bound on the slow
 * level while a final LayerNorm (2 C elements) or a small model's block (12 C^2 + 13 C: 0.2 Mi at
 * C = 128) alone would be latency-bound. It is a fiftieth of DeepSpeed ZeRO-3's prefetch bucket
 * (stage3_prefetch_bucket_size 5e7) and a hundredth of FSDP's size_based_auto_wrap_policy
 * (min_num_params 1e8): those group whole models' worth of layers for billion-parameter models;
 * this one only joins units too small to fill the link, so GPT blocks from C = 288 up
 * (12 C^2 > 1 Mi) stay one unit each and the engine's "two gathered units" memory bound
 * changes by at most a bucket (< 2 Mi elements). */
#include <errno.h>
#include <stdlib.h>
#include "internal.h"
#include "shard_bucket.h"

st_status shard_bucket_threshold(uint64_t *out)
{
    const char *e = getenv("STRATA_SHARD_BUCKET");
    *out = SHARD_BUCKET_DEFAULT;
    if (!e || !*e)
        return ST_OK;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(e, &end, 10);
    if (errno || *end || *e < '0' || *e > '9')
        return ST_ERR(ST_ERR_INVALID_ARG, "STRATA_SHARD_BUCKET='%s': not a count of elements (0 = no bucketing)", e);
    *out = (uint64_t)v;
    return ST_OK;
}

int shard_bucket_merge(const uint64_t *numel, int n, uint64_t threshold, int *merged_of)
{
    int count = 0, open = 0;
    uint64_t size = 0;
    for (int k = 0; k < n; k++) {
        if (open && numel[k] < threshold) {
            merged_of[k] = count - 1;
            size += numel[k];
        } else {
            merged_of[k] = count++;
            size = numel[k];
        }
        open = threshold > 0 && size < threshold;
    }
    return count;
}
