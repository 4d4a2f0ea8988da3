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
#define FORMAT(s) ((s)->map->balanced ? "2" : "1")

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

/* Where the elements of W's range [w, w + n) lie in the arena, cut at P: pieces (arena offset, length)
 * in W order, as the "arena" tensor of a format-2 shard (four i32 words each). */
typedef struct arena_pieces {
    int32_t *word;
    int n, cap;
    int64_t P, w0, kept;
    float *buf; /* compacted in place: elements past P dropped (3 tensors of `stride`) */
    int64_t stride;
} arena_pieces;

static st_status keep_piece(void *ctx, int64_t w, int64_t a, int64_t n)
{
    arena_pieces *x = ctx;
    if (a >= x->P)
        return ST_OK;
    n = a + n > x->P ? x->P - a : n;
    if (x->n == x->cap) {
        int cap = x->cap ? 2 * x->cap : 64;
        int32_t *g = realloc(x->word, sizeof *g * 4 * (size_t)cap);
        if (!g)
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_save: layout of a shard");
        x->word = g;
        x->cap = cap;
    }
    int32_t *q = x->word + 4 * x->n++;
    q[0] = (int32_t)((uint64_t)a >> 32), q[1] = (int32_t)(uint32_t)a;
    q[2] = (int32_t)((uint64_t)n >> 32), q[3] = (int32_t)(uint32_t)n;
    for (int i = 0; i < 3; i++)
        memmove(x->buf + i * x->stride + x->kept, x->buf + i * x->stride + (w - x->w0), (size_t)n * sizeof(float));
    x->kept += n;
    return ST_OK;
}

static st_status write_shard(st_shard_state *s, const char *dir, const char *id)
{
    int balanced = s->map->balanced;
    int64_t b = s->off_o, e = s->off_o + s->len_o < s->P ? s->off_o + s->len_o : s->P, n = e > b ? e - b : 0;
    if (balanced)
        n = s->len_o;
    float *buf = malloc((size_t)(3 * n + 1) * sizeof(float));
    if (!buf)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_save: %lld-element shard", (long long)n);
    st_status st = s->master ? read_range(s->master, b - s->off_o, n, buf)  /* qw: the exact master */
                             : read_range(s->pshard, b - s->off_p, n, buf);
    if (st == ST_OK)
        st = read_range(s->m, 0, n, buf + n);
    if (st == ST_OK)
        st = read_range(s->v, 0, n, buf + 2 * n);
    arena_pieces x = {NULL, 0, 0, s->P, b, 0, buf, n};
    if (st == ST_OK && balanced)
        st = shard_map_each(s->map, b, n, keep_piece, &x);
    int64_t kept = balanced ? x.kept : n;
    char val[K_N][32], path[4096];
    int k = (int)(s->off_o / s->len_o);
    snprintf(val[K_P], 32, "%lld", (long long)s->P);
    snprintf(val[K_COUNT], 32, "%d", shard_count(s));
    snprintf(val[K_STEP], 32, "%lld", (long long)s->step);
    snprintf(val[K_INDEX], 32, "%d", k);
    snprintf(val[K_BEGIN], 32, "%lld", (long long)b);
    st_ckpt_meta meta[] = {{keys[K_FORMAT], FORMAT(s)}, {keys[K_P], val[K_P]}, {keys[K_COUNT], val[K_COUNT]},
                           {keys[K_STEP], val[K_STEP]}, {keys[K_INDEX], val[K_INDEX]},
                           {keys[K_BEGIN], val[K_BEGIN]}, {keys[K_ID], id}};
    st_ckpt_tensor t[4];
    for (int i = 0; i < 3; i++)
        t[i] = (st_ckpt_tensor){tensor_names[i], ST_F32, 1, {kept}, buf + i * n};
    t[3] = (st_ckpt_tensor){"arena", ST_I32, 2, {x.n, 4}, x.word};
    shard_path(path, sizeof path, dir, k, shard_count(s));
    if (st == ST_OK)
        st = st_safetensors_write(path, t, balanced ? 4 : 3, meta, 7);
    free(buf);
    free(x.word);
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
    meta[0] = (st_ckpt_meta){keys[K_FORMAT], FORMAT(s)};
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
    ST_TRY(shard_drain(s));
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

/* Pieces of the arena's vector: [a, a + n) at position pos of a host buffer. A rank's needs (its
 * parameter and optim shards, in its own layout) and a file's contents (in the layout it was saved
 * in) are both lists of pieces; loading copies their overlaps, so any layout loads into any other. */
typedef struct piece {
    int64_t a, pos, n;
} piece;

typedef struct pieces {
    piece *p;
    int n, cap;
} pieces;

static st_status pieces_push(pieces *l, int64_t a, int64_t pos, int64_t n)
{
    if (n <= 0)
        return ST_OK;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        piece *g = realloc(l->p, sizeof *g * (size_t)cap);
        if (!g)
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_load: host allocation failed");
        l->p = g;
        l->cap = cap;
    }
    l->p[l->n++] = (piece){a, pos, n};
    return ST_OK;
}

typedef struct need {
    pieces in;
    float *dst;
} need;

typedef struct need_ctx {
    pieces *l;
    int64_t w0, P;
} need_ctx;

static st_status need_piece(void *ctx, int64_t w, int64_t a, int64_t n)
{
    need_ctx *x = ctx;
    if (a >= x->P)
        return ST_OK; /* padding: stays zero */
    return pieces_push(x->l, a, w - x->w0, a + n > x->P ? x->P - a : n);
}

