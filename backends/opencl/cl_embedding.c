/* The embedding family on OpenCL: row gather, and the scatter-add backward (one work-item per
 * column, in f32, cast back for bf16). Kernels: kernels_cl/embedding.cl. */
#include "cl_internal.h"

st_status st_cl_embedding(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    cl_long V = c->in[0].shape[0], C = c->in[0].shape[1], N = st_cl_numel(&c->in[1]);
    cl_int dt = c->in[0].dtype;
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_EMBEDDING, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_ARG(&l, N);
    ST_CL_ARG(&l, V);
    ST_CL_ARG(&l, C);
    ST_CL_ARG(&l, dt);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_EMBEDDING], (size_t)(N * C));
}

/* bf16 tables accumulate in an f32 staging buffer, rounded once at the end. */
st_status st_cl_embedding_backward(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *dt_v = &c->out[0];
    cl_long V = dt_v->shape[0], C = dt_v->shape[1], N = st_cl_numel(&c->in[1]);
    cl_int dt = dt_v->dtype;
    cl_mem acc = st_cl_mem(dt_v);
    cl_long aoff = dt_v->offset;
    if (dt == ST_BF16) {
        ST_CL_TRY(st_cl_temp(d, (size_t)(V * C) * sizeof(float), &acc));
        aoff = 0;
    }
    st_cl_launch l;
    st_status s = st_cl_fill_range(d, acc, aoff, V * C, ST_F32, 0.0f);
    if (s == ST_OK) s = st_cl_begin(d, ST_CL_K_EMBEDDING_BACKWARD, &l);
    if (s == ST_OK) {
        ST_CL_ARG(&l, acc);
        ST_CL_ARG(&l, aoff);
        ST_CL_VIEW(&l, &c->in[0]);
        ST_CL_VIEW(&l, &c->in[1]);
        ST_CL_ARG(&l, N);
        ST_CL_ARG(&l, V);
        ST_CL_ARG(&l, C);
        ST_CL_ARG(&l, dt);
        s = st_cl_run(&l, 0, d->kwg[ST_CL_K_EMBEDDING_BACKWARD], (size_t)C);
    }
    if (dt == ST_BF16) {
        if (s == ST_OK) s = st_cl_cast_range(d, st_cl_mem(dt_v), dt_v->offset, ST_BF16, acc, 0, ST_F32, V * C);
        clReleaseMemObject(acc);
    }
    return s;
}
