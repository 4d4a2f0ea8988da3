/* GPT-2 for strata-train: configs, parameter specs with Hugging Face names, GPT-2 initialisation
 * and the training graph (pre-LayerNorm blocks, causal attention, GELU MLP, tied output head). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gpt2.h"

#define G_TRY(expr)                      \
    do {                                 \
        st_status g_s_ = (expr);         \
        if (g_s_ != ST_OK) return g_s_;  \
    } while (0)

st_status gpt2_config_named(const char *name, gpt2_config *out)
{
    if (name && strcmp(name, "tiny") == 0) {
        *out = (gpt2_config){.L = 2, .H = 4, .C = 64, .T = 64, .V = 256, .Vp = 256};
        return ST_OK;
    }
    if (name && strcmp(name, "gpt-25m") == 0) { /* strata-bench's model for emulated clusters */
        *out = (gpt2_config){.L = 8, .H = 8, .C = 512, .T = 128, .V = 256, .Vp = 256};
        return ST_OK;
    }
    if (name && strcmp(name, "gpt-deep") == 0) { /* many small units: strata-bench's bucketing model */
        *out = (gpt2_config){.L = 48, .H = 2, .C = 32, .T = 64, .V = 256, .Vp = 256};
        return ST_OK;
    }
    if (name && strcmp(name, "gpt2-124m") == 0) {
        *out = (gpt2_config){.L = 12, .H = 12, .C = 768, .T = 1024, .V = 50257, .Vp = 50304};
        return ST_OK;
    }
    return ST_ERR_INVALID_ARG;
}

/* a * b + c in int64; 0 on overflow (every operand is non-negative here). */
static int64_t mul_add(int64_t a, int64_t b, int64_t c)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r) || __builtin_add_overflow(r, c, &r)) return 0;
    return r;
}

int64_t gpt2_param_count(const gpt2_config *c)
{
    int64_t C = c->C;
    /* per layer: ln_1, ln_2 (4C), c_attn (3C^2 + 3C), attn c_proj (C^2 + C), c_fc (4C^2 + 4C),
     * mlp c_proj (4C^2 + C): 12 C^2 + 13 C */
    int64_t layer = mul_add(12 * C, C, 13 * C);
    int64_t n = mul_add((int64_t)c->Vp + c->T, C, 2 * C); /* wte, wpe, ln_f */
    return layer && n ? mul_add(layer, c->L, n) : 0;
}

int gpt2_config_check(const gpt2_config *c, char *err, size_t errlen)
{
    static const char *const names[5] = {"layers (n_layer)", "heads (n_head)", "embd (n_embd)",
                                         "context (n_ctx)", "vocab (vocab_size)"};
    const int v[5] = {c->L, c->H, c->C, c->T, c->V};
    const int max[5] = {GPT2_MAX_LAYERS, GPT2_MAX_HEADS, GPT2_MAX_EMBD, GPT2_MAX_CONTEXT, GPT2_MAX_VOCAB};
    for (int i = 0; i < 5; i++)
        if (v[i] < 1 || v[i] > max[i]) {
            snprintf(err, errlen, "model config: %s = %d is outside [1, %d]", names[i], v[i], max[i]);
            return -1;
        }
    if (c->C % c->H != 0) {
        snprintf(err, errlen, "model config: embd %d is not a multiple of heads %d", c->C, c->H);
        return -1;
    }
    if (c->Vp < c->V || c->Vp > GPT2_MAX_VOCAB) {
        snprintf(err, errlen, "model config: padded vocabulary %d is outside [vocab %d, %d]", c->Vp, c->V,
                 GPT2_MAX_VOCAB);
        return -1;
    }
    int64_t n = gpt2_param_count(c);
    if (n <= 0 || n > GPT2_MAX_PARAMS) {
        snprintf(err, errlen, "model config L=%d C=%d T=%d V=%d has %s parameters, more than the %lld "
                 "this trainer takes", c->L, c->C, c->T, c->Vp, n > 0 ? "too many" : "an overflowing count of",
                 (long long)GPT2_MAX_PARAMS);
        return -1;
    }
    return 0;
}

