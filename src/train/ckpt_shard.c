/* strata-train's checkpoints of multi-rank runs (ckpt.h): the shard engine's checkpoint with the run's
 * state in its index, and the conversions that let a single-process checkpoint resume a multi-rank run
 * and the reverse. The conversions read and write the engine's file layout (shard_ckpt.c, format 1:
 * "shard-K-of-COUNT.safetensors" holding "params", "adamw.m", "adamw.v" of elements
 * [K shard_len, ...) cut at P, and an index with strata.shard.* metadata), the one place outside
 * the engine that knows it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ckpt.h"
#include "train_dist.h"

#define SK "strata.shard."

static void entry_path(char *buf, size_t n, const char *dir, int kind)
{
    snprintf(buf, n, "%s/%s", dir, kind == CKPT_SHARDED ? "index.safetensors" : "model.safetensors");
}

static void shard_file(char *buf, size_t n, const char *dir, int64_t k, int64_t count)
{
    snprintf(buf, n, "%s/shard-%05lld-of-%05lld.safetensors", dir, (long long)k, (long long)count);
}

/* Integer metadata `key` of f; -1 when absent or not a count. */
static int64_t meta_i64(const st_safetensors *f, const char *key)
{
    const char *v = st_safetensors_meta(f, key);
    char *end = NULL;
    long long x = v ? strtoll(v, &end, 10) : -1;
    return v && *v && !*end && x >= 0 ? x : -1;
}

static int64_t entry_step(const char *dir, int kind)
{
    char path[4096];
    st_safetensors *f;
    entry_path(path, sizeof path, dir, kind);
    if (st_safetensors_open(path, &f) != ST_OK) return -1;
    int64_t step = meta_i64(f, "step");
    st_safetensors_destroy(f);
    return step;
}

int ckpt_kind(const char *dir)
{
    char a[4096], b[4096];
    struct stat sb;
    entry_path(a, sizeof a, dir, CKPT_PLAIN);
    entry_path(b, sizeof b, dir, CKPT_SHARDED);
    int plain = stat(a, &sb) == 0, sharded = stat(b, &sb) == 0;
    if (plain && sharded)
        return entry_step(dir, CKPT_PLAIN) > entry_step(dir, CKPT_SHARDED) ? CKPT_PLAIN : CKPT_SHARDED;
    return sharded ? CKPT_SHARDED : plain ? CKPT_PLAIN : CKPT_NONE;
}

void ckpt_drop_other(const char *dir, int kept)
{
    char path[4096];
    entry_path(path, sizeof path, dir, kept == CKPT_SHARDED ? CKPT_PLAIN : CKPT_SHARDED);
    unlink(path);
}

int ckpt_shard_save(const char *dir, st_shard_state *s, st_comm *c, const gpt2_config *cfg,
                    const train_opts *o, int64_t step, char *err, size_t errlen)
{
    st_ckpt_meta meta[CKPT_N_META];
    char vals[CKPT_N_META][32];
    ckpt_meta_fill(meta, vals, cfg, o, step);
    if (st_shard_save(s, dir, meta, CKPT_N_META) != ST_OK) {
        snprintf(err, errlen, "writing the sharded checkpoint in %s: %s", dir, st_last_error());
        return -1;
    }
    if (st_comm_rank(c) == 0) ckpt_drop_other(dir, CKPT_SHARDED);
    return 0;
}

/* The partitioned length: the end of the arena's last parameter (shard.h's P). */
static int64_t partitioned_len(st_params *ps)
{
    int64_t P = 1;
    for (int i = 0; i < st_params_count(ps); i++) {
        st_param_info in;
        st_params_info(ps, i, &in);
        if (in.offset + in.numel > P) P = in.offset + in.numel;
    }
    return P;
}

