/* A short lstopo-like tree of a topology, for tools: written to a FILE* or a buffer the caller
 * gives (the library never picks stdout itself). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "topo_internal.h"

/* Where the text goes: a FILE*, or a buffer that keeps counting past its end like snprintf. */
typedef struct sink {
    FILE *f;
    char *buf;
    size_t cap, len;
} sink;

static void out(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (s->f) {
        vfprintf(s->f, fmt, ap);
    } else {
        size_t room = s->len < s->cap ? s->cap - s->len : 0;
        int n = vsnprintf(room ? s->buf + s->len : NULL, room, fmt, ap);
        if (n > 0)
            s->len += (size_t)n;
    }
    va_end(ap);
}

/* ---- emulated ---- */

static void print_emulated(const st_topo *t, int nranks, sink *s)
{
    const st_topo_shape *sh = &t->shape;
    int per_node = sh->gpus_per_node * sh->gcds_per_gpu;
    out(s, "Emulated topology %dx%dx%d (STRATA_TOPOLOGY): %d nodes x %d GPUs x %d GCDs = %d ranks\n", sh->nodes,
        sh->gpus_per_node, sh->gcds_per_gpu, sh->nodes, sh->gpus_per_node, sh->gcds_per_gpu, sh->nodes * per_node);
    for (int n = 0; n < sh->nodes; n++) {
        out(s, "  Node %d\n", n);
        for (int g = 0; g < sh->gpus_per_node; g++) {
            out(s, "    GPU %d\n", g);
            for (int d = 0; d < sh->gcds_per_gpu; d++) {
                out(s, "      GCD %d", d);
                if (nranks > 0)
                    out(s, ": rank %d", n * per_node + g * sh->gcds_per_gpu + d);
                out(s, "\n");
            }
        }
    }
}

/* ---- hwloc ---- */

static int n_inside(hwloc_topology_t hw, hwloc_const_cpuset_t set, hwloc_obj_type_t type)
{
    return set ? hwloc_get_nbobjs_inside_cpuset_by_type(hw, set, type) : 0;
}

/* The NUMA node a GPU hangs off: the one whose cpuset holds its whole locality, if any. */
static hwloc_obj_t gpu_numa(hwloc_topology_t hw, const topo_gpu *g)
{
    if (!g->locality || !g->locality->cpuset || hwloc_bitmap_iszero(g->locality->cpuset))
        return NULL;
    for (hwloc_obj_t n = NULL; (n = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_NUMANODE, n));)
        if (n->cpuset && hwloc_bitmap_isincluded(g->locality->cpuset, n->cpuset))
            return n;
    return NULL;
}

static void print_gpu(const st_topo *t, int i, int nranks, const char *indent, sink *s)
{
    const topo_gpu *g = &t->gpus[i];
    out(s, "%sGPU %d (package %d, GCD %d) %s%s%s [%s]", indent, i, g->package, g->gcd, g->busid,
        *g->busid ? " " : "", *g->model ? g->model : "(model unknown)",
        *g->osdevs ? g->osdevs : "no OS device: a GPU by its PCI class");
    if (g->serial)
        out(s, " serial %s", g->serial);
    if (*g->device_name)
        out(s, " = %s", g->device_name);
    /* With more ranks than devices no rank owns a GPU (st_topo_place): none is listed here. */
    for (int r = 0; nranks <= t->n_gpus && r < nranks; r++) {
        st_place p;
        if (st_topo_place(t, r, nranks, r, nranks, &p) == ST_OK && p.gpu * t->shape.gcds_per_gpu + p.gcd == i)
            out(s, "  rank %d", r);
    }
    out(s, "\n");
}

/* GPUs whose home (NUMA node, else the package holding their locality, else the machine) is
 * `where`. */
static void print_gpus_at(const st_topo *t, hwloc_obj_t where, int nranks, const char *indent, sink *s)
{
    for (int i = 0; i < t->n_gpus; i++) {
        const topo_gpu *g = &t->gpus[i];
        hwloc_obj_t home = gpu_numa(t->hw, g);
        if (!home && g->locality)
            home = g->locality->type == HWLOC_OBJ_PACKAGE
                       ? g->locality
                       : hwloc_get_ancestor_obj_by_type(t->hw, HWLOC_OBJ_PACKAGE, g->locality);
        if (!home)
            home = hwloc_get_root_obj(t->hw);
        if (home == where)
            print_gpu(t, i, nranks, indent, s);
    }
}

static void print_cpus(hwloc_topology_t hw, hwloc_const_cpuset_t set, sink *s)
{
    int cores = n_inside(hw, set, HWLOC_OBJ_CORE), pus = n_inside(hw, set, HWLOC_OBJ_PU);
    out(s, "%d core%s, %d PU%s", cores, cores == 1 ? "" : "s", pus, pus == 1 ? "" : "s");
}

