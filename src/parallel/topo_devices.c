/* The program's devices matched to the topology's GPUs by PCI bus id. A rank's device is its
 * backend's device index (STRATA_DEVICE, else the local rank modulo the device count), counted
 * after CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER or ROCR_VISIBLE_DEVICES reorder or hide GPUs;
 * hwloc numbers GPUs in PCI order. Matching by bus id makes placement and binding follow the
 * device a rank really opens, where the index alone could bind a rank to another GPU's cores. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "topo_internal.h"

/* "0000:3b:00.0", "00000000:3B:00.0" (CUDA) or "3b:00.0" into domain, bus, device, function. */
static int parse_busid(const char *s, unsigned *d, unsigned *b, unsigned *dv, unsigned *f)
{
    unsigned x[4];
    char end;
    if (!s) return 0;
    if (sscanf(s, "%x:%x:%x.%x%c", &x[0], &x[1], &x[2], &x[3], &end) == 4) {
        *d = x[0], *b = x[1], *dv = x[2], *f = x[3];
    } else if (sscanf(s, "%x:%x.%x%c", &x[1], &x[2], &x[3], &end) == 3) {
        *d = 0, *b = x[1], *dv = x[2], *f = x[3];
    } else {
        return 0;
    }
    for (const char *p = s; *p; p++) /* no signs or spaces that sscanf would let through */
        if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') return 0;
    return *d <= 0xffff && *b <= 0xff && *dv <= 0x1f && *f <= 7;
}

static int find(const st_topo *t, const char *busid)
{
    unsigned d, b, dv, f;
    if (!parse_busid(busid, &d, &b, &dv, &f)) return -2;
    for (int i = 0; i < t->n_gpus; i++) {
        const topo_gpu *g = &t->gpus[i];
        if (g->pci && g->domain == d && g->bus == b && g->dev == dv && g->func == f) return i;
    }
    return -1;
}

st_status st_topo_find_busid(const st_topo *t, const char *busid, int *index)
{
    if (!t || !busid || !index) return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_find_busid: NULL argument");
    int i = find(t, busid);
    if (i == -2) return ST_ERR(ST_ERR_INVALID_ARG, "'%.40s' is not a PCI bus id (DDDD:BB:DD.F)", busid);
    if (i < 0) return ST_ERR(ST_ERR_INVALID_ARG, "no GPU of the topology is at PCI %.40s", busid);
    *index = i;
    return ST_OK;
}

void topo_devices_free(st_topo *t)
{
    free(t->dev_gpu);
    free(t->dev_busid);
    t->dev_gpu = NULL;
    t->dev_busid = NULL;
    t->n_dev = 0;
    for (int i = 0; i < t->n_gpus; i++) t->gpus[i].device = -1, t->gpus[i].device_name[0] = '\0';
}

st_status st_topo_match_devices(st_topo *t, const char *label, const char *const *busids, int n)
{
    if (!t || n < 0 || (n > 0 && !busids) || n > (1 << 16))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_match_devices: NULL topology or %d devices", n);
    if (t->source == ST_TOPO_EMULATED)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_match_devices: an emulated topology has no hardware GPUs");
    topo_devices_free(t);
    if (n == 0) return ST_OK;
    t->dev_gpu = malloc((size_t)n * sizeof *t->dev_gpu);
    t->dev_busid = calloc((size_t)n, sizeof *t->dev_busid);
    if (!t->dev_gpu || !t->dev_busid) {
        topo_devices_free(t);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_topo_match_devices: %d devices", n);
    }
    snprintf(t->dev_label, sizeof t->dev_label, "%s", label && *label ? label : "device");
    t->n_dev = n;
    for (int i = 0; i < n; i++) {
        snprintf(t->dev_busid[i], sizeof t->dev_busid[i], "%s", busids[i] ? busids[i] : "");
        int g = find(t, busids[i]);
        t->dev_gpu[i] = g >= 0 && t->gpus[g].device < 0 ? g : -1; /* one device per GPU */
        if (t->dev_gpu[i] >= 0) {
            t->gpus[g].device = i;
            snprintf(t->gpus[g].device_name, sizeof t->gpus[g].device_name, "%s:%d", t->dev_label, i);
        }
    }
    return ST_OK;
}

/* The default backend's devices (STRATA_BACKEND, as st_device_default chooses it) and their bus
 * ids. Best effort: a backend that cannot start or reports no ids leaves the topology unmatched. */
void topo_match_default(st_topo *t)
{
    st_device *dev;
    st_backend_info bi;
    if (t->n_gpus == 0 || st_device_default(&dev) != ST_OK ||
        st_backend_info_by_name(st_device_backend(dev), &bi) != ST_OK || bi.device_count < 1) {
        st_clear_error();
        return;
    }
    int n = bi.device_count < (1 << 16) ? bi.device_count : (1 << 16), any = 0;
    const char **ids = calloc((size_t)n, sizeof *ids);
    for (int i = 0; ids && i < n; i++) {
        st_device *d;
        st_device_props p;
        if (st_device_get(bi.name, i, &d) == ST_OK && st_device_props_get(d, &p) == ST_OK && p.pci_bus_id &&
            *p.pci_bus_id)
            ids[i] = p.pci_bus_id, any = 1;
    }
    if (any) st_topo_match_devices(t, bi.name, ids, n);
    free(ids);
    st_clear_error();
}

/* The device index of local rank `local_rank`: STRATA_DEVICE's index when it names one (for this
 * backend), else local_rank modulo the device count, as st_device_select picks it. */
static int device_of_rank(const st_topo *t, int local_rank)
{
    const char *env = getenv("STRATA_DEVICE");
    if (env && *env) {
        const char *colon = strchr(env, ':'), *num = colon ? colon + 1 : env;
        size_t len = colon ? (size_t)(colon - env) : 0;
        char *end;
        long v = strtol(num, &end, 10);
        if (end != num && !*end && v >= 0 && v < t->n_dev &&
            (!colon || (strlen(t->dev_label) == len && strncmp(env, t->dev_label, len) == 0)))
            return (int)v;
    }
    return local_rank % t->n_dev;
}

int topo_gpu_of_rank(const st_topo *t, int local_rank)
{
    if (t->n_dev < 1 || local_rank < 0) return -1;
    return t->dev_gpu[device_of_rank(t, local_rank)];
}
