/* Topology objects: STRATA_TOPOLOGY parsing, emulated shapes, the place of each rank, and the
 * getters (counts, devices). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"
#include "topo_internal.h"

static int parse_dim(const char **p, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (end == *p || errno || v < 1 || v > 1 << 20)
        return 0;
    *out = (int)v;
    *p = end;
    return 1;
}

st_status st_topo_parse_shape(const char *text, st_topo_shape *out)
{
    if (!text || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_parse_shape: NULL argument");
    st_topo_shape s;
    const char *p = text;
    if (!parse_dim(&p, &s.nodes) || *p++ != 'x' || !parse_dim(&p, &s.gpus_per_node) || *p++ != 'x' ||
        !parse_dim(&p, &s.gcds_per_gpu) || *p != '\0')
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "topology shape '%s' is not NODESxGPUSxGCDS with each a positive integer (e.g. 2x4x2)",
                      text);
    if ((long long)s.nodes * s.gpus_per_node * s.gcds_per_gpu > 1 << 24)
        return ST_ERR(ST_ERR_INVALID_ARG, "topology shape '%s' has more than 2^24 ranks", text);
    *out = s;
    return ST_OK;
}

static int looks_like_file(const char *v)
{
    struct stat sb;
    return stat(v, &sb) == 0 || strchr(v, '/') || strstr(v, ".xml");
}

st_status st_topo_load(st_topo **out)
{
    if (!out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_load: NULL out");
    st_topo *t = calloc(1, sizeof *t);
    if (!t)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_topo_load: out of host memory");
    const char *env = getenv("STRATA_TOPOLOGY");
    st_status s;
    if (env && *env && !looks_like_file(env)) {
        t->source = ST_TOPO_EMULATED;
        s = st_topo_parse_shape(env, &t->shape);
        if (s != ST_OK)
            ST_ERR(s, "STRATA_TOPOLOGY='%s' is neither an existing hwloc XML file nor a shape "
                      "NODESxGPUSxGCDS such as 2x4x2", env);
    } else {
        t->source = env && *env ? ST_TOPO_XML : ST_TOPO_DETECTED;
        if (t->source == ST_TOPO_XML && !(t->xml_path = strdup(env)))
            s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_topo_load: out of host memory");
        else
            s = topo_hwloc_load(t, t->xml_path);
        if (s == ST_OK)
            topo_match_default(t);
    }
    if (s != ST_OK) {
        st_topo_destroy(t);
        return s;
    }
    *out = t;
    return ST_OK;
}

void st_topo_destroy(st_topo *t)
{
    if (!t)
        return;
    if (t->hw)
        hwloc_topology_destroy(t->hw);
    topo_devices_free(t);
    free(t->gpus);
    free(t->xml_path);
    free(t);
}

hwloc_topology_t topo_hwloc(const st_topo *t, const topo_gpu **gpus, int *n_gpus)
{
    *gpus = t->gpus;
    *n_gpus = t->n_gpus;
    return t->hw;
}

st_topo_source st_topo_get_source(const st_topo *t)
{
    return t ? t->source : ST_TOPO_DETECTED;
}

st_status st_topo_get_shape(const st_topo *t, st_topo_shape *out)
{
    if (!t || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_get_shape: NULL argument");
    *out = t->shape;
    return ST_OK;
}

st_status st_topo_place(const st_topo *t, int rank, int nranks, int local_rank, int local_size,
                        st_place *out)
{
    if (!t || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_place: NULL argument");
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_place: rank %d is not in [0, %d)", rank, nranks);
    if (t->source == ST_TOPO_EMULATED) {
        const st_topo_shape *s = &t->shape;
        long long n = (long long)s->nodes * s->gpus_per_node * s->gcds_per_gpu;
        if (n != nranks)
            return ST_ERR(ST_ERR_INVALID_ARG,
                          "emulated topology %dx%dx%d has %lld ranks but %d were launched",
                          s->nodes, s->gpus_per_node, s->gcds_per_gpu, n, nranks);
        int gd = s->gpus_per_node * s->gcds_per_gpu;
        *out = (st_place){rank / gd, (rank / s->gcds_per_gpu) % s->gpus_per_node, rank % s->gcds_per_gpu};
        return ST_OK;
    }
    if (local_size < 1 || local_rank < 0 || local_rank >= local_size)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_place: local rank %d is not in [0, %d)", local_rank,
                      local_size);
    int g = topo_gpu_of_rank(t, local_rank);
    if (g >= 0) { /* the GPU of the device this rank opens, matched by bus id */
        *out = (st_place){-1, t->gpus[g].package, t->gpus[g].gcd};
        return ST_OK;
    }
    int d = t->shape.gcds_per_gpu > 0 ? t->shape.gcds_per_gpu : 1;
    int devices = t->shape.gpus_per_node * d;
    if (devices == 0 || local_size > devices)
        *out = (st_place){-1, local_rank, 0};
    else
        *out = (st_place){-1, local_rank / d, local_rank % d};
    return ST_OK;
}

static int count_type(hwloc_topology_t hw, hwloc_obj_type_t type)
{
    int n = hwloc_get_nbobjs_by_type(hw, type);
    return n < 0 ? 0 : n;
}

st_status st_topo_get_counts(const st_topo *t, st_topo_counts *out)
{
    if (!t || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_get_counts: NULL argument");
    st_topo_counts c = {0};
    if (t->hw) {
        c.packages = count_type(t->hw, HWLOC_OBJ_PACKAGE);
        c.numa_nodes = count_type(t->hw, HWLOC_OBJ_NUMANODE);
        c.cores = count_type(t->hw, HWLOC_OBJ_CORE);
        c.pus = count_type(t->hw, HWLOC_OBJ_PU);
        c.devices = t->n_gpus;
    } else {
        c.devices = t->shape.nodes * t->shape.gpus_per_node * t->shape.gcds_per_gpu;
    }
    *out = c;
    return ST_OK;
}

/* OS index of the first NUMA node in the device's locality. */
static int first_numa(const topo_gpu *g)
{
    if (!g->locality || !g->locality->nodeset)
        return -1;
    return hwloc_bitmap_first(g->locality->nodeset);
}

st_status st_topo_get_device(const st_topo *t, int index, st_topo_device *out)
{
    if (!t || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_get_device: NULL argument");
    if (!t->hw || index < 0 || index >= t->n_gpus)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_topo_get_device: device %d is not in [0, %d)%s", index, t->n_gpus,
                      t->hw ? "" : " (an emulated topology has no hardware devices)");
    const topo_gpu *g = &t->gpus[index];
    *out = (st_topo_device){g->busid, g->model, g->osdevs, g->serial ? g->serial : "", g->package, g->gcd,
                            first_numa(g), g->device_name};
    return ST_OK;
}
