/* Import of llm.c model checkpoints (checkpoint.h): header validation and the parameters, in the
 * file's order, under GPT-2 Hugging Face names. Reads f32 (version 3) files only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "io_file.h"
#include "strata/checkpoint.h"

#define LLMC_MODEL_MAGIC 20240326
#define LLMC_MODEL_VERSION 3
#define LLMC_HEADER_BYTES 1024
#define LLMC_ARRAYS 16

/* The 16 arrays in file order: llm.c's name, the HF name (a printf format taking the layer for
 * per-layer arrays), and whether it is stacked over layers. */
static const struct {
    const char *llmc, *hf;
    int per_layer;
} arrays[LLMC_ARRAYS] = {
    {"wte", "wte.weight", 0},                   {"wpe", "wpe.weight", 0},
    {"ln1w", "h.%d.ln_1.weight", 1},            {"ln1b", "h.%d.ln_1.bias", 1},
    {"qkvw", "h.%d.attn.c_attn.weight", 1},     {"qkvb", "h.%d.attn.c_attn.bias", 1},
    {"attprojw", "h.%d.attn.c_proj.weight", 1}, {"attprojb", "h.%d.attn.c_proj.bias", 1},
    {"ln2w", "h.%d.ln_2.weight", 1},            {"ln2b", "h.%d.ln_2.bias", 1},
    {"fcw", "h.%d.mlp.c_fc.weight", 1},         {"fcb", "h.%d.mlp.c_fc.bias", 1},
    {"fcprojw", "h.%d.mlp.c_proj.weight", 1},   {"fcprojb", "h.%d.mlp.c_proj.bias", 1},
    {"lnfw", "ln_f.weight", 0},                 {"lnfb", "ln_f.bias", 0},
};

typedef struct llmc_param {
    char name[48];
    int ndim;
    int64_t shape[2];
    int64_t offset, bytes; /* in the file */
} llmc_param;

struct st_llmc_model {
    int fd;
    char *path;
    st_llmc_config cfg;
    int64_t num_params;
    int64_t array_offset[LLMC_ARRAYS], array_numel[LLMC_ARRAYS]; /* whole stacked arrays */
    llmc_param *params;
    int nparams;
};

/* Shape of one layer's slice of array k (the whole array for wte, wpe, lnfw, lnfb). */
static int slice_shape(const st_llmc_config *c, int k, int64_t shape[2])
{
    static const int rows[LLMC_ARRAYS] = {0, 0, 1, 1, 3, 3, 1, 1, 1, 1, 4, 4, 1, 1, 1, 1};
    static const int two_d[LLMC_ARRAYS] = {1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0};
    int64_t C = c->channels;
    if (k == 0 || k == 1) {
        shape[0] = k == 0 ? c->padded_vocab_size : c->max_seq_len;
        shape[1] = C;
        return 2;
    }
    shape[0] = rows[k] * C;
    shape[1] = k == 12 ? 4 * C : C;
    return two_d[k] ? 2 : 1;
}

/* Offsets of the arrays and the total size; ST_ERR_FORMAT when the sizes overflow. */
static st_status layout(st_llmc_model *m)
{
    int64_t at = 0;
    for (int k = 0; k < LLMC_ARRAYS; k++) {
        int64_t s[2], n;
        int nd = slice_shape(&m->cfg, k, s);
        int ok = st_io_mul(s[0], nd == 2 ? s[1] : 1, &n) &&
                 st_io_mul(n, arrays[k].per_layer ? m->cfg.num_layers : 1, &n) &&
                 !__builtin_add_overflow(at, n, &at) && at < INT64_MAX / 8;
        if (!ok) return ST_ERR(ST_ERR_FORMAT, "'%s': model sizes overflow", m->path);
        m->array_offset[k] = at - n;
        m->array_numel[k] = n;
    }
    m->num_params = at;
    return ST_OK;
}

static st_status check_header(st_llmc_model *m, const int32_t *h, int64_t size)
{
    if (h[0] != LLMC_MODEL_MAGIC)
        return ST_ERR(ST_ERR_FORMAT, "'%s': bad magic %d, expected %d (llm.c model file)", m->path,
                      h[0], LLMC_MODEL_MAGIC);
    if (h[1] != LLMC_MODEL_VERSION)
        return ST_ERR(ST_ERR_FORMAT, "'%s': version %d, only %d (f32) is supported", m->path, h[1],
                      LLMC_MODEL_VERSION);
    static const char *const field[6] = {"maxT", "V", "L", "NH", "C", "Vp"};
    for (int i = 0; i < 6; i++)
        if (h[2 + i] <= 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s': header %s = %d, must be positive", m->path,
                          field[i], h[2 + i]);
    m->cfg = (st_llmc_config){h[2], h[3], h[4], h[5], h[6], h[7]};
    if (m->cfg.num_layers > (INT32_MAX - 4) / 12)
        return ST_ERR(ST_ERR_FORMAT, "'%s': L = %d layers is implausible", m->path, m->cfg.num_layers);
    if (m->cfg.channels % m->cfg.num_heads != 0)
        return ST_ERR(ST_ERR_FORMAT, "'%s': C = %d is not a multiple of NH = %d", m->path,
                      m->cfg.channels, m->cfg.num_heads);
    if (m->cfg.padded_vocab_size < m->cfg.vocab_size)
        return ST_ERR(ST_ERR_FORMAT, "'%s': padded vocab Vp = %d below V = %d", m->path,
                      m->cfg.padded_vocab_size, m->cfg.vocab_size);
    ST_TRY(layout(m));
    int64_t want = LLMC_HEADER_BYTES + 4 * m->num_params;
    if (size != want)
        return ST_ERR(ST_ERR_FORMAT, "'%s': %lld bytes, but the header's sizes give %lld "
                      "parameters = %lld bytes (%s)", m->path, (long long)size,
                      (long long)m->num_params, (long long)want,
                      size < want ? "truncated" : "trailing bytes");
    return ST_OK;
}

