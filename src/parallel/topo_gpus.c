/* GPU discovery on an hwloc topology: GPU OS devices and GPU-class PCI devices, one entry per PCI
 * device, sorted by PCI bus id, and grouped into packages (boards) by the rules stated in
 * include/strata/topo.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "topo_internal.h"

/* Backends whose OS devices are GPUs, in the order used for OS devices without a PCI parent. */
static const char *const gpu_prefixes[] = {"rsmi", "nvml", "cuda", "ze", "opencl"};
#define N_PREFIXES ((int)(sizeof gpu_prefixes / sizeof gpu_prefixes[0]))

static int gpu_backend(hwloc_obj_t o)
{
    if (o->attr->osdev.type != HWLOC_OBJ_OSDEV_GPU && o->attr->osdev.type != HWLOC_OBJ_OSDEV_COPROC)
        return -1;
    if (!o->name)
        return -1;
    for (int i = 0; i < N_PREFIXES; i++) {
        size_t n = strlen(gpu_prefixes[i]);
        if (strncmp(o->name, gpu_prefixes[i], n) == 0 && o->name[n] >= '0' && o->name[n] <= '9') {
            /* pocl and other CPU OpenCL platforms appear as COPROC OS devices too. */
            const char *ocl = hwloc_obj_get_info_by_name(o, "OpenCLDeviceType");
            if (strcmp(gpu_prefixes[i], "opencl") == 0 && (!ocl || strcmp(ocl, "GPU") != 0))
                return -1;
            return i;
        }
    }
    return -1;
}

static const char *serial_of(hwloc_obj_t o)
{
    static const char *const keys[] = {"AMDSerial", "AMDSerialNumber", "SerialNumber", "NVIDIASerial"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = hwloc_obj_get_info_by_name(o, keys[i]);
        if (v && *v)
            return v;
    }
    return NULL;
}

static hwloc_obj_t pci_parent(hwloc_obj_t o)
{
    for (hwloc_obj_t p = o->parent; p; p = p->parent)
        if (p->type == HWLOC_OBJ_PCI_DEVICE)
            return p;
    return NULL;
}

static void add_osdev(topo_gpu *g, hwloc_obj_t o)
{
    size_t len = strlen(g->osdevs);
    snprintf(g->osdevs + len, sizeof g->osdevs - len, "%s%s", len ? ", " : "", o->name);
    const char *m = hwloc_obj_get_info_by_name(o, "GPUModel");
    if (m && (!*g->model || !g->model_from_osdev)) {
        snprintf(g->model, sizeof g->model, "%s", m);
        g->model_from_osdev = 1;
    }
    if (!g->serial)
        g->serial = serial_of(o);
}

static void init_gpu(hwloc_topology_t hw, topo_gpu *g, hwloc_obj_t osdev, hwloc_obj_t pci)
{
    memset(g, 0, sizeof *g);
    g->device = -1;
    g->pci = pci;
    g->osdev = osdev;
    g->locality = hwloc_get_non_io_ancestor_obj(hw, pci ? pci : osdev);
    if (pci) {
        const struct hwloc_pcidev_attr_s *a = &pci->attr->pcidev;
        const char *name = hwloc_obj_get_info_by_name(pci, "PCIDevice"); /* until an OS device names it */
        unsigned v = a->vendor_id;
        if (name)
            snprintf(g->model, sizeof g->model, "%s", name);
        else
            snprintf(g->model, sizeof g->model, "%s %04x:%04x",
                     v == 0x10de ? "NVIDIA" : v == 0x1002 ? "AMD" : v == 0x8086 ? "Intel" : "PCI", v, a->device_id);
        g->domain = a->domain;
        g->bus = a->bus;
        g->dev = a->dev;
        g->func = a->func;
        snprintf(g->busid, sizeof g->busid, "%04x:%02x:%02x.%01x", a->domain, a->bus, a->dev, a->func);
    }
}

/* Whether a PCI device is a GPU by its class and vendor, for machines whose hwloc has no GPU OS
 * devices (Debian's hwloc has no CUDA, NVML or RSMI component; without a vendor OpenCL ICD it sees
 * none at all): display (VGA 0x0300, 3D 0x0302, other 0x0380) or processing-accelerator (0x1200,
 * AMD's MI300) functions of NVIDIA, AMD and Intel. Intel only for 0x0380 (its data-centre GPUs):
 * its VGA functions are integrated graphics. A BMC's VGA (ASPEED, Matrox) is no GPU here. */
