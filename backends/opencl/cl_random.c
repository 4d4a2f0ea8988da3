/* The random family on OpenCL: Philox4x32-10, one work-item per element. Kernels:
 * kernels_cl/random.cl. */
#include "cl_internal.h"

static st_status philox(void *ctx, int dev, const st_op_call *c, st_cl_kernel_id k)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    st_cl_launch l;
    cl_mem out = st_cl_mem(&c->out[0]);
    cl_long off = c->out[0].offset, total = st_cl_numel(&c->out[0]);
    cl_int dt = c->out[0].dtype;
    cl_ulong seed = c->p.rand_uniform.seed, offset = c->p.rand_uniform.offset;
    ST_CL_TRY(st_cl_begin(d, k, &l));
    ST_CL_ARG(&l, out);
    ST_CL_ARG(&l, off);
    ST_CL_ARG(&l, total);
    ST_CL_ARG(&l, dt);
    ST_CL_ARG(&l, seed);
    ST_CL_ARG(&l, offset);
    ST_CL_ARG(&l, c->p.rand_uniform.a);
    ST_CL_ARG(&l, c->p.rand_uniform.b);
    return st_cl_run(&l, 0, d->kwg[k], (size_t)total);
}

st_status st_cl_rand_uniform(void *ctx, int dev, const st_op_call *c)
{
    return philox(ctx, dev, c, ST_CL_K_RAND_UNIFORM);
}

st_status st_cl_rand_normal(void *ctx, int dev, const st_op_call *c)
{
    return philox(ctx, dev, c, ST_CL_K_RAND_NORMAL);
}
