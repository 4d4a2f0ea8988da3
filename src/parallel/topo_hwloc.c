/* hwloc loading: this machine, or a saved XML file (STRATA_TOPOLOGY=path.xml), with the I/O objects
 * GPU discovery needs. The GPUs themselves are found in topo_gpus.c. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "topo_internal.h"

/* A file hwloc cannot open shows up as a generic load failure; say which, before hwloc tries. */
static st_status check_readable(const char *path)
{
    if (access(path, R_OK) != 0)
        return ST_ERR(ST_ERR_IO,
                      "STRATA_TOPOLOGY='%s': %s (expected a saved hwloc XML file, e.g. from "
                      "`lstopo --of xml`, or a shape NODESxGPUSxGCDS such as 2x4x2)",
                      path, strerror(errno));
    return ST_OK;
}

st_status topo_hwloc_load(st_topo *t, const char *xml_path)
{
    if (xml_path) {
        st_status s = check_readable(xml_path);
        if (s != ST_OK)
            return s;
    }
    if (hwloc_topology_init(&t->hw) != 0) {
        t->hw = NULL;
        return ST_ERR(ST_ERR_BACKEND, "hwloc_topology_init failed: %s", strerror(errno));
    }
    /* GPUs are I/O objects, which hwloc drops unless asked to keep them. PCI devices and bridges:
     * the important ones (GPUs among them). OS devices: all, because hwloc 2.x's "important"
     * filter drops some GPU OS devices (RSMI's, replayed from XML); topo_gpus.c picks its own. */
    hwloc_topology_set_io_types_filter(t->hw, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_type_filter(t->hw, HWLOC_OBJ_OS_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
    /* hwloc 2.x parses the file in set_xml already; either step may be the one that refuses. */
    if (xml_path && (hwloc_topology_set_xml(t->hw, xml_path) != 0 || hwloc_topology_load(t->hw) != 0))
        return ST_ERR(ST_ERR_FORMAT,
                      "STRATA_TOPOLOGY: hwloc rejects '%s' (corrupt, truncated, or an XML format newer than "
                      "this hwloc %s reads; HWLOC_XML_VERBOSE=1 prints hwloc's reason)",
                      xml_path, HWLOC_VERSION);
    if (!xml_path && hwloc_topology_load(t->hw) != 0)
        return ST_ERR(ST_ERR_BACKEND, "hwloc_topology_load failed on this machine: %s", strerror(errno));
    return topo_find_gpus(t);
}
