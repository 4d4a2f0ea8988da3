/* Strided operands on OpenCL: the views of a strided op collapsed on the host to the fewest
 * dimensions their strides allow, so contiguous data runs the kernels' division-free path
 * whatever the tensor's rank (st_at and ST_FOR_EACH in kernels_cl/common.cl). */
#include "cl_internal.h"

/* Work-items a strided kernel needs: ST_CHUNK (16) elements each on the contiguous path. */
size_t st_cl_strided_items(const st_cl_strided *s)
{
    return s->flat == 2 ? (size_t)(s->total + 15) / 16 : (size_t)s->total;
}

/* views[0] is the output; all views share its shape. */
void st_cl_collapse(const st_view *const *views, int nv, st_cl_strided *s)
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
