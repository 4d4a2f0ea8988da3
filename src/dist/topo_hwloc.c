/* hwloc detection (or a saved XML file): the machine tree and its GPUs. */
#include "internal.h"
#include "topo_internal.h"

st_status topo_hwloc_load(st_topo *t, const char *xml_path)
{
    if (hwloc_topology_init(&t->hw) != 0) {
        t->hw = NULL;
        return ST_ERR(ST_ERR_BACKEND, "hwloc_topology_init failed");
    }
    /* GPUs are I/O objects, which hwloc drops unless asked to keep them. */
    hwloc_topology_set_io_types_filter(t->hw, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (xml_path && hwloc_topology_set_xml(t->hw, xml_path) != 0)
        return ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY: hwloc cannot read '%s' as an XML topology", xml_path);
    if (hwloc_topology_load(t->hw) != 0)
        return ST_ERR(xml_path ? ST_ERR_FORMAT : ST_ERR_BACKEND, "hwloc_topology_load failed%s%s",
                      xml_path ? " for " : "", xml_path ? xml_path : "");
    int gpus = 0;
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(t->hw, o));)
        if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU || o->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC)
            gpus++;
    t->shape = (st_topo_shape){0, gpus, 1};
    return ST_OK;
}
