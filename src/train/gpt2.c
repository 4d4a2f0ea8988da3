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
    if (name && strcmp(name, "gpt2-124m") == 0) {
        *out = (gpt2_config){.L = 12, .H = 12, .C = 768, .T = 1024, .V = 50257, .Vp = 50304};
        return ST_OK;
    }
    return ST_ERR_INVALID_ARG;
}

st_status gpt2_config_check(const gpt2_config *c)
{
    if (c->L < 1 || c->H < 1 || c->C < 1 || c->T < 1 || c->V < 1) return ST_ERR_INVALID_ARG;
    if (c->C % c->H != 0 || c->Vp < c->V) return ST_ERR_INVALID_ARG;
    return ST_OK;
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

st_status gpt2_param_specs(const gpt2_config *cfg, st_param_spec **specs, int *n)
{
    int count = 4 + 12 * cfg->L;
    st_param_spec *s = calloc((size_t)count, sizeof *s + NAME_LEN);
    if (!s) return ST_ERR_OUT_OF_MEMORY;
    char *names = (char *)(s + count);
    int64_t C = cfg->C;
    int k = 0;
    spec_set(&s[k], names + NAME_LEN * k, "wte.weight", cfg->Vp, C), k++;
    spec_set(&s[k], names + NAME_LEN * k, "wpe.weight", cfg->T, C), k++;
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
