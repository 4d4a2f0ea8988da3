/* strata-train's checkpoints (ckpt.h): safetensors with HF names, AdamW moments and run state. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ckpt.h"
#include "ckpt_hf.h"

#define N_META CKPT_N_META

int64_t ckpt_parse_count(const char *s)
{
    if (!s || *s < '0' || *s > '9') return -1; /* digits only: no sign, space or empty value */
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || *end ? -1 : v;
}

/* Every metadata entry: its key, the option it records, and what a difference means on resume. */
enum { M_STEP, M_SAME, M_WARN };
typedef struct meta_key {
    const char *key, *option;
    int kind;
} meta_key;

static const meta_key KEYS[N_META] = {
    {"format", NULL, M_SAME},        {"step", NULL, M_STEP},          {"seed", "--seed", M_SAME},
    {"n_layer", NULL, M_SAME},       {"n_head", NULL, M_SAME},        {"n_embd", NULL, M_SAME},
    {"n_ctx", NULL, M_SAME},         {"vocab_size", NULL, M_SAME},    {"batch", "--batch", M_SAME},
    {"seq", "--seq", M_SAME},        {"grad_accum", "--grad-accum", M_SAME},
    {"decay_embeddings", "--no-decay-embeddings", M_SAME}, /* the arena's order: the moments' layout */
    {"lr", "--lr", M_WARN},          {"lr_schedule", "--lr-schedule", M_WARN},
    {"warmup", "--warmup", M_WARN},  {"min_lr", "--min-lr", M_WARN}, {"steps", "--steps", M_WARN},
    {"weight_decay", "--weight-decay", M_WARN}, {"beta1", "--beta1", M_WARN}, {"beta2", "--beta2", M_WARN},
    {"eps", "--eps", M_WARN},        {"grad_clip", "--grad-clip", M_WARN},
    {"data_order", "--data-order", M_WARN},
};

void ckpt_meta_fill(st_ckpt_meta *meta, char (*vals)[32], const gpt2_config *c, const train_opts *o,
                    int64_t step)
{
    int64_t v[11] = {2, step, (int64_t)o->seed, c->L, c->H, c->C, c->T, c->V, o->batch, o->seq, o->grad_accum};
    for (int i = 0; i < 11; i++) snprintf(vals[i], 32, i == 0 ? "strata-train-2" : "%" PRId64, v[i]);
    snprintf(vals[11], 32, "%d", !o->no_decay_emb);
    snprintf(vals[12], 32, "%.17g", o->lr);
    snprintf(vals[13], 32, "%s", TRAIN_SCHED_NAMES[o->lr_schedule & 3]);
    snprintf(vals[14], 32, "%" PRId64, o->warmup >= 0 ? o->warmup : o->steps / 10);
    snprintf(vals[15], 32, "%.17g", train_min_lr(o));
    snprintf(vals[16], 32, "%" PRId64, o->steps);
    const double d[5] = {o->weight_decay, o->beta1, o->beta2, o->eps, o->max_norm};
    for (int i = 0; i < 5; i++) snprintf(vals[17 + i], 32, "%.17g", d[i]);
    snprintf(vals[22], 32, "%s", TRAIN_DATA_ORDER_NAMES[o->data_order & 1]);
    for (int i = 0; i < N_META; i++) meta[i] = (st_ckpt_meta){KEYS[i].key, vals[i]};
}

/* What a checkpoint written before an entry existed was made with: the fixed values of then. */
static const char *legacy_value(int i, char (*vals)[32])
{
    train_opts d;
    train_opts_default(&d);
    gpt2_config c = {0};
    st_ckpt_meta m[N_META];
    ckpt_meta_fill(m, vals, &c, &d, 0);
    return i == 11 || i == 13 || i >= 17 ? vals[i] : NULL; /* lr, warmup, min_lr, steps: unknown */
}

