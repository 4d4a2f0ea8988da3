/* Machine topology (hwloc): nodes, packages, NUMA domains, cores and GPUs with their locality, and
 * the shape of the hierarchy (nodes x GPUs per node x GCDs per GPU) that collectives and
 * partitioning are built on. */
#ifndef STRATA_TOPO_H
#define STRATA_TOPO_H

#include <stddef.h>
#include <stdio.h>
#include "strata/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_topo st_topo;

/* How a topology was obtained. */
typedef enum st_topo_source {
    ST_TOPO_DETECTED, /* hwloc on this machine */
    ST_TOPO_XML,      /* a saved hwloc XML file (STRATA_TOPOLOGY=path.xml) */
    ST_TOPO_EMULATED  /* STRATA_TOPOLOGY=NODESxGPUSxGCDS: ranks of one machine play a bigger one */
} st_topo_source;

/* The hierarchy: N = nodes * gpus_per_node * gcds_per_gpu ranks. For a detected or XML topology,
 * nodes is 0 (the node count is known only to the communicator: one node per shared-memory
 * domain), gpus_per_node counts GPU packages (boards) and gcds_per_gpu the devices per package
 * (2 on an MI250X, 1 on NVIDIA); a machine without GPUs reports 0 GPUs and 1 GCD.
 *
 * GPUs are hwloc OS devices from the CUDA, NVML, RSMI, LevelZero and OpenCL backends ("cuda0",
 * "nvml0", "rsmi0", "ze0", "opencl0d0"; OpenCL devices only when their OpenCLDeviceType is GPU),
 * and PCI devices of a GPU's class from a GPU vendor (NVIDIA and AMD: VGA 0x0300, 3D 0x0302,
 * display 0x0380, AMD also accelerator 0x1200; Intel: 0x0380), so that a GPU is found where hwloc
 * has no component for its vendor (Debian's hwloc has no CUDA, NVML or RSMI component).
 * The several OS devices hwloc makes for one GPU count once: they share a PCI device. OS devices
 * without a PCI parent are counted from one backend only (the first of RSMI, NVML, CUDA,
 * LevelZero, OpenCL that has any). DRM "card0"/"renderD128" devices are not GPUs here, nor a
 * BMC's VGA function (ASPEED, Matrox).
 *
 * Devices are numbered in PCI bus id order, then grouped into packages by the first rule that
 * applies and gives every package the same number of devices:
 *  1. STRATA_GCDS_PER_GPU=N (N >= 1, dividing the device count): N consecutive devices per
 *     package. For machines the rules below get wrong. Any other value is ST_ERR_INVALID_ARG.
 *  2. Board serial: when every device has one (RSMI's AMDSerial, or AMDSerialNumber,
 *     SerialNumber, NVIDIASerial), devices with the same serial form a package (the two GCDs of
 *     an MI250X; the two GPUs of a K80).
 *  3. PCI functions of one PCI device (same domain:bus:device) form a package.
 *  4. MI250-class devices (PCI id 1002:740c) with the same locality (the same NUMA/L3 object,
 *     as on Frontier where both GCDs of an MI250X hang off one NUMA domain) are paired in bus id
 *     order. Only for this PCI id: four NVIDIA GPUs sharing a socket are four packages.
 *  5. Otherwise one device per package.
 * Uneven groups fall through to the next rule. st_topo_print names the rule that was used. */
typedef struct st_topo_shape {
    int nodes, gpus_per_node, gcds_per_gpu;
} st_topo_shape;

/* Where one rank sits: node index, GPU package within the node, GCD within the package. */
typedef struct st_place {
    int node, gpu, gcd;
} st_place;

