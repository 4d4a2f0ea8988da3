/* The reduce family on OpenCL: sum, mean, max along an axis (one work-group per output
 * element) and sumsq in two stages. Kernels: kernels_cl/reduce.cl. */
#include "cl_internal.h"

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
