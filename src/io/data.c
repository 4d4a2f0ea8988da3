/* Training data (data.h): byte or llm.c token files, memory-mapped read-only, a train/validation
 * split and deterministic batches. Not a tokenizer: llm.c files come tokenized already. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"
#include "io_file.h"
#include "strata/data.h"

#define LLMC_TOKENS_MAGIC 20240520   /* uint16 tokens (llm.c's "gpt-2" header) */
#define LLMC_TOKENS_VERSION 1
#define LLMC_TOKENS32_MAGIC 20240801 /* uint32 tokens (llm.c's "llama-3" header) */
#define LLMC_TOKENS32_VERSION 7
#define LLMC_HEADER_BYTES 1024

/* One mapped file: its tokens are `ntok` uint8 (bytes) or uint16/uint32 (llm.c) at `tok`. */
typedef struct data_file {
    void *map;
    size_t map_bytes;
    st_data_format format;
    int width;              /* bytes per token: 1, 2 or 4 */
    const void *tok;
    int64_t ntok;
} data_file;

struct st_dataset {
    data_file files[2];     /* training file, optional validation file */
    st_data_format format;
    int32_t vocab;
    const void *base[2];    /* first token of each split */
    int64_t n[2];           /* tokens in each split */
};

static st_status llmc_tokens_check(const char *path, const int32_t *hdr, int64_t size, data_file *f)
{
    if (size < LLMC_HEADER_BYTES)
        return ST_ERR(ST_ERR_FORMAT, "'%s': llm.c token file truncated: %lld bytes, header needs %d",
                      path, (long long)size, LLMC_HEADER_BYTES);
    int wide = hdr[0] == LLMC_TOKENS32_MAGIC;
    int version = wide ? LLMC_TOKENS32_VERSION : LLMC_TOKENS_VERSION;
    if (hdr[1] != version)
        return ST_ERR(ST_ERR_FORMAT, "'%s': llm.c token file (magic %d) version %d, expected %d",
                      path, hdr[0], hdr[1], version);
    if (hdr[2] <= 0)
        return ST_ERR(ST_ERR_FORMAT, "'%s': llm.c token count %d in header, must be positive", path,
                      hdr[2]);
    int64_t want = LLMC_HEADER_BYTES + (wide ? 4 : 2) * (int64_t)hdr[2];
    if (size != want)
        return ST_ERR(ST_ERR_FORMAT,
                      "'%s': header says %d tokens (%lld bytes) but the file has %lld bytes (%s)",
                      path, hdr[2], (long long)want, (long long)size,
                      size < want ? "truncated" : "trailing bytes");
    f->format = ST_DATA_LLMC;
    f->width = wide ? 4 : 2;
    f->tok = (const char *)hdr + LLMC_HEADER_BYTES;
    f->ntok = hdr[2];
    return ST_OK;
}

