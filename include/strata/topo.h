/* Machine topology (hwloc): nodes, packages, NUMA domains, cores and GPUs with their locality, and
 * the shape of the hierarchy (nodes x GPUs per node x GCDs per GPU) that collectives and
 * partitioning are built on. */
#ifndef STRATA_TOPO_H
#define STRATA_TOPO_H

#include <stddef.h>
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
 * (2 on an MI250X, 1 on NVIDIA); a machine without GPUs reports 0 GPUs and 1 GCD. */
typedef struct st_topo_shape {
    int nodes, gpus_per_node, gcds_per_gpu;
} st_topo_shape;

/* Where one rank sits: node index, GPU package within the node, GCD within the package. */
typedef struct st_place {
    int node, gpu, gcd;
} st_place;

/* Loads the topology: STRATA_TOPOLOGY when set (an existing file = hwloc XML, else a shape such as
 * "2x4x2"; anything else is ST_ERR_INVALID_ARG), otherwise hwloc's detection of this machine.
 * *out is owned by the caller (st_topo_free). Errors: ST_ERR_INVALID_ARG (bad STRATA_TOPOLOGY),
 * ST_ERR_FORMAT (XML hwloc rejects), ST_ERR_BACKEND (hwloc failure). */
ST_API st_status st_topo_load(st_topo **out);

/* Parses a shape "NxGxD" (each >= 1) without touching the environment. */
ST_API st_status st_topo_parse_shape(const char *text, st_topo_shape *out);

ST_API void st_topo_free(st_topo *t);

ST_API st_topo_source st_topo_get_source(const st_topo *t);
ST_API st_status st_topo_get_shape(const st_topo *t, st_topo_shape *out);

/* The place of `rank` among `nranks` for an emulated topology: ranks fill GCDs first, then GPUs,
 * then nodes (node = r/(g*d), gpu = (r/d)%g, gcd = r%d). nranks must equal the shape's product
 * (ST_ERR_INVALID_ARG otherwise, naming both). For detected/XML topologies, `local_rank` among
 * `local_size` ranks of this node is placed on GPU local_rank / gcds_per_gpu (ranks beyond the
 * GPUs, or no GPUs: one rank per "GPU", gcd 0); node is left to the caller (-1). */
ST_API st_status st_topo_place(const st_topo *t, int rank, int nranks, int local_rank, int local_size,
                               st_place *out);

#ifdef __cplusplus
}
#endif
#endif