static void print_numas_in(const st_topo *t, hwloc_const_cpuset_t set, int nranks, const char *indent, sink *s)
{
    char ind2[32];
    snprintf(ind2, sizeof ind2, "%s  ", indent);
    for (hwloc_obj_t n = NULL; (n = hwloc_get_next_obj_by_type(t->hw, HWLOC_OBJ_NUMANODE, n));) {
        if (set ? !n->cpuset || !hwloc_bitmap_isincluded(n->cpuset, set)
                : hwloc_get_ancestor_obj_by_type(t->hw, HWLOC_OBJ_PACKAGE, n) != NULL)
            continue;
        out(s, "%sNUMA %u (%.1f GiB): ", indent, n->os_index, (double)n->attr->numanode.local_memory / (1 << 30));
        print_cpus(t->hw, n->cpuset, s);
        out(s, "\n");
        print_gpus_at(t, n, nranks, ind2, s);
    }
}

/* The program's devices and the GPU each was matched to by PCI bus id (st_topo_match_devices). */
static void print_devices(const st_topo *t, sink *s)
{
    if (t->n_dev == 0) {
        if (t->n_gpus)
            out(s, "Devices: none matched by PCI bus id (the default backend reports no bus ids, or none of "
                   "these); ranks take GPUs in PCI order\n");
        return;
    }
    out(s, "Devices of %s matched by PCI bus id (ranks are placed and bound by their device):\n", t->dev_label);
    for (int i = 0; i < t->n_dev; i++) {
        out(s, "  %s:%d ", t->dev_label, i);
        if (t->dev_gpu[i] >= 0)
            out(s, "%s = GPU %d (package %d, GCD %d)\n", t->dev_busid[i], t->dev_gpu[i], t->gpus[t->dev_gpu[i]].package,
                t->gpus[t->dev_gpu[i]].gcd);
        else if (*t->dev_busid[i])
            out(s, "%s: no GPU of this topology there\n", t->dev_busid[i]);
        else
            out(s, "reports no PCI bus id\n");
    }
}

static void print_hwloc(const st_topo *t, int nranks, sink *s)
{
    hwloc_obj_t root = hwloc_get_root_obj(t->hw);
    if (t->source == ST_TOPO_XML)
        out(s, "Machine (hwloc XML %s): ", t->xml_path);
    else
        out(s, "Machine (detected by hwloc %s): ", HWLOC_VERSION);
    print_cpus(t->hw, root->cpuset, s);
    out(s, ", %d GPU device%s\n", t->n_gpus, t->n_gpus == 1 ? "" : "s");
    if (*t->note)
        out(s, "  (%s)\n", t->note);
    for (hwloc_obj_t p = NULL; (p = hwloc_get_next_obj_by_type(t->hw, HWLOC_OBJ_PACKAGE, p));) {
        const char *model = hwloc_obj_get_info_by_name(p, "CPUModel");
        out(s, "  Package %u%s%s: ", p->os_index, model ? " " : "", model ? model : "");
        print_cpus(t->hw, p->cpuset, s);
        out(s, "\n");
        print_numas_in(t, p->cpuset, nranks, "    ", s);
        print_gpus_at(t, p, nranks, "    ", s);
    }
    print_numas_in(t, NULL, nranks, "  ", s);
    print_gpus_at(t, root, nranks, "  ", s);
    out(s, "GPU shape: %d package%s x %d GCD%s (grouping: %s)\n", t->shape.gpus_per_node,
        t->shape.gpus_per_node == 1 ? "" : "s", t->shape.gcds_per_gpu, t->shape.gcds_per_gpu == 1 ? "" : "s",
        t->grouping);
    print_devices(t, s);
}

static st_status print_any(const st_topo *t, int nranks, sink *s)
{
    if (!t)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_print: NULL topology");
    if (nranks < 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_print: nranks %d < 0", nranks);
    if (nranks > 0) {
        st_place p;
        st_status st = st_topo_place(t, 0, nranks, 0, nranks, &p);
        if (st != ST_OK)
            return st;
    }
    if (t->source == ST_TOPO_EMULATED)
        print_emulated(t, nranks, s);
    else
        print_hwloc(t, nranks, s);
    return ST_OK;
}

st_status st_topo_print(const st_topo *t, int nranks, FILE *f)
{
    if (!f)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_print: NULL FILE");
    sink s = {f, NULL, 0, 0};
    return print_any(t, nranks, &s);
}

st_status st_topo_snprint(const st_topo *t, int nranks, char *buf, size_t buflen, size_t *needed)
{
    if (!buf && buflen)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_snprint: NULL buffer of %zu bytes", buflen);
    sink s = {NULL, buf, buflen, 0};
    if (buflen)
        buf[0] = '\0';
    st_status st = print_any(t, nranks, &s);
    if (st == ST_OK && needed)
        *needed = s.len;
    return st;
}
