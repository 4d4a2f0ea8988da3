/* Dense ops on contiguous operands: reductions, softmax, layernorm, embedding, cross-entropy
 * and AdamW (attention and matmul have files of their own). Row-wise ops run one work-group
 * per row; its size is a power of two chosen per call, so any device limit works. */
#include <math.h>
#include "cl_internal.h"

static int64_t last_dim(const st_view *v) { return v->ndim ? v->shape[v->ndim - 1] : 1; }

static st_status reduce(void *ctx, int dev, const st_op_call *c, st_cl_kernel_id k)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *x = &c->in[0];
    cl_long outer = 1, n = x->shape[c->p.sum.axis], inner = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i < c->p.sum.axis) outer *= x->shape[i];
        if (i > c->p.sum.axis) inner *= x->shape[i];
    }
    cl_int dt = x->dtype;
    size_t L = st_cl_group_size(d, k, n);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, k, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, x);
    ST_CL_ARG(&l, n);
    ST_CL_ARG(&l, inner);
    ST_CL_ARG(&l, dt);
    st_cl_local_floats(&l, L);
    return st_cl_run(&l, (size_t)(outer * inner), L, 0);
}

st_status st_cl_sum(void *ctx, int dev, const st_op_call *c) { return reduce(ctx, dev, c, ST_CL_K_SUM); }
st_status st_cl_mean(void *ctx, int dev, const st_op_call *c) { return reduce(ctx, dev, c, ST_CL_K_MEAN); }
st_status st_cl_max(void *ctx, int dev, const st_op_call *c) { return reduce(ctx, dev, c, ST_CL_K_MAX); }

/* Two stages: G work-groups write partial sums, then st_sum adds the G partials in order. */
st_status st_cl_sumsq(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long total = st_cl_numel(&c->in[0]);
    size_t L = st_cl_group_size(d, ST_CL_K_SUMSQ, total);
    size_t G = ((size_t)total + L * 64 - 1) / (L * 64);
    if (G > 256) G = 256;
    cl_mem part;
    ST_CL_TRY(st_cl_temp(d, G * sizeof(float), &part));
    cl_int dt = c->in[0].dtype;
    st_cl_launch l;
    st_status s = st_cl_begin(d, ST_CL_K_SUMSQ, &l);
    if (s == ST_OK) {
        ST_CL_ARG(&l, part);
        ST_CL_VIEW(&l, &c->in[0]);
        ST_CL_ARG(&l, total);
        ST_CL_ARG(&l, dt);
        st_cl_local_floats(&l, L);
        s = st_cl_run(&l, G, L, 0);
    }
    if (s == ST_OK) {
        st_view pv = {.buf = part, .dtype = ST_F32, .ndim = 1, .shape = {(int64_t)G}, .stride = {1}};
        st_op_call sum = {.op = ST_OP_SUM, .n_in = 1, .n_out = 1, .in = {pv}, .out = {c->out[0]}};
        s = reduce(ctx, dev, &sum, ST_CL_K_SUM);
    }
    clReleaseMemObject(part);
    return s;
}

st_status st_cl_softmax(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *x = &c->in[0];
    cl_long S = last_dim(x), T = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
    cl_int causal = c->p.softmax.causal, dt = x->dtype;
    size_t L = st_cl_group_size(d, ST_CL_K_SOFTMAX, S);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_SOFTMAX, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, x);
    ST_CL_ARG(&l, S);
    ST_CL_ARG(&l, T);
    ST_CL_ARG(&l, causal);
    ST_CL_ARG(&l, dt);
    st_cl_local_floats(&l, L);
    return st_cl_run(&l, (size_t)(st_cl_numel(x) / S), L, 0);
}

st_status st_cl_softmax_backward(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long S = last_dim(&c->out[0]);
    cl_int dt = c->out[0].dtype;
    size_t L = st_cl_group_size(d, ST_CL_K_SOFTMAX_BACKWARD, S);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_SOFTMAX_BACKWARD, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_ARG(&l, S);
    ST_CL_ARG(&l, dt);
    st_cl_local_floats(&l, L);
    return st_cl_run(&l, (size_t)(st_cl_numel(&c->out[0]) / S), L, 0);
}

st_status st_cl_layernorm(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long C = last_dim(&c->in[0]);
    cl_int dt = c->in[0].dtype;
    size_t L = st_cl_group_size(d, ST_CL_K_LAYERNORM, C);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_LAYERNORM, &l));
    for (int i = 0; i < 3; i++) ST_CL_VIEW(&l, &c->out[i]);
    for (int i = 0; i < 3; i++) ST_CL_VIEW(&l, &c->in[i]);
    ST_CL_ARG(&l, C);
    ST_CL_ARG(&l, c->p.layernorm.eps);
    ST_CL_ARG(&l, dt);
    st_cl_local_floats(&l, L);
    return st_cl_run(&l, (size_t)(st_cl_numel(&c->in[0]) / C), L, 0);
}

