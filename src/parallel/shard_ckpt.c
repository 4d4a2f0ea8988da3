/* Sharded checkpoints: one safetensors file per optim shard (parameters, m, v of its element
 * range), written by the rank holding that shard's first copy, and an index written by rank 0 once
 * every shard is on disk. Loading reads whatever ranges this rank's shards need from every file,
 * so a checkpoint loads into any rank count and scheme. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "comm_internal.h"
#include "shard_internal.h"
#include "strata/checkpoint.h"

#define KEY_PREFIX "strata.shard."
#define FORMAT "1"

enum { K_FORMAT, K_P, K_COUNT, K_LEN, K_STEP, K_INDEX, K_BEGIN, K_RANKS, K_SCHEME, K_ID, K_N };
static const char *const keys[K_N] = {KEY_PREFIX "format", KEY_PREFIX "P", KEY_PREFIX "count",
                                      KEY_PREFIX "shard_len", KEY_PREFIX "step", KEY_PREFIX "index",
                                      KEY_PREFIX "begin", KEY_PREFIX "ranks", KEY_PREFIX "scheme",
                                      KEY_PREFIX "id"};
static const char *const tensor_names[3] = {"params", "adamw.m", "adamw.v"};

/* Every rank learns whether any rank failed; a rank that failed returns its own error. */
static st_status agree_ok(st_shard_state *s, st_status local, const char *what)
{
    float failed = local != ST_OK;
    ST_TRY(shard_sum_scalar(s->c, &failed));
    if (local != ST_OK)
        return local;
    if (failed > 0)
        return ST_ERR(ST_ERR_IO, "sharded checkpoint: %s failed on %d other rank(s) (see their errors)", what,
                      (int)failed);
    return ST_OK;
}

static int shard_count(const st_shard_state *s) { return (int)(s->L / s->len_o); }

static void shard_path(char *buf, size_t size, const char *dir, int k, int count)
{
    snprintf(buf, size, "%s/shard-%05d-of-%05d.safetensors", dir, k, count);
}

/* Host copy of elements [off, off + n) of t. */
static st_status read_range(st_tensor *t, int64_t off, int64_t n, float *dst)
{
    if (n <= 0)
        return ST_OK;
    st_tensor *v = NULL;
    ST_TRY(shard_view(t, off, n, &v));
    st_status st = st_tensor_read(v, dst, (size_t)n * sizeof(float));
    st_tensor_destroy(v);
    return st;
}

static st_status write_shard(st_shard_state *s, const char *dir, const char *id)
{
    int64_t b = s->off_o, e = s->off_o + s->len_o < s->P ? s->off_o + s->len_o : s->P, n = e > b ? e - b : 0;
    float *buf = malloc((size_t)(3 * n + 1) * sizeof(float));
    if (!buf)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_save: %lld-element shard", (long long)n);
    st_status st = s->master ? read_range(s->master, b - s->off_o, n, buf)  /* qw: the exact master */
                             : read_range(s->pshard, b - s->off_p, n, buf);
    if (st == ST_OK)
        st = read_range(s->m, 0, n, buf + n);
    if (st == ST_OK)
        st = read_range(s->v, 0, n, buf + 2 * n);
    char val[K_N][32], path[4096];
    int k = (int)(s->off_o / s->len_o);
    snprintf(val[K_P], 32, "%lld", (long long)s->P);
    snprintf(val[K_COUNT], 32, "%d", shard_count(s));
    snprintf(val[K_STEP], 32, "%lld", (long long)s->step);
    snprintf(val[K_INDEX], 32, "%d", k);
    snprintf(val[K_BEGIN], 32, "%lld", (long long)b);
    st_ckpt_meta meta[] = {{keys[K_FORMAT], FORMAT}, {keys[K_P], val[K_P]}, {keys[K_COUNT], val[K_COUNT]},
                           {keys[K_STEP], val[K_STEP]}, {keys[K_INDEX], val[K_INDEX]},
                           {keys[K_BEGIN], val[K_BEGIN]}, {keys[K_ID], id}};
    st_ckpt_tensor t[3];
    for (int i = 0; i < 3; i++)
        t[i] = (st_ckpt_tensor){tensor_names[i], ST_F32, 1, {n}, buf + i * n};
    shard_path(path, sizeof path, dir, k, shard_count(s));
    if (st == ST_OK)
        st = st_safetensors_write(path, t, 3, meta, 7);
    free(buf);
    return st;
}

