/* strata-bench's environment, recorded with every result: date, host, git revision (baked in at
 * configure time), CPU model, hwloc's view of the machine, library versions, and how much of the
 * CPUs other processes used during the run (this kind of machine is shared). */
#define _GNU_SOURCE
#include <hwloc.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

#ifndef STRATA_BENCH_GIT_REV
#define STRATA_BENCH_GIT_REV "unknown"
#endif
#ifndef STRATA_BENCH_CLBLAST_VERSION
#define STRATA_BENCH_CLBLAST_VERSION "not built"
#endif

static void cpu_model(char *out, size_t len)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, len, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += strspn(colon + 1, " \t") + 1;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(out, len, "%s", colon);
        break;
    }
    if (f) fclose(f);
}

static void hwloc_summary(bench_env *e)
{
    unsigned v = hwloc_get_api_version();
    snprintf(e->hwloc_version, sizeof e->hwloc_version, "%u.%u.%u", v >> 16, (v >> 8) & 0xff, v & 0xff);
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        snprintf(e->hwloc, sizeof e->hwloc, "hwloc_topology_init failed");
        return;
    }
    if (hwloc_topology_load(topo) == 0) {
        int pk = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
        int numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
        snprintf(e->hwloc, sizeof e->hwloc, "%d package%s, %d NUMA node%s, %d core%s, %d PU%s", pk, pk == 1 ? "" : "s",
                 numa, numa == 1 ? "" : "s", cores, cores == 1 ? "" : "s", pus, pus == 1 ? "" : "s");
    } else {
        snprintf(e->hwloc, sizeof e->hwloc, "hwloc_topology_load failed");
    }
    hwloc_topology_destroy(topo);
}

void bench_env_collect(bench_env *e)
{
    time_t now = time(NULL);
    strftime(e->date, sizeof e->date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (gethostname(e->host, sizeof e->host) != 0) snprintf(e->host, sizeof e->host, "unknown");
    snprintf(e->git, sizeof e->git, "%s", STRATA_BENCH_GIT_REV);
    cpu_model(e->cpu_model, sizeof e->cpu_model);
    hwloc_summary(e);
    bench_openblas_describe(e->openblas, sizeof e->openblas);
    snprintf(e->clblast, sizeof e->clblast, "%s", STRATA_BENCH_CLBLAST_VERSION);
    /* Loaded only when a CUDA device is benchmarked; its version is recorded per device. */
    snprintf(e->cublas, sizeof e->cublas, "module libstrata-bench-cublas.so (version per device)");
    snprintf(e->rocblas, sizeof e->rocblas, "not available in this build");
    struct utsname u;
    if (uname(&u) == 0) snprintf(e->os, sizeof e->os, "%.20s %.60s %.20s", u.sysname, u.release, u.machine);
    e->threads = omp_get_max_threads();
}

/* CPU seconds all processes have used since boot (/proc/stat), or -1. */
static double machine_busy_seconds(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                       &v[6], &v[7])
              : 0;
    if (f) fclose(f);
    if (n < 8) return -1.0;
    /* user nice system [idle iowait] irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bench_env_others_start(bench_env *e)
{
    e->busy0 = machine_busy_seconds();
    e->self0 = self_cpu_seconds();
    e->wall0 = bench_now();
}

void bench_env_others_stop(bench_env *e)
{
    double busy = machine_busy_seconds(), wall = bench_now() - e->wall0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    e->others = -1.0;
    if (busy >= 0 && e->busy0 >= 0 && wall > 0 && cpus > 0) {
        double other = (busy - e->busy0) - (self_cpu_seconds() - e->self0);
        e->others = other > 0 ? other / (wall * (double)cpus) : 0.0;
    }
}

void bench_env_json(tool_json *j, const bench_env *e, const bench_config *cfg)
{
    static const char *const vars[] = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                       "STRATA_BACKEND", "STRATA_DEVICE"};
    tj_object_begin(j, "environment");
    tj_string(j, "strata_version", st_version_string());
    tj_string(j, "git_revision", e->git);
    tj_string(j, "date", e->date);
    tj_string(j, "host", e->host);
    tj_string(j, "os", e->os);
    tj_string(j, "cpu_model", e->cpu_model);
    tj_string(j, "hwloc", e->hwloc);
    tj_string(j, "hwloc_version", e->hwloc_version);
    tj_int(j, "threads", e->threads);
    tj_object_begin(j, "libraries");
    tj_string(j, "openblas", e->openblas);
    tj_string(j, "clblast", e->clblast);
    tj_string(j, "cublas", e->cublas);
    tj_string(j, "rocblas", e->rocblas);
    tj_object_end(j);
    tj_double(j, "cpu_share_of_other_processes", e->others >= 0 ? e->others : NAN);
    tj_object_begin(j, "variables");
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) tj_string(j, vars[i], getenv(vars[i]));
    tj_object_end(j);
    tj_bool(j, "quick", cfg->quick);
    tj_double(j, "budget_s", cfg->budget_s);
    tj_int(j, "min_reps", cfg->min_reps);
    tj_int(j, "max_reps", cfg->max_reps);
    tj_object_end(j);
}
