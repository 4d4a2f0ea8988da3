/* Causal attention and its backward: one work-group per query row (forward, dq) or key row
 * (dk, dv); see kernels_cl/attention.cl for the chunked recomputation of scores. */
#include <math.h>
#include "cl_internal.h"

/* T, D, scale, dtype and the three local buffers every attention kernel ends with. */
static void tail_args(st_cl_launch *l, const st_view *q, size_t L)
{
    cl_long T = q->shape[2], D = q->shape[3];
    cl_float scale = (cl_float)(1.0 / sqrt((double)D));
    cl_int dt = q->dtype;
    ST_CL_ARG(l, T);
    ST_CL_ARG(l, D);
    ST_CL_ARG(l, scale);
    ST_CL_ARG(l, dt);
    st_cl_local_floats(l, L);
    st_cl_local_floats(l, 2 * L);
    st_cl_local_floats(l, 2 * (size_t)D);
}

st_status st_cl_attention(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *q = &c->in[0];
    size_t rows = (size_t)(q->shape[0] * q->shape[1] * q->shape[2]);
    size_t L = st_cl_group_size(d, ST_CL_K_ATTENTION, q->shape[2]);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_ATTENTION, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->out[1]);
    for (int i = 0; i < 3; i++) ST_CL_VIEW(&l, &c->in[i]);
    tail_args(&l, q, L);
    return st_cl_run(&l, rows, L, 0);
}

/* in: dout, q, k, v, o, lse; out: dq, dk, dv. */
st_status st_cl_attention_backward(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *q = &c->in[1];
    size_t rows = (size_t)(q->shape[0] * q->shape[1] * q->shape[2]);
    size_t L = st_cl_group_size(d, ST_CL_K_ATTENTION_BACKWARD, q->shape[2]);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_ATTENTION_BACKWARD, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    for (int i = 0; i < 6; i++) ST_CL_VIEW(&l, &c->in[i]);
    tail_args(&l, q, L);
    ST_CL_TRY(st_cl_run(&l, rows, L, 0));
    L = st_cl_group_size(d, ST_CL_K_ATTENTION_BACKWARD_KV, q->shape[2]);
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_ATTENTION_BACKWARD_KV, &l));
    ST_CL_VIEW(&l, &c->out[1]);
    ST_CL_VIEW(&l, &c->out[2]);
    for (int i = 0; i < 6; i++) ST_CL_VIEW(&l, &c->in[i]);
    tail_args(&l, q, L);
    return st_cl_run(&l, rows, L, 0);
}
