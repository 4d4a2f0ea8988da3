/* strata-train's checkpoints of multi-rank runs (ckpt.h): the shard engine's checkpoint with the run's
 * state in its index, and the conversions that let a single-process checkpoint resume a multi-rank run
 * and the reverse. The conversions read and write the engine's file layout (shard_ckpt.c, format 1:
 * "shard-K-of-COUNT.safetensors" holding "params", "adamw.m", "adamw.v" of elements
 * [K shard_len, ...) cut at P, and an index with strata.shard.* metadata; format 2, the balanced
 * layout: the same tensors hold pieces of the arena's vector that the file's "arena" tensor lists,
 * i32 n x 4: offset and length as high and low words), the one place outside the engine that
 * knows it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ckpt.h"
#include "ckpt_hf.h"
#include "train_dist.h"

#define SK "strata.shard."

static void entry_path(char *buf, size_t n, const char *dir, int kind)
{
    ckpt_entry_file(buf, n, dir, kind);
}

static void shard_file(char *buf, size_t n, const char *dir, int64_t k, int64_t count)
{
    snprintf(buf, n, "%s/shard-%05lld-of-%05lld.safetensors", dir, (long long)k, (long long)count);
}

/* Integer metadata `key` of f; -1 when absent or not a count. */
static int64_t meta_i64(const st_safetensors *f, const char *key)
{
    return ckpt_parse_count(st_safetensors_meta(f, key));
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
    snprintf(a, sizeof a, "%s/" CKPT_STATE_FILE, dir);
    if (stat(a, &sb) == 0) return CKPT_PLAIN;
    /* else model.safetensors: the older single-process layout, or beside an index the Hugging Face copy
     * of a sharded checkpoint (which has no step: the index wins) */
    snprintf(a, sizeof a, "%s/model.safetensors", dir);
    entry_path(b, sizeof b, dir, CKPT_SHARDED);
    int plain = stat(a, &sb) == 0, sharded = stat(b, &sb) == 0;
    if (plain && sharded)
        return entry_step(dir, CKPT_PLAIN) > entry_step(dir, CKPT_SHARDED) ? CKPT_PLAIN : CKPT_SHARDED;
    return sharded ? CKPT_SHARDED : plain ? CKPT_PLAIN : CKPT_NONE;
}

static int64_t partitioned_len(st_params *ps);
static int read_sharded(const char *dir, int64_t P, int64_t step, ckpt_host *h, char *err, size_t errlen);

int ckpt_shard_save(const char *dir, st_shard_state *s, st_comm *c, st_params *ps, const gpt2_config *cfg,
                    const train_opts *o, int64_t step, char *err, size_t errlen)
{
    st_ckpt_meta meta[CKPT_N_META];
    char vals[CKPT_N_META][32];
    ckpt_meta_fill(meta, vals, cfg, o, step);
    if (st_shard_save(s, dir, meta, CKPT_N_META) != ST_OK) {
        snprintf(err, errlen, "writing the sharded checkpoint in %s: %s", dir, st_last_error());
        return -1;
    }
    if (st_comm_rank(c) != 0) return 0;
    /* every shard is written (st_shard_save agreed on it): rank 0 assembles the Hugging Face files */
    st_tensor *flat;
    st_params_flat(ps, &flat, NULL, NULL);
    ckpt_host h = {.n = st_tensor_numel(flat)};
    h.p = calloc((size_t)h.n + 1, sizeof(float));
    h.m = calloc((size_t)h.n + 1, sizeof(float));
    h.v = calloc((size_t)h.n + 1, sizeof(float));
    int rc = h.p && h.m && h.v ? read_sharded(dir, partitioned_len(ps), step, &h, err, errlen) : -1;
    if (!h.p || !h.m || !h.v) snprintf(err, errlen, "checkpoint: out of host memory for the Hugging Face copy");
    if (!rc) rc = hf_write_dir(dir, ps, cfg, h.p, err, errlen);
    ckpt_host_free(&h);
    return rc;
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

/* h (a single-process checkpoint) as a one-shard engine checkpoint in `out`. Returns 0 or -1 with err. */
static int write_one_shard(const char *out, const ckpt_host *h, int64_t P, char *err, size_t errlen)
{
    char path[4096], sp[32], ss[32], scheme[128];
    st_partition ddp = {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, 0, 0, 0, 0};
    st_partition_format(&ddp, scheme, sizeof scheme);
    snprintf(sp, sizeof sp, "%" PRId64, P);
    snprintf(ss, sizeof ss, "%" PRId64, h->step);
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "converting a single-process checkpoint: cannot create %s: %s", out, strerror(errno));
        return -1;
    }
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
    if (s) snprintf(err, errlen, "converting a single-process checkpoint in %s: %s", out, st_last_error());
    return s ? -1 : 0;
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

/* Single-process checkpoint into the engine: rank 0 rewrites it as a one-shard engine checkpoint
 * in ROOT/.partial-from-plain (a staging name: removed as stale if this run dies first), which
 * every rank then loads (resharding as any engine checkpoint). */
