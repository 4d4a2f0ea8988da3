/* strata-train's checkpoints (ckpt.h): safetensors with HF names, AdamW moments and run state. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ckpt.h"

#define N_META CKPT_N_META

void ckpt_meta_fill(st_ckpt_meta *meta, char (*vals)[32], const gpt2_config *c, const train_opts *o,
                    int64_t step)
{
    static const char *const keys[N_META] = {"format", "step", "seed", "n_layer", "n_head",
                                             "n_embd", "n_ctx", "vocab_size", "batch", "seq",
                                             "grad_accum"};
    int64_t v[N_META] = {1, step, (int64_t)o->seed, c->L, c->H, c->C, c->T, c->V, o->batch,
                         o->seq, o->grad_accum};
    for (int i = 0; i < N_META; i++) {
        snprintf(vals[i], 32, i == 0 ? "strata-train-1" : "%" PRId64, v[i]);
        meta[i] = (st_ckpt_meta){keys[i], vals[i]};
    }
}

static void path_of(char *buf, size_t n, const char *dir)
{
    snprintf(buf, n, "%s/model.safetensors", dir);
}

/* --model PATH: a checkpoint directory's model.safetensors, or the file itself. */
static void model_path(char *buf, size_t n, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) path_of(buf, n, path);
    else snprintf(buf, n, "%s", path);
}

/* Host copy of a flat device tensor (malloc'ed). */
static float *read_flat(const st_tensor *t, int64_t n)
{
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (h && st_tensor_read(t, h, sizeof(float) * (size_t)n) != ST_OK) {
        free(h);
        return NULL;
    }
    return h;
}

int ckpt_save(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t step, char *err, size_t errlen)
{
    st_tensor *flat;
    st_optim_state os;
    st_params_flat(ps, &flat, NULL, NULL);
    st_optim_state_get(opt, &os);
    int64_t n = st_tensor_numel(flat), np = st_params_count(ps);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create checkpoint directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    float *p = read_flat(flat, n), *m = read_flat(os.m, n), *v = read_flat(os.v, n);
    st_ckpt_tensor *t = calloc((size_t)np + 2, sizeof *t);
    int rc = -1;
    if (p && m && v && t) {
        for (int i = 0; i < np; i++) {
            st_param_info in;
            st_params_info(ps, i, &in);
            t[i] = (st_ckpt_tensor){.name = in.name, .dtype = ST_F32, .ndim = in.ndim,
                                    .data = p + in.offset};
            memcpy(t[i].shape, in.shape, sizeof(int64_t) * (size_t)in.ndim);
        }
        t[np] = (st_ckpt_tensor){.name = "opt.m", .dtype = ST_F32, .ndim = 1, .shape = {n}, .data = m};
        t[np + 1] = (st_ckpt_tensor){.name = "opt.v", .dtype = ST_F32, .ndim = 1, .shape = {n}, .data = v};
        st_ckpt_meta meta[N_META];
        char vals[N_META][32], path[4096];
        ckpt_meta_fill(meta, vals, cfg, o, step);
        path_of(path, sizeof path, dir);
        rc = st_safetensors_write(path, t, (int)np + 2, meta, N_META) == ST_OK ? 0 : -1;
        if (rc) snprintf(err, errlen, "writing checkpoint: %s", st_last_error());
        else ckpt_drop_other(dir, CKPT_PLAIN); /* a sharded checkpoint of an earlier run is now stale */
    } else {
        snprintf(err, errlen, "reading the model state for a checkpoint: %s", st_last_error());
    }
    free(p), free(m), free(v), free(t);
    return rc;
}

