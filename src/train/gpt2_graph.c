/* The GPT-2 training graph: embeddings, L pre-LayerNorm blocks (causal multi-head attention and
 * a GELU MLP of width 4C, each added to the residual stream), final LayerNorm, head tied to wte,
 * mean cross-entropy. Parameters are graph params bound to views of the st_params arena. In bf16,
 * every parameter enters through a cast node (the bf16 compute copy of the f32 master, whose
 * gradient the cast turns back into f32), so activations and their gradients are bf16, while the
 * ops accumulate in f32 and the loss is f32. */
#include <stdio.h>
#include <stdlib.h>
#include "gpt2.h"

typedef struct builder {
    st_graph *g;
    st_params *ps;
    const gpt2_config *cfg;
    int64_t B, T;
    st_dtype dt;
    st_node wte;                 /* the f32 master of the tied wte, cast once per use */
} builder;

/* Graph node of parameter `name` (its value and gradient are arena views), in compute dtype. */
static st_node param(builder *b, const char *name)
{
    st_tensor *v, *gr;
    if (st_params_get_by_name(b->ps, name, &v, &gr) != ST_OK) return ST_NODE_NONE;
    st_node p = st_graph_param(b->g, name, v, gr);
    return b->dt == ST_F32 ? p : st_graph_cast(b->g, p, b->dt);
}

/* One use of the tied wte in compute dtype. In bf16 each use gets its own cast, so the two
 * gradient contributions (embedding, head) are summed in f32 into the master's gradient. */
static st_node wte_use(builder *b)
{
    return b->dt == ST_F32 ? b->wte : st_graph_cast(b->g, b->wte, b->dt);
}

static st_node layer_param_node(builder *b, int l, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "h.%d.%s", l, suffix);
    return param(b, name);
}

/* x @ W + bias for layer l's "<what>.weight" / "<what>.bias". */
static st_node linear(builder *b, int l, const char *what, st_node x)
{
    char w[48], bias[48];
    snprintf(w, sizeof w, "%s.weight", what);
    snprintf(bias, sizeof bias, "%s.bias", what);
    st_node y = st_graph_matmul(b->g, x, layer_param_node(b, l, w), 0, 0);
    return st_graph_add(b->g, y, layer_param_node(b, l, bias));
}

static st_node layernorm(builder *b, int l, const char *what, st_node x)
{
    char w[48], bias[48];
    snprintf(w, sizeof w, "%s.weight", what);
    snprintf(bias, sizeof bias, "%s.bias", what);
    return st_graph_layernorm(b->g, x, layer_param_node(b, l, w), layer_param_node(b, l, bias), 1e-5f);
}

/* Columns [part*C, (part+1)*C) of qkv (B, T, 3C) as a contiguous (B, H, T, D). */
static st_node head_split(builder *b, st_node qkv, int part)
{
    int64_t C = b->cfg->C, H = b->cfg->H;
    st_node x = st_graph_slice(b->g, qkv, 2, part * C, C);
    x = st_graph_reshape(b->g, x, 4, (int64_t[]){b->B, b->T, H, C / H});
    return st_graph_contiguous(b->g, st_graph_transpose(b->g, x, 1, 2));
}

/* One block on the residual stream x (B, T, C). */
static st_node block(builder *b, int l, st_node x)
{
    st_graph *g = b->g;
    st_node qkv = linear(b, l, "attn.c_attn", layernorm(b, l, "ln_1", x));      /* (B, T, 3C) */
    st_node att = st_graph_attention(g, head_split(b, qkv, 0), head_split(b, qkv, 1),
                                     head_split(b, qkv, 2));                      /* (B, H, T, D) */
    att = st_graph_contiguous(g, st_graph_transpose(g, att, 1, 2));               /* (B, T, H, D) */
    att = st_graph_reshape(g, att, 3, (int64_t[]){b->B, b->T, b->cfg->C});
    x = st_graph_add(g, x, linear(b, l, "attn.c_proj", att));
    st_node h = st_graph_gelu(g, linear(b, l, "mlp.c_fc", layernorm(b, l, "ln_2", x))); /* (B, T, 4C) */
    return st_graph_add(g, x, linear(b, l, "mlp.c_proj", h));
}

