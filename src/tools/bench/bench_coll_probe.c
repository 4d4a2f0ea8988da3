/* strata-bench collectives --probe FILE: measures every level of the job's hierarchy
 * (st_comm_probe: all groups of a level at once) and writes the planner's machine file: per-level
 * bandwidth and latency in st_plan_machine's conventions (the NODE figure per node: what one rank
 * measured times the node's ranks, which share the link) and the memory per rank, for
 * `strata-info --plan --machine-file FILE` and `strata-bench train --machine-file FILE`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <strata/strata.h>
#include "bench_coll.h"

static const char *const level_names[ST_LEVEL_COUNT] = {"gcd", "gpu", "node"};

/* Ranks that share this host's memory: the launcher's local size, else the node's ranks. */
static int host_ranks(const st_topo_shape *sh)
{
    const char *v = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!v) v = getenv("MPI_LOCALNRANKS");
    int n = v ? atoi(v) : 0;
    return n > 0 ? n : sh->gpus_per_node * sh->gcds_per_gpu;
}

/* Writes the file atomically (a temporary beside it, renamed): a reader never sees half of it. */
static int write_machine(const char *path, const st_topo_shape *sh, const st_comm_level_probe *p, double mem_gib,
                         size_t bytes)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "collectives --probe: cannot write %s: %s\n", tmp, strerror(errno));
        return 0;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "# strata-bench collectives --probe: %d nodes x %d GPUs x %d GCDs, measured %s from %s\n"
               "# all-gathers and reduce-scatters of %zu bytes per level, every group at once; bandwidth is\n"
               "# the harmonic mean of the two (per rank; node: per node), latency per ring message;\n"
               "# *_solo_gbs: the same per rank with one group of the level alone\n",
            sh->nodes, sh->gpus_per_node, sh->gcds_per_gpu, date, host, bytes);
    fprintf(f, "name = probe-%dx%dx%d\n", sh->nodes, sh->gpus_per_node, sh->gcds_per_gpu);
    int node_ranks = sh->gpus_per_node * sh->gcds_per_gpu;
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        if (p[l].ranks < 2) continue;
        double gbs = l == ST_LEVEL_NODE ? p[l].gbs * node_ranks : p[l].gbs;
        fprintf(f, "%s_gbs = %.6g\n%s_us = %.6g\n%s_solo_gbs = %.6g\n", level_names[l], gbs, level_names[l],
                p[l].lat_us, level_names[l], p[l].solo_gbs);
    }
    if (mem_gib > 0) fprintf(f, "memory_gib = %.4g\n", mem_gib);
    int ok = fclose(f) == 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "collectives --probe: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    return ok;
}

int bench_coll_probe(st_comm *comm, const char *path, size_t bytes, FILE *out)
{
    st_comm_level_probe p[ST_LEVEL_COUNT];
    st_topo_shape sh;
    st_comm_shape(comm, &sh);
    int rank0 = st_comm_rank(comm) == 0;
    if (rank0)
        fprintf(out, "probe: %d ranks, %d nodes x %d GPUs x %d GCDs, %zu bytes per collective\n", st_comm_size(comm),
                sh.nodes, sh.gpus_per_node, sh.gcds_per_gpu, bytes);
    if (st_comm_probe(comm, bytes, p) != ST_OK) {
        fprintf(stderr, "collectives --probe: %s\n", st_last_error());
        return 1;
    }
    st_device *dev = NULL;
    st_device_props props;
    double mem_gib = 0;
    if (st_device_default(&dev) == ST_OK && st_device_props_get(dev, &props) == ST_OK) {
        /* The CPU backend's device is the host's memory, shared by its ranks. */
        int share = strcmp(st_device_backend(dev), "cpu") == 0 ? host_ranks(&sh) : 1;
        mem_gib = (double)props.memory_bytes / share / 1073741824.0;
    }
    if (!rank0) return 0;
    fprintf(out, "%-6s %6s %12s %12s %12s %12s %10s\n", "level", "ranks", "gather GB/s", "reduce GB/s", "GB/s/rank",
            "alone GB/s", "lat us");
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        if (p[l].ranks < 2) {
            fprintf(out, "%-6s %6d %12s\n", level_names[l], p[l].ranks, "-");
            continue;
        }
        fprintf(out, "%-6s %6d %12.4g %12.4g %12.4g %12.4g %10.1f\n", level_names[l], p[l].ranks, p[l].gather_gbs,
                p[l].reduce_gbs, p[l].gbs, p[l].solo_gbs, p[l].lat_us);
    }
    if (!write_machine(path, &sh, p, mem_gib, bytes)) return 1;
    fprintf(out, "machine file: %s (node bandwidth per node = per rank x %d ranks)\n", path,
            sh.gpus_per_node * sh.gcds_per_gpu);
    return 0;
}