/* Loads the topology: STRATA_TOPOLOGY when set (a value naming a file, i.e. one that exists,
 * contains '/' or ends in ".xml", = hwloc XML; else a shape such as "2x4x2"), otherwise hwloc's
 * detection of this machine. STRATA_GCDS_PER_GPU=N overrides the GPU grouping (see above).
 *
 * A saved XML file is read by Strata first (a regular file of at most 64 MiB, opened without
 * blocking), parsed with libxml2 and checked: the attributes hwloc turns into bitmaps and indices,
 * the sets every CPU-side object needs, distance matrices. hwloc's format 3.0 (its master branch)
 * is converted to 2.0, which the hwloc 2.x Strata links reads: OS device types from 3.0's bitmask
 * (the device kind taken from its subtype or from its "Backend" info), topology-wide infos moved
 * back into the root object, and the elements 2.x does not know dropped. Then everything Strata
 * does with the file runs once in a child process, so that a crash or a hang of hwloc on a file
 * these checks do not catch is ST_ERR_FORMAT, not the end of the caller (STRATA_TOPO_CHILD=0 skips
 * the child, for trusted files where fork is unwelcome).
 *
 * When the topology has GPUs, the default backend's devices (STRATA_BACKEND) are matched to them
 * by PCI bus id (st_topo_match_devices).
 * *out is owned by the caller (st_topo_destroy). Errors: ST_ERR_INVALID_ARG (bad STRATA_TOPOLOGY or
 * STRATA_GCDS_PER_GPU), ST_ERR_IO (the XML file does not exist, cannot be read or is not a regular
 * file), ST_ERR_FORMAT (malformed XML with the line at fault, XML hwloc rejects, crashes or loops
 * on), ST_ERR_BACKEND (hwloc failure). */
ST_API st_status st_topo_load(st_topo **out);

/* Parses a shape "NxGxD" (each >= 1) without touching the environment. */
ST_API st_status st_topo_parse_shape(const char *text, st_topo_shape *out);

/* Releases t and its hwloc topology; NULL is a no-op. */
ST_API void st_topo_destroy(st_topo *t);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_topo_destroy") void st_topo_free(st_topo *t);

ST_API st_topo_source st_topo_get_source(const st_topo *t);
ST_API st_status st_topo_get_shape(const st_topo *t, st_topo_shape *out);

/* The place of `rank` among `nranks` for an emulated topology: ranks fill GCDs first, then GPUs,
 * then nodes (node = r/(g*d), gpu = (r/d)%g, gcd = r%d). nranks must equal the shape's product
 * (ST_ERR_INVALID_ARG otherwise, naming both). For detected/XML topologies with matched devices
 * (st_topo_match_devices), `local_rank` is placed on the package and GCD of the GPU its device
 * is (the device STRATA_DEVICE names, else device local_rank mod the device count); otherwise on
 * GPU local_rank / gcds_per_gpu in PCI order (ranks beyond the GPUs, or no GPUs: one rank per
 * "GPU", gcd 0). node is left to the caller (-1). */
ST_API st_status st_topo_place(const st_topo *t, int rank, int nranks, int local_rank, int local_size,
                               st_place *out);

/* What hwloc found: counts of packages, NUMA domains, cores, PUs and GPU devices (GCDs). For an
 * emulated topology only `devices` is set (nodes * gpus * gcds); the rest are 0. */
typedef struct st_topo_counts {
    int packages, numa_nodes, cores, pus, devices;
} st_topo_counts;

ST_API st_status st_topo_get_counts(const st_topo *t, st_topo_counts *out);

/* One GPU device of a detected/XML topology. Strings are owned by `t` and valid until
 * st_topo_destroy. */
typedef struct st_topo_device {
    const char *pci_busid; /* "0000:c1:00.0", "" when hwloc gave no PCI device */
    const char *name;      /* model ("AMD Instinct MI250X"), "" if unknown */
    const char *os_names;  /* hwloc's OS devices for it: "rsmi0, opencl0d0" */
    const char *serial;    /* board serial, "" if none */
    int package, gcd;      /* place in the shape: package (GPU) index and GCD within it */
    int numa;              /* OS index of the first NUMA node local to it, -1 if unknown */
    const char *device;    /* the program's device at its PCI bus id ("cuda:3"), "" if none matched */
} st_topo_device;