int ckpt_meta_check(const st_safetensors *f, const gpt2_config *cfg, const train_opts *o, int64_t *step,
                    char *err, size_t errlen)
{
    st_ckpt_meta want[N_META];
    char vals[N_META][32];
    ckpt_meta_fill(want, vals, cfg, o, 0);
    for (int i = 0; i < N_META; i++) {
        const char *have = st_safetensors_meta(f, want[i].key);
        if (!have) {
            snprintf(err, errlen, "checkpoint has no '%s' in its metadata", want[i].key);
            return -1;
        }
        if (i == 1) {
            char *end;
            *step = strtoll(have, &end, 10);
            if (*end || end == have || *step < 0) {
                snprintf(err, errlen, "checkpoint step '%s' is not a count", have);
                return -1;
            }
        } else if (strcmp(have, want[i].value) != 0) {
            snprintf(err, errlen, "checkpoint was made with %s=%s, this run has %s", want[i].key,
                     have, want[i].value);
            return -1;
        }
    }
    return 0;
}

/* Reads every parameter by name into a flat host buffer h (laid out like the arena). */
static st_status load_params(const st_safetensors *f, st_params *ps, float *h)
{
    for (int i = 0; i < st_params_count(ps); i++) {
        st_param_info in;
        st_ckpt_info ci;
        st_params_info(ps, i, &in);
        st_status s = st_safetensors_find(f, in.name, &ci);
        if (!s && (ci.dtype != ST_F32 || ci.ndim != in.ndim ||
                   memcmp(ci.shape, in.shape, sizeof(int64_t) * (size_t)in.ndim) != 0))
            return ST_ERR_SHAPE;
        if (!s) s = st_safetensors_read(f, in.name, h + in.offset, sizeof(float) * (size_t)in.numel);
        if (s) return s;
    }
    return ST_OK;
}

void ckpt_host_free(ckpt_host *h)
{
    free(h->p), free(h->m), free(h->v);
    *h = (ckpt_host){0};
}

static st_status read_all(const st_safetensors *f, st_params *ps, ckpt_host *h)
{
    st_tensor *flat;
    st_params_flat(ps, &flat, NULL, NULL);
    h->n = st_tensor_numel(flat);
    size_t bytes = sizeof(float) * (size_t)h->n;
    h->p = calloc((size_t)h->n + 1, sizeof(float));
    h->m = calloc((size_t)h->n + 1, sizeof(float));
    h->v = calloc((size_t)h->n + 1, sizeof(float));
    if (!h->p || !h->m || !h->v) return ST_ERR_OUT_OF_MEMORY;
    st_status s = load_params(f, ps, h->p);
    if (!s) s = st_safetensors_read(f, "opt.m", h->m, bytes);
    if (!s) s = st_safetensors_read(f, "opt.v", h->v, bytes);
    return s;
}

st_status ckpt_host_apply(const ckpt_host *h, st_params *ps, st_optim *opt)
{
    st_tensor *flat;
    st_optim_state os;
    st_params_flat(ps, &flat, NULL, NULL);
    st_optim_state_get(opt, &os);
    size_t bytes = sizeof(float) * (size_t)h->n;
    st_status s = st_tensor_write(flat, h->p, bytes);
    if (!s) s = st_tensor_write(os.m, h->m, bytes);
    if (!s) s = st_tensor_write(os.v, h->v, bytes);
    if (!s) s = st_optim_set_step(opt, h->step);
    return s;
}

int ckpt_read(const char *dir, st_params *ps, const gpt2_config *cfg, const train_opts *o, ckpt_host *h,
              char *err, size_t errlen)
{
    char path[4096];
    struct stat sb;
    *h = (ckpt_host){0};
    path_of(path, sizeof path, dir);
    if (stat(path, &sb) != 0 && errno == ENOENT) return 1;
    st_safetensors *f;
    if (st_safetensors_open(path, &f) != ST_OK) {
        snprintf(err, errlen, "cannot resume: %s", st_last_error());
        return -1;
    }
    int rc = ckpt_meta_check(f, cfg, o, &h->step, err, errlen);
    if (!rc) {
        st_status s = read_all(f, ps, h);
        if (s == ST_ERR_SHAPE)
            snprintf(err, errlen, "cannot resume from '%s': a parameter's dtype or shape differs", path);
        else if (s)
            snprintf(err, errlen, "cannot resume from '%s': %s", path, st_last_error());
        rc = s ? -1 : 0;
    }
    st_safetensors_destroy(f);
    if (rc) ckpt_host_free(h);
    return rc;
}

