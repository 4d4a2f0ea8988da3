/* The softmax family on OpenCL: row-wise softmax (causal mask optional) and its backward, one
 * work-group per row. Kernels: kernels_cl/softmax.cl. */
#include "cl_internal.h"

st_status st_cl_softmax(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *x = &c->in[0];
    cl_long S = st_cl_last_dim(x), T = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
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
    cl_long S = st_cl_last_dim(&c->out[0]);
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
