/* The elementwise family on OpenCL: one host slot for every op of the table's elementwise family
 * (generated from it), launching the kernel st_<name> of kernels_cl/elementwise.cl. A row
 * without its kernel there fails the program's build, naming the kernel. */
#include "cl_internal.h"

/* Kernels of elementwise.cl: (out, a[, b]) with the views, then n, flat, total, dtype, and for
 * unary ops alpha, beta (read by scale only). */
static st_status elementwise(void *ctx, int dev, const st_op_call *c, st_cl_kernel_id k)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0], &c->in[0], &c->in[1]};
    st_cl_strided s;
    st_cl_launch l;
    st_cl_collapse(views, 1 + c->n_in, &s);
    cl_int dt = c->out[0].dtype;
    ST_CL_TRY(st_cl_begin(d, k, &l));
    for (int i = 0; i <= c->n_in; i++) {
        cl_mem m = st_cl_mem(views[i]);
        ST_CL_ARG(&l, m);
        ST_CL_ARG(&l, s.v[i]);
    }
    ST_CL_ARG(&l, s.n);
    ST_CL_ARG(&l, s.flat);
    ST_CL_ARG(&l, s.total);
    ST_CL_ARG(&l, dt);
    if (c->n_in == 1) {
        ST_CL_ARG(&l, c->p.scale.alpha);
        ST_CL_ARG(&l, c->p.scale.beta);
    }
    return st_cl_run(&l, 0, d->kwg[k], st_cl_strided_items(&s));
}

#define ST_CL_ELEMENTWISE_(F, ID, name, ...)                         \
    st_status st_cl_##name(void *ctx, int dev, const st_op_call *c)   \
    {                                                                 \
        return elementwise(ctx, dev, c, ST_CL_K_##ID);                \
    }
ST_OPS_ELEMENTWISE(ST_CL_ELEMENTWISE_, elementwise)
