/* Hugging Face GPT-2 files (ckpt_hf.h): config.json and model.safetensors as transformers'
 * save_pretrained writes them and GPT2LMHeadModel.from_pretrained reads them, from and into the
 * trainer's parameter arena. HF's GPT-2 keeps its matrices as Conv1D weights, (in, out), which is
 * the arena's layout too, so tensors move by name without a transpose. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ckpt_hf.h"
#include "hf_json.h"

#define PREFIX "transformer."

/* dir/config.json, written to a temporary and renamed over it. */
static int write_config(const char *dir, const gpt2_config *c, char *err, size_t errlen)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"activation_function\": \"gelu_new\",\n  \"architectures\": [\"GPT2LMHeadModel\"],\n"
            "  \"attn_pdrop\": 0.0,\n  \"embd_pdrop\": 0.0,\n  \"resid_pdrop\": 0.0,\n");
    /* GPT-2's <|endoftext|> for its own vocabulary; none for another (HF's default 50256 lies outside it) */
    if (c->V == 50257) fprintf(f, "  \"bos_token_id\": 50256,\n  \"eos_token_id\": 50256,\n");
    else fprintf(f, "  \"bos_token_id\": null,\n  \"eos_token_id\": null,\n");
    fprintf(f, "  \"initializer_range\": 0.02,\n  \"layer_norm_epsilon\": 1e-05,\n  \"model_type\": \"gpt2\",\n"
            "  \"n_ctx\": %d,\n  \"n_embd\": %d,\n  \"n_head\": %d,\n  \"n_inner\": null,\n  \"n_layer\": %d,\n"
            "  \"n_positions\": %d,\n  \"scale_attn_weights\": true,\n  \"tie_word_embeddings\": true,\n"
            "  \"torch_dtype\": \"float32\",\n  \"dtype\": \"float32\",\n  \"use_cache\": true,\n"
            "  \"vocab_size\": %d\n}\n", c->T, c->C, c->H, c->L, c->T, c->V);
    int bad = ferror(f) | (fflush(f) != 0) | (fsync(fileno(f)) != 0);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int hf_write_dir(const char *dir, st_params *ps, const gpt2_config *cfg, const float *p, char *err, size_t errlen)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    int np = st_params_count(ps);
    st_ckpt_tensor *t = calloc((size_t)np, sizeof *t);
    char (*names)[64] = calloc((size_t)np, sizeof *names);
    if (!t || !names) {
        free(t), free(names);
        snprintf(err, errlen, "out of memory writing %s", dir);
        return -1;
    }
    for (int i = 0; i < np; i++) {
        st_param_info in;
        st_params_info(ps, i, &in);
        snprintf(names[i], sizeof names[i], PREFIX "%s", in.name);
        t[i] = (st_ckpt_tensor){.name = names[i], .dtype = ST_F32, .ndim = in.ndim, .data = p + in.offset};
        memcpy(t[i].shape, in.shape, sizeof(int64_t) * (size_t)in.ndim);
        if (strcmp(in.name, "wte.weight") == 0) t[i].shape[0] = cfg->V; /* the padding rows stay inside */
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_ckpt_meta meta[1] = {{"format", "pt"}}; /* transformers refuses a file without it */
    int rc = st_safetensors_write(path, t, np, meta, 1) == ST_OK ? 0 : -1;
    if (rc) snprintf(err, errlen, "writing %s: %s", path, st_last_error());
    free(t), free(names);
    return rc ? rc : write_config(dir, cfg, err, errlen);
}

/* The padded vocabulary of a model read from Hugging Face: V rounded up to 128 (llm.c's rule, 50257 ->
 * 50304), so that the logits' matmul runs on whole tiles. */
static int pad_vocab(int V)
{
    int64_t p = ((int64_t)V + 127) / 128 * 128;
    return p > GPT2_MAX_VOCAB ? V : (int)p;
}

/* Which prefix f's names carry: "transformer." (save_pretrained of GPT2LMHeadModel) or "" (GPT2Model,
 * strata-train's checkpoints before this layout). Returns NULL when f has no wte.weight. */
static const char *prefix_of(const st_safetensors *f, st_ckpt_info *wte)
{
    if (st_safetensors_find(f, PREFIX "wte.weight", wte) == ST_OK) return PREFIX;
    if (st_safetensors_find(f, "wte.weight", wte) == ST_OK) return "";
    return NULL;
}

/* L from the tensors: the number of consecutive h.N blocks with an ln_1.weight. */
static int count_layers(const st_safetensors *f, const char *prefix)
{
    char name[96];
    st_ckpt_info in;
    int L = 0;
    for (;; L++) {
        snprintf(name, sizeof name, "%sh.%d.ln_1.weight", prefix, L);
        if (L >= GPT2_MAX_LAYERS || st_safetensors_find(f, name, &in) != ST_OK) return L;
    }
}

/* A config.json key as an int in [1, 2^30]; 0 when absent, -1 (message) when not such an int. */
static int json_int(const hf_json *j, const char *key, const char *file, char *err, size_t errlen)
{
    const char *v = hf_json_get(j, key);
    if (!v || !strcmp(v, "null")) return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < 1 || x > (1 << 30)) {
        snprintf(err, errlen, "%s: \"%s\" is %s, not a positive integer", file, key, v);
        return -1;
    }
    return (int)x;
}