int ckpt_load(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t *step, char *err, size_t errlen)
{
    ckpt_host h;
    int rc = ckpt_read(dir, ps, cfg, o, &h, err, errlen);
    if (rc) return rc;
    st_status s = ckpt_host_apply(&h, ps, opt);
    if (s) snprintf(err, errlen, "cannot resume from '%s': %s", dir, st_last_error());
    *step = h.step;
    ckpt_host_free(&h);
    return s ? -1 : 0;
}

/* Integer metadata entry `key` of a model checkpoint into *v; -1 with a message when absent or bad. */
static int meta_int(const st_safetensors *f, const char *path, const char *key, int *v, char *err,
                    size_t errlen)
{
    const char *have = st_safetensors_meta(f, key);
    char *end = NULL;
    long x = have ? strtol(have, &end, 10) : 0;
    if (!have || *end || end == have || x < 1 || x > (1L << 30)) {
        snprintf(err, errlen, "model checkpoint '%s': metadata '%s' is %s%s%s (a strata-train "
                 "checkpoint records n_layer, n_head, n_embd, n_ctx, vocab_size)", path, key,
                 have ? "'" : "missing", have ? have : "", have ? "'" : "");
        return -1;
    }
    *v = (int)x;
    return 0;
}

int ckpt_model_config(const char *path, gpt2_config *cfg, char *err, size_t errlen)
{
    char file[4096];
    st_safetensors *f;
    model_path(file, sizeof file, path);
    if (st_safetensors_open(file, &f) != ST_OK) {
        snprintf(err, errlen, "cannot use model '%s': %s", path, st_last_error());
        return -1;
    }
    st_ckpt_info wte;
    int rc = meta_int(f, file, "n_layer", &cfg->L, err, errlen);
    if (!rc) rc = meta_int(f, file, "n_head", &cfg->H, err, errlen);
    if (!rc) rc = meta_int(f, file, "n_embd", &cfg->C, err, errlen);
    if (!rc) rc = meta_int(f, file, "n_ctx", &cfg->T, err, errlen);
    if (!rc) rc = meta_int(f, file, "vocab_size", &cfg->V, err, errlen);
    if (!rc && (st_safetensors_find(f, "wte.weight", &wte) != ST_OK || wte.ndim != 2 ||
                wte.shape[0] < cfg->V || wte.shape[0] > (1 << 30))) {
        snprintf(err, errlen, "model checkpoint '%s': no wte.weight of (>= %d, C) rows", file, cfg->V);
        rc = -1;
    }
    if (!rc) cfg->Vp = (int)wte.shape[0];
    st_safetensors_destroy(f);
    return rc;
}

int ckpt_model_load(const char *path, st_params *ps, char *err, size_t errlen)
{
    char file[4096];
    st_safetensors *f;
    st_tensor *flat;
    model_path(file, sizeof file, path);
    st_params_flat(ps, &flat, NULL, NULL);
    int64_t n = st_tensor_numel(flat);
    float *h = calloc((size_t)n + 1, sizeof(float));
    st_status s = h ? st_safetensors_open(file, &f) : ST_ERR_OUT_OF_MEMORY;
    if (s) {
        snprintf(err, errlen, "cannot load model '%s': %s", path, h ? st_last_error() : "out of memory");
        free(h);
        return -1;
    }
    s = load_params(f, ps, h);
    if (!s) s = st_tensor_write(flat, h, sizeof(float) * (size_t)n);
    if (s == ST_ERR_SHAPE)
        snprintf(err, errlen, "cannot load model '%s': a parameter's dtype or shape differs", file);
    else if (s)
        snprintf(err, errlen, "cannot load model '%s': %s", file, st_last_error());
    st_safetensors_destroy(f);
    free(h);
    return s ? -1 : 0;
}