int ckpt_meta_check(const st_safetensors *f, const gpt2_config *cfg, const train_opts *o, int64_t *step,
                    char *err, size_t errlen)
{
    st_ckpt_meta want[N_META];
    char vals[N_META][32], old[N_META][32];
    ckpt_meta_fill(want, vals, cfg, o, 0);
    for (int i = 0; i < N_META; i++) {
        const char *have = st_safetensors_meta(f, want[i].key);
        if (KEYS[i].kind == M_WARN) continue;
        if (!have && i > 10) have = legacy_value(i, old);
        if (!have) {
            snprintf(err, errlen, "checkpoint has no '%s' in its metadata", want[i].key);
            return -1;
        }
        if (i == 1) {
            *step = ckpt_parse_count(have);
            if (*step < 0) {
                snprintf(err, errlen, "checkpoint step '%s' is not a count", have);
                return -1;
            }
        } else if (i == 0 ? strcmp(have, "strata-train-1") && strcmp(have, "strata-train-2")
                          : strcmp(have, want[i].value) != 0) {
            snprintf(err, errlen, "checkpoint was made with %s=%s, this run has %s%s%s", want[i].key, have,
                     want[i].value, KEYS[i].option ? " (" : "", KEYS[i].option ? KEYS[i].option : "");
            if (KEYS[i].option) snprintf(err + strlen(err), errlen - strlen(err), ")");
            return -1;
        }
    }
    return 0;
}

/* A number as %g (the metadata keeps %.17g, exact), other text as it is. */
static const char *shown(char *buf, size_t n, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end) return v;
    snprintf(buf, n, "%g", x);
    return buf;
}

int ckpt_meta_changes(const st_safetensors *f, const train_opts *o, char *msg, size_t len)
{
    st_ckpt_meta want[N_META];
    char vals[N_META][32], old[N_META][32];
    gpt2_config c = {0};
    ckpt_meta_fill(want, vals, &c, o, 0);
    int n = 0;
    size_t at = 0;
    msg[0] = '\0';
    for (int i = 0; i < N_META; i++) {
        if (KEYS[i].kind != M_WARN) continue;
        const char *have = st_safetensors_meta(f, KEYS[i].key);
        if (!have) have = legacy_value(i, old);
        if (!have || strcmp(have, want[i].value) == 0) continue;
        char a[40], b[40];
        int k = snprintf(msg + at, len - at, "%s%s %s (the checkpoint's: %s)", n ? ", " : "", KEYS[i].option,
                         shown(a, sizeof a, want[i].value), shown(b, sizeof b, have));
        if (k > 0 && (size_t)k < len - at) at += (size_t)k;
        n++;
    }
    return n;
}

