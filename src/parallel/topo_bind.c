/* Binding a rank's process to the cores closest to its GPU, or to a fair share of the machine.
 * A refused binding is reported, never fatal: the run goes on unbound. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "topo_internal.h"

static void describe(char *desc, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void describe(char *desc, size_t len, const char *fmt, ...)
{
    if (!desc || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, len, fmt, ap);
    va_end(ap);
}

/* Share `index` of `n` fair shares of root's cores (hwloc_distrib stops at cores, so ranks get
 * whole cores with their hyperthreads). hwloc_distrib allocates the n sets itself. Returns a new
 * bitmap or NULL. */
static hwloc_bitmap_t share_of(hwloc_topology_t hw, hwloc_obj_t root, int n, int index)
{
    hwloc_bitmap_t *sets = calloc((size_t)n, sizeof *sets), mine = NULL;
    if (!sets)
        return NULL;
    int core_depth = hwloc_get_type_depth(hw, HWLOC_OBJ_CORE);
    if (core_depth < 0)
        core_depth = hwloc_get_type_depth(hw, HWLOC_OBJ_PU);
    if (hwloc_distrib(hw, &root, 1, sets, (unsigned)n, core_depth, 0) == 0) {
        mine = sets[index];
        sets[index] = NULL;
    }
    for (int i = 0; i < n; i++)
        hwloc_bitmap_free(sets[i]);
    free(sets);
    return mine;
}

/* The GPU (index) of place p in a detected topology, or -1 when the rank has none of its own. With
 * devices matched by bus id the place is already its device's GPU (st_topo_place). */
static int device_of(const st_topo *t, const st_place *p, int local_size)
{
    int d = t->shape.gcds_per_gpu > 0 ? t->shape.gcds_per_gpu : 1;
    if (t->source != ST_TOPO_DETECTED || t->n_gpus == 0 || (t->n_dev == 0 && local_size > t->n_gpus))
        return -1;
    int i = p->gpu * d + p->gcd;
    return p->gpu >= 0 && p->gcd >= 0 && p->gcd < d && i < t->n_gpus ? i : -1;
}

/* Splits the locality of GPU `dev` among the local ranks 0..local_size-1 whose GPUs (their places,
 * st_topo_place) share it. */
static hwloc_bitmap_t near_gpu(const st_topo *t, int dev, int local_size)
{
    hwloc_obj_t loc = t->gpus[dev].locality;
    int d = t->shape.gcds_per_gpu > 0 ? t->shape.gcds_per_gpu : 1, k = 0, mine = 0;
    for (int r = 0; r < local_size; r++) {
        st_place p;
        if (st_topo_place(t, r, local_size, r, local_size, &p) != ST_OK || device_of(t, &p, local_size) < 0)
            continue;
        int g = p.gpu * d + p.gcd;
        if (t->gpus[g].locality != loc)
            continue;
        if (g == dev && !mine)
            mine = k + 1;
        k++;
    }
    return share_of(t->hw, loc, k > 0 ? k : 1, mine > 0 ? mine - 1 : 0);
}

static st_status bind_set(hwloc_topology_t hw, hwloc_bitmap_t set, const char *what, char *desc, size_t len)
{
    char pus[256];
    hwloc_bitmap_list_snprintf(pus, sizeof pus, set);
    int cores = hwloc_get_nbobjs_inside_cpuset_by_type(hw, set, HWLOC_OBJ_CORE);
    if (hwloc_set_cpubind(hw, set, HWLOC_CPUBIND_PROCESS) != 0) {
        int e = errno;
        describe(desc, len, "not bound (the OS refused cores %s: %s)", pus, strerror(e));
        return ST_ERR(ST_ERR_BACKEND, "binding to PUs %s %s refused: %s", pus, what, strerror(e));
    }
    describe(desc, len, "bound to %d core%s (PUs %s) %s", cores, cores == 1 ? "" : "s", pus, what);
    return ST_OK;
}

/* Emulated and XML topologies describe another machine: bind with this one's own tree. */
static st_status fair_share_here(int local_rank, int local_size, const char *why, char *desc, size_t len)
{
    hwloc_topology_t hw;
    if (hwloc_topology_init(&hw) != 0)
        return ST_ERR(ST_ERR_BACKEND, "binding: hwloc_topology_init failed: %s", strerror(errno));
    st_status s;
    hwloc_bitmap_t set = NULL;
    if (hwloc_topology_load(hw) != 0) {
        s = ST_ERR(ST_ERR_BACKEND, "binding: hwloc cannot read this machine: %s", strerror(errno));
    } else if (!(set = share_of(hw, hwloc_get_root_obj(hw), local_size, local_rank))) {
        s = ST_ERR(ST_ERR_BACKEND, "binding: hwloc_distrib failed");
    } else {
        char what[256];
        snprintf(what, sizeof what, "= share %d of %d of this machine (%s)", local_rank, local_size, why);
        s = bind_set(hw, set, what, desc, len);
    }
    if (s != ST_OK && desc && len && !*desc)
        describe(desc, len, "not bound (%s)", st_last_error());
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(hw);
    return s;
}

st_status st_topo_bind_rank(const st_topo *t, const st_place *p, int local_rank, int local_size, char *desc,
                            size_t desclen)
{
    if (desc && desclen)
        desc[0] = '\0';
    if (!t || !p)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_bind_rank: NULL argument");
    if (local_size < 1 || local_rank < 0 || local_rank >= local_size)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_bind_rank: local rank %d is not in [0, %d)", local_rank,
                      local_size);
    const char *env = getenv("STRATA_BIND");
    if (env && strcmp(env, "0") == 0) {
        describe(desc, desclen, "not bound (STRATA_BIND=0)");
        return ST_OK;
    }
    if (t->source != ST_TOPO_DETECTED)
        return fair_share_here(local_rank, local_size,
                               t->source == ST_TOPO_EMULATED ? "emulated topology" : "XML topology", desc, desclen);
    int dev = device_of(t, p, local_size);
    hwloc_bitmap_t set = dev >= 0 ? near_gpu(t, dev, local_size)
                                  : share_of(t->hw, hwloc_get_root_obj(t->hw), local_size, local_rank);
    if (!set) {
        describe(desc, desclen, "not bound (hwloc_distrib failed)");
        return ST_ERR(ST_ERR_BACKEND, "binding: hwloc_distrib failed");
    }
    char what[256];
    if (dev >= 0)
        snprintf(what, sizeof what, "near GPU %d (%s%s%s%s%s)", dev, t->gpus[dev].busid,
                 *t->gpus[dev].busid ? ", " : "", t->gpus[dev].osdevs, *t->gpus[dev].device_name ? ", " : "",
                 t->gpus[dev].device_name);
    else
        snprintf(what, sizeof what, "= share %d of %d of the machine (%s)", local_rank, local_size,
                 t->n_gpus ? "more ranks than GPUs" : "no GPU");
    st_status s = bind_set(t->hw, set, what, desc, desclen);
    hwloc_bitmap_free(set);
    return s;
}