static st_status write_index(st_shard_state *s, const char *dir, const char *id, const st_ckpt_meta *user,
                             int nuser)
{
    char val[K_N][64], path[4096];
    snprintf(val[K_P], 64, "%lld", (long long)s->P);
    snprintf(val[K_COUNT], 64, "%d", shard_count(s));
    snprintf(val[K_LEN], 64, "%lld", (long long)s->len_o);
    snprintf(val[K_STEP], 64, "%lld", (long long)s->step);
    snprintf(val[K_RANKS], 64, "%d", s->N);
    st_partition_format(&s->p, val[K_SCHEME], 64);
    snprintf(val[K_ID], 64, "%s", id);
    st_ckpt_meta *meta = malloc((size_t)(8 + nuser) * sizeof *meta);
    if (!meta)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_save: index metadata");
    meta[0] = (st_ckpt_meta){keys[K_FORMAT], FORMAT};
    int at = 1;
    for (int i = K_P; i <= K_ID; i++)
        if (i != K_INDEX && i != K_BEGIN)
            meta[at++] = (st_ckpt_meta){keys[i], val[i]};
    for (int i = 0; i < nuser; i++)
        meta[at++] = user[i];
    snprintf(path, sizeof path, "%s/index.safetensors", dir);
    st_status st = st_safetensors_write(path, NULL, 0, meta, at);
    free(meta);
    return st;
}

/* One id for this save on every rank: 64 random bits drawn by rank 0, in every shard file and the
 * index, so that a loader can tell a shard of this save from one of any other (a stale file). */
static st_status save_id(st_shard_state *s, char id[17])
{
    uint32_t w[2] = {0, 0};
    if (st_comm_rank(s->c) == 0 && getrandom(w, sizeof w, 0) != (ssize_t)sizeof w) {
        struct timespec ts; /* no entropy source: the clock, which differs between saves anyway */
        clock_gettime(CLOCK_REALTIME, &ts);
        w[0] = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
        w[1] = (uint32_t)ts.tv_sec;
    }
    if (comm_has_mpi(s->c))
        ST_TRY(comm_mpi_broadcast(s->c, ST_SCOPE_WORLD, w, 2, COMM_I32, 0));
    snprintf(id, 17, "%08x%08x", w[0], w[1]);
    return ST_OK;
}

st_status st_shard_save(st_shard_state *s, const char *dir, const st_ckpt_meta *meta, int nmeta)
{
    if (!s || !dir || nmeta < 0 || (nmeta > 0 && !meta))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_save: NULL argument or negative metadata count");
    st_status local = ST_OK;
    for (int i = 0; i < nmeta && local == ST_OK; i++)
        if (!meta[i].key || strncmp(meta[i].key, KEY_PREFIX, strlen(KEY_PREFIX)) == 0)
            local = ST_ERR(ST_ERR_INVALID_ARG, "st_shard_save: metadata key '%s' is NULL or reserved (%s*)",
                           meta[i].key ? meta[i].key : "(null)", KEY_PREFIX);
    if (local == ST_OK && mkdir(dir, 0777) != 0 && errno != EEXIST)
        local = ST_ERR(ST_ERR_IO, "st_shard_save: mkdir %s: %s", dir, strerror(errno));
    char id[17];
    ST_TRY(save_id(s, id));
    if (local == ST_OK && shard_first_copy(s->c, (int)s->p.optim))
        local = write_shard(s, dir, id);
    ST_TRY(agree_ok(s, local, "writing a shard"));
    local = st_comm_rank(s->c) == 0 ? write_index(s, dir, id, meta, nmeta) : ST_OK;
    return agree_ok(s, local, "writing the index");
}