static int pci_gpu(hwloc_obj_t p)
{
    unsigned cls = p->attr->pcidev.class_id, v = p->attr->pcidev.vendor_id;
    if (v == 0x10de) return cls == 0x0300 || cls == 0x0302 || cls == 0x0380;
    if (v == 0x1002) return cls == 0x0300 || cls == 0x0302 || cls == 0x0380 || cls == 0x1200;
    if (v == 0x8086) return cls == 0x0380;
    return 0;
}

static topo_gpu *gpu_of_pci(st_topo *t, hwloc_obj_t pci)
{
    for (int i = 0; pci && i < t->n_gpus; i++)
        if (t->gpus[i].pci == pci) return &t->gpus[i];
    return NULL;
}

/* Fills t->gpus: one entry per PCI device, from its GPU OS devices and from its class; PCI-less OS
 * devices from the first backend having any. */
static st_status collect(st_topo *t)
{
    int n = 0, first_orphan_backend = N_PREFIXES;
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(t->hw, o));) {
        int b = gpu_backend(o);
        if (b < 0)
            continue;
        n++;
        if (!pci_parent(o) && b < first_orphan_backend)
            first_orphan_backend = b;
    }
    for (hwloc_obj_t p = NULL; (p = hwloc_get_next_pcidev(t->hw, p));)
        n += pci_gpu(p);
    if (n == 0)
        return ST_OK;
    t->gpus = calloc((size_t)n, sizeof *t->gpus);
    if (!t->gpus)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "topology: out of host memory for %d GPU devices", n);
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(t->hw, o));) {
        int b = gpu_backend(o);
        if (b < 0)
            continue;
        hwloc_obj_t pci = pci_parent(o);
        if (!pci && b != first_orphan_backend)
            continue;
        topo_gpu *g = gpu_of_pci(t, pci);
        if (!g)
            init_gpu(t->hw, g = &t->gpus[t->n_gpus++], o, pci);
        add_osdev(g, o);
    }
    for (hwloc_obj_t p = NULL; (p = hwloc_get_next_pcidev(t->hw, p));)
        if (pci_gpu(p) && !gpu_of_pci(t, p))
            init_gpu(t->hw, &t->gpus[t->n_gpus++], NULL, p);
    return ST_OK;
}

static int by_busid(const void *a, const void *b)
{
    const topo_gpu *x = a, *y = b;
    unsigned kx[4] = {x->domain, x->bus, x->dev, x->func}, ky[4] = {y->domain, y->bus, y->dev, y->func};
    for (int i = 0; i < 4; i++)
        if (kx[i] != ky[i])
            return kx[i] < ky[i] ? -1 : 1;
    return strcmp(x->osdevs, y->osdevs);
}

static int by_package(const void *a, const void *b)
{
    const topo_gpu *x = a, *y = b;
    if (x->package != y->package)
        return x->package < y->package ? -1 : 1;
    return x->gcd < y->gcd ? -1 : x->gcd > y->gcd;
}

/* Grouping keys: two devices with the same key share a package. */
typedef int (*same_fn)(const topo_gpu *a, const topo_gpu *b);

static int same_serial(const topo_gpu *a, const topo_gpu *b) { return strcmp(a->serial, b->serial) == 0; }
static int same_pci_device(const topo_gpu *a, const topo_gpu *b)
{
    return a->pci && b->pci && a->domain == b->domain && a->bus == b->bus && a->dev == b->dev;
}

static int is_mi250(const topo_gpu *g)
{
    return g->pci && g->pci->attr->pcidev.vendor_id == 0x1002 && g->pci->attr->pcidev.device_id == 0x740c;
}

/* Groups t->gpus (in bus id order) by `same`: package ids by first appearance, gcd = rank in the
 * package. Returns the common package size, or 0 when sizes differ. */