/* One entry per non-layer array and per layer slice, in file order. */
static st_status list_params(st_llmc_model *m)
{
    int L = m->cfg.num_layers;
    m->params = calloc((size_t)(4 + 12 * L), sizeof *m->params);
    if (!m->params) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "parameter list of %d entries", 4 + 12 * L);
    for (int k = 0; k < LLMC_ARRAYS; k++) {
        int layers = arrays[k].per_layer ? L : 1;
        for (int l = 0; l < layers; l++) {
            llmc_param *p = &m->params[m->nparams++];
            snprintf(p->name, sizeof p->name, arrays[k].hf, l);
            p->ndim = slice_shape(&m->cfg, k, p->shape);
            p->bytes = 4 * (m->array_numel[k] / layers);
            p->offset = LLMC_HEADER_BYTES + 4 * m->array_offset[k] + l * p->bytes;
        }
    }
    return ST_OK;
}

st_status st_llmc_open(const char *path, st_llmc_model **out)
{
    if (!path || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_llmc_open: NULL path or out");
    st_llmc_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "llm.c model handle");
    }
    m->fd = -1;
    int64_t size;
    int32_t h[256];
    st_status s = st_io_open_read(path, &m->fd, &size);
    if (s == ST_OK && size < LLMC_HEADER_BYTES)
        s = ST_ERR(ST_ERR_FORMAT, "'%s': %lld bytes, shorter than the %d-byte llm.c header",
                   path, (long long)size, LLMC_HEADER_BYTES);
    if (s == ST_OK) s = st_io_pread(m->fd, path, h, sizeof h, 0);
    if (s == ST_OK) s = check_header(m, h, size);
    if (s == ST_OK) s = list_params(m);
    if (s != ST_OK) {
        st_llmc_destroy(m);
        return s;
    }
    *out = m;
    return ST_OK;
}

void st_llmc_destroy(st_llmc_model *m)
{
    if (!m) return;
    if (m->fd >= 0) close(m->fd);
    free(m->params);
    free(m->path);
    free(m);
}

st_status st_llmc_config_get(const st_llmc_model *m, st_llmc_config *out)
{
    if (!m || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_llmc_config_get: NULL argument");
    *out = m->cfg;
    return ST_OK;
}

int64_t st_llmc_num_params(const st_llmc_model *m) { return m ? m->num_params : 0; }

int st_llmc_param_count(const st_llmc_model *m) { return m ? m->nparams : 0; }

st_status st_llmc_param_info(const st_llmc_model *m, int i, st_ckpt_info *out)
{
    if (!m || !out || i < 0 || i >= m->nparams)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_llmc_param_info: NULL or index %d out of range", i);
    const llmc_param *p = &m->params[i];
    memset(out, 0, sizeof *out);
    out->name = p->name;
    out->dtype = ST_F32;
    out->ndim = p->ndim;
    out->shape[0] = p->shape[0];
    out->shape[1] = p->shape[1];
    if (p->ndim == 1) out->shape[1] = 0;
    out->bytes = (size_t)p->bytes;
    return ST_OK;
}

st_status st_llmc_read(const st_llmc_model *m, const char *name, float *dst, size_t bytes)
{
    if (!m || !name || !dst) return ST_ERR(ST_ERR_INVALID_ARG, "st_llmc_read: NULL argument");
    int64_t off = -1, n = 0;
    for (int i = 0; i < m->nparams && off < 0; i++)
        if (strcmp(m->params[i].name, name) == 0) {
            off = m->params[i].offset;
            n = m->params[i].bytes;
        }
    for (int k = 0; k < LLMC_ARRAYS && off < 0; k++)
        if (strcmp(arrays[k].llmc, name) == 0) {
            off = LLMC_HEADER_BYTES + 4 * m->array_offset[k];
            n = 4 * m->array_numel[k];
        }
    if (off < 0) return ST_ERR(ST_ERR_INVALID_ARG, "'%s' has no parameter '%.200s'", m->path, name);
    if ((int64_t)bytes != n)
        return ST_ERR(ST_ERR_INVALID_ARG, "parameter '%.200s' has %lld bytes, buffer %zu", name,
                      (long long)n, bytes);
    return st_io_pread(m->fd, m->path, dst, bytes, off);
}