/* Metadata `key` of f as an integer in [lo, hi]. */
static st_status meta_int(const st_safetensors *f, const char *path, int key, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = st_safetensors_meta(f, keys[key]);
    char *end = NULL;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi)
        return ST_ERR(ST_ERR_FORMAT, "sharded checkpoint %s: metadata %s is %s%s%s, expected an integer in "
                      "[%lld, %lld]", path, keys[key], v ? "'" : "", v ? v : "missing", v ? "'" : "",
                      (long long)lo, (long long)hi);
    *out = x;
    return ST_OK;
}

/* Element ranges: what this rank needs (params and optim shards, cut at P) and what it gets. */
typedef struct need {
    int64_t begin, len;
    float *dst;
} need;

/* Copies the overlap of file range [b, b + n) (values in src) into the needed range. */
static void take(const need *nd, int64_t b, int64_t n, const float *src)
{
    int64_t lo = b > nd->begin ? b : nd->begin, hi = b + n < nd->begin + nd->len ? b + n : nd->begin + nd->len;
    if (lo < hi)
        memcpy(nd->dst + (lo - nd->begin), src + (lo - b), (size_t)(hi - lo) * sizeof(float));
}

static int overlaps(const need *nd, int64_t b, int64_t n) { return b < nd->begin + nd->len && nd->begin < b + n; }

/* What every shard file of a save must say, as its index says it. */
typedef struct shard_expect {
    int64_t P, count, step, len;
    const char *id; /* NULL for a checkpoint written before saves had ids */
} shard_expect;

/* The shard file's identity against the index: P, count, step, its index and first element, and the
 * save's id; any difference is a file of another save (ST_ERR_FORMAT naming the field). */
static st_status check_shard(const st_safetensors *f, const char *path, int k, const shard_expect *x)
{
    int64_t v[5], want[5] = {x->P, x->count, x->step, k, (int64_t)k * x->len};
    const int key[5] = {K_P, K_COUNT, K_STEP, K_INDEX, K_BEGIN};
    for (int i = 0; i < 5; i++) {
        ST_TRY(meta_int(f, path, key[i], 0, INT64_MAX, &v[i]));
        if (v[i] != want[i])
            return ST_ERR(ST_ERR_FORMAT, "sharded checkpoint %s: %s is %lld but the index says %lld (a shard of "
                          "another save)", path, keys[key[i]], (long long)v[i], (long long)want[i]);
    }
    const char *id = st_safetensors_meta(f, keys[K_ID]);
    if (x->id && (!id || strcmp(id, x->id) != 0))
        return ST_ERR(ST_ERR_FORMAT, "sharded checkpoint %s: %s is '%.40s' but the index says '%s' (a shard of "
                      "another save)", path, keys[K_ID], id ? id : "missing", x->id);
    return ST_OK;
}

/* Reads the shard file k (range [b, b + n)) into whatever `nds` need. */
static st_status load_file(const char *dir, int k, const shard_expect *x, int64_t b, int64_t n, need nds[3])
{
    char path[4096];
    shard_path(path, sizeof path, dir, k, (int)x->count);
    st_safetensors *f = NULL;
    ST_TRY(st_safetensors_open(path, &f));
    float *buf = malloc((size_t)(n + 1) * sizeof(float));
    st_status st = buf ? check_shard(f, path, k, x)
                       : ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_load: %lld elements", (long long)n);
    for (int i = 0; i < 3 && st == ST_OK; i++) {
        if (!overlaps(&nds[i], b, n))
            continue;
        st = st_safetensors_read(f, tensor_names[i], buf, (size_t)n * sizeof(float));
        if (st == ST_OK)
            take(&nds[i], b, n, buf);
    }
    free(buf);
    st_safetensors_destroy(f);
    return st;
}