/* Device `index` in [0, counts.devices) of a detected/XML topology, numbered package by package
 * (index = package * gcds_per_gpu + gcd). ST_ERR_INVALID_ARG for an index out of range or an
 * emulated topology. */
ST_API st_status st_topo_get_device(const st_topo *t, int index, st_topo_device *out);

/* Matches the devices a program will use, in its own numbering (a backend's device i, counted
 * after CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER or ROCR_VISIBLE_DEVICES), to the topology's GPUs by
 * PCI bus id: busids[i] is device i's ("0000:3b:00.0"; CUDA's "00000000:3B:00.0" and a missing
 * domain are accepted; NULL or "" when unknown), `label` names them ("cuda" gives "cuda:0", ...).
 * Afterwards st_topo_place and st_topo_bind_rank follow the device a rank opens, st_topo_get_device
 * and st_topo_print show each GPU's device. Replaces an earlier match; n = 0 removes it. A device
 * whose bus id matches no GPU stays unmatched (its rank falls back to PCI order). st_topo_load
 * calls this with the default backend's devices (device.h's pci_bus_id: CUDA, HIP, and OpenCL
 * where the driver has cl_khr_pci_bus_info or a vendor's equivalent).
 * Errors: ST_ERR_INVALID_ARG (NULL t, n < 0 or > 65536, NULL busids with n > 0, an emulated
 * topology), ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_topo_match_devices(st_topo *t, const char *label, const char *const *busids, int n);

/* The GPU at PCI bus id `busid` (forms as above): its index for st_topo_get_device.
 * Errors: ST_ERR_INVALID_ARG (NULL, not a bus id, or no GPU of t there: the message says which). */
ST_API st_status st_topo_find_busid(const st_topo *t, const char *busid, int *index);

/* Binds the calling process to the cores closest to the device of `p` (a place from
 * st_topo_place for this process's local rank): the locality cpuset of the GPU, split fairly
 * (hwloc_distrib) among the local ranks whose devices share that locality. Without GPUs, with
 * more local ranks than devices, or for emulated/XML topologies (whose cpusets are not this
 * machine's), the machine's cores are split fairly among the local_size ranks and this process
 * gets share local_rank. STRATA_BIND=0 skips binding (desc says so, ST_OK).
 * desc (may be NULL) receives a one-line human description of what was bound, or why not.
 * Errors: ST_ERR_INVALID_ARG (NULL t or p, bad local rank/size); ST_ERR_BACKEND when the OS
 * refuses the binding or hwloc fails: the process is then left unbound and may run on;
 * callers may ignore this status (it is for reporting, never a reason to stop a run). */
ST_API st_status st_topo_bind_rank(const st_topo *t, const st_place *p, int local_rank, int local_size,
                                   char *desc, size_t desclen);

/* A short lstopo-like tree for tools: Machine > Package > NUMA (cores, PUs) with the GPUs under
 * the NUMA domain (or package, or machine) they are local to, each with its package/GCD, PCI bus
 * id, model and OS devices, then the GPU grouping rule. For an emulated topology, the
 * NODESxGPUSxGCDS tree with rank numbers at the leaves. nranks > 0 adds each rank's place
 * (st_topo_place; for emulated it must be the shape's product, else ST_ERR_INVALID_ARG); 0 omits
 * them. st_topo_print writes to f (the library writes only where the caller says);
 * st_topo_snprint writes at most buflen-1 characters and a NUL to buf (which may be NULL if
 * buflen is 0) and sets *needed (may be NULL) to the full length, as snprintf does. */
ST_API st_status st_topo_print(const st_topo *t, int nranks, FILE *f);
ST_API st_status st_topo_snprint(const st_topo *t, int nranks, char *buf, size_t buflen, size_t *needed);

#ifdef __cplusplus
}
#endif
#endif
