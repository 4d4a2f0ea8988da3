/* strata-bench's OpenCL baselines, built when CMake finds OpenCL and CLBlast: CLBlast's SGEMM
 * with its default (untuned) parameters, a plain float16 copy kernel, and an FMA probe kernel,
 * all on a raw OpenCL context for the same device as Strata's opencl device (matched by name). */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#ifndef STRATA_BENCH_CLBLAST_VERSION
#define STRATA_BENCH_CLBLAST_VERSION "unknown"
#endif

#define FMA_ITERS 4096

typedef struct raw_cl {
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
    cl_program prog;
    cl_kernel copy16, fma;
    cl_uint units;
} raw_cl;

static const char *kernels =
    "__kernel void copy16(__global float16 *y, __global const float16 *x) {\n"
    "    size_t i = get_global_id(0);\n"
    "    y[i] = x[i];\n"
    "}\n"
    "__kernel void fma_probe(__global float *out, float m, float c, int iters) {\n"
    "    float4 a0 = (float4)(get_global_id(0) * 1e-9f), a1 = a0 + 0.1f, a2 = a0 + 0.2f, a3 = a0 + 0.3f;\n"
    "    float4 a4 = a0 + 0.4f, a5 = a0 + 0.5f, a6 = a0 + 0.6f, a7 = a0 + 0.7f;\n"
    "    for (int i = 0; i < iters; i++) {\n"
    "        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);\n"
    "        a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);\n"
    "    }\n"
    "    float4 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;\n"
    "    out[get_global_id(0)] = s.x + s.y + s.z + s.w;\n"
    "}\n";

static int cl_fail(bench_device *d, const char *what, cl_int e)
{
    snprintf(d->vendor_error, sizeof d->vendor_error, "%s: OpenCL error %d", what, (int)e);
    return 0;
}

/* The OpenCL device whose name is Strata's device's, in the flattened list of every platform. */
static cl_device_id find_device(const char *name, char *platform, size_t len)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS) return NULL;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id ids[64];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, ids, &nd) != CL_SUCCESS) continue;
        for (cl_uint i = 0; i < nd; i++) {
            char dev_name[256] = "";
            clGetDeviceInfo(ids[i], CL_DEVICE_NAME, sizeof dev_name, dev_name, NULL);
            if (strcmp(dev_name, name) != 0) continue;
            clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, len, platform, NULL);
            return ids[i];
        }
    }
    return NULL;
}

static int clblast_open(bench_device *d)
{
    raw_cl *r = calloc(1, sizeof *r);
    char platform[128] = "";
    cl_int e = CL_SUCCESS;
    if (!r || !(r->dev = find_device(d->props.name, platform, sizeof platform))) {
        snprintf(d->vendor_info, sizeof d->vendor_info, "CLBlast: no raw OpenCL device named '%s'", d->props.name);
        free(r);
        return 0;
    }
    d->vctx = r;
    clGetDeviceInfo(r->dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof r->units, &r->units, NULL);
    r->ctx = clCreateContext(NULL, 1, &r->dev, NULL, NULL, &e);
    if (e == CL_SUCCESS) r->q = clCreateCommandQueue(r->ctx, r->dev, 0, &e);
    if (e == CL_SUCCESS) r->prog = clCreateProgramWithSource(r->ctx, 1, &kernels, NULL, &e);
    if (e == CL_SUCCESS) e = clBuildProgram(r->prog, 1, &r->dev, "", NULL, NULL);
    if (e == CL_SUCCESS) r->copy16 = clCreateKernel(r->prog, "copy16", &e);
    if (e == CL_SUCCESS) r->fma = clCreateKernel(r->prog, "fma_probe", &e);
    if (e != CL_SUCCESS) {
        snprintf(d->vendor_info, sizeof d->vendor_info, "CLBlast: raw OpenCL setup failed: error %d", (int)e);
        return 0;
    }
    snprintf(d->vendor_info, sizeof d->vendor_info, "CLBlast %s (default parameters), %s", STRATA_BENCH_CLBLAST_VERSION,
             platform);
    return 1;
}

static void clblast_close(bench_device *d)
{
    raw_cl *r = d->vctx;
    if (!r) return;
    if (r->copy16) clReleaseKernel(r->copy16);
    if (r->fma) clReleaseKernel(r->fma);
    if (r->prog) clReleaseProgram(r->prog);
    if (r->q) clReleaseCommandQueue(r->q);
    if (r->ctx) clReleaseContext(r->ctx);
    free(r);
    d->vctx = NULL;
}

static cl_mem buffer(raw_cl *r, size_t bytes, float value, cl_int *e)
{
    cl_mem m = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE, bytes, NULL, e);
    if (*e == CL_SUCCESS) *e = clEnqueueFillBuffer(r->q, m, &value, sizeof value, 0, bytes, 0, NULL, NULL);
    return m;
}

typedef struct cl_call {
    raw_cl *r;
    bench_device *d;
    cl_mem a, b, c;
    size_t m, n, k, global;
    int trans_b;
    cl_kernel kernel;
} cl_call;

