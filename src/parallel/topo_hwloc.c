/* hwloc loading: this machine, or a saved XML file (STRATA_TOPOLOGY=path.xml) read, checked and
 * converted by topo_xml.c and tried first in a child process (topo_guard.c), with the I/O objects
 * GPU discovery needs. The GPUs themselves are found in topo_gpus.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "topo_internal.h"

/* GPUs are I/O objects, which hwloc drops unless asked to keep them. PCI devices and bridges: the
 * important ones (GPUs among them). OS devices: all, because hwloc 2.x's "important" filter drops
 * some GPU OS devices (RSMI's, replayed from XML); topo_gpus.c picks its own. */
static st_status init(st_topo *t)
{
    if (hwloc_topology_init(&t->hw) != 0) {
        t->hw = NULL;
        return ST_ERR(ST_ERR_BACKEND, "hwloc_topology_init failed: %s", strerror(errno));
    }
    hwloc_topology_set_io_types_filter(t->hw, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_type_filter(t->hw, HWLOC_OBJ_OS_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
    return ST_OK;
}

st_status topo_hwloc_load_buffer(st_topo *t, const char *buf, size_t len)
{
    ST_TRY(topo_hwloc_import_buffer(t, buf, len));
    return topo_find_gpus(t);
}

st_status topo_hwloc_import_buffer(st_topo *t, const char *buf, size_t len)
{
    ST_TRY(init(t));
    /* hwloc 2.x parses the buffer in set_xmlbuffer already; either step may be the one that refuses */
    if (hwloc_topology_set_xmlbuffer(t->hw, buf, (int)len) != 0 || hwloc_topology_load(t->hw) != 0)
        return ST_ERR(ST_ERR_FORMAT,
                      "STRATA_TOPOLOGY: hwloc rejects '%s' (corrupt, truncated, or inconsistent; HWLOC_XML_VERBOSE=1 "
                      "prints hwloc %s's reason)", t->xml_path ? t->xml_path : "(buffer)", HWLOC_VERSION);
    return ST_OK;
}

st_status topo_hwloc_load(st_topo *t, const char *xml_path)
{
    if (xml_path) {
        char *buf = NULL;
        size_t len = 0;
        int converted = 0;
        st_status s = topo_xml_prepare(xml_path, &buf, &len, &converted);
        if (s == ST_OK) s = topo_guard_xml(buf, len, xml_path);
        if (s == ST_OK) s = topo_hwloc_load_buffer(t, buf, len);
        if (s == ST_OK && converted)
            snprintf(t->note, sizeof t->note, "converted from hwloc's XML format 3.0 to 2.0 for hwloc %s", HWLOC_VERSION);
        free(buf);
        return s;
    }
    ST_TRY(init(t));
    if (hwloc_topology_load(t->hw) != 0)
        return ST_ERR(ST_ERR_BACKEND, "hwloc_topology_load failed on this machine: %s", strerror(errno));
    return topo_find_gpus(t);
}
