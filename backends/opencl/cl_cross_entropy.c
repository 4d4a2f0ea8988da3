/* The cross_entropy family on OpenCL: fused softmax + loss, one work-group per row, and its
 * backward. Kernels: kernels_cl/cross_entropy.cl. */
#include "cl_internal.h"

st_status st_cl_cross_entropy(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long V = st_cl_last_dim(&c->in[0]);
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
    cl_long V = st_cl_last_dim(&c->out[0]), total = st_cl_numel(&c->out[0]), rows = total / V;
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
