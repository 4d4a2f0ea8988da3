/* Tests of st_plan_machine_from_topo: the figures hwloc knows (NVLinkBandwidth, device memory) on the
 * real POWER8 + 4 x P100 XML, each figure's source, and the defaults for an emulated shape and for
 * this VM's XML (no GPU). XML files come from tests/topo/xml (STRATA_TOPO_XML_DIR). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "harness.h"

h_counts h_total;

#define POWER8 STRATA_TOPO_XML_DIR "/power8gpudistances.xml"

/* Loads STRATA_TOPOLOGY=topology (STRATA_GCDS_PER_GPU=gcds when not NULL) and fills *m from it. */
static int machine_of(const char *topology, const char *gcds, st_plan_machine *m)
{
    setenv("STRATA_TOPOLOGY", topology, 1);
    if (gcds)
        setenv("STRATA_GCDS_PER_GPU", gcds, 1);
    else
        unsetenv("STRATA_GCDS_PER_GPU");
    st_topo *t = NULL;
    st_status s = st_topo_load(&t);
    CHECK(s == ST_OK, "load %s: %s", topology, st_last_error());
    if (s == ST_OK)
        CHECK_ST(st_plan_machine_from_topo(t, m), ST_OK);
    st_topo_destroy(t);
    unsetenv("STRATA_TOPOLOGY");
    unsetenv("STRATA_GCDS_PER_GPU");
    return s == ST_OK;
}

/* Every figure but those in `known` (bit l: bandwidth of level l; bit 3: memory) equals the
 * defaults and says "default"; latencies and NODE always. */
static void expect_defaults_except(const st_plan_machine *m, unsigned known, const char *what)
{
    st_plan_machine d;
    st_plan_machine_get("local", &d);
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        CHECK(m->lat_us[l] == d.lat_us[l] && strcmp(m->lat_source[l], "default") == 0, "%s: latency %d: %g from %s",
              what, l, m->lat_us[l], m->lat_source[l]);
        if (!(known & 1u << l))
            CHECK(m->bw_gbs[l] == d.bw_gbs[l] && strncmp(m->bw_source[l], "default", 7) == 0,
                  "%s: bandwidth %d: %g from %s", what, l, m->bw_gbs[l], m->bw_source[l]);
    }
    if (!(known & 8u))
        CHECK(m->memory_gib == d.memory_gib && strcmp(m->memory_source, "default") == 0, "%s: memory %g from %s",
              what, m->memory_gib, m->memory_source);
}

/* power8gpudistances.xml: NVLinkBandwidth (MB/s) between nvml0..3 and the two POWER8 packages:
 *        nvml0   nvml1   nvml2   nvml3   Pkg0    Pkg1
 * nvml0  1000000 40000   0       0       40000   0
 * nvml1  40000   1000000 0       0       40000   0
 * nvml2  0       0       1000000 40000   0       40000
 * nvml3  0       0       40000   1000000 0       40000
 * so only GPUs 0-1 and 2-3 are linked directly; cross-socket pairs go through the host, which the
 * matrix does not describe. Each cuda device reports CUDAGlobalMemorySize 16671616KiB. */
static void test_power8(void)
{
    st_plan_machine m;
    if (!machine_of(POWER8, NULL, &m))
        return;
    /* 4 packages x 1 device: no GCD pairs; 6 GPU pairs of which 2 linked: the GPU figure stays the
     * default and its source says why. */
    CHECK(strcmp(m.name, "hwloc") == 0, "name %s", m.name);
    CHECK(strcmp(m.bw_source[ST_LEVEL_GPU], "default (hwloc NVLinkBandwidth links only 2 of 6 GPU pairs)") == 0,
          "GPU source: %s", m.bw_source[ST_LEVEL_GPU]);
    CHECK(fabs(m.memory_gib - 16671616.0 / 1048576.0) < 1e-12 &&
          strcmp(m.memory_source, "hwloc: CUDAGlobalMemorySize") == 0, "memory %g GiB from %s", m.memory_gib,
          m.memory_source);
    expect_defaults_except(&m, 8u, "power8");

    /* Grouped two per package (nvml0+1, nvml2+3 in bus id order): the GCD level is the two
     * in-package NVLink pairs, 40000 MB/s each; no pair between packages is linked. */
    if (!machine_of(POWER8, "2", &m))
        return;
    CHECK(m.bw_gbs[ST_LEVEL_GCD] == 40.0 && strcmp(m.bw_source[ST_LEVEL_GCD], "hwloc: NVLinkBandwidth") == 0,
          "GCD %g GB/s from %s", m.bw_gbs[ST_LEVEL_GCD], m.bw_source[ST_LEVEL_GCD]);
    CHECK(strcmp(m.bw_source[ST_LEVEL_GPU], "default") == 0, "GPU source: %s", m.bw_source[ST_LEVEL_GPU]);
    expect_defaults_except(&m, 1u | 8u, "power8 2 per package");
}

/* The POWER8 file with its NVLinkBandwidth matrix rewritten (constructed, not a real machine):
 * cross-socket pairs linked at 20000 MB/s, except nvml1 -> nvml2 at 15000 one way. */
static int write_linked_power8(char *path)
{
    FILE *in = fopen(POWER8, "rb");
    if (!in)
        return 0;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    char *a = strstr(text, "    <u64values length=\"44\">"), *b = strstr(text, "  </distances2hetero>");
    int fd = mkstemp(path);
    if (!a || !b || b < a || fd < 0)
        return 0;
    FILE *out = fdopen(fd, "wb");
    static const char values[] = "1000000 40000 20000 20000 40000 0 40000 1000000 15000 20000 40000 0 "
                                 "20000 20000 1000000 40000 0 40000 20000 20000 40000 1000000 0 40000 "
                                 "40000 40000 0 0 1000000 0 0 0 40000 40000 0 1000000 ";
    int ok = out && fprintf(out, "%.*s    <u64values length=\"%d\">%s</u64values>\n%s", (int)(a - text), text,
                            (int)strlen(values), values, b) > 0;
    return (out ? fclose(out) == 0 : 0) && ok;
}

static void test_slowest_pair(void)
{
    char path[] = "/tmp/strata_plan_p8XXXXXX";
    int written = write_linked_power8(path);
    CHECK(written, "wrote %s", path);
    st_plan_machine m;
    /* The STRATA_TOPOLOGY value must look like a file: the temp name has '/'. */
    if (written && machine_of(path, NULL, &m))
        CHECK(m.bw_gbs[ST_LEVEL_GPU] == 15.0 && strcmp(m.bw_source[ST_LEVEL_GPU], "hwloc: NVLinkBandwidth") == 0,
              "GPU level = slowest pair, either direction: %g GB/s from %s", m.bw_gbs[ST_LEVEL_GPU],
              m.bw_source[ST_LEVEL_GPU]);
    unlink(path);
}

static void test_defaults(void)
{
    st_plan_machine m;
    if (machine_of("2x4x2", NULL, &m)) {
        CHECK(strcmp(m.name, "local") == 0, "emulated: name %s", m.name);
        expect_defaults_except(&m, 0, "emulated 2x4x2");
    }
    if (machine_of(STRATA_TOPO_XML_DIR "/vm-2core.xml", NULL, &m)) {
        CHECK(strcmp(m.name, "hwloc") == 0, "vm: name %s", m.name);
        expect_defaults_except(&m, 0, "vm-2core.xml");
    }
    CHECK_ST(st_plan_machine_from_topo(NULL, &m), ST_ERR_INVALID_ARG);
}

int main(void)
{
    test_power8();
    test_slowest_pair();
    test_defaults();
    return h_finish();
}
