/* The layernorm family on OpenCL: one work-group per row forward; backward in two kernels, rows
 * for din and columns for dweight, dbias. Kernels: kernels_cl/layernorm.cl. */
#include "cl_internal.h"

st_status st_cl_layernorm(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long C = st_cl_last_dim(&c->in[0]);
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
    cl_long C = st_cl_last_dim(&c->in[1]), rows = st_cl_numel(&c->in[1]) / C;
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