static st_node build(builder *b, gpt2_graph *m)
{
    st_graph *g = b->g;
    m->idx = st_graph_input(g, "idx", ST_I32, 2, (int64_t[]){b->B, b->T});
    m->pos = st_graph_input(g, "pos", ST_I32, 1, (int64_t[]){b->T});
    m->targets = st_graph_input(g, "targets", ST_I32, 2, (int64_t[]){b->B, b->T});
    st_tensor *v, *gr;
    b->wte = st_params_get_by_name(b->ps, "wte.weight", &v, &gr) == ST_OK
                 ? st_graph_param(g, "wte.weight", v, gr) : ST_NODE_NONE;
    st_node x = st_graph_add(g, st_graph_embedding(g, wte_use(b), m->idx),
                             st_graph_embedding(g, param(b, "wpe.weight"), m->pos)); /* (B, T, C) */
    for (int l = 0; l < b->cfg->L; l++) x = block(b, l, x);
    x = st_graph_layernorm(g, x, param(b, "ln_f.weight"), param(b, "ln_f.bias"), 1e-5f);
    st_node logits = st_graph_matmul(g, x, wte_use(b), 0, 1);                             /* (B, T, Vp) */
    if (b->cfg->Vp > b->cfg->V) /* the padding rows are not tokens: cut them from the softmax */
        logits = st_graph_contiguous(g, st_graph_slice(g, logits, 2, 0, b->cfg->V));
    m->logits = logits;
    return st_graph_mean(g, st_graph_cross_entropy(g, logits, m->targets), ST_GRAPH_ALL_AXES);
}

static st_status make_inputs(gpt2_graph *m, st_device *dev)
{
    st_status s = st_tensor_create(dev, ST_I32, 2, (int64_t[]){m->B, m->T}, &m->idx_t);
    if (!s) s = st_tensor_create(dev, ST_I32, 2, (int64_t[]){m->B, m->T}, &m->tgt_t);
    if (!s) s = st_tensor_create(dev, ST_I32, 1, (int64_t[]){m->T}, &m->pos_t);
    if (s) return s;
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)m->T);
    if (!pos) return ST_ERR_OUT_OF_MEMORY;
    for (int64_t t = 0; t < m->T; t++) pos[t] = (int32_t)t;
    s = st_tensor_write(m->pos_t, pos, sizeof(int32_t) * (size_t)m->T);
    free(pos);
    return s;
}

st_status gpt2_graph_create(gpt2_graph *m, const gpt2_config *cfg, st_params *ps, int64_t B,
                            int64_t T, st_dtype dt)
{
    *m = (gpt2_graph){.B = B, .T = T};
    if (B < 1 || T < 1 || T > cfg->T || (dt != ST_F32 && dt != ST_BF16)) return ST_ERR_INVALID_ARG;
    st_status s = st_graph_create(&m->g);
    if (s) return s;
    builder b = {.g = m->g, .ps = ps, .cfg = cfg, .B = B, .T = T, .dt = dt};
    m->loss = build(&b, m);
    s = st_graph_status(m->g);
    if (!s) s = st_graph_set_loss(m->g, m->loss);
    if (!s) s = st_graph_keep(m->g, m->logits);
    if (!s) s = st_graph_compile(m->g, st_params_device(ps), &m->plan);
    if (!s) s = make_inputs(m, st_params_device(ps));
    if (!s) s = st_graph_bind(m->plan, m->idx, m->idx_t);
    if (!s) s = st_graph_bind(m->plan, m->targets, m->tgt_t);
    if (!s) s = st_graph_bind(m->plan, m->pos, m->pos_t);
    if (s) {
        gpt2_graph_destroy(m);
        return s;
    }
    /* The plan is self-contained; keeping the graph would pin the parameter arenas that sharded
     * runs release (st_shard_attach_graph). */
    st_graph_destroy(m->g);
    m->g = NULL;
    return ST_OK;
}

void gpt2_graph_destroy(gpt2_graph *m)
{
    st_graph_plan_destroy(m->plan);
    st_graph_destroy(m->g);
    st_tensor_destroy(m->idx_t);
    st_tensor_destroy(m->tgt_t);
    st_tensor_destroy(m->pos_t);
    *m = (gpt2_graph){0};
}

st_status gpt2_forward(gpt2_graph *m, const int32_t *inputs, const int32_t *targets, float *loss)
{
    size_t bytes = sizeof(int32_t) * (size_t)(m->B * m->T);
    st_status s = st_tensor_write(m->idx_t, inputs, bytes);
    if (!s) s = st_tensor_write(m->tgt_t, targets, bytes);
    if (!s) s = st_graph_forward(m->plan);
    if (!s) s = st_tensor_read(st_graph_value(m->plan, m->loss), loss, sizeof *loss);
    return s;
}