/* The per-layer parameters: HF suffix, rows and columns in units (0 rows: a 1-d parameter). */
typedef struct layer_param {
    const char *suffix;
    int rows, cols; /* multiples of C */
} layer_param;

static const layer_param LAYER_PARAMS[12] = {
    {"ln_1.weight", 0, 1},        {"ln_1.bias", 0, 1},       {"attn.c_attn.weight", 1, 3},
    {"attn.c_attn.bias", 0, 3},   {"attn.c_proj.weight", 1, 1}, {"attn.c_proj.bias", 0, 1},
    {"ln_2.weight", 0, 1},        {"ln_2.bias", 0, 1},       {"mlp.c_fc.weight", 1, 4},
    {"mlp.c_fc.bias", 0, 4},      {"mlp.c_proj.weight", 4, 1}, {"mlp.c_proj.bias", 0, 1},
};

#define NAME_LEN 48

static void spec_set(st_param_spec *s, char *name, const char *text, int64_t rows, int64_t cols)
{
    snprintf(name, NAME_LEN, "%s", text);
    s->name = name;
    s->ndim = rows ? 2 : 1;
    s->shape[0] = rows ? rows : cols;
    s->shape[1] = cols;
    s->decay = rows != 0; /* matrices and embeddings decay; biases and LayerNorm do not */
}

st_status gpt2_param_specs(const gpt2_config *cfg, int decay_embeddings, st_param_spec **specs, int *n)
{
    /* L <= GPT2_MAX_LAYERS (gpt2_config_check), so the count fits in int with room to spare. */
    if (cfg->L < 1 || cfg->L > GPT2_MAX_LAYERS) return ST_ERR_INVALID_ARG;
    int count = 4 + 12 * cfg->L;
    st_param_spec *s = calloc((size_t)count, sizeof *s + NAME_LEN);
    if (!s) return ST_ERR_OUT_OF_MEMORY;
    char *names = (char *)(s + count);
    int64_t C = cfg->C;
    int k = 0;
    spec_set(&s[k], names + NAME_LEN * k, "wte.weight", cfg->Vp, C), k++;
    spec_set(&s[k], names + NAME_LEN * k, "wpe.weight", cfg->T, C), k++;
    s[0].decay = s[1].decay = decay_embeddings != 0;
    for (int l = 0; l < cfg->L; l++) {
        for (int j = 0; j < 12; j++, k++) {
            char text[NAME_LEN];
            const layer_param *lp = &LAYER_PARAMS[j];
            snprintf(text, sizeof text, "h.%d.%s", l, lp->suffix);
            spec_set(&s[k], names + NAME_LEN * k, text, lp->rows * C, lp->cols * C);
        }
    }
    spec_set(&s[k], names + NAME_LEN * k, "ln_f.weight", 0, C), k++;
    spec_set(&s[k], names + NAME_LEN * k, "ln_f.bias", 0, C), k++;
    *specs = s;
    *n = k;
    return ST_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

st_status gpt2_init(st_params *ps, const gpt2_config *cfg, uint64_t seed)
{
    float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->L);
    for (int i = 0; i < st_params_count(ps); i++) {
        st_param_info info;
        st_tensor *p;
        G_TRY(st_params_info(ps, i, &info));
        G_TRY(st_params_get(ps, i, &p, NULL));
        if (info.ndim == 2) {
            float std = ends_with(info.name, "c_proj.weight") ? resid_std : 0.02f;
            G_TRY(st_rand_normal(p, seed, (uint64_t)info.offset, 0.0f, std));
        } else {
            int gain = strstr(info.name, "ln_") && ends_with(info.name, ".weight");
            G_TRY(st_fill(p, gain ? 1.0 : 0.0));
        }
    }
    return ST_OK;
}
