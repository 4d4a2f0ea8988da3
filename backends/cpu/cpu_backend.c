/* The CPU backend: host memory, device properties and the vtable. Buffers are plain host
 * pointers (host_memory = 1), so the core copies to and from them directly. */
#define _GNU_SOURCE
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu_ops.h"

static char cpu_name[256] = "CPU";
static char cpu_extra[2200];

static void read_cpu_name(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(cpu_name, sizeof cpu_name, "%s", colon + 2);
            cpu_name[strcspn(cpu_name, "\n")] = '\0';
            break;
        }
    }
    if (f) fclose(f);
}

static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return (pages > 0 && size > 0) ? (uint64_t)pages * (uint64_t)size : 0;
}

static st_status cpu_init(const st_host_api *host, void **ctx, st_backend_status *status)
{
    (void)host;
    *ctx = NULL;
    read_cpu_name();
    status->device_count = 1;
    snprintf(status->runtime, sizeof status->runtime, "OpenMP %d, %s", _OPENMP, st_cpu_blas_describe());
    return ST_OK;
}

static void cpu_shutdown(void *ctx) { (void)ctx; }

static st_status cpu_props(void *ctx, int dev, st_device_props *out)
{
    (void)ctx;
    (void)dev;
    out->name = cpu_name;
    out->vendor = "host";
    out->type = "cpu";
    out->driver = "";
    out->memory_bytes = physical_memory();
    out->compute_units = omp_get_max_threads();
    snprintf(cpu_extra, sizeof cpu_extra, "%d OpenMP threads; %s", omp_get_max_threads(),
             st_cpu_blas_describe());
    out->extra = cpu_extra;
    return ST_OK;
}

static st_status cpu_alloc(void *ctx, int dev, size_t bytes, void **buf)
{
    (void)ctx;
    (void)dev;
    uint64_t mem = physical_memory();
    /* Refuse what cannot fit instead of trusting overcommit to fail later at first touch. */
    if (mem && bytes > mem)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu: %zu bytes requested, the machine has %llu", bytes,
                      (unsigned long long)mem);
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0 || !p)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu: allocation of %zu bytes failed", bytes);
    *buf = p;
    return ST_OK;
}

static void cpu_free(void *ctx, int dev, void *buf)
{
    (void)ctx;
    (void)dev;
    free(buf);
}

static st_status cpu_write(void *ctx, int dev, void *buf, size_t off, const void *src, size_t bytes)
{
    (void)ctx;
    (void)dev;
    memcpy((char *)buf + off, src, bytes);
    return ST_OK;
}

static st_status cpu_read(void *ctx, int dev, const void *buf, size_t off, void *dst, size_t bytes)
{
    (void)ctx;
    (void)dev;
    memcpy(dst, (const char *)buf + off, bytes);
    return ST_OK;
}

static st_status cpu_sync(void *ctx, int dev)
{
    (void)ctx;
    (void)dev;
    return ST_OK;
}

static const st_backend_iface cpu_iface = {
    .abi_version = ST_BACKEND_ABI_VERSION,
    .struct_size = sizeof(st_backend_iface),
    .name = "cpu",
    .host_memory = 1,
    .init = cpu_init,
    .shutdown = cpu_shutdown,
    .device_props = cpu_props,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .write = cpu_write,
    .read = cpu_read,
    .sync = cpu_sync,
    .op = {
#define ST_CPU_SLOT_(F, ID, name, ...) [ST_OP_##ID] = st_cpu_##name,
        ST_OP_TABLE(ST_CPU_SLOT_)
#undef ST_CPU_SLOT_
    },
};

const st_backend_iface *st_cpu_backend_iface(void) { return &cpu_iface; }
