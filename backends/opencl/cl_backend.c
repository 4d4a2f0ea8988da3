/* The OpenCL backend plugin: device discovery over every platform of the ICD loader, device
 * properties, buffers, host copies and the vtable. One in-order queue per device; ops only
 * enqueue, and read/sync are the synchronisation points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_internal.h"
#include <CL/cl_ext.h>
#include <hwloc/opencl.h>

#ifndef STRATA_CLBLAST_VERSION
#define STRATA_CLBLAST_VERSION "?"
#endif

const st_host_api *st_cl_host;

static void info_str(cl_device_id id, cl_device_info what, char *buf, size_t size)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(id, what, size, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[size - 1] = '\0';
}

static int has_ext(const char *exts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(exts, name); p; p = strstr(p + 1, name))
        if ((p == exts || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

/* The device's PCI bus id: cl_khr_pci_bus_info, else NVIDIA's or AMD's attribute queries (hwloc's
 * helper knows their layouts); "" when the driver tells none (PoCL's CPU device). */
static void pci_bus_id(st_cl_device *d, const char *exts)
{
    unsigned dom = 0, bus = 0, dev = 0, fn = 0;
    cl_device_pci_bus_info_khr info;
    d->pci[0] = '\0';
    if (has_ext(exts, "cl_khr_pci_bus_info") &&
        clGetDeviceInfo(d->id, CL_DEVICE_PCI_BUS_INFO_KHR, sizeof info, &info, NULL) == CL_SUCCESS) {
        dom = info.pci_domain, bus = info.pci_bus, dev = info.pci_device, fn = info.pci_function;
    } else if (!(has_ext(exts, "cl_nv_device_attribute_query") || has_ext(exts, "cl_amd_device_attribute_query")) ||
               hwloc_opencl_get_device_pci_busid(d->id, &dom, &bus, &dev, &fn) != 0) {
        return;
    }
    snprintf(d->pci, sizeof d->pci, "%04x:%02x:%02x.%x", dom & 0xffff, bus & 0xff, dev & 0x1f, fn & 7);
}

static void describe_device(st_cl_device *d)
{
    cl_device_type type = 0;
    size_t max_wg = 0;
    char exts[8192];
    info_str(d->id, CL_DEVICE_NAME, d->name, sizeof d->name);
    info_str(d->id, CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor);
    info_str(d->id, CL_DEVICE_VERSION, d->version, sizeof d->version);
    info_str(d->id, CL_DRIVER_VERSION, d->driver, sizeof d->driver);
    info_str(d->id, CL_DEVICE_OPENCL_C_VERSION, d->c_version, sizeof d->c_version);
    info_str(d->id, CL_DEVICE_EXTENSIONS, exts, sizeof exts);
    clGetPlatformInfo(d->platform, CL_PLATFORM_NAME, sizeof d->platform_name, d->platform_name, NULL);
    clGetPlatformInfo(d->platform, CL_PLATFORM_VERSION, sizeof d->platform_version, d->platform_version, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof d->mem_bytes, &d->mem_bytes, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof d->max_alloc, &d->max_alloc, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->compute_units, &d->compute_units, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL);
    d->type = (type & CL_DEVICE_TYPE_GPU) ? "gpu" : (type & CL_DEVICE_TYPE_CPU) ? "cpu" : "accelerator";
    d->fp64 = has_ext(exts, "cl_khr_fp64");
    pci_bus_id(d, exts);
    int subgroups = has_ext(exts, "cl_khr_subgroups") || has_ext(exts, "cl_intel_subgroups");
    snprintf(d->extra, sizeof d->extra,
             "platform %s (%s); %s; %s; fp16 %s, fp64 %s, subgroups %s; max alloc %llu MiB, "
             "max work-group %zu; CLBlast %s",
             d->platform_name, d->platform_version, d->version, d->c_version,
             has_ext(exts, "cl_khr_fp16") ? "yes" : "no", d->fp64 ? "yes" : "no", subgroups ? "yes" : "no",
             (unsigned long long)(d->max_alloc >> 20), max_wg, STRATA_CLBLAST_VERSION);
}