static void path_of(char *buf, size_t n, const char *dir, const char *file)
{
    snprintf(buf, n, "%s/%s", dir, file);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

void ckpt_entry_file(char *buf, size_t n, const char *dir, int kind)
{
    if (kind == CKPT_SHARDED) {
        path_of(buf, n, dir, "index.safetensors");
        return;
    }
    path_of(buf, n, dir, CKPT_STATE_FILE);
    if (!exists(buf)) path_of(buf, n, dir, "model.safetensors"); /* the layout before Hugging Face's */
}

/* --model PATH: the model.safetensors of a checkpoint directory's committed checkpoint (or of its
 * older layout, or of a Hugging Face directory), or the file itself; dir: the directory that may
 * hold its config.json (the file's own). Returns 0 or -1 with err. */
static int model_path(char *buf, size_t n, char *dir, size_t dn, const char *path, int *sharded, char *err,
                      size_t errlen)
{
    *sharded = 0;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) { /* a file: config.json may sit beside it */
        snprintf(buf, n, "%s", path);
        const char *slash = strrchr(path, '/');
        snprintf(dir, dn, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
        if (slash == path) snprintf(dir, dn, "/");
        return 0;
    }
    ckpt_source src;
    if (ckpt_locate(path, &src, err, errlen)) return -1;
    snprintf(dir, dn, "%s", src.path);
    snprintf(buf, n, "%.4000s/model.safetensors", src.path);
    if (src.kind == CKPT_SHARDED && !exists(buf)) { /* the layout before Hugging Face files: the shards */
        snprintf(buf, n, "%.4000s/index.safetensors", src.path);
        *sharded = 1;
    }
    return 0;
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

/* wte's rows V..Vp-1 (never used by the model, but decayed: kept so that a resume is exact). */
static int64_t pad_rows(const st_params *ps, const gpt2_config *cfg, int64_t *offset, int64_t *C)
{
    int wi = 0;
    st_param_info in;
    st_params_index(ps, "wte.weight", &wi);
    st_params_info(ps, wi, &in);
    *C = in.shape[1];
    *offset = in.offset + (int64_t)cfg->V * in.shape[1];
    return cfg->Vp - cfg->V;
}

int ckpt_state_write(const char *dir, const st_params *ps, const gpt2_config *cfg, const train_opts *o,
                     const ckpt_host *h, char *err, size_t errlen)
{
    int64_t off, C, rows = pad_rows(ps, cfg, &off, &C);
    st_ckpt_tensor t[3] = {{"opt.m", ST_F32, 1, {h->n}, h->m}, {"opt.v", ST_F32, 1, {h->n}, h->v},
                           {"wte.pad", ST_F32, 2, {rows, C}, h->p + off}};
    st_ckpt_meta meta[N_META];
    char vals[N_META][32], path[4200];
    ckpt_meta_fill(meta, vals, cfg, o, h->step);
    path_of(path, sizeof path, dir, CKPT_STATE_FILE);
    if (st_safetensors_write(path, t, rows ? 3 : 2, meta, N_META) != ST_OK) {
        snprintf(err, errlen, "writing %s: %s", path, st_last_error());
        return -1;
    }
    return 0;
}

int ckpt_save(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t step, char *err, size_t errlen)
{
    st_tensor *flat;
    st_optim_state os;
    st_params_flat(ps, &flat, NULL, NULL);
    st_optim_state_get(opt, &os);
    int64_t n = st_tensor_numel(flat);
    ckpt_host h = {.p = read_flat(flat, n), .m = read_flat(os.m, n), .v = read_flat(os.v, n), .n = n, .step = step};
    int rc = -1;
    if (h.p && h.m && h.v) {
        rc = hf_write_dir(dir, ps, cfg, h.p, err, errlen);
        if (!rc) rc = ckpt_state_write(dir, ps, cfg, o, &h, err, errlen);
    } else {
        snprintf(err, errlen, "reading the model state for a checkpoint: %s", st_last_error());
    }
    ckpt_host_free(&h);
    return rc;
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

static st_status host_alloc(st_params *ps, ckpt_host *h)
{
    st_tensor *flat;
    st_params_flat(ps, &flat, NULL, NULL);
    h->n = st_tensor_numel(flat);
    h->p = calloc((size_t)h->n + 1, sizeof(float));
    h->m = calloc((size_t)h->n + 1, sizeof(float));
    h->v = calloc((size_t)h->n + 1, sizeof(float));
    return h->p && h->m && h->v ? ST_OK : ST_ERR_OUT_OF_MEMORY;
}

/* The layout before Hugging Face files: parameters and moments in one model.safetensors. */
static st_status read_legacy(const st_safetensors *f, st_params *ps, ckpt_host *h)
{
    size_t bytes = sizeof(float) * (size_t)h->n;
    st_status s = load_params(f, ps, h->p);
    if (!s) s = st_safetensors_read(f, "opt.m", h->m, bytes);
    if (!s) s = st_safetensors_read(f, "opt.v", h->v, bytes);
    return s;
}

/* The Hugging Face layout: parameters from model.safetensors, moments and wte's padding rows from
 * the trainer state f. */
static int read_hf(const char *dir, const st_safetensors *f, st_params *ps, const gpt2_config *cfg, ckpt_host *h,
                   char *err, size_t errlen)
{
    char path[4200];
    size_t bytes = sizeof(float) * (size_t)h->n;
    int64_t off, C, rows = pad_rows(ps, cfg, &off, &C);
    path_of(path, sizeof path, dir, "model.safetensors");
    if (hf_model_load(path, ps, cfg->V, h->p, err, errlen)) return -1;
    st_status s = st_safetensors_read(f, "opt.m", h->m, bytes);
    if (!s) s = st_safetensors_read(f, "opt.v", h->v, bytes);
    if (!s && rows) s = st_safetensors_read(f, "wte.pad", h->p + off, sizeof(float) * (size_t)(rows * C));
    if (s) snprintf(err, errlen, "cannot resume from '%s': %s", dir, st_last_error());
    return s ? -1 : 0;
}

int ckpt_host_read(const char *dir, st_params *ps, const gpt2_config *cfg, ckpt_host *h, char *err, size_t errlen)
{
    char path[4200];
    ckpt_entry_file(path, sizeof path, dir, CKPT_PLAIN);
    int hf = strstr(path, CKPT_STATE_FILE) != NULL;
    st_safetensors *f;
    if (st_safetensors_open(path, &f) != ST_OK) {
        snprintf(err, errlen, "cannot resume: %s", st_last_error());
        return -1;
    }
    int rc = host_alloc(ps, h) == ST_OK ? 0 : -1;
    if (rc) snprintf(err, errlen, "cannot resume: out of host memory");
    if (!rc && hf) rc = read_hf(dir, f, ps, cfg, h, err, errlen);
    if (!rc && !hf) {
        st_status s = read_legacy(f, ps, h);
        if (s == ST_ERR_SHAPE)
            snprintf(err, errlen, "cannot resume from '%s': a parameter's dtype or shape differs", path);
        else if (s)
            snprintf(err, errlen, "cannot resume from '%s': %s", path, st_last_error());
        rc = s ? -1 : 0;
    }
    st_safetensors_destroy(f);
    return rc;
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
    char path[4200];
    *h = (ckpt_host){0};
    ckpt_entry_file(path, sizeof path, dir, CKPT_PLAIN);
    if (!exists(path) && errno == ENOENT) return 1;
    st_safetensors *f;
    if (st_safetensors_open(path, &f) != ST_OK) {
        snprintf(err, errlen, "cannot resume: %s", st_last_error());
        return -1;
    }
    int64_t step = 0;
    int rc = ckpt_meta_check(f, cfg, o, &step, err, errlen);
    st_safetensors_destroy(f);
    if (!rc) rc = ckpt_host_read(dir, ps, cfg, h, err, errlen);
    h->step = step;
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

/* The config a sharded checkpoint of the layout before Hugging Face files records in its index. Vp is
 * not recorded: the trainer of then padded only GPT-2's 50257 (to 50304, gpt2-124m and llm.c's
 * files); loading checks the arena this gives against the index's length. */
static int sharded_config(const char *index, int heads, gpt2_config *c, char *err, size_t errlen)
{
    st_safetensors *f;
    *c = (gpt2_config){0};
    if (st_safetensors_open(index, &f) != ST_OK) {
        snprintf(err, errlen, "cannot use model '%s': %s", index, st_last_error());
        return -1;
    }
    hf_meta_config(f, c);
    st_safetensors_destroy(f);
    if (heads && !c->H) c->H = heads;
    c->Vp = c->V == 50257 ? 50304 : c->V;
    if (!c->L || !c->H || !c->C || !c->T || !c->V) {
        snprintf(err, errlen, "model '%s': the index does not record n_layer, n_head, n_embd, n_ctx and vocab_size",
                 index);
        return -1;
    }
    return 0;
}

int ckpt_model_config(const char *path, int heads, gpt2_config *cfg, char *err, size_t errlen)
{
    char file[4200], dir[4200];
    int sharded;
    if (model_path(file, sizeof file, dir, sizeof dir, path, &sharded, err, errlen)) return -1;
    if (sharded) return sharded_config(file, heads, cfg, err, errlen);
    return hf_model_config(*dir ? dir : NULL, file, heads, cfg, err, errlen);
}

int ckpt_model_load(const char *path, st_params *ps, int V, char *err, size_t errlen)
{
    char file[4200], dir[4200];
    st_tensor *flat;
    int sharded;
    if (model_path(file, sizeof file, dir, sizeof dir, path, &sharded, err, errlen)) return -1;
    st_params_flat(ps, &flat, NULL, NULL);
    int64_t n = st_tensor_numel(flat);
    float *h = calloc((size_t)n + 1, sizeof(float));
    if (!h) {
        snprintf(err, errlen, "cannot load model '%s': out of host memory", path);
        return -1;
    }
    int rc = sharded ? ckpt_sharded_params(dir, ps, h, err, errlen) : hf_model_load(file, ps, V, h, err, errlen);
    if (!rc && st_tensor_write(flat, h, sizeof(float) * (size_t)n) != ST_OK) {
        snprintf(err, errlen, "cannot load model '%s': %s", file, st_last_error());
        rc = -1;
    }
    free(h);
    return rc;
}
