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
    char model[128];      /* an OS device's GPUModel, else the PCI device's name, else its vendor and
                             ids ("NVIDIA 10de:1db8"); a copy: qsort moves the entries */
    int model_from_osdev; /* model is an OS device's GPUModel */
    const char *serial;   /* board serial (AMDSerial, NVIDIASerial, ...) or NULL; owned by hwloc */
    int package, gcd;     /* its GPU package (board) and index in it */
    int device;           /* the program's device matched to it by PCI bus id, -1 if none */
    char device_name[40]; /* "cuda:3" for that device, "" if none */
} topo_gpu;

struct st_topo {
    st_topo_source source;
    st_topo_shape shape;
    hwloc_topology_t hw; /* NULL for an emulated topology */
    char *xml_path;      /* the STRATA_TOPOLOGY file for ST_TOPO_XML, else NULL */
    int n_gpus;
    topo_gpu *gpus;      /* sorted by package then GCD: index = package * gcds_per_gpu + gcd */
    char grouping[160];  /* how the GPUs were grouped into packages, for humans */
    char note[160];      /* "" or what was done to the file before hwloc read it (a format conversion) */
    int n_dev;           /* the program's devices (st_topo_match_devices), 0 when unmatched */
    int *dev_gpu;        /* device i's GPU (index into gpus), -1 when its bus id matched none */
    char (*dev_busid)[32];
    char dev_label[16];  /* their backend's name */
};

/* Loads hwloc's view of this machine (xml_path NULL) or of a saved XML file into t->hw and fills
 * t->gpus and t->shape. On error t->hw may be set: st_topo_destroy releases it. */
st_status topo_hwloc_load(st_topo *t, const char *xml_path);
/* The same from an XML document in memory (already checked): hwloc's import, then the GPUs. */
st_status topo_hwloc_load_buffer(st_topo *t, const char *buf, size_t len);
/* Its first half: hwloc's import alone (ST_ERR_FORMAT when hwloc refuses the buffer). */
st_status topo_hwloc_import_buffer(st_topo *t, const char *buf, size_t len);

/* topo_xml.c: the file at path (regular, at most 64 MiB, opened without blocking) or buf checked
 * and, when in hwloc's format 3.0, converted to 2.0: *out (malloc'ed, NUL-terminated, *outlen
 * bytes) is what hwloc 2.x is given; *converted says whether it was converted. `what` names the
 * input in messages. Errors: ST_ERR_IO (unreadable, not a regular file), ST_ERR_FORMAT (the line
 * and what is wrong), ST_ERR_OUT_OF_MEMORY. */
st_status topo_xml_prepare(const char *path, char **out, size_t *outlen, int *converted);
st_status topo_xml_prepare_buffer(const char *buf, size_t len, const char *what, char **out, size_t *outlen,
                                  int *converted);

/* topo_guard.c: loads buf in a child process exactly as the caller is about to, and returns
 * ST_ERR_FORMAT when hwloc crashes or hangs there (60 s), ST_OK otherwise (also when no child can
 * be made, or STRATA_TOPO_CHILD=0 turns the check off). */
st_status topo_guard_xml(const char *buf, size_t len, const char *what);

/* Finds the GPUs of t->hw, deduplicated by PCI device, sorted by PCI bus id, grouped into packages
 * (rules in topo.h); sets t->gpus, t->n_gpus, t->grouping and t->shape. */
st_status topo_find_gpus(st_topo *t);

/* topo_devices.c: matches the default backend's devices by bus id (best effort, after the GPUs
 * are grouped); the GPU (index) of a local rank's device, -1 without a match; frees the match. */
void topo_match_default(st_topo *t);
int topo_gpu_of_rank(const st_topo *t, int local_rank);
void topo_devices_free(st_topo *t);

/* For the planner (plan_hwloc.c): t's hwloc topology, NULL for an emulated shape, and its GPUs
 * (*gpus sorted by package then GCD, *n_gpus of them). Everything stays owned by t. */
hwloc_topology_t topo_hwloc(const st_topo *t, const topo_gpu **gpus, int *n_gpus);

#endif
