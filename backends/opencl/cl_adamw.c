/* AdamW on OpenCL: one work-item per element, bias corrections computed on the host in double.
 * Kernel: kernels_cl/adamw.cl. */
#include <math.h>
#include "cl_internal.h"

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