/* Context and queue for one device; on failure the device is left out with a note in `why`. */
static int open_device(st_cl_device *d, char *why, size_t size)
{
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform, 0};
    describe_device(d);
    d->ctx = clCreateContext(props, 1, &d->id, NULL, NULL, &err);
    if (err == CL_SUCCESS) d->queue = clCreateCommandQueue(d->ctx, d->id, 0, &err);
    if (err != CL_SUCCESS) {
        size_t n = strlen(why);
        snprintf(why + n, size - n, "%s%s: %s", n ? "; " : "", d->name,
                 st_cl_error_name(err));
        if (d->ctx) clReleaseContext(d->ctx);
        return 0;
    }
    pthread_mutex_init(&d->build_lock, NULL);
    pthread_mutex_init(&d->launch_lock, NULL);
    return 1;
}

/* Appends platform p's usable devices to be->dev (grown as needed). */
static st_status add_platform(st_cl_backend *be, cl_platform_id p, char *why, size_t size)
{
    cl_uint n = 0;
    cl_int err = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, NULL, &n);
    if (err == CL_DEVICE_NOT_FOUND || n == 0) return ST_OK;
    if (err != CL_SUCCESS) return ST_CL_CHECK(err, "clGetDeviceIDs");
    cl_device_id ids[64];
    if (n > 64) n = 64;
    ST_CL_TRY(ST_CL_CHECK(clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n, ids, NULL), "clGetDeviceIDs"));
    st_cl_device *grown = realloc(be->dev, sizeof *grown * (size_t)(be->count + (int)n));
    if (!grown) return ST_CL_ERR(ST_ERR_OUT_OF_MEMORY, "opencl: device table");
    be->dev = grown;
    for (cl_uint i = 0; i < n; i++) {
        st_cl_device *d = &be->dev[be->count];
        memset(d, 0, sizeof *d);
        d->platform = p;
        d->id = ids[i];
        be->count += open_device(d, why, size);
    }
    return ST_OK;
}

static void cl_shutdown(void *ctx);

static st_status cl_init(const st_host_api *host, void **ctx, st_backend_status *status)
{
    st_cl_host = host;
    st_cl_backend *be = calloc(1, sizeof *be);
    if (!be) return host->set_error(ST_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "opencl: backend state");
    cl_platform_id plats[16];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(16, plats, &np);
    char why[512] = "";
    if (err != CL_SUCCESS || np == 0) {
        snprintf(status->reason, sizeof status->reason,
                 "no OpenCL platform (clGetPlatformIDs: %s; is an ICD installed under /etc/OpenCL/vendors?)",
                 err != CL_SUCCESS ? st_cl_error_name(err) : "0 platforms");
        np = 0;
    }
    if (np > 16) np = 16;
    for (cl_uint i = 0; i < np; i++) {
        st_status s = add_platform(be, plats[i], why, sizeof why);
        if (s != ST_OK) {
            cl_shutdown(be);
            return s;
        }
    }
    if (np && be->count == 0)
        snprintf(status->reason, sizeof status->reason, "%u OpenCL platform(s) but no usable device%s%s",
                 np, why[0] ? ": " : "", why);
    status->device_count = be->count;
    snprintf(status->runtime, sizeof status->runtime, "%u platform(s)%s%.200s; CLBlast %s", np,
             be->count ? ": " : "", be->count ? be->dev[0].platform_version : "", STRATA_CLBLAST_VERSION);
    *ctx = be;
    return ST_OK;
}