/* What config.json says that this trainer cannot honour, or NULL. */
static const char *unsupported(const hf_json *j)
{
    const char *mt = hf_json_get(j, "model_type"), *act = hf_json_get(j, "activation_function");
    const char *eps = hf_json_get(j, "layer_norm_epsilon"), *tie = hf_json_get(j, "tie_word_embeddings");
    const char *inner = hf_json_get(j, "n_inner"), *lidx = hf_json_get(j, "scale_attn_by_inverse_layer_idx");
    const char *scale = hf_json_get(j, "scale_attn_weights");
    if (mt && strcmp(mt, "\"gpt2\"")) return "model_type is not \"gpt2\"";
    if (act && strcmp(act, "\"gelu_new\"") && strcmp(act, "\"gelu_pytorch_tanh\"") && strcmp(act, "\"gelu_fast\""))
        return "activation_function is not the tanh GELU (gelu_new)";
    if (eps && strtod(eps, NULL) != 1e-5) return "layer_norm_epsilon is not 1e-05";
    if (tie && !strcmp(tie, "false")) return "tie_word_embeddings is false (this trainer ties lm_head to wte)";
    if (inner && strcmp(inner, "null")) return "n_inner is set (the MLP is 4 x n_embd here)";
    if (lidx && !strcmp(lidx, "true")) return "scale_attn_by_inverse_layer_idx is true";
    if (scale && !strcmp(scale, "false")) return "scale_attn_weights is false";
    return NULL;
}

/* The config from DIR/config.json into c (the fields it has; 0 for the others). Returns 0, 1 when
 * there is no config.json, or -1 with err. */
