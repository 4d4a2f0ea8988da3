/* A test plugin standing in for a GPU backend (built as libstrata-cuda.so in a directory of its
 * own): one "gpu" device per PCI bus id in STRATA_FAKE_BUSIDS (comma-separated, in the order a
 * vendor runtime would number them after CUDA_VISIBLE_DEVICES), so that matching devices to a
 * saved topology by bus id, and the placement that follows, run without a GPU. Memory is host
 * memory; no op computes (they return ST_ERR_UNSUPPORTED). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata/backend_abi.h"

static const st_host_api *host;
static char ids[64][32];
static char names[64][48];
static int count;

static st_status f_init(const st_host_api *h, void **ctx, st_backend_status *status)
{
    host = h;
    *ctx = &count;
    count = 0;
    const char *env = getenv("STRATA_FAKE_BUSIDS");
    for (const char *p = env; p && *p && count < 64;) {
        size_t n = strcspn(p, ",");
        snprintf(ids[count], sizeof ids[count], "%.*s", (int)(n < 31 ? n : 31), p);
        snprintf(names[count], sizeof names[count], "fake GPU %d", count);
        count++;
        p += n + (p[n] == ',');
    }
    status->device_count = count;
    snprintf(status->runtime, sizeof status->runtime, "fake GPU backend (test): STRATA_FAKE_BUSIDS");
    if (!count) snprintf(status->reason, sizeof status->reason, "STRATA_FAKE_BUSIDS is empty");
    return ST_OK;
}

static void f_shutdown(void *ctx) { (void)ctx; }

static st_status f_props(void *ctx, int dev, st_device_props *out)
{
    (void)ctx;
    out->name = names[dev];
    out->vendor = "test";
    out->type = "gpu";
    out->driver = "fake";
    out->memory_bytes = 1ull << 34;
    out->compute_units = 1;
    out->extra = "";
    out->pci_bus_id = ids[dev];
    return ST_OK;
}

static st_status f_alloc(void *ctx, int dev, size_t bytes, void **buf)
{
    (void)ctx, (void)dev;
    *buf = malloc(bytes ? bytes : 1);
    return *buf ? ST_OK : host->set_error(ST_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "fake: %zu bytes", bytes);
}

static void f_free(void *ctx, int dev, void *buf) { (void)ctx, (void)dev, free(buf); }

static st_status f_write(void *ctx, int dev, void *buf, size_t off, const void *src, size_t n)
{
    (void)ctx, (void)dev;
    memcpy((char *)buf + off, src, n);
    return ST_OK;
}

static st_status f_read(void *ctx, int dev, const void *buf, size_t off, void *dst, size_t n)
{
    (void)ctx, (void)dev;
    memcpy(dst, (const char *)buf + off, n);
    return ST_OK;
}

static st_status f_sync(void *ctx, int dev) { (void)ctx, (void)dev; return ST_OK; }

static st_status op_unsupported(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx, (void)dev;
    return host->set_error(ST_ERR_UNSUPPORTED, __FILE__, __LINE__, "fake GPU backend: op %d computes nothing", (int)c->op);
}

static st_backend_iface iface = {
    .abi_version = ST_BACKEND_ABI_VERSION,
    .struct_size = sizeof(st_backend_iface),
    .name = "cuda",
    .init = f_init,
    .shutdown = f_shutdown,
    .device_props = f_props,
    .alloc = f_alloc,
    .free = f_free,
    .write = f_write,
    .read = f_read,
    .sync = f_sync,
};

__attribute__((visibility("default"))) const st_backend_iface *strata_backend_entry(void)
{
    for (int i = 0; i < ST_OP_COUNT; i++) iface.op[i] = op_unsupported;
    return &iface;
}
