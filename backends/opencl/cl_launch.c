/* Kernel launches: argument recording, work-group sizing, and the small device helpers (fill,
 * cast of a contiguous range, temporaries) that several ops share. */
#include <stdio.h>
#include "cl_internal.h"

st_status st_cl_begin(st_cl_device *d, st_cl_kernel_id k, st_cl_launch *l)
{
    ST_CL_TRY(st_cl_program_ready(d));
    if (!d->kernel[k])
        return ST_CL_ERR(ST_ERR_BACKEND, "opencl: no kernel %s in kernels_cl/ (an op of the table without its "
                         "OpenCL kernel)", st_cl_kernel_names[k]);
    pthread_mutex_lock(&d->launch_lock);
    *l = (st_cl_launch){.d = d, .k = k};
    return ST_OK;
}

void st_cl_arg(st_cl_launch *l, size_t size, const void *value)
{
    cl_int err = clSetKernelArg(l->d->kernel[l->k], l->n, size, value);
    if (l->err == CL_SUCCESS && err != CL_SUCCESS) {
        l->err = err;
        l->bad = l->n;
    }
    l->n++;
}

void st_cl_local_floats(st_cl_launch *l, size_t count)
{
    st_cl_arg(l, (count ? count : 1) * sizeof(float), NULL);
}

st_status st_cl_run(st_cl_launch *l, size_t groups, size_t local, size_t total)
{
    char call[128];
    cl_int err = l->err;
    if (err == CL_SUCCESS) {
        if (!groups) groups = (total + local - 1) / local;
        size_t global = groups * local;
        if (groups)
            err = clEnqueueNDRangeKernel(l->d->queue, l->d->kernel[l->k], 1, NULL, &global, &local, 0, NULL, NULL);
        snprintf(call, sizeof call, "clEnqueueNDRangeKernel(%s)", st_cl_kernel_names[l->k]);
    } else {
        snprintf(call, sizeof call, "clSetKernelArg(%s, arg %u)", st_cl_kernel_names[l->k], l->bad);
    }
    pthread_mutex_unlock(&l->d->launch_lock);
    return err == CL_SUCCESS ? ST_OK : st_cl_fail(err, __FILE__, __LINE__, call);
}

/* Kernel limits are known once the program is built, which may not have happened yet; a failed
 * build gives 1 here and its error at st_cl_begin. */
size_t st_cl_group_size(st_cl_device *d, st_cl_kernel_id k, int64_t n)
{
    if (st_cl_program_ready(d) != ST_OK) return 1;
    size_t L = d->kwg[k];
    while (L > 1 && (int64_t)(L / 2) >= n) L /= 2;
    return L;
}

int64_t st_cl_numel(const st_view *v)
{
    int64_t n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->shape[i];
    return n;
}

/* A contiguous range as a 1-dimensional unit-stride view (flat = 2, 16 elements per work-item;
 * see common.cl). */
static void flat_view(int64_t off, cl_long8 *v, cl_long4 *n, int64_t count)
{
    *v = (cl_long8){{off, 0, 0, 0, 1, 0, 0, 0}};
    *n = (cl_long4){{1, 1, 1, count}};
}

st_status st_cl_fill_range(st_cl_device *d, cl_mem buf, int64_t off, int64_t count, st_dtype dt,
                           float value)
{
    st_cl_launch l;
    cl_long8 v;
    cl_long4 n;
    cl_int flat = 2, idt = dt, ivalue = (cl_int)value;
    cl_long total = count;
    flat_view(off, &v, &n, count);
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_FILL, &l));
    ST_CL_ARG(&l, buf);
    ST_CL_ARG(&l, v);
    ST_CL_ARG(&l, n);
    ST_CL_ARG(&l, flat);
    ST_CL_ARG(&l, total);
    ST_CL_ARG(&l, idt);
    ST_CL_ARG(&l, value);
    ST_CL_ARG(&l, ivalue);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_FILL], (size_t)(count + 15) / 16);
}

st_status st_cl_cast_range(st_cl_device *d, cl_mem out, int64_t ooff, st_dtype odt, cl_mem in,
                           int64_t ioff, st_dtype idt, int64_t count)
{
    st_cl_launch l;
    cl_long8 vo, vi;
    cl_long4 n;
    cl_int flat = 2, dto = odt, dti = idt;
    cl_long total = count;
    flat_view(ooff, &vo, &n, count);
    flat_view(ioff, &vi, &n, count);
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_CAST, &l));
    ST_CL_ARG(&l, out);
    ST_CL_ARG(&l, vo);
    ST_CL_ARG(&l, dto);
    ST_CL_ARG(&l, in);
    ST_CL_ARG(&l, vi);
    ST_CL_ARG(&l, dti);
    ST_CL_ARG(&l, n);
    ST_CL_ARG(&l, flat);
    ST_CL_ARG(&l, total);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_CAST], (size_t)(count + 15) / 16);
}

st_status st_cl_temp(st_cl_device *d, size_t bytes, cl_mem *out)
{
    cl_int err;
    if (bytes > d->max_alloc)
        return ST_CL_ERR(ST_ERR_OUT_OF_MEMORY, "opencl: temporary of %zu bytes exceeds %s's largest allocation (%llu)",
                         bytes, d->name, (unsigned long long)d->max_alloc);
    *out = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    return ST_CL_CHECK(err, "clCreateBuffer(temporary)");
}
