/* The small models of the graph tests (models.h), built with the graph API. */
#include <stdlib.h>
#include "models.h"

st_status tm_fill_random(st_tensor *t, unsigned seed, float scale)
{
    int64_t n = st_tensor_numel(t);
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!h) return ST_ERR_OUT_OF_MEMORY;
    uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = scale * (2.0f * (float)(s >> 40) / (float)(1u << 24) - 1.0f);
    }
    st_status st = st_tensor_write(t, h, sizeof(float) * (size_t)n);
    free(h);
    return st;
}

static st_node param(tmodel *m, const char *name, int ndim, const int64_t *shape, float scale, float offset)
{
    int k = m->np++;
    m->pname[k] = name;
    if (st_tensor_create(m->dev, ST_F32, ndim, shape, &m->p[k]) != ST_OK ||
        st_tensor_create(m->dev, ST_F32, ndim, shape, &m->gp[k]) != ST_OK ||
        tm_fill_random(m->p[k], (unsigned)k * 7u + 1u, scale) != ST_OK)
        return ST_NODE_NONE;
    if (offset != 0.0f && st_scale(m->p[k], m->p[k], 1.0f, offset) != ST_OK) return ST_NODE_NONE;
    return st_graph_param(m->g, name, m->p[k], m->gp[k]);
}

static st_node input(tmodel *m, const char *name, st_dtype dt, int ndim, const int64_t *shape, const void *data,
                     size_t bytes)
{
    int k = m->ni++;
    if (st_tensor_create(m->dev, dt, ndim, shape, &m->in[k]) != ST_OK) return ST_NODE_NONE;
    if (data ? st_tensor_write(m->in[k], data, bytes) : tm_fill_random(m->in[k], 99u + (unsigned)k, 1.0f)) return ST_NODE_NONE;
    m->in_node[k] = st_graph_input(m->g, name, dt, ndim, shape);
    return m->in_node[k];
}

/* x (4, 5) -> matmul+bias -> gelu|relu -> matmul+bias (4, 3) -> loss. */
static st_node build_mlp(tmodel *m, int mse)
{
    st_graph *g = m->g;
    st_node x = input(m, "x", ST_F32, 2, (int64_t[]){4, 5}, NULL, 0);
    st_node w1 = param(m, "w1", 2, (int64_t[]){5, 6}, 0.5f, 0), b1 = param(m, "b1", 1, (int64_t[]){6}, 0.3f, 0);
    st_node w2 = param(m, "w2", 2, (int64_t[]){6, 3}, 0.5f, 0), b2 = param(m, "b2", 1, (int64_t[]){3}, 0.3f, 0);
    st_node h = st_graph_add(g, st_graph_matmul(g, x, w1, 0, 0), b1);
    h = mse ? st_graph_relu(g, st_graph_scale(g, h, 1.0f, 0.1f)) : st_graph_gelu(g, h);
    m->logits = st_graph_add(g, st_graph_matmul(g, h, w2, 0, 0), b2);
    if (mse) { /* 0.5 * sum((pred - y)^2) / N */
        st_node y = input(m, "y", ST_F32, 2, (int64_t[]){4, 3}, NULL, 0);
        st_node d = st_graph_sub(g, m->logits, y);
        return st_graph_scale(g, st_graph_sum(g, st_graph_mul(g, d, d), ST_GRAPH_ALL_AXES), 0.125f, 0.0f);
    }
    int32_t tgt[4] = {0, 2, 1, 2};
    st_node y = input(m, "y", ST_I32, 1, (int64_t[]){4}, tgt, sizeof tgt);
    return st_graph_mean(g, st_graph_cross_entropy(g, m->logits, y), ST_GRAPH_ALL_AXES);
}

/* One of q, k, v: columns [part*C, (part+1)*C) of qkv (B, T, 3C) as a contiguous (B, H, T, D). */
static st_node head_split(st_graph *g, st_node qkv, int part)
{
    const int64_t D = TM_C / TM_H;
    st_node x = st_graph_slice(g, qkv, 2, part * TM_C, TM_C);
    x = st_graph_reshape(g, x, 4, (int64_t[]){TM_B, TM_T, TM_H, D});
    return st_graph_contiguous(g, st_graph_transpose(g, x, 1, 2));
}

static st_node layernorm(tmodel *m, st_node x, const char *wname, const char *bname)
{
    st_node w = param(m, wname, 1, (int64_t[]){TM_C}, 0.2f, 1.0f), b = param(m, bname, 1, (int64_t[]){TM_C}, 0.2f, 0);
    return st_graph_layernorm(m->g, x, w, b, 1e-5f);
}