/* The trainer's metadata of DIR's entry file of `kind`, checked against the run. */
static int check_entry(const char *dir, int kind, const gpt2_config *cfg, const train_opts *o, int64_t *step,
                       char *err, size_t errlen)
{
    char path[4096];
    st_safetensors *f;
    entry_path(path, sizeof path, dir, kind);
    if (st_safetensors_open(path, &f) != ST_OK) {
        snprintf(err, errlen, "cannot resume: %s", st_last_error());
        return -1;
    }
    int rc = ckpt_meta_check(f, cfg, o, step, err, errlen);
    st_safetensors_destroy(f);
    return rc;
}

/* h (a single-process checkpoint) as a one-shard engine checkpoint in `out`. */
static st_status write_one_shard(const char *out, const ckpt_host *h, int64_t P)
{
    char path[4096], sp[32], ss[32], scheme[128];
    st_partition ddp = {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE};
    st_partition_format(&ddp, scheme, sizeof scheme);
    snprintf(sp, sizeof sp, "%" PRId64, P);
    snprintf(ss, sizeof ss, "%" PRId64, h->step);
    if (mkdir(out, 0777) != 0 && errno != EEXIST)
        return ST_ERR_IO;
    st_ckpt_meta fm[] = {{SK "format", "1"}, {SK "P", sp}, {SK "count", "1"}, {SK "step", ss},
                         {SK "index", "0"}, {SK "begin", "0"}};
    st_ckpt_tensor t[3] = {{"params", ST_F32, 1, {P}, h->p}, {"adamw.m", ST_F32, 1, {P}, h->m},
                           {"adamw.v", ST_F32, 1, {P}, h->v}};
    shard_file(path, sizeof path, out, 0, 1);
    st_status s = st_safetensors_write(path, t, 3, fm, 6);
    st_ckpt_meta im[] = {{SK "format", "1"}, {SK "P", sp}, {SK "count", "1"}, {SK "shard_len", sp},
                         {SK "step", ss}, {SK "ranks", "1"}, {SK "scheme", scheme}};
    entry_path(path, sizeof path, out, CKPT_SHARDED);
    if (!s) s = st_safetensors_write(path, NULL, 0, im, 7);
    return s;
}

static void remove_one_shard(const char *out)
{
    char path[4096];
    entry_path(path, sizeof path, out, CKPT_SHARDED);
    unlink(path);
    shard_file(path, sizeof path, out, 0, 1);
    unlink(path);
    rmdir(out);
}

/* Single-process checkpoint into the engine: rank 0 rewrites it as a one-shard engine checkpoint,
 * which every rank then loads (resharding as any engine checkpoint). */
static int resume_from_plain(const char *dir, st_shard_state *s, st_comm *c, st_params *ps,
                             const gpt2_config *cfg, const train_opts *o, char *err, size_t errlen)
{
    char out[3968]; /* room for the file names under it in 4096 */
    snprintf(out, sizeof out, "%s/from-plain", dir);
    int rc = 0;
    if (st_comm_rank(c) == 0) {
        ckpt_host h;
        rc = ckpt_read(dir, ps, cfg, o, &h, err, errlen);
        if (!rc && write_one_shard(out, &h, partitioned_len(ps)) != ST_OK) {
            snprintf(err, errlen, "converting %s's single-process checkpoint in %s: %s", dir, out, st_last_error());
            rc = -1;
        }
        ckpt_host_free(&h);
    }
    if (dist_agree(c, rc, err, errlen)) return -1;
    if (st_shard_load(s, out) != ST_OK) {
        snprintf(err, errlen, "resuming from %s (converted in %s): %s", dir, out, st_last_error());
        rc = -1;
    }
    if (st_comm_rank(c) == 0) remove_one_shard(out); /* st_shard_load returns once every rank read */
    return rc;
}