static st_status run_sgemm(void *p)
{
    cl_call *c = p;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                       c->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, c->m, c->n, c->k, 1.0f,
                                       c->a, 0, c->k, c->b, 0, c->trans_b ? c->k : c->n, 0.0f, c->c, 0, c->n,
                                       &c->r->q, NULL);
    if (s != CLBlastSuccess) {
        snprintf(c->d->vendor_error, sizeof c->d->vendor_error, "CLBlastSgemm: status %d", (int)s);
        return ST_ERR_BACKEND;
    }
    return clFinish(c->r->q) == CL_SUCCESS ? ST_OK : ST_ERR_BACKEND;
}

static st_status run_kernel(void *p)
{
    cl_call *c = p;
    cl_int e = clEnqueueNDRangeKernel(c->r->q, c->kernel, 1, NULL, &c->global, NULL, 0, NULL, NULL);
    if (e == CL_SUCCESS) e = clFinish(c->r->q);
    if (e != CL_SUCCESS) cl_fail(c->d, "kernel", e);
    return e == CL_SUCCESS ? ST_OK : ST_ERR_BACKEND;
}

static void release(cl_call *c)
{
    if (c->a) clReleaseMemObject(c->a);
    if (c->b) clReleaseMemObject(c->b);
    if (c->c) clReleaseMemObject(c->c);
}

static st_status clblast_gemm(bench_device *d, const bench_config *cfg, int m, int n, int k, int trans_b,
                              bench_stats *t)
{
    cl_int e = CL_SUCCESS;
    cl_call c = {d->vctx, d, NULL, NULL, NULL, (size_t)m, (size_t)n, (size_t)k, 0, trans_b, NULL};
    c.a = buffer(c.r, (size_t)m * k * 4, 0.5f, &e);
    if (e == CL_SUCCESS) c.b = buffer(c.r, (size_t)k * n * 4, 0.25f, &e);
    if (e == CL_SUCCESS) c.c = buffer(c.r, (size_t)m * n * 4, 0.0f, &e);
    st_status s = e == CL_SUCCESS ? bench_time(cfg, run_sgemm, &c, t) : (cl_fail(d, "buffers", e), ST_ERR_BACKEND);
    release(&c);
    return s;
}

static st_status clblast_copy(bench_device *d, const bench_config *cfg, double bytes, bench_stats *t)
{
    cl_int e = CL_SUCCESS;
    raw_cl *r = d->vctx;
    size_t n16 = ((size_t)(bytes / 8.0) + 15) / 16; /* float16 items: bytes / 2 copied, rounded up */
    if (n16 == 0) n16 = 1;
    cl_call c = {r, d, NULL, NULL, NULL, 0, 0, 0, n16, 0, r->copy16};
    c.a = buffer(r, n16 * 64, 1.0f, &e);
    if (e == CL_SUCCESS) c.b = buffer(r, n16 * 64, 0.0f, &e);
    if (e == CL_SUCCESS) e = clSetKernelArg(r->copy16, 0, sizeof c.b, &c.b);
    if (e == CL_SUCCESS) e = clSetKernelArg(r->copy16, 1, sizeof c.a, &c.a);
    st_status s = e == CL_SUCCESS ? bench_time(cfg, run_kernel, &c, t) : (cl_fail(d, "copy setup", e), ST_ERR_BACKEND);
    release(&c);
    return s;
}

/* 8 chains of float4 FMAs per work-item, 2048 work-items per compute unit. */
static double clblast_fma_probe(bench_device *d, const bench_config *cfg)
{
    cl_int e = CL_SUCCESS;
    raw_cl *r = d->vctx;
    float m = 0.9999999f, cst = 1e-7f;
    int iters = FMA_ITERS;
    size_t global = (size_t)(r->units ? r->units : 1) * 2048;
    cl_call c = {r, d, NULL, NULL, NULL, 0, 0, 0, global, 0, r->fma};
    c.a = clCreateBuffer(r->ctx, CL_MEM_WRITE_ONLY, global * 4, NULL, &e);
    if (e == CL_SUCCESS) e = clSetKernelArg(r->fma, 0, sizeof c.a, &c.a);
    if (e == CL_SUCCESS) e = clSetKernelArg(r->fma, 1, sizeof m, &m);
    if (e == CL_SUCCESS) e = clSetKernelArg(r->fma, 2, sizeof cst, &cst);
    if (e == CL_SUCCESS) e = clSetKernelArg(r->fma, 3, sizeof iters, &iters);
    bench_stats t = {0};
    st_status s = e == CL_SUCCESS ? bench_time(cfg, run_kernel, &c, &t) : ST_ERR_BACKEND;
    release(&c);
    return s == ST_OK && t.min > 0 ? (double)global * iters * 8 * 4 * 2 / t.min * 1e-9 : 0.0;
}

const bench_vendor bench_vendor_clblast = {"clblast_sgemm", "copy_kernel", clblast_open, clblast_gemm,
                                           clblast_copy, clblast_fma_probe, clblast_close};
