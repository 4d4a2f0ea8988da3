/* The st_topo object shared by the topology files (shape/placement, hwloc detection, printing). */
#ifndef STRATA_TOPO_INTERNAL_H
#define STRATA_TOPO_INTERNAL_H

#include <hwloc.h>
#include "strata/topo.h"

struct st_topo {
    st_topo_source source;
    st_topo_shape shape;
    hwloc_topology_t hw; /* NULL for an emulated topology */
};

/* Loads hwloc's view of this machine (xml_path NULL) or of a saved XML file into t->hw and fills
 * t->shape from the GPUs it finds. Defined by the hwloc part of the topology code. */
st_status topo_hwloc_load(st_topo *t, const char *xml_path);

#endif