int ckpt_shard_resume(const char *dir, st_shard_state *s, st_comm *c, st_params *ps, const gpt2_config *cfg,
                      const train_opts *o, int64_t *step, char *err, size_t errlen)
{
    int kind = ckpt_kind(dir);
    int same = 0;
    if (dist_same(c, kind, &same) != ST_OK || !same) {
        snprintf(err, errlen, "ranks see different checkpoints in %s: --ckpt must be shared by every rank", dir);
        return -1;
    }
    if (kind == CKPT_NONE) return 1;
    int rc = check_entry(dir, kind, cfg, o, step, err, errlen);
    if (dist_agree(c, rc, err, errlen)) return -1;
    if (kind == CKPT_PLAIN) return resume_from_plain(dir, s, c, ps, cfg, o, err, errlen);
    if (st_shard_load(s, dir) != ST_OK) {
        snprintf(err, errlen, "resuming from %s: %s", dir, st_last_error());
        return -1;
    }
    return 0;
}

/* Shard file k of `count` (elements [b, b + n)) into h at b. */
static st_status read_shard(const char *dir, int64_t k, int64_t count, int64_t b, int64_t n, ckpt_host *h)
{
    char path[4096];
    st_safetensors *f;
    shard_file(path, sizeof path, dir, k, count);
    st_status s = st_safetensors_open(path, &f);
    if (s) return s;
    static const char *const names[3] = {"params", "adamw.m", "adamw.v"};
    float *dst[3] = {h->p + b, h->m + b, h->v + b};
    s = meta_i64(f, SK "index") == k && meta_i64(f, SK "count") == count ? ST_OK : ST_ERR_FORMAT;
    for (int i = 0; i < 3 && !s; i++) s = st_safetensors_read(f, names[i], dst[i], (size_t)n * sizeof(float));
    st_safetensors_destroy(f);
    return s;
}

/* Every shard of DIR's engine checkpoint into h (h->n elements, zero past P). */
static int read_sharded(const char *dir, int64_t P, ckpt_host *h, char *err, size_t errlen)
{
    char path[4096];
    st_safetensors *f;
    entry_path(path, sizeof path, dir, CKPT_SHARDED);
    if (st_safetensors_open(path, &f) != ST_OK) {
        snprintf(err, errlen, "cannot resume: %s", st_last_error());
        return -1;
    }
    int64_t fP = meta_i64(f, SK "P"), count = meta_i64(f, SK "count"), len = meta_i64(f, SK "shard_len");
    int64_t fmt = meta_i64(f, SK "format");
    st_safetensors_destroy(f);
    if (fmt != 1 || fP != P || count < 1 || len < 1 || count * len < P) {
        snprintf(err, errlen, "cannot resume from %s: format %lld, %lld elements in %lld shards of %lld (this "
                 "model partitions %lld)", path, (long long)fmt, (long long)fP, (long long)count, (long long)len,
                 (long long)P);
        return -1;
    }
    for (int64_t k = 0; k < count && k * len < P; k++) {
        int64_t b = k * len, n = b + len < P ? len : P - b;
        if (read_shard(dir, k, count, b, n, h) != ST_OK) {
            snprintf(err, errlen, "cannot resume from %s: shard %lld of %lld: %s", dir, (long long)k,
                     (long long)count, st_last_error());
            return -1;
        }
    }
    return 0;
}

int ckpt_load_sharded(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
                      const train_opts *o, int64_t *step, char *err, size_t errlen)
{
    st_tensor *flat;
    st_params_flat(ps, &flat, NULL, NULL);
    ckpt_host h = {.n = st_tensor_numel(flat)};
    if (check_entry(dir, CKPT_SHARDED, cfg, o, &h.step, err, errlen)) return -1;
    h.p = calloc((size_t)h.n + 1, sizeof(float));
    h.m = calloc((size_t)h.n + 1, sizeof(float));
    h.v = calloc((size_t)h.n + 1, sizeof(float));
    int rc = h.p && h.m && h.v ? read_sharded(dir, partitioned_len(ps), &h, err, errlen) : -1;
    if (!h.p || !h.m || !h.v) snprintf(err, errlen, "cannot resume: out of memory");
    if (!rc && ckpt_host_apply(&h, ps, opt) != ST_OK) {
        snprintf(err, errlen, "cannot resume from %s: %s", dir, st_last_error());
        rc = -1;
    }
    *step = h.step;
    ckpt_host_free(&h);
    return rc;
}
