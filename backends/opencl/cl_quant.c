/* The quant family on OpenCL: quantize with one work-group per block (the block's amax is a
 * group reduction), dequantize with one work-item per ST_CHUNK elements. Kernels:
 * kernels_cl/quant.cl. */
#include "cl_internal.h"

#define ST_CHUNK 16 /* kernels_cl/common.cl's */

st_status st_cl_quantize(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_quant_params *p = &c->p.quantize;
    cl_long n = st_cl_numel(&c->in[0]), block = p->block;
    cl_int bits = p->bits, dt = c->in[0].dtype;
    size_t L = st_cl_group_size(d, ST_CL_K_QUANTIZE, bits == 4 ? (block + 1) / 2 : block);
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_QUANTIZE, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->out[1]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_ARG(&l, n);
    ST_CL_ARG(&l, block);
    ST_CL_ARG(&l, bits);
    ST_CL_ARG(&l, dt);
    st_cl_local_floats(&l, L);
    return st_cl_run(&l, (size_t)((n + block - 1) / block), L, 0);
}

st_status st_cl_dequantize(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_quant_params *p = &c->p.dequantize;
    cl_long n = st_cl_numel(&c->out[0]), block = p->block;
    cl_int bits = p->bits, dt = c->out[0].dtype, acc = p->accumulate != 0;
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_DEQUANTIZE, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_ARG(&l, n);
    ST_CL_ARG(&l, block);
    ST_CL_ARG(&l, bits);
    ST_CL_ARG(&l, dt);
    ST_CL_ARG(&l, acc);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_DEQUANTIZE], (size_t)((n + ST_CHUNK - 1) / ST_CHUNK));
}