/* This rank's W range [w, w + len) as pieces of the arena cut at P. */
static st_status need_pieces(const st_shard_state *s, int64_t w, int64_t len, int64_t P, need *nd)
{
    need_ctx x = {&nd->in, w, P};
    return shard_map_each(s->map, w, len, need_piece, &x);
}

static int overlaps(const pieces *f, const need *nd)
{
    for (int i = 0; i < f->n; i++)
        for (int j = 0; j < nd->in.n; j++)
            if (f->p[i].a < nd->in.p[j].a + nd->in.p[j].n && nd->in.p[j].a < f->p[i].a + f->p[i].n)
                return 1;
    return 0;
}

/* Copies every overlap of the file's pieces (values in src) into the needed ones. */
static void take(const pieces *f, const float *src, const need *nd)
{
    for (int i = 0; i < f->n; i++)
        for (int j = 0; j < nd->in.n; j++) {
            const piece *x = &f->p[i], *y = &nd->in.p[j];
            int64_t lo = x->a > y->a ? x->a : y->a, hi = x->a + x->n < y->a + y->n ? x->a + x->n : y->a + y->n;
            if (lo < hi)
                memcpy(nd->dst + y->pos + (lo - y->a), src + x->pos + (lo - x->a), (size_t)(hi - lo) * sizeof(float));
        }
}

/* A format-2 file's "arena" tensor as pieces; they must lie in [0, P) and hold *total elements. */
static st_status file_pieces(const st_safetensors *f, const char *path, int64_t P, pieces *out, int64_t *total)
{
    st_ckpt_info info;
    ST_TRY(st_safetensors_find(f, "arena", &info));
    if (info.dtype != ST_I32 || info.ndim != 2 || info.shape[1] != 4 || info.shape[0] > (1 << 26))
        return ST_ERR(ST_ERR_FORMAT, "sharded checkpoint %s: tensor 'arena' must be i32 of n x 4", path);
    int32_t *w = malloc(info.bytes + 16);
    st_status st = w ? st_safetensors_read(f, "arena", w, info.bytes)
                     : ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_load: host allocation failed");
    *total = 0;
    for (int64_t i = 0; i < info.shape[0] && st == ST_OK; i++) {
        int64_t a = (int64_t)((uint64_t)(uint32_t)w[4 * i] << 32 | (uint32_t)w[4 * i + 1]);
        int64_t n = (int64_t)((uint64_t)(uint32_t)w[4 * i + 2] << 32 | (uint32_t)w[4 * i + 3]);
        if (a < 0 || n < 0 || a > P || n > P - a)
            st = ST_ERR(ST_ERR_FORMAT, "sharded checkpoint %s: piece %lld of 'arena' ([%lld, + %lld)) lies "
                        "outside [0, %lld)", path, (long long)i, (long long)a, (long long)n, (long long)P);
        else
            st = pieces_push(out, a, *total, n);
        *total += n;
    }
    free(w);
    return st;
}

/* What every shard file of a save must say, as its index says it. */
typedef struct shard_expect {
    int64_t format, P, count, step, len;
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

/* Reads shard file k (format 1: the arena's [b, b + n); format 2: its "arena" pieces) into
 * whatever `nds` need. */
static st_status load_file(const char *dir, int k, const shard_expect *x, int64_t b, int64_t n, need nds[3])
{
    char path[4096];
    shard_path(path, sizeof path, dir, k, (int)x->count);
    st_safetensors *f = NULL;
    ST_TRY(st_safetensors_open(path, &f));
    pieces fp = {NULL, 0, 0};
    st_status st = check_shard(f, path, k, x);
    if (st == ST_OK && x->format == 2)
        st = file_pieces(f, path, x->P, &fp, &n);
    else if (st == ST_OK)
        st = pieces_push(&fp, b, 0, n);
    float *buf = st == ST_OK ? malloc((size_t)(n + 1) * sizeof(float)) : NULL;
    if (st == ST_OK && !buf)
        st = ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_load: %lld elements", (long long)n);
    for (int i = 0; i < 3 && st == ST_OK; i++) {
        if (!overlaps(&fp, &nds[i]))
            continue;
        st = st_safetensors_read(f, tensor_names[i], buf, (size_t)n * sizeof(float));
        if (st == ST_OK)
            take(&fp, buf, &nds[i]);
    }
    free(buf);
    free(fp.p);
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
    st_status st = meta_int(f, path, K_FORMAT, 1, 2, &x->format);
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
    need nds[3] = {{{NULL, 0, 0}, hp}, {{NULL, 0, 0}, hm}, {{NULL, 0, 0}, hv}};
    st_status st = need_pieces(s, s->off_p, s->len_p, x.P, &nds[0]);
    if (st == ST_OK)
        st = need_pieces(s, s->off_o, s->len_o, x.P, &nds[1]);
    if (st == ST_OK)
        st = need_pieces(s, s->off_o, s->len_o, x.P, &nds[2]);
    /* format 1 names its ranges in the index: only the files that overlap are opened */
    for (int64_t k = 0; k < x.count && st == ST_OK; k++) {
        int64_t b = k * x.len, n = b + x.len < x.P ? x.len : x.P - b;
        pieces range = {&(piece){b, 0, n}, 1, 1};
        if (x.format == 1 && (n <= 0 || !(overlaps(&range, &nds[0]) || overlaps(&range, &nds[1]))))
            continue;
        st = load_file(dir, (int)k, &x, b, n, nds);
    }
    for (int i = 0; i < 3; i++)
        free(nds[i].in.p);
    ST_TRY(st);
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
    ST_TRY(shard_drain(s));
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