/* dx row by row, then dw and db column by column. */
st_status st_cl_layernorm_backward(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long C = last_dim(&c->in[1]), rows = st_cl_numel(&c->in[1]) / C;
    cl_int dt = c->in[1].dtype;
    size_t L = st_cl_group_size(d, ST_CL_K_LAYERNORM_BACKWARD, C);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_LAYERNORM_BACKWARD, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    for (int i = 0; i < 5; i++) ST_CL_VIEW(&l, &c->in[i]);
    ST_CL_ARG(&l, C);
    ST_CL_ARG(&l, dt);
    st_cl_local_floats(&l, L);
    ST_CL_TRY(st_cl_run(&l, (size_t)rows, L, 0));
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_LAYERNORM_BACKWARD_WB, &l));
    ST_CL_VIEW(&l, &c->out[1]);
    ST_CL_VIEW(&l, &c->out[2]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_VIEW(&l, &c->in[3]);
    ST_CL_VIEW(&l, &c->in[4]);
    ST_CL_ARG(&l, rows);
    ST_CL_ARG(&l, C);
    ST_CL_ARG(&l, dt);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_LAYERNORM_BACKWARD_WB], (size_t)C);
}

st_status st_cl_embedding(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long V = c->in[0].shape[0], C = c->in[0].shape[1], N = st_cl_numel(&c->in[1]);
    cl_int dt = c->in[0].dtype;
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_EMBEDDING, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_ARG(&l, N);
    ST_CL_ARG(&l, V);
    ST_CL_ARG(&l, C);
    ST_CL_ARG(&l, dt);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_EMBEDDING], (size_t)(N * C));
}

/* bf16 tables accumulate in an f32 staging buffer, rounded once at the end. */
st_status st_cl_embedding_backward(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *dt_v = &c->out[0];
    cl_long V = dt_v->shape[0], C = dt_v->shape[1], N = st_cl_numel(&c->in[1]);
    cl_int dt = dt_v->dtype;
    cl_mem acc = st_cl_mem(dt_v);
    cl_long aoff = dt_v->offset;
    if (dt == ST_BF16) {
        ST_CL_TRY(st_cl_temp(d, (size_t)(V * C) * sizeof(float), &acc));
        aoff = 0;
    }
    st_cl_launch l;
    st_status s = st_cl_fill_range(d, acc, aoff, V * C, ST_F32, 0.0f);
    if (s == ST_OK) s = st_cl_begin(d, ST_CL_K_EMBEDDING_BACKWARD, &l);
    if (s == ST_OK) {
        ST_CL_ARG(&l, acc);
        ST_CL_ARG(&l, aoff);
        ST_CL_VIEW(&l, &c->in[0]);
        ST_CL_VIEW(&l, &c->in[1]);
        ST_CL_ARG(&l, N);
        ST_CL_ARG(&l, V);
        ST_CL_ARG(&l, C);
        ST_CL_ARG(&l, dt);
        s = st_cl_run(&l, 0, d->kwg[ST_CL_K_EMBEDDING_BACKWARD], (size_t)C);
    }
    if (dt == ST_BF16) {
        if (s == ST_OK) s = st_cl_cast_range(d, st_cl_mem(dt_v), dt_v->offset, ST_BF16, acc, 0, ST_F32, V * C);
        clReleaseMemObject(acc);
    }
    return s;
}

st_status st_cl_cross_entropy(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long V = last_dim(&c->in[0]);
    cl_int dt = c->in[0].dtype;
    size_t L = st_cl_group_size(d, ST_CL_K_CROSS_ENTROPY, V);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_CROSS_ENTROPY, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->out[1]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_ARG(&l, V);
    ST_CL_ARG(&l, dt);
    st_cl_local_floats(&l, L);
    return st_cl_run(&l, (size_t)(st_cl_numel(&c->in[0]) / V), L, 0);
}

st_status st_cl_cross_entropy_backward(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long V = last_dim(&c->out[0]), total = st_cl_numel(&c->out[0]), rows = total / V;
    cl_int dt = c->out[0].dtype;
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_CROSS_ENTROPY_BACKWARD, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    for (int i = 0; i < 3; i++) ST_CL_VIEW(&l, &c->in[i]);
    ST_CL_ARG(&l, rows);
    ST_CL_ARG(&l, V);
    ST_CL_ARG(&l, dt);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_CROSS_ENTROPY_BACKWARD], (size_t)total);
}

st_status st_cl_adamw(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_adamw_params *p = &c->p.adamw;
    cl_long total = st_cl_numel(&c->out[0]);
    cl_int dt = c->in[0].dtype;
    cl_float bc1 = (cl_float)(1.0 - pow(p->beta1, (double)p->step));
    cl_float bc2 = (cl_float)(1.0 - pow(p->beta2, (double)p->step));
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_ADAMW, &l));
    for (int i = 0; i < 3; i++) ST_CL_VIEW(&l, &c->out[i]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_ARG(&l, total);
    ST_CL_ARG(&l, dt);
    ST_CL_ARG(&l, p->lr);
    ST_CL_ARG(&l, p->beta1);
    ST_CL_ARG(&l, p->beta2);
    ST_CL_ARG(&l, p->eps);
    ST_CL_ARG(&l, p->weight_decay);
    ST_CL_ARG(&l, p->grad_scale);
    ST_CL_ARG(&l, bc1);
    ST_CL_ARG(&l, bc2);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_ADAMW], (size_t)total);
}
