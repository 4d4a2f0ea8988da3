/* The st_topo object shared by the topology files: shape/placement (topo_shape.c), hwloc loading
 * (topo_hwloc.c), GPU discovery and grouping (topo_gpus.c), binding (topo_bind.c), printing
 * (topo_print.c). */
#ifndef STRATA_TOPO_INTERNAL_H
#define STRATA_TOPO_INTERNAL_H

#include <hwloc.h>
#include "strata/topo.h"

/* One GPU device (a GCD on an MI250X): one PCI device however many OS devices hwloc made for it. */
typedef struct topo_gpu {
    hwloc_obj_t pci;      /* the PCI device; NULL when hwloc gave the OS device no PCI parent */
    hwloc_obj_t osdev;    /* the first GPU OS device seen for it */
    hwloc_obj_t locality; /* nearest non-I/O ancestor: its cpuset/nodeset are the GPU's locality */
    unsigned domain, bus, dev, func;
    char busid[16];       /* "0000:c1:00.0", "" without PCI parent */
    char osdevs[96];      /* its OS devices' names, "rsmi0, opencl0d0" */
    const char *model;    /* GPUModel info, "" if none; owned by hwloc */
    const char *serial;   /* board serial (AMDSerial, NVIDIASerial, ...) or NULL; owned by hwloc */
    int package, gcd;     /* its GPU package (board) and index in it */
} topo_gpu;

struct st_topo {
    st_topo_source source;
    st_topo_shape shape;
    hwloc_topology_t hw; /* NULL for an emulated topology */
    char *xml_path;      /* the STRATA_TOPOLOGY file for ST_TOPO_XML, else NULL */
    int n_gpus;
    topo_gpu *gpus;      /* sorted by package then GCD: index = package * gcds_per_gpu + gcd */
    char grouping[160];  /* how the GPUs were grouped into packages, for humans */
};

/* Loads hwloc's view of this machine (xml_path NULL) or of a saved XML file into t->hw and fills
 * t->gpus and t->shape. On error t->hw may be set: st_topo_destroy releases it. */
st_status topo_hwloc_load(st_topo *t, const char *xml_path);

/* Finds the GPUs of t->hw, deduplicated by PCI device, sorted by PCI bus id, grouped into packages
 * (rules in topo.h); sets t->gpus, t->n_gpus, t->grouping and t->shape. */
st_status topo_find_gpus(st_topo *t);

/* For the planner (plan_hwloc.c): t's hwloc topology, NULL for an emulated shape, and its GPUs
 * (*gpus sorted by package then GCD, *n_gpus of them). Everything stays owned by t. */
hwloc_topology_t topo_hwloc(const st_topo *t, const topo_gpu **gpus, int *n_gpus);

#endif
