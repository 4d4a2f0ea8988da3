/* strata-bench-opencl: the OpenCL backend's matmul against untuned CLBlast and the CPU backend,
 * and its memory-bound ops against a plain copy kernel, all measured in the same run on the same
 * device. A benchmark, not a test: it prints figures and exits 0 unless something fails. */
#define _POSIX_C_SOURCE 200809L
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "strata/strata.h"

#define REPS 5

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

#define TRY(expr)                                                                  \
    do {                                                                           \
        if ((expr) != ST_OK) {                                                     \
            fprintf(stderr, "strata-bench-opencl: %s: %s\n", #expr, st_last_error()); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)
#define CLTRY(expr)                                                                \
    do {                                                                           \
        cl_int e_ = (expr);                                                        \
        if (e_ != CL_SUCCESS) {                                                    \
            fprintf(stderr, "strata-bench-opencl: %s: OpenCL error %d\n", #expr, (int)e_); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

/* Median seconds of one st_matmul of n x n on `dev`, after a warm-up call. */
static double strata_matmul(st_device *dev, int64_t n)
{
    int64_t sh[2] = {n, n};
    st_tensor *a, *b, *c;
    TRY(st_tensor_create(dev, ST_F32, 2, sh, &a));
    TRY(st_tensor_create(dev, ST_F32, 2, sh, &b));
    TRY(st_tensor_create(dev, ST_F32, 2, sh, &c));
    TRY(st_rand_uniform(a, 1, 0, -1, 1));
    TRY(st_rand_uniform(b, 2, 0, -1, 1));
    double t[REPS];
    TRY(st_matmul(c, a, b, 0, 0, 1, 0));
    TRY(st_device_sync(dev));
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        TRY(st_matmul(c, a, b, 0, 0, 1, 0));
        TRY(st_device_sync(dev));
        t[r] = now() - t0;
    }
    st_tensor_free(a);
    st_tensor_free(b);
    st_tensor_free(c);
    return median(t, REPS);
}

typedef struct raw_cl {
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
} raw_cl;

/* The device that STRATA_DEVICE's index picks in the flattened list of every platform. */
static raw_cl raw_open(int index)
{
    raw_cl r = {0};
    cl_platform_id plats[16];
    cl_uint np = 0;
    CLTRY(clGetPlatformIDs(16, plats, &np));
    for (cl_uint p = 0; p < np && !r.dev; p++) {
        cl_device_id ids[64];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, ids, &nd) != CL_SUCCESS) continue;
        if (index < (int)nd) r.dev = ids[index];
        index -= (int)nd;
    }
    if (!r.dev) {
        fprintf(stderr, "strata-bench-opencl: no such OpenCL device\n");
        exit(1);
    }
    cl_int err;
    r.ctx = clCreateContext(NULL, 1, &r.dev, NULL, NULL, &err);
    CLTRY(err);
    r.q = clCreateCommandQueue(r.ctx, r.dev, 0, &err);
    CLTRY(err);
    return r;
}

static cl_mem raw_buffer(raw_cl *r, size_t bytes, float value)
{
    cl_int err;
    cl_mem m = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    CLTRY(err);
    CLTRY(clEnqueueFillBuffer(r->q, m, &value, sizeof value, 0, bytes, 0, NULL, NULL));
    return m;
}

/* CLBlast's SGEMM with its default (untuned) parameters for this device. */
static double clblast_matmul(raw_cl *r, size_t n)
{
    cl_mem a = raw_buffer(r, n * n * 4, 0.5f), b = raw_buffer(r, n * n * 4, 0.25f), c = raw_buffer(r, n * n * 4, 0);
    double t[REPS];
    for (int i = -1; i < REPS; i++) {
        double t0 = now();
        CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n,
                                           1.0f, a, 0, n, b, 0, n, 0.0f, c, 0, n, &r->q, NULL);
        if (s != CLBlastSuccess) {
            fprintf(stderr, "strata-bench-opencl: CLBlastSgemm: %d\n", (int)s);
            exit(1);
        }
        CLTRY(clFinish(r->q));
        if (i >= 0) t[i] = now() - t0;
    }
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    clReleaseMemObject(c);
    return median(t, REPS);
}

static const char *copy_src =
    "__kernel void copy16(__global float16 *y, __global const float16 *x) {\n"
    "    size_t i = get_global_id(0);\n"
    "    y[i] = x[i];\n"
    "}\n";

/* Bytes per second of a plain float16-per-work-item copy: the device's copy bandwidth. */
static double raw_copy_bw(raw_cl *r, size_t bytes)
{
    cl_int err;
    cl_program p = clCreateProgramWithSource(r->ctx, 1, &copy_src, NULL, &err);
    CLTRY(err);
    CLTRY(clBuildProgram(p, 1, &r->dev, "", NULL, NULL));
    cl_kernel k = clCreateKernel(p, "copy16", &err);
    CLTRY(err);
    cl_mem x = raw_buffer(r, bytes, 1), y = raw_buffer(r, bytes, 0);
    CLTRY(clSetKernelArg(k, 0, sizeof y, &y));
    CLTRY(clSetKernelArg(k, 1, sizeof x, &x));
    size_t global = bytes / 64;
    double t[REPS];
    for (int i = -1; i < REPS; i++) {
        double t0 = now();
        CLTRY(clEnqueueNDRangeKernel(r->q, k, 1, NULL, &global, NULL, 0, NULL, NULL));
        CLTRY(clFinish(r->q));
        if (i >= 0) t[i] = now() - t0;
    }
    clReleaseMemObject(x);
    clReleaseMemObject(y);
    clReleaseKernel(k);
    clReleaseProgram(p);
    return 2.0 * (double)bytes / median(t, REPS);
}

/* Bytes per second moved by a Strata op over n floats: copy and scale move 2n floats, add 3n. */
static double strata_bw(st_device *dev, int64_t n, int which)
{
    st_tensor *x, *y, *z;
    TRY(st_tensor_create(dev, ST_F32, 1, &n, &x));
    TRY(st_tensor_create(dev, ST_F32, 1, &n, &y));
    TRY(st_tensor_create(dev, ST_F32, 1, &n, &z));
    TRY(st_fill(x, 1));
    TRY(st_fill(y, 2));
    TRY(st_fill(z, 0));
    double t[REPS];
    for (int i = -1; i < REPS; i++) {
        TRY(st_device_sync(dev));
        double t0 = now();
        if (which == 0) TRY(st_copy(z, x));
        else if (which == 1) TRY(st_scale(z, x, 2, 1));
        else TRY(st_add(z, x, y));
        TRY(st_device_sync(dev));
        if (i >= 0) t[i] = now() - t0;
    }
    st_tensor_free(x);
    st_tensor_free(y);
    st_tensor_free(z);
    return (which == 2 ? 3.0 : 2.0) * 4.0 * (double)n / median(t, REPS);
}

int main(void)
{
    st_device *ocl, *cpu;
    const char *idx = getenv("STRATA_DEVICE");
    int index = idx && *idx ? atoi(idx) : 0;
    TRY(st_device_get("opencl", index, &ocl));
    TRY(st_device_get("cpu", 0, &cpu));
    st_device_props props;
    TRY(st_device_props_get(ocl, &props));
    printf("strata-bench-opencl on %s (%s), median of %d runs\n\n", st_device_label(ocl), props.name, REPS);
    raw_cl raw = raw_open(index);
    printf("%-6s %16s %16s %16s %10s\n", "N", "strata opencl", "CLBlast default", "strata cpu", "vs CLBlast");
    for (int64_t n = 1024; n <= 2048; n *= 2) {
        double flop = 2.0 * (double)n * n * n;
        double ts = strata_matmul(ocl, n), tc = clblast_matmul(&raw, (size_t)n), tp = strata_matmul(cpu, n);
        printf("%-6lld %10.1f GF/s %10.1f GF/s %10.1f GF/s %9.2fx\n", (long long)n, flop / ts * 1e-9,
               flop / tc * 1e-9, flop / tp * 1e-9, tc / ts);
    }
    int64_t n = 64ll << 20; /* 256 MB per operand */
    double raw_bw = raw_copy_bw(&raw, (size_t)n * 4);
    printf("\nmemory-bound ops, %lld MB operands (GB/s counts bytes read + written)\n", (long long)(n * 4 >> 20));
    printf("%-28s %8.1f GB/s\n", "plain float16 copy kernel", raw_bw * 1e-9);
    const char *names[] = {"strata copy", "strata scale", "strata add"};
    for (int w = 0; w < 3; w++) {
        double bw = strata_bw(ocl, n, w);
        printf("%-28s %8.1f GB/s  %5.1f%% of the copy kernel\n", names[w], bw * 1e-9, 100.0 * bw / raw_bw);
    }
    clReleaseCommandQueue(raw.q);
    clReleaseContext(raw.ctx);
    st_shutdown();
    return 0;
}