static st_node linear(tmodel *m, st_node x, const char *wname, const char *bname, int64_t in, int64_t out)
{
    st_node w = param(m, wname, 2, (int64_t[]){in, out}, 0.4f, 0), b = param(m, bname, 1, (int64_t[]){out}, 0.1f, 0);
    return st_graph_add(m->g, st_graph_matmul(m->g, x, w, 0, 0), b);
}

static st_node build_gpt(tmodel *m)
{
    st_graph *g = m->g;
    int32_t idx[TM_B * TM_T] = {1, 5, 3, 10, 0, 7, 7, 2}, tgt[TM_B * TM_T] = {5, 3, 10, 4, 7, 7, 2, -1};
    int32_t pos[TM_T] = {0, 1, 2, 3};
    st_node ti = input(m, "idx", ST_I32, 2, (int64_t[]){TM_B, TM_T}, idx, sizeof idx);
    st_node tp = input(m, "pos", ST_I32, 1, (int64_t[]){TM_T}, pos, sizeof pos);
    st_node tt = input(m, "targets", ST_I32, 2, (int64_t[]){TM_B, TM_T}, tgt, sizeof tgt);
    st_node wte = param(m, "wte", 2, (int64_t[]){TM_V, TM_C}, 0.5f, 0);
    st_node wpe = param(m, "wpe", 2, (int64_t[]){TM_T, TM_C}, 0.5f, 0);
    st_node x = st_graph_add(g, st_graph_embedding(g, wte, ti), st_graph_embedding(g, wpe, tp));
    st_node qkv = linear(m, layernorm(m, x, "ln1.w", "ln1.b"), "qkv.w", "qkv.b", TM_C, 3 * TM_C);
    st_node att = st_graph_attention(g, head_split(g, qkv, 0), head_split(g, qkv, 1), head_split(g, qkv, 2));
    att = st_graph_contiguous(g, st_graph_transpose(g, att, 1, 2));
    att = st_graph_reshape(g, att, 3, (int64_t[]){TM_B, TM_T, TM_C});
    x = st_graph_add(g, x, linear(m, att, "proj.w", "proj.b", TM_C, TM_C));
    st_node h = st_graph_gelu(g, linear(m, layernorm(m, x, "ln2.w", "ln2.b"), "fc.w", "fc.b", TM_C, 4 * TM_C));
    x = st_graph_add(g, x, linear(m, h, "fcproj.w", "fcproj.b", 4 * TM_C, TM_C));
    m->logits = st_graph_matmul(g, layernorm(m, x, "lnf.w", "lnf.b"), wte, 0, 1); /* tied head */
    return st_graph_mean(g, st_graph_cross_entropy(g, m->logits, tt), ST_GRAPH_ALL_AXES);
}

st_status tm_build(tmodel *m, tm_kind kind, st_device *dev)
{
    *m = (tmodel){.dev = dev};
    ST_TRY_T(st_graph_create(&m->g));
    m->loss = kind == TM_GPT ? build_gpt(m) : build_mlp(m, kind == TM_MLP_MSE);
    if (m->loss == ST_NODE_NONE) return st_graph_status(m->g) ? st_graph_status(m->g) : ST_ERR_INTERNAL;
    ST_TRY_T(st_graph_set_loss(m->g, m->loss));
    ST_TRY_T(st_graph_keep(m->g, m->logits));
    ST_TRY_T(st_graph_compile(m->g, dev, &m->plan));
    for (int k = 0; k < m->ni; k++) ST_TRY_T(st_graph_bind(m->plan, m->in_node[k], m->in[k]));
    return tm_zero_grads(m);
}

void tm_free(tmodel *m)
{
    st_graph_plan_destroy(m->plan);
    st_graph_destroy(m->g);
    for (int k = 0; k < m->np; k++) {
        st_tensor_destroy(m->p[k]);
        st_tensor_destroy(m->gp[k]);
    }
    for (int k = 0; k < m->ni; k++) st_tensor_destroy(m->in[k]);
    *m = (tmodel){0};
}

st_status tm_zero_grads(tmodel *m)
{
    for (int k = 0; k < m->np; k++) ST_TRY_T(st_fill(m->gp[k], 0.0));
    return ST_OK;
}

st_status tm_loss(tmodel *m, float *loss)
{
    ST_TRY_T(st_graph_forward(m->plan));
    return st_tensor_read(st_graph_value(m->plan, m->loss), loss, sizeof *loss);
}
