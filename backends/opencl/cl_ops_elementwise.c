/* Strided ops (fill .. rsqrt) and random numbers. Operands are collapsed on the host to the
 * fewest dimensions their strides allow, so contiguous data runs the kernels' division-free
 * path whatever the tensor's rank. */
#include <math.h>
#include "cl_internal.h"

typedef struct st_cl_strided {
    cl_long4 n;
    cl_long8 v[ST_MAX_OP_IN + 1];
    cl_int flat;
    cl_long total;
} st_cl_strided;

/* Work-items a strided kernel needs: ST_CHUNK (16) elements each on the contiguous path. */
static size_t items(const st_cl_strided *s)
{
    return s->flat == 2 ? (size_t)(s->total + 15) / 16 : (size_t)s->total;
}

/* views[0] is the output; all views share its shape. */
static void collapse(const st_view *const *views, int nv, st_cl_strided *s)
{
    int64_t size[ST_MAX_DIMS], stride[ST_MAX_DIMS][ST_MAX_OP_IN + 1];
    int m = 0;
    const st_view *o = views[0];
    for (int i = 0; i < o->ndim; i++) {
        if (o->shape[i] == 1) continue;
        int merge = m > 0;
        for (int k = 0; k < nv && merge; k++)
            merge = stride[m - 1][k] == views[k]->stride[i] * o->shape[i];
        if (merge) {
            size[m - 1] *= o->shape[i];
        } else {
            size[m] = o->shape[i];
            m++;
        }
        for (int k = 0; k < nv; k++) stride[m - 1][k] = views[k]->stride[i];
    }
    int64_t n[4] = {1, 1, 1, 1}, st[4][ST_MAX_OP_IN + 1] = {{0}};
    for (int i = 0; i < m; i++) {
        n[4 - m + i] = size[i];
        for (int k = 0; k < nv; k++) st[4 - m + i][k] = stride[i][k];
    }
    s->n = (cl_long4){{n[0], n[1], n[2], n[3]}};
    for (int k = 0; k < nv; k++)
        s->v[k] = (cl_long8){{views[k]->offset, st[0][k], st[1][k], st[2][k], st[3][k], 0, 0, 0}};
    int unit = 1;
    for (int k = 0; k < nv; k++) unit &= st[3][k] == 1;
    s->flat = m <= 1 ? (unit ? 2 : 1) : 0;
    s->total = n[0] * n[1] * n[2] * n[3];
}

st_status st_cl_fill(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0]};
    st_cl_strided s;
    st_cl_launch l;
    collapse(views, 1, &s);
    cl_mem out = st_cl_mem(&c->out[0]);
    cl_int dt = c->out[0].dtype;
    cl_float fv = (cl_float)c->p.fill.value;
    cl_int iv = (cl_int)c->p.fill.value;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_FILL, &l));
    ST_CL_ARG(&l, out);
    ST_CL_ARG(&l, s.v[0]);
    ST_CL_ARG(&l, s.n);
    ST_CL_ARG(&l, s.flat);
    ST_CL_ARG(&l, s.total);
    ST_CL_ARG(&l, dt);
    ST_CL_ARG(&l, fv);
    ST_CL_ARG(&l, iv);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_FILL], items(&s));
}

st_status st_cl_copy(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0], &c->in[0]};
    st_cl_strided s;
    st_cl_launch l;
    collapse(views, 2, &s);
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
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_COPY], items(&s));
}

st_status st_cl_cast(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0], &c->in[0]};
    st_cl_strided s;
    st_cl_launch l;
    collapse(views, 2, &s);
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
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_CAST], items(&s));
}

/* Kernels of elementwise.cl: (out, a[, b]) with the views, then n, flat, total, dtype, and for
 * unary ops alpha, beta (read by scale only). */
static st_status elementwise(void *ctx, int dev, const st_op_call *c, st_cl_kernel_id k)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    const st_view *views[] = {&c->out[0], &c->in[0], &c->in[1]};
    st_cl_strided s;
    st_cl_launch l;
    collapse(views, 1 + c->n_in, &s);
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
    return st_cl_run(&l, 0, d->kwg[k], items(&s));
}

#define ST_CL_ELEMENTWISE_(ID, name)                                  \
    st_status st_cl_##name(void *ctx, int dev, const st_op_call *c)   \
    {                                                                 \
        return elementwise(ctx, dev, c, ST_CL_K_##ID);                \
    }
ST_CL_ELEMENTWISE_(ADD, add)
ST_CL_ELEMENTWISE_(SUB, sub)
ST_CL_ELEMENTWISE_(MUL, mul)
ST_CL_ELEMENTWISE_(DIV, div)
ST_CL_ELEMENTWISE_(SCALE, scale)
ST_CL_ELEMENTWISE_(GELU, gelu)
ST_CL_ELEMENTWISE_(GELU_BACKWARD, gelu_backward)
ST_CL_ELEMENTWISE_(RELU, relu)
ST_CL_ELEMENTWISE_(RELU_BACKWARD, relu_backward)
ST_CL_ELEMENTWISE_(EXP, exp)
ST_CL_ELEMENTWISE_(LOG, log)
ST_CL_ELEMENTWISE_(TANH, tanh)
ST_CL_ELEMENTWISE_(SQRT, sqrt)
ST_CL_ELEMENTWISE_(RSQRT, rsqrt)

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