static int group_by(st_topo *t, same_fn same)
{
    int n_pkg = 0;
    for (int i = 0; i < t->n_gpus; i++) {
        topo_gpu *g = &t->gpus[i];
        g->package = -1;
        g->gcd = 0;
        for (int j = 0; j < i && g->package < 0; j++)
            if (same(&t->gpus[j], g))
                g->package = t->gpus[j].package;
        if (g->package < 0)
            g->package = n_pkg++;
        for (int j = 0; j < i; j++)
            g->gcd += t->gpus[j].package == g->package;
    }
    int size = t->n_gpus / n_pkg;
    for (int p = 0; p < n_pkg; p++) {
        int k = 0;
        for (int i = 0; i < t->n_gpus; i++)
            k += t->gpus[i].package == p;
        if (k != size)
            return 0;
    }
    return size;
}

/* Frontier-style pairing: within each locality, MI250-class devices 2k and 2k+1 in bus id order
 * (pairs, not whole localities: one NUMA domain could hold two boards). Returns 2, or 0 when a
 * device is not MI250-class or a locality holds an odd number. */
static int group_mi250_pairs(st_topo *t)
{
    int n_pkg = 0;
    for (int i = 0; i < t->n_gpus; i++) {
        topo_gpu *g = &t->gpus[i];
        if (!is_mi250(g))
            return 0;
        int before = 0, mate = -1;
        for (int j = 0; j < i; j++)
            if (t->gpus[j].locality == g->locality)
                before++, mate = j;
        if (before % 2)
            g->package = t->gpus[mate].package, g->gcd = 1;
        else
            g->package = n_pkg++, g->gcd = 0;
    }
    return n_pkg * 2 == t->n_gpus ? 2 : 0;
}

static st_status gcds_override(int *out)
{
    const char *env = getenv("STRATA_GCDS_PER_GPU");
    *out = 0;
    if (!env || !*env)
        return ST_OK;
    char *end;
    errno = 0;
    long v = strtol(env, &end, 10);
    if (end == env || *end || errno || v < 1 || v > 64)
        return ST_ERR(ST_ERR_INVALID_ARG, "STRATA_GCDS_PER_GPU='%s' is not a device count in [1, 64]", env);
    *out = (int)v;
    return ST_OK;
}

static int all_have_serials(const st_topo *t)
{
    for (int i = 0; i < t->n_gpus; i++)
        if (!t->gpus[i].serial)
            return 0;
    return 1;
}

static st_status group(st_topo *t, int forced)
{
    int size = 0;
    if (forced) {
        if (t->n_gpus % forced)
            return ST_ERR(ST_ERR_INVALID_ARG, "STRATA_GCDS_PER_GPU=%d does not divide the %d GPU devices found",
                          forced, t->n_gpus);
        for (int i = 0; i < t->n_gpus; i++)
            t->gpus[i].package = i / forced, t->gpus[i].gcd = i % forced;
        size = forced;
        snprintf(t->grouping, sizeof t->grouping, "STRATA_GCDS_PER_GPU=%d", forced);
    } else if (all_have_serials(t) && (size = group_by(t, same_serial)) > 0) {
        snprintf(t->grouping, sizeof t->grouping, "board serial numbers");
    } else if ((size = group_by(t, same_pci_device)) > 1) {
        snprintf(t->grouping, sizeof t->grouping, "PCI functions of one device");
    } else if ((size = group_mi250_pairs(t)) > 1) {
        snprintf(t->grouping, sizeof t->grouping, "MI250-class pairs sharing a NUMA/L3 locality");
    } else {
        for (int i = 0; i < t->n_gpus; i++)
            t->gpus[i].package = i, t->gpus[i].gcd = 0;
        size = 1;
        snprintf(t->grouping, sizeof t->grouping, "one device per package");
    }
    qsort(t->gpus, (size_t)t->n_gpus, sizeof *t->gpus, by_package);
    t->shape = (st_topo_shape){0, t->n_gpus / size, size};
    return ST_OK;
}

st_status topo_find_gpus(st_topo *t)
{
    int forced;
    st_status s = gcds_override(&forced);
    if (s == ST_OK)
        s = collect(t);
    if (s != ST_OK)
        return s;
    if (t->n_gpus == 0) {
        t->shape = (st_topo_shape){0, 0, 1};
        snprintf(t->grouping, sizeof t->grouping, "no GPU found");
        return ST_OK;
    }
    qsort(t->gpus, (size_t)t->n_gpus, sizeof *t->gpus, by_busid);
    return group(t, forced);
}