/* Maps `path` and finds its tokens; `want` is the requested format (AUTO detects). */
static st_status data_file_open(const char *path, st_data_format want, data_file *f)
{
    int fd;
    int64_t size;
    ST_TRY(st_io_open_read(path, &fd, &size));
    if (size == 0) {
        close(fd);
        return ST_ERR(ST_ERR_FORMAT, "'%s' is empty: no tokens", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ST_ERR(ST_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
    f->map = map;
    f->map_bytes = (size_t)size;
    int32_t magic = 0;
    if (size >= 4) memcpy(&magic, map, 4);
    st_status s = ST_OK;
    if ((magic == LLMC_TOKENS_MAGIC || magic == LLMC_TOKENS32_MAGIC) && want != ST_DATA_BYTES) {
        s = llmc_tokens_check(path, map, size, f);
    } else if (want == ST_DATA_LLMC) {
        s = ST_ERR(ST_ERR_FORMAT, "'%s' is not an llm.c token file: magic %d, expected %d or %d",
                   path, magic, LLMC_TOKENS_MAGIC, LLMC_TOKENS32_MAGIC);
    } else {
        f->format = ST_DATA_BYTES;
        f->width = 1;
        f->tok = map;
        f->ntok = size;
    }
    if (s != ST_OK) {
        munmap(map, (size_t)size);
        f->map = NULL;
    }
    return s;
}

static int32_t data_file_max_token(const data_file *f)
{
    int32_t m = 0;
    if (f->format == ST_DATA_BYTES) {
        const uint8_t *t = f->tok;
        for (int64_t i = 0; i < f->ntok && m < 255; i++) m = t[i] > m ? t[i] : m;
    } else if (f->width == 2) {
        const uint16_t *t = f->tok;
        for (int64_t i = 0; i < f->ntok; i++) m = t[i] > m ? t[i] : m;
    } else {
        const uint32_t *t = f->tok;
        uint32_t u = 0;
        for (int64_t i = 0; i < f->ntok; i++) u = t[i] > u ? t[i] : u;
        m = u > INT32_MAX ? -1 : (int32_t)u; /* -1: refused by the caller */
    }
    return m;
}

/* Splits the files into train and validation, and settles the vocabulary. */
static st_status dataset_layout(st_dataset *ds, const st_dataset_options *o, int has_val)
{
    data_file *tr = &ds->files[0];
    size_t esz = (size_t)tr->width;
    ds->base[0] = tr->tok;
    ds->n[0] = tr->ntok;
    if (has_val) {
        ds->base[1] = ds->files[1].tok;
        ds->n[1] = ds->files[1].ntok;
    } else {
        int64_t nval = (int64_t)((double)tr->ntok * o->val_fraction);
        ds->n[0] = tr->ntok - nval;
        ds->n[1] = nval;
        ds->base[1] = (const char *)tr->tok + (size_t)ds->n[0] * esz;
    }
    int32_t mx = data_file_max_token(tr);
    if (has_val) {
        int32_t mv = data_file_max_token(&ds->files[1]);
        mx = mv < 0 || mx < 0 ? -1 : mv > mx ? mv : mx;
    }
    if (mx < 0) return ST_ERR(ST_ERR_FORMAT, "the data holds a token id above 2^31 - 1");
    if (o->vocab_size > 0 && o->vocab_size <= mx)
        return ST_ERR(ST_ERR_INVALID_ARG, "vocab_size %d too small: the data holds token %d",
                      o->vocab_size, mx);
    ds->vocab = o->vocab_size > 0 ? o->vocab_size : ds->format == ST_DATA_BYTES ? 256 : mx + 1;
    return ST_OK;
}

st_status st_dataset_open(const char *path, const st_dataset_options *opt, st_dataset **out)
{
    static const st_dataset_options defaults = {0};
    const st_dataset_options *o = opt ? opt : &defaults;
    if (!path || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_dataset_open: NULL path or out");
    if (!(o->val_fraction >= 0.0 && o->val_fraction < 1.0))
        return ST_ERR(ST_ERR_INVALID_ARG, "val_fraction %g outside [0, 1)", o->val_fraction);
    if (o->format < ST_DATA_AUTO || o->format > ST_DATA_LLMC || o->vocab_size < 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "bad dataset format %d or vocab_size %d", (int)o->format,
                      o->vocab_size);
    st_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "dataset handle");
    st_status s = data_file_open(path, o->format, &ds->files[0]);
    ds->format = ds->files[0].format;
    if (s == ST_OK && o->val_path) {
        s = data_file_open(o->val_path, o->format, &ds->files[1]);
        if (s == ST_OK && ds->files[1].format == ds->format && ds->files[1].width != ds->files[0].width)
            s = ST_ERR(ST_ERR_FORMAT, "validation file '%s' has %d-byte tokens but '%s' %d-byte",
                       o->val_path, ds->files[1].width, path, ds->files[0].width);
        else if (s == ST_OK && ds->files[1].format != ds->format)
            s = ST_ERR(ST_ERR_FORMAT, "validation file '%s' is %s but '%s' is %s", o->val_path,
                       ds->files[1].format == ST_DATA_LLMC ? "llm.c tokens" : "bytes", path,
                       ds->format == ST_DATA_LLMC ? "llm.c tokens" : "bytes");
    }
    if (s == ST_OK) s = dataset_layout(ds, o, o->val_path != NULL);
    if (s != ST_OK) {
        st_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return ST_OK;
}

void st_dataset_destroy(st_dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < 2; i++)
        if (ds->files[i].map) munmap(ds->files[i].map, ds->files[i].map_bytes);
    free(ds);
}

st_data_format st_dataset_format(const st_dataset *ds) { return ds ? ds->format : ST_DATA_AUTO; }

int32_t st_dataset_vocab(const st_dataset *ds) { return ds ? ds->vocab : 0; }

int64_t st_dataset_tokens(const st_dataset *ds, st_split split)
{
    if (!ds || (split != ST_SPLIT_TRAIN && split != ST_SPLIT_VAL)) return 0;
    return ds->n[split];
}

/* Copies n tokens from position p of a split, widening to int32. */
static void copy_tokens(const st_dataset *ds, st_split split, int64_t p, int64_t n, int32_t *out)
{
    if (ds->format == ST_DATA_BYTES) {
        const uint8_t *t = (const uint8_t *)ds->base[split] + p;
        for (int64_t i = 0; i < n; i++) out[i] = t[i];
    } else if (ds->files[0].width == 2) {
        const uint16_t *t = (const uint16_t *)ds->base[split] + p;
        for (int64_t i = 0; i < n; i++) out[i] = t[i];
    } else {
        const uint32_t *t = (const uint32_t *)ds->base[split] + p;
        for (int64_t i = 0; i < n; i++) out[i] = (int32_t)t[i];
    }
}

st_status st_dataset_read(const st_dataset *ds, st_split split, int64_t start, int64_t n,
                          int32_t *out)
{
    if (!ds || !out || (split != ST_SPLIT_TRAIN && split != ST_SPLIT_VAL))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_dataset_read: NULL dataset/out or bad split");
    if (start < 0 || n < 0 || start > ds->n[split] || n > ds->n[split] - start)
        return ST_ERR(ST_ERR_INVALID_ARG, "tokens [%lld, %lld + %lld) outside the split's %lld",
                      (long long)start, (long long)start, (long long)n, (long long)ds->n[split]);
    copy_tokens(ds, split, start, n, out);
    return ST_OK;
}

/* splitmix64: one step of its counter, then its finaliser. */
static uint64_t splitmix(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Start of global row `row` in [0, range): a pure function of (seed, step, row). The 128-bit
 * multiply maps the hash to the range without modulo bias worth speaking of. */
static int64_t row_start(uint64_t seed, uint64_t step, uint64_t row, int64_t range)
{
    uint64_t h = splitmix(splitmix(splitmix(seed) ^ step) ^ row);
    return (int64_t)(((unsigned __int128)h * (uint64_t)range) >> 64);
}

st_status st_dataset_batch_rank(const st_dataset *ds, st_split split, int64_t B, int64_t T,
                                uint64_t seed, uint64_t step, int rank, int world,
                                int32_t *inputs, int32_t *targets)
{
    if (!ds || !inputs || !targets || (split != ST_SPLIT_TRAIN && split != ST_SPLIT_VAL))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_dataset_batch: NULL dataset/outputs or bad split");
    if (world < 1 || rank < 0 || rank >= world)
        return ST_ERR(ST_ERR_INVALID_ARG, "rank %d of world %d", rank, world);
    int64_t bt, rows;
    if (B < 1 || T < 1 || !st_io_mul(B, T, &bt) || !st_io_mul(B, world, &rows) ||
        bt > INT64_MAX / 8)
        return ST_ERR(ST_ERR_INVALID_ARG, "batch B=%lld T=%lld invalid (both must be >= 1)",
                      (long long)B, (long long)T);
    int64_t n = ds->n[split];
    if (T >= n)
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "sequence T=%lld needs %lld tokens but the %s split has %lld", (long long)T,
                      (long long)T + 1, split == ST_SPLIT_TRAIN ? "train" : "validation",
                      (long long)n);
    for (int64_t b = 0; b < B; b++) {
        int64_t p = row_start(seed, step, (uint64_t)(rank * B + b), n - T);
        copy_tokens(ds, split, p, T, inputs + b * T);
        copy_tokens(ds, split, p + 1, T, targets + b * T);
    }
    return ST_OK;
}

st_status st_dataset_batch(const st_dataset *ds, st_split split, int64_t B, int64_t T,
                           uint64_t seed, uint64_t step, int32_t *inputs, int32_t *targets)
{
    return st_dataset_batch_rank(ds, split, B, T, seed, step, 0, 1, inputs, targets);
}
