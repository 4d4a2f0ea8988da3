/* The planner's machine figures from hwloc: GPU-GPU bandwidth from the distance matrices that GPU
 * backends publish, device memory from OS device info, the documented defaults for the rest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "topo_internal.h"
#include "strata/plan.h"

/* hwloc's GPU-GPU bandwidth matrices: MB/s per direction, 0 between devices without a direct link. */
static const char *const bw_matrices[] = {"NVLinkBandwidth", "XGMIBandwidth", "XeLinkBandwidth"};
#define N_MATRICES ((int)(sizeof bw_matrices / sizeof bw_matrices[0]))

/* Device memory infos, "<n>KiB": CUDA, RSMI (VRAM), OpenCL backends. */
static const char *const memory_keys[] = {"CUDAGlobalMemorySize", "RSMIVRAMSize", "OpenCLGlobalMemorySize"};
#define N_MEMORY_KEYS ((int)(sizeof memory_keys / sizeof memory_keys[0]))

static hwloc_obj_t pci_device_of(hwloc_obj_t o)
{
    for (; o; o = o->parent)
        if (o->type == HWLOC_OBJ_PCI_DEVICE)
            return o;
    return NULL;
}

/* Whether OS device o is one of g's (the several backends' OS devices of one GPU share its PCI
 * device; a GPU without one has a single OS device). */
static int belongs(const topo_gpu *g, hwloc_obj_t o)
{
    return o == g->osdev || (g->pci && pci_device_of(o) == g->pci);
}

/* Pairs of devices at a level: the same package for GCD, different packages for GPU. */
typedef struct pair_scan {
    int pairs, linked;
    uint64_t slowest_mbs; /* the slowest direct link, both directions counted */
} pair_scan;

static st_status scan_pairs(struct hwloc_distances_s *d, const topo_gpu *gpus, int n, int level, pair_scan *out)
{
    *out = (pair_scan){0, 0, UINT64_MAX};
    int *at = malloc((size_t)n * sizeof *at); /* each GPU's row in the matrix, -1 if absent */
    if (!at)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "plan: out of host memory for %d devices", n);
    for (int i = 0; i < n; i++) {
        at[i] = -1;
        for (unsigned k = 0; k < d->nbobjs && at[i] < 0; k++)
            if (d->objs[k] && d->objs[k]->type == HWLOC_OBJ_OS_DEVICE && belongs(&gpus[i], d->objs[k]))
                at[i] = (int)k;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if ((gpus[i].package == gpus[j].package) != (level == ST_LEVEL_GCD))
                continue;
            out->pairs++;
            if (at[i] < 0 || at[j] < 0)
                continue;
            uint64_t a = d->values[(size_t)at[i] * d->nbobjs + (size_t)at[j]];
            uint64_t b = d->values[(size_t)at[j] * d->nbobjs + (size_t)at[i]];
            uint64_t slower = a < b ? a : b;
            if (slower == 0)
                continue;
            out->linked++;
            if (slower < out->slowest_mbs)
                out->slowest_mbs = slower;
        }
    free(at);
    return ST_OK;
}

/* The GCD or GPU bandwidth from the first matrix that links every pair of the level directly; a
 * matrix that links only some leaves the default, and the source says how many. */
static st_status level_bandwidth(hwloc_topology_t hw, const topo_gpu *gpus, int n, int level, st_plan_machine *m)
{
    static const char *const level_names[ST_LEVEL_COUNT] = {"GCD", "GPU", "NODE"};
    for (int k = 0; k < N_MATRICES; k++) {
        unsigned nr = 1;
        struct hwloc_distances_s *d = NULL;
        if (hwloc_distances_get_by_name(hw, bw_matrices[k], &nr, &d, 0) != 0 || nr == 0 || !d)
            continue;
        pair_scan s;
        st_status st = scan_pairs(d, gpus, n, level, &s);
        hwloc_distances_release(hw, d);
        if (st != ST_OK)
            return st;
        if (s.pairs == 0)
            return ST_OK;
        if (s.linked == s.pairs) {
            m->bw_gbs[level] = (double)s.slowest_mbs / 1000.0;
            snprintf(m->bw_source[level], ST_PLAN_SOURCE_LEN, "hwloc: %s", bw_matrices[k]);
            return ST_OK;
        }
        if (s.linked > 0)
            snprintf(m->bw_source[level], ST_PLAN_SOURCE_LEN, "default (hwloc %s links only %d of %d %s pairs)",
                     bw_matrices[k], s.linked, s.pairs, level_names[level]);
    }
    return ST_OK;
}

/* A size as hwloc writes it, "16671616KiB", in KiB; 0 when it is not one. */
static double kib_value(const char *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    return end == v || errno || v[0] == '-' || strcmp(end, "KiB") != 0 ? 0 : (double)x;
}

/* g's device memory in KiB from the first key (in memory_keys order) one of its OS devices has. */
static double gpu_memory_kib(hwloc_topology_t hw, const topo_gpu *g, const char **key)
{
    for (int k = 0; k < N_MEMORY_KEYS; k++)
        for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(hw, o));) {
            const char *v = belongs(g, o) ? hwloc_obj_get_info_by_name(o, memory_keys[k]) : NULL;
            double kib = v ? kib_value(v) : 0;
            if (kib > 0) {
                *key = memory_keys[k];
                return kib;
            }
        }
    return 0;
}

/* The smallest device memory, when hwloc gives one for every device. */
static void device_memory(hwloc_topology_t hw, const topo_gpu *gpus, int n, st_plan_machine *m)
{
    double least = 0;
    const char *least_key = NULL;
    for (int i = 0; i < n; i++) {
        const char *key = NULL;
        double kib = gpu_memory_kib(hw, &gpus[i], &key);
        if (kib <= 0)
            return;
        if (!least_key || kib < least)
            least = kib, least_key = key;
    }
    if (!least_key)
        return;
    m->memory_gib = least / (1024.0 * 1024.0);
    snprintf(m->memory_source, ST_PLAN_SOURCE_LEN, "hwloc: %s", least_key);
}

st_status st_plan_machine_from_topo(const st_topo *t, st_plan_machine *out)
{
    if (!t || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_machine_from_topo: NULL argument");
    st_plan_machine m;
    ST_TRY(st_plan_machine_get("local", &m));
    const topo_gpu *gpus;
    int n;
    hwloc_topology_t hw = topo_hwloc(t, &gpus, &n);
    if (hw) {
        snprintf(m.name, sizeof m.name, "hwloc");
        ST_TRY(level_bandwidth(hw, gpus, n, ST_LEVEL_GCD, &m));
        ST_TRY(level_bandwidth(hw, gpus, n, ST_LEVEL_GPU, &m));
        device_memory(hw, gpus, n, &m);
    }
    *out = m;
    return ST_OK;
}