static int read_config_json(const char *dir, gpt2_config *c, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    hf_json j;
    int rc = hf_json_load(path, &j, err, errlen);
    if (rc) return rc;
    const char *why = unsupported(&j);
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    int v[5];
    static const char *const keys[5] = {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"};
    for (int i = 0; i < 5; i++)
        if ((v[i] = json_int(&j, keys[i], path, err, errlen)) < 0) return -1;
    if (!v[3] && (v[3] = json_int(&j, "n_ctx", path, err, errlen)) < 0) return -1;
    c->L = v[0], c->H = v[1], c->C = v[2], c->T = v[3], c->V = v[4];
    return 0;
}

void hf_meta_config(const st_safetensors *f, gpt2_config *c)
{
    static const char *const keys[5] = {"n_layer", "n_head", "n_embd", "n_ctx", "vocab_size"};
    int *dst[5] = {&c->L, &c->H, &c->C, &c->T, &c->V};
    for (int i = 0; i < 5; i++) {
        const char *v = st_safetensors_meta(f, keys[i]);
        char *end;
        long long x = v && *v >= '0' && *v <= '9' ? strtoll(v, &end, 10) : -1;
        if (!*dst[i] && x >= 1 && x <= (1 << 30) && !*end) *dst[i] = (int)x;
    }
}

int hf_model_config(const char *dir, const char *file, int heads, gpt2_config *c, char *err, size_t errlen)
{
    *c = (gpt2_config){0};
    if (dir && read_config_json(dir, c, err, errlen) < 0) return -1;
    st_safetensors *f;
    if (st_safetensors_open(file, &f) != ST_OK) {
        snprintf(err, errlen, "cannot use model '%s': %s", file, st_last_error());
        return -1;
    }
    hf_meta_config(f, c);
    st_ckpt_info wte, wpe;
    const char *prefix = prefix_of(f, &wte);
    char name[64];
    int rc = 0;
    if (!prefix || wte.ndim != 2 || wte.shape[0] < 1 || wte.shape[0] > GPT2_MAX_VOCAB || wte.shape[1] < 1 ||
        wte.shape[1] > GPT2_MAX_EMBD) {
        snprintf(err, errlen, "model '%s': no wte.weight or transformer.wte.weight of (vocab, n_embd)", file);
        rc = -1;
    }
    snprintf(name, sizeof name, "%swpe.weight", prefix ? prefix : "");
    if (!rc && (st_safetensors_find(f, name, &wpe) != ST_OK || wpe.ndim != 2 || wpe.shape[0] > GPT2_MAX_CONTEXT)) {
        snprintf(err, errlen, "model '%s': no %s of (n_positions, n_embd)", file, name);
        rc = -1;
    }
    if (!rc) {
        if (!c->L) c->L = count_layers(f, prefix);
        if (!c->C) c->C = (int)wte.shape[1];
        if (!c->T) c->T = (int)wpe.shape[0];
        if (!c->V) c->V = (int)wte.shape[0];
        if (wte.shape[0] < c->V) {
            snprintf(err, errlen, "model '%s': wte has %lld rows, fewer than vocab_size %d", file,
                     (long long)wte.shape[0], c->V);
            rc = -1;
        }
        if (heads && c->H && heads != c->H) {
            snprintf(err, errlen, "model '%s' has H=%d heads, not --heads %d", file, c->H, heads);
            rc = -1;
        }
        if (!c->H) c->H = heads;
        /* a file with more rows than the vocabulary (strata-train's before this layout) keeps them */
        c->Vp = wte.shape[0] > c->V ? (int)wte.shape[0] : pad_vocab(c->V);
        if (!rc && !c->H) {
            snprintf(err, errlen, "model '%s': the number of heads is not in the tensors and there is no "
                     "config.json beside it: give --heads", file);
            rc = -1;
        }
    }
    st_safetensors_destroy(f);
    return rc;
}

/* Tensor `name` of f as f32 into dst (n elements; BF16 widened). */
static st_status read_f32(const st_safetensors *f, const st_ckpt_info *ci, float *dst, int64_t n)
{
    if (ci->dtype == ST_F32) return st_safetensors_read(f, ci->name, dst, sizeof(float) * (size_t)n);
    uint16_t *b = malloc(sizeof(uint16_t) * (size_t)(n ? n : 1));
    if (!b) return ST_ERR_OUT_OF_MEMORY;
    st_status s = st_safetensors_read(f, ci->name, b, sizeof(uint16_t) * (size_t)n);
    for (int64_t i = 0; !s && i < n; i++) {
        uint32_t u = (uint32_t)b[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
    free(b);
    return s;
}

/* Parameter `in` from f: the same shape, or for wte any rows up to Vp (the rest stays as it is). */
static int load_one(const st_safetensors *f, const char *prefix, const st_param_info *in, float *h, char *err,
                    size_t errlen)
{
    char name[96];
    st_ckpt_info ci;
    snprintf(name, sizeof name, "%s%s", prefix, in->name);
    if (st_safetensors_find(f, name, &ci) != ST_OK) {
        snprintf(err, errlen, "no tensor %s", name);
        return -1;
    }
    int wte = strcmp(in->name, "wte.weight") == 0;
    int same = ci.ndim == in->ndim && (ci.dtype == ST_F32 || ci.dtype == ST_BF16);
    for (int d = 0; same && d < in->ndim; d++)
        same = ci.shape[d] == in->shape[d] || (wte && d == 0 && ci.shape[0] <= in->shape[0]);
    if (!same) {
        snprintf(err, errlen, "tensor %s: %s of shape (%lld, %lld), this model's is (%lld, %lld) f32 or bf16", name,
                 ci.dtype == ST_F32 ? "f32" : ci.dtype == ST_BF16 ? "bf16" : "another dtype",
                 (long long)ci.shape[0], ci.ndim > 1 ? (long long)ci.shape[1] : 0LL, (long long)in->shape[0],
                 in->ndim > 1 ? (long long)in->shape[1] : 0LL);
        return -1;
    }
    int64_t n = in->numel / in->shape[0] * ci.shape[0];
    if (read_f32(f, &ci, h + in->offset, n) != ST_OK) {
        snprintf(err, errlen, "tensor %s: %s", name, st_last_error());
        return -1;
    }
    return 0;
}

/* lm_head.weight, when present, must be wte itself (rows 0..V-1): the model ties them. */
static int check_lm_head(const st_safetensors *f, const st_params *ps, const float *h, int V, char *err,
                         size_t errlen)
{
    st_ckpt_info ci;
    if (st_safetensors_find(f, "lm_head.weight", &ci) != ST_OK) return 0;
    st_param_info in;
    int wi = 0;
    st_params_index(ps, "wte.weight", &wi);
    st_params_info(ps, wi, &in);
    int64_t n = (int64_t)V * in.shape[1];
    float *lm = ci.ndim == 2 && ci.shape[0] == V && ci.shape[1] == in.shape[1] ? malloc(sizeof(float) * (size_t)n) : NULL;
    int rc = lm && read_f32(f, &ci, lm, n) == ST_OK && memcmp(lm, h + in.offset, sizeof(float) * (size_t)n) == 0 ? 0 : -1;
    free(lm);
    if (rc) snprintf(err, errlen, "lm_head.weight differs from wte.weight (or its shape does): this trainer ties them");
    return rc;
}

int hf_model_load(const char *file, const st_params *ps, int V, float *h, char *err, size_t errlen)
{
    st_safetensors *f;
    char why[768] = "";
    if (st_safetensors_open(file, &f) != ST_OK) {
        snprintf(err, errlen, "cannot load model '%s': %s", file, st_last_error());
        return -1;
    }
    st_ckpt_info wte;
    const char *prefix = prefix_of(f, &wte);
    int rc = prefix ? 0 : -1;
    if (!prefix) snprintf(why, sizeof why, "no wte.weight");
    for (int i = 0; !rc && i < st_params_count(ps); i++) {
        st_param_info in;
        st_params_info(ps, i, &in);
        rc = load_one(f, prefix, &in, h, why, sizeof why);
    }
    if (!rc) rc = check_lm_head(f, ps, h, V, why, sizeof why);
    if (rc) snprintf(err, errlen, "cannot load model '%s': %s", file, why);
    st_safetensors_destroy(f);
    return rc;
}