static void cl_shutdown(void *ctx)
{
    st_cl_backend *be = ctx;
    if (!be) return;
    for (int i = 0; i < be->count; i++) {
        st_cl_device *d = &be->dev[i];
        if (d->queue) clFinish(d->queue);
        st_cl_matmul_release(d);
        st_cl_program_release(d);
        free(d->build_error);
        if (d->queue) clReleaseCommandQueue(d->queue);
        if (d->ctx) clReleaseContext(d->ctx);
        pthread_mutex_destroy(&d->build_lock);
        pthread_mutex_destroy(&d->launch_lock);
    }
    free(be->dev);
    free(be);
}

static st_status cl_props(void *ctx, int dev, st_device_props *out)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    out->name = d->name;
    out->vendor = d->vendor;
    out->type = d->type;
    out->driver = d->driver;
    out->memory_bytes = d->mem_bytes;
    out->compute_units = (int)d->compute_units;
    out->peak_gflops_f32 = 0;
    out->peak_gbps = 0;
    out->extra = d->extra;
    out->pci_bus_id = d->pci[0] ? d->pci : NULL;
    return ST_OK;
}

/* Sizes are rounded up to 64 bytes so that a 0-byte request still gets a unique buffer. */
static st_status cl_alloc(void *ctx, int dev, size_t bytes, void **buf)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    if (bytes > d->max_alloc)
        return ST_CL_ERR(ST_ERR_OUT_OF_MEMORY, "opencl: %zu bytes requested; %s allows at most %llu per buffer",
                         bytes, d->name, (unsigned long long)d->max_alloc);
    cl_int err;
    size_t size = bytes ? (bytes + 63) & ~(size_t)63 : 64;
    cl_mem m = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    if (err == CL_OUT_OF_RESOURCES || err == CL_INVALID_BUFFER_SIZE)
        return ST_CL_ERR(ST_ERR_OUT_OF_MEMORY, "opencl: clCreateBuffer(%zu bytes) on %s: %s", bytes,
                         d->name, st_cl_error_name(err));
    ST_CL_TRY(ST_CL_CHECK(err, "clCreateBuffer"));
    *buf = m;
    return ST_OK;
}

static void cl_free(void *ctx, int dev, void *buf)
{
    (void)ctx;
    (void)dev;
    if (buf) clReleaseMemObject((cl_mem)buf);
}

/* Blocking: the API lets the caller reuse src as soon as write returns. */
static st_status cl_write(void *ctx, int dev, void *buf, size_t off, const void *src, size_t bytes)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    return ST_CL_CHECK(clEnqueueWriteBuffer(d->queue, (cl_mem)buf, CL_TRUE, off, bytes, src, 0, NULL, NULL),
                       "clEnqueueWriteBuffer");
}

static st_status cl_read(void *ctx, int dev, const void *buf, size_t off, void *dst, size_t bytes)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    return ST_CL_CHECK(clEnqueueReadBuffer(d->queue, (cl_mem)buf, CL_TRUE, off, bytes, dst, 0, NULL, NULL),
                       "clEnqueueReadBuffer");
}

static st_status cl_sync(void *ctx, int dev)
{
    return ST_CL_CHECK(clFinish(st_cl_dev(ctx, dev)->queue), "clFinish");
}

static const st_backend_iface cl_iface = {
    .abi_version = ST_BACKEND_ABI_VERSION,
    .struct_size = sizeof(st_backend_iface),
    .name = "opencl",
    .host_memory = 0,
    .init = cl_init,
    .shutdown = cl_shutdown,
    .device_props = cl_props,
    .alloc = cl_alloc,
    .free = cl_free,
    .write = cl_write,
    .read = cl_read,
    .sync = cl_sync,
    .op = {
#define ST_CL_SLOT_(F, ID, name, ...) [ST_OP_##ID] = st_cl_##name,
        ST_OP_TABLE(ST_CL_SLOT_)
#undef ST_CL_SLOT_
    },
};

__attribute__((visibility("default"))) const st_backend_iface *strata_backend_entry(void)
{
    return &cl_iface;
}
