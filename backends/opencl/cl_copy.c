/* The copy family on OpenCL: fill, copy and cast between strided views. Kernels:
 * kernels_cl/copy.cl. */
#include "cl_internal.h"

st_status st_cl_fill(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0]};
    st_cl_strided s;
    st_cl_launch l;
    st_cl_collapse(views, 1, &s);
    cl_mem out = st_cl_mem(&c->out[0]);
    cl_int dt = c->out[0].dtype;
    cl_float fv = (cl_float)c->p.fill.value;
    double v = c->p.fill.value; /* i32 and i8 saturate, NaN gives 0 */
    double lo = dt == ST_I8 ? -128.0 : -2147483648.0, hi = dt == ST_I8 ? 127.0 : 2147483647.0;
    cl_int iv = v != v ? 0 : v <= lo ? (cl_int)lo : v >= hi ? (cl_int)hi : (cl_int)v;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_FILL, &l));
    ST_CL_ARG(&l, out);
    ST_CL_ARG(&l, s.v[0]);
    ST_CL_ARG(&l, s.n);
    ST_CL_ARG(&l, s.flat);
    ST_CL_ARG(&l, s.total);
    ST_CL_ARG(&l, dt);
    ST_CL_ARG(&l, fv);
    ST_CL_ARG(&l, iv);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_FILL], st_cl_strided_items(&s));
}

st_status st_cl_copy(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0], &c->in[0]};
    st_cl_strided s;
    st_cl_launch l;
    st_cl_collapse(views, 2, &s);
    cl_mem out = st_cl_mem(&c->out[0]), x = st_cl_mem(&c->in[0]);
    cl_int dt = c->out[0].dtype;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_COPY, &l));
    ST_CL_ARG(&l, out);
    ST_CL_ARG(&l, s.v[0]);
    ST_CL_ARG(&l, x);
    ST_CL_ARG(&l, s.v[1]);
    ST_CL_ARG(&l, s.n);
    ST_CL_ARG(&l, s.flat);
    ST_CL_ARG(&l, s.total);
    ST_CL_ARG(&l, dt);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_COPY], st_cl_strided_items(&s));
}

st_status st_cl_cast(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0], &c->in[0]};
    st_cl_strided s;
    st_cl_launch l;
    st_cl_collapse(views, 2, &s);
    cl_mem out = st_cl_mem(&c->out[0]), x = st_cl_mem(&c->in[0]);
    cl_int dto = c->out[0].dtype, dti = c->in[0].dtype;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_CAST, &l));
    ST_CL_ARG(&l, out);
    ST_CL_ARG(&l, s.v[0]);
    ST_CL_ARG(&l, dto);
    ST_CL_ARG(&l, x);
    ST_CL_ARG(&l, s.v[1]);
    ST_CL_ARG(&l, dti);
    ST_CL_ARG(&l, s.n);
    ST_CL_ARG(&l, s.flat);
    ST_CL_ARG(&l, s.total);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_CAST], st_cl_strided_items(&s));
}