static int resume_from_plain(const char *root, const char *dir, st_shard_state *s, st_comm *c, st_params *ps,
                             const gpt2_config *cfg, const train_opts *o, char *err, size_t errlen)
{
    char out[3968]; /* room for the file names under it in 4096 */
    snprintf(out, sizeof out, "%.3900s/.partial-from-plain", root);
    int rc = 0;
    if (st_comm_rank(c) == 0) {
        ckpt_host h;
        rc = ckpt_read(dir, ps, cfg, o, &h, err, errlen);
        if (!rc) rc = write_one_shard(out, &h, partitioned_len(ps), err, errlen);
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

int ckpt_shard_resume(const char *root, const ckpt_source *src, st_shard_state *s, st_comm *c, st_params *ps,
                      const gpt2_config *cfg, const train_opts *o, int64_t *step, char *err, size_t errlen)
{
    if (src->kind == CKPT_NONE) return 1;
    int rc = check_entry(src->path, src->kind, cfg, o, step, err, errlen);
    if (dist_agree(c, rc, err, errlen)) return -1;
    if (src->kind == CKPT_PLAIN) return resume_from_plain(root, src->path, s, c, ps, cfg, o, err, errlen);
    if (st_shard_load(s, src->path) != ST_OK) {
        snprintf(err, errlen, "resuming from %s: %s", src->path, st_last_error());
        return -1;
    }
    return 0;
}

/* What the index of a sharded checkpoint says every shard file must match. */
typedef struct index_info {
    int64_t format, P, count, len, step;
    char id[64]; /* "" for a checkpoint written before saves had ids */
} index_info;

/* A format-2 shard: its "arena" pieces, then each tensor's values scattered to them (all below P). */
static st_status read_pieces(const st_safetensors *f, const char *path, int64_t P, ckpt_host *h, char *why,
                             size_t whylen)
{
    st_ckpt_info info;
    st_status s = st_safetensors_find(f, "arena", &info);
    if (!s && (info.dtype != ST_I32 || info.ndim != 2 || info.shape[1] != 4 || info.shape[0] > (1 << 26))) {
        snprintf(why, whylen, "%.600s: tensor 'arena' is not i32 of n x 4", path);
        s = ST_ERR_FORMAT;
    }
    if (s) return s;
    int64_t np = info.shape[0], total = 0;
    int32_t *w = malloc(info.bytes + 16);
    int64_t *piece = malloc(sizeof(int64_t) * 2 * (size_t)(np + 1));
    s = w && piece ? st_safetensors_read(f, "arena", w, info.bytes) : ST_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < np && !s; i++) {
        int64_t a = (int64_t)((uint64_t)(uint32_t)w[4 * i] << 32 | (uint32_t)w[4 * i + 1]);
        int64_t n = (int64_t)((uint64_t)(uint32_t)w[4 * i + 2] << 32 | (uint32_t)w[4 * i + 3]);
        if (a < 0 || n < 0 || a > P || n > P - a || P > h->n) {
            snprintf(why, whylen, "%.600s: piece %lld of 'arena' lies outside [0, %lld)", path, (long long)i, (long long)P);
            s = ST_ERR_FORMAT;
        }
        piece[2 * i] = a, piece[2 * i + 1] = n, total += n;
    }
    float *buf = s ? NULL : malloc(sizeof(float) * (size_t)(total + 1));
    if (!s && !buf) s = ST_ERR_OUT_OF_MEMORY;
    static const char *const names[3] = {"params", "adamw.m", "adamw.v"};
    float *dst[3] = {h->p, h->m, h->v};
    for (int t = 0; t < 3 && !s; t++) {
        s = st_safetensors_read(f, names[t], buf, (size_t)total * sizeof(float));
        for (int64_t i = 0, at = 0; i < np && !s; at += piece[2 * i + 1], i++)
            memcpy(dst[t] + piece[2 * i], buf + at, sizeof(float) * (size_t)piece[2 * i + 1]);
    }
    free(buf), free(piece), free(w);
    return s;
}

/* Shard file k (elements [b, b + n)) into h at b, after checking that it belongs to the save the
 * index describes: P, count, step, its index and first element, and the save's id. */
static st_status read_shard(const char *dir, int64_t k, const index_info *x, int64_t b, int64_t n, ckpt_host *h,
                            char *why, size_t whylen)
{
    char path[4096];
    st_safetensors *f;
    shard_file(path, sizeof path, dir, k, x->count);
    st_status s = st_safetensors_open(path, &f);
    if (s) return s;
    static const char *const keys[5] = {SK "P", SK "count", SK "step", SK "index", SK "begin"};
    const int64_t want[5] = {x->P, x->count, x->step, k, b};
    for (int i = 0; i < 5 && !s; i++) {
        int64_t v = meta_i64(f, keys[i]);
        if (v != want[i]) {
            snprintf(why, whylen, "%.600s: %s is %lld but the index says %lld (a shard of another save)", path, keys[i],
                     (long long)v, (long long)want[i]);
            s = ST_ERR_FORMAT;
        }
    }
    const char *id = st_safetensors_meta(f, SK "id");
    if (!s && *x->id && (!id || strcmp(id, x->id) != 0)) {
        snprintf(why, whylen, "%.600s: %sid is '%.40s' but the index says '%s' (a shard of another save)", path, SK,
                 id ? id : "missing", x->id);
        s = ST_ERR_FORMAT;
    }
    static const char *const names[3] = {"params", "adamw.m", "adamw.v"};
    if (!s && x->format == 2) s = read_pieces(f, path, x->P, h, why, whylen);
    float *dst[3] = {h->p + b, h->m + b, h->v + b};
    for (int i = 0; i < 3 && !s && x->format == 1; i++)
        s = st_safetensors_read(f, names[i], dst[i], (size_t)n * sizeof(float));
    st_safetensors_destroy(f);
    return s;
}

/* DIR's index: format 1 or 2, this model's P, a count and shard length covering it, the step, the id. */
static int read_index(const char *dir, int64_t P, index_info *x, char *err, size_t errlen)
{
    char path[4096];
    st_safetensors *f;
    entry_path(path, sizeof path, dir, CKPT_SHARDED);
    if (st_safetensors_open(path, &f) != ST_OK) {
        snprintf(err, errlen, "cannot resume: %s", st_last_error());
        return -1;
    }
    int64_t fmt = x->format = meta_i64(f, SK "format");
    x->P = meta_i64(f, SK "P");
    x->count = meta_i64(f, SK "count");
    x->len = meta_i64(f, SK "shard_len");
    x->step = meta_i64(f, SK "step");
    const char *id = st_safetensors_meta(f, SK "id");
    snprintf(x->id, sizeof x->id, "%s", id ? id : "");
    st_safetensors_destroy(f);
    /* count and len bounded before their product (which the index could make overflow) */
    int64_t cover;
    if ((fmt != 1 && fmt != 2) || x->P != P || x->count < 1 || x->count > (1 << 24) || x->len < 1 || x->step < 0 ||
        __builtin_mul_overflow(x->count, x->len, &cover) || cover < P) {
        snprintf(err, errlen, "cannot resume from %s: format %lld, %lld elements in %lld shards of %lld, step %lld "
                 "(this model partitions %lld)", path, (long long)fmt, (long long)x->P, (long long)x->count,
                 (long long)x->len, (long long)x->step, (long long)P);
        return -1;
    }
    return 0;
}

/* Every shard of DIR's engine checkpoint into h (h->n elements, zero past P). Every shard file is
 * read, so each one's step and identity are checked against the index. */
static int read_sharded(const char *dir, int64_t P, int64_t step, ckpt_host *h, char *err, size_t errlen)
{
    index_info x;
    if (read_index(dir, P, &x, err, errlen)) return -1;
    if (x.step != step) {
        snprintf(err, errlen, "cannot resume from %s: the index's shard step %lld differs from its run step %lld",
                 dir, (long long)x.step, (long long)step);
        return -1;
    }
    for (int64_t k = 0; k < x.count && (x.format == 2 || k * x.len < P); k++) { /* format 2: W's order */
        int64_t b = k * x.len, n = b + x.len < P ? x.len : P - b;
        char why[1024] = "";
        st_status s = read_shard(dir, k, &x, b, n, h, why, sizeof why);
        if (s != ST_OK) {
            snprintf(err, errlen, "cannot resume from %s: shard %lld of %lld: %s", dir, (long long)k,
                     (long long)x.count, *why ? why : st_last_error());
            return -1;
        }
    }
    return 0;
}

int ckpt_sharded_params(const char *dir, st_params *ps, float *p, char *err, size_t errlen)
{
    st_tensor *flat;
    st_params_flat(ps, &flat, NULL, NULL);
    ckpt_host h = {.n = st_tensor_numel(flat), .p = p};
    int64_t step = entry_step(dir, CKPT_SHARDED);
    h.m = calloc((size_t)h.n + 1, sizeof(float));
    h.v = calloc((size_t)h.n + 1, sizeof(float));
    int rc = h.m && h.v ? read_sharded(dir, partitioned_len(ps), step, &h, err, errlen) : -1;
    if (!h.m || !h.v) snprintf(err, errlen, "reading %s: out of host memory", dir);
    free(h.m), free(h.v);
    return rc;
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
    int rc = h.p && h.m && h.v ? read_sharded(dir, partitioned_len(ps), h.step, &h, err, errlen) : -1;
    if (!h.p || !h.m || !h.v) snprintf(err, errlen, "cannot resume: out of memory");
    if (!rc && ckpt_host_apply(&h, ps, opt) != ST_OK) {
        snprintf(err, errlen, "cannot resume from %s: %s", dir, st_last_error());
        rc = -1;
    }
    *step = h.step;
    ckpt_host_free(&h);
    return rc;
}
