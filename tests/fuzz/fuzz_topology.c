/* Fuzz target: the topology loader (STRATA_TOPOLOGY=file: libxml2 checks, the 3.0 conversion, the
 * child-process guard, hwloc's import, GPU discovery and grouping), then what tools do with it:
 * the printed tree with rank places, every device, placement, the planner's machine figures and
 * bus-id matching. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setenv("STRATA_TOPOLOGY", fuzz_file("topo.xml", data, size), 1);
    st_topo *t = NULL;
    if (st_topo_load(&t) != ST_OK) return 0;
    st_topo_counts c;
    st_topo_get_counts(t, &c);
    char text[4096];
    st_topo_snprint(t, c.devices > 0 ? c.devices : 1, text, sizeof text, NULL);
    for (int i = 0; i < c.devices; i++) {
        st_topo_device d, e;
        int back = -1;
        if (st_topo_get_device(t, i, &d) != ST_OK) abort();
        /* a bus id finds a GPU at that bus id (a malformed file may list one twice) */
        if (*d.pci_busid && (st_topo_find_busid(t, d.pci_busid, &back) != ST_OK ||
                             st_topo_get_device(t, back, &e) != ST_OK || strcmp(e.pci_busid, d.pci_busid) != 0))
            abort();
    }
    st_place p;
    st_topo_place(t, 0, 2, 1, 2, &p);
    st_plan_machine m;
    st_plan_machine_from_topo(t, &m);
    st_topo_destroy(t);
    return 0;
}