static st_status write_back(st_tensor *t, const float *h, int64_t n)
{
    return st_tensor_write(t, h, (size_t)n * sizeof(float));
}

/* The index of dir: format, P (must be this model's), count, shard length, step and the save's id. */
static st_status read_index(st_shard_state *s, const char *dir, shard_expect *x, char id[64])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.safetensors", dir);
    st_safetensors *f = NULL;
    ST_TRY(st_safetensors_open(path, &f));
    int64_t fmt = 0;
    st_status st = meta_int(f, path, K_FORMAT, 1, 1, &fmt);
    if (st == ST_OK)
        st = meta_int(f, path, K_P, 1, INT64_MAX / 2, &x->P);
    if (st == ST_OK && x->P != s->P)
        st = ST_ERR(ST_ERR_FORMAT, "sharded checkpoint %s holds %lld elements but this model partitions %lld",
                    path, (long long)x->P, (long long)s->P);
    if (st == ST_OK)
        st = meta_int(f, path, K_COUNT, 1, 1 << 24, &x->count);
    if (st == ST_OK)
        st = meta_int(f, path, K_LEN, 1, INT64_MAX / (1 << 24), &x->len);
    if (st == ST_OK)
        st = meta_int(f, path, K_STEP, 0, INT64_MAX, &x->step);
    const char *v = st_safetensors_meta(f, keys[K_ID]);
    x->id = v ? id : NULL;
    if (v)
        snprintf(id, 64, "%s", v);
    st_safetensors_destroy(f);
    if (st == ST_OK && x->count * x->len < x->P)
        st = ST_ERR(ST_ERR_FORMAT, "sharded checkpoint %s: %lld shards of %lld elements do not cover %lld", path,
                    (long long)x->count, (long long)x->len, (long long)x->P);
    return st;
}

/* Every shard file whose range overlaps this rank's needs is read and checked against the index;
 * since the optim shards of the ranks tile [0, P), every file is checked by some rank, and
 * st_shard_load's agreement makes one rank's refusal every rank's. */
static st_status load_local(st_shard_state *s, const char *dir, float *hp, float *hm, float *hv)
{
    shard_expect x;
    char id[64];
    ST_TRY(read_index(s, dir, &x, id));
    int64_t P = x.P;
    /* Needed ranges cut at P; what lies past P is padding and stays zero. */
    int64_t np = s->off_p + s->len_p < P ? s->len_p : (P > s->off_p ? P - s->off_p : 0);
    int64_t no = s->off_o + s->len_o < P ? s->len_o : (P > s->off_o ? P - s->off_o : 0);
    need nds[3] = {{s->off_p, np, hp}, {s->off_o, no, hm}, {s->off_o, no, hv}};
    for (int64_t k = 0; k < x.count; k++) {
        int64_t b = k * x.len, n = b + x.len < P ? x.len : P - b;
        if (n <= 0 || !(overlaps(&nds[0], b, n) || overlaps(&nds[1], b, n)))
            continue;
        ST_TRY(load_file(dir, (int)k, &x, b, n, nds));
    }
    ST_TRY(write_back(s->pshard, hp, s->len_p));
    ST_TRY(write_back(s->m, hm, s->len_o));
    ST_TRY(write_back(s->v, hv, s->len_o));
    s->step = x.step;
    return shard_sync_arena_params(s);
}

st_status st_shard_load(st_shard_state *s, const char *dir)
{
    if (!s || !dir)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_load: NULL argument");
    float *hp = calloc((size_t)s->len_p, sizeof(float));
    float *hm = calloc((size_t)s->len_o, sizeof(float));
    float *hv = calloc((size_t)s->len_o, sizeof(float));
    st_status local = hp && hm && hv ? load_local(s, dir, hp, hm, hv)
                                     : ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_load: host buffers");
    free(hp);
    free(hm);
    free(hv);
    ST_TRY(agree_ok(s, local, "loading"));
    return shard_quant_sync(s); /* qw: quantize the loaded master, as after an update */
}
