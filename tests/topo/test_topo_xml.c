/* Topology replayed from saved hwloc XML (tests/topo/xml, origins in its README): counts, GPU
 * deduplication and grouping, the STRATA_GCDS_PER_GPU override, printing, corrupt and missing
 * files; then this machine's own detection and binding. Expected values were read from the XML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../harness.h"

h_counts h_total;

typedef struct expect {
    const char *file;
    int packages, numa, cores, pus, devices, gpus_per_node, gcds_per_gpu;
    const char *grouping;
} expect;

/* Loads TOPO_XML_DIR/file through STRATA_TOPOLOGY; NULL (and a failed check) on error. */
static st_topo *load_xml(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TOPO_XML_DIR, file);
    setenv("STRATA_TOPOLOGY", path, 1);
    st_topo *t = NULL;
    st_status s = st_topo_load(&t);
    CHECK(s == ST_OK, "%s loads: %s", file, st_last_error());
    CHECK(s != ST_OK || st_topo_get_source(t) == ST_TOPO_XML, "%s: source is XML", file);
    return s == ST_OK ? t : NULL;
}

static void check_machine(const expect *e)
{
    st_topo *t = load_xml(e->file);
    if (!t)
        return;
    st_topo_counts c;
    st_topo_shape s;
    CHECK_ST(st_topo_get_counts(t, &c), ST_OK);
    CHECK_ST(st_topo_get_shape(t, &s), ST_OK);
    CHECK(c.packages == e->packages && c.numa_nodes == e->numa && c.cores == e->cores && c.pus == e->pus,
          "%s: %d packages, %d NUMA, %d cores, %d PUs; want %d %d %d %d", e->file, c.packages, c.numa_nodes, c.cores,
          c.pus, e->packages, e->numa, e->cores, e->pus);
    CHECK(c.devices == e->devices, "%s: %d GPU devices, want %d", e->file, c.devices, e->devices);
    CHECK(s.nodes == 0 && s.gpus_per_node == e->gpus_per_node && s.gcds_per_gpu == e->gcds_per_gpu,
          "%s: shape %dx%dx%d, want 0x%dx%d", e->file, s.nodes, s.gpus_per_node, s.gcds_per_gpu, e->gpus_per_node,
          e->gcds_per_gpu);
    char buf[8192];
    CHECK_ST(st_topo_snprint(t, 0, buf, sizeof buf, NULL), ST_OK);
    CHECK(strstr(buf, e->grouping) != NULL, "%s: grouping '%s' in:\n%s", e->file, e->grouping, buf);
    st_topo_destroy(t);
}

static void check_device(st_topo *t, int i, const char *busid, int package, int gcd, int numa, const char *os)
{
    st_topo_device d;
    CHECK_ST(st_topo_get_device(t, i, &d), ST_OK);
    CHECK(strcmp(d.pci_busid, busid) == 0 && d.package == package && d.gcd == gcd && d.numa == numa,
          "device %d: %s package %d gcd %d numa %d; want %s %d %d %d", i, d.pci_busid, d.package, d.gcd, d.numa, busid,
          package, gcd, numa);
    CHECK(strcmp(d.os_names, os) == 0, "device %d OS devices '%s', want '%s'", i, d.os_names, os);
}

/* POWER8 + 4 P100: hwloc made cuda, opencl and nvml OS devices for each GPU (12), counted once
 * each; every NVML device has its own serial, so 4 packages of 1. */
static void test_power8_devices(void)
{
    st_topo *t = load_xml("power8gpudistances.xml");
    if (!t)
        return;
    check_device(t, 0, "0002:01:00.0", 0, 0, 0, "cuda0, opencl0d0, nvml0");
    check_device(t, 1, "0003:01:00.0", 1, 0, 0, "cuda1, opencl0d1, nvml1");
    check_device(t, 2, "000a:01:00.0", 2, 0, 1, "cuda2, opencl0d2, nvml2");
    check_device(t, 3, "000b:01:00.0", 3, 0, 1, "cuda3, opencl0d3, nvml3");
    st_topo_device d;
    CHECK_ST(st_topo_get_device(t, 3, &d), ST_OK);
    CHECK(strcmp(d.name, "Tesla P100-SXM2-16GB") == 0 && strcmp(d.serial, "0322816173796") == 0, "model/serial");
    CHECK_ST(st_topo_get_device(t, 4, &d), ST_ERR_INVALID_ARG);
    st_place p;
    CHECK_ST(st_topo_place(t, 2, 4, 2, 4, &p), ST_OK);
    CHECK(p.node == -1 && p.gpu == 2 && p.gcd == 0, "local rank 2 of 4 on GPU 2");
    char buf[8192];
    CHECK_ST(st_topo_snprint(t, 4, buf, sizeof buf, NULL), ST_OK);
    CHECK(strstr(buf, "Package 1") && strstr(buf, "NUMA 1") && strstr(buf, "000b:01:00.0 Tesla P100-SXM2-16GB") &&
              strstr(buf, "nvml3] serial 0322816173796  rank 3\n"),
          "tree:\n%s", buf);
    st_topo_destroy(t);
}

/* Frontier-like: GCDs paired per board; GCD 0/1 (c1, c6) hang off NUMA 3, GCD 4/5 off NUMA 0. */
static void test_frontier_devices(const char *file)
{
    st_topo *t = load_xml(file);
    if (!t)
        return;
    check_device(t, 0, "0000:c1:00.0", 0, 0, 3, "rsmi0, opencl0d0");
    check_device(t, 1, "0000:c6:00.0", 0, 1, 3, "rsmi1, opencl0d1");
    check_device(t, 2, "0000:c9:00.0", 1, 0, 1, "rsmi2, opencl0d2");
    check_device(t, 4, "0000:d1:00.0", 2, 0, 0, "rsmi4, opencl0d4");
    check_device(t, 7, "0000:de:00.0", 3, 1, 2, "rsmi7, opencl0d7");
    st_place p;
    CHECK_ST(st_topo_place(t, 5, 8, 5, 8, &p), ST_OK);
    CHECK(p.gpu == 2 && p.gcd == 1, "%s: local rank 5 on GPU 2 GCD 1, got %d %d", file, p.gpu, p.gcd);
    st_topo_destroy(t);
}

static void test_override(void)
{
    setenv("STRATA_GCDS_PER_GPU", "2", 1);
    check_machine(&(expect){"power8gpudistances.xml", 2, 2, 8, 16, 4, 2, 2, "STRATA_GCDS_PER_GPU=2"});
    setenv("STRATA_GCDS_PER_GPU", "1", 1);
    check_machine(&(expect){"frontier-mi250x.xml", 1, 4, 64, 128, 8, 8, 1, "STRATA_GCDS_PER_GPU=1"});
    static const char *const bad[] = {"3", "0", "x", "2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("STRATA_GCDS_PER_GPU", bad[i], 1);
        char path[1024];
        snprintf(path, sizeof path, "%s/power8gpudistances.xml", TOPO_XML_DIR);
        setenv("STRATA_TOPOLOGY", path, 1);
        st_topo *t = NULL;
        CHECK_ST(st_topo_load(&t), ST_ERR_INVALID_ARG);
        CHECK(t == NULL && h_msg_has("STRATA_GCDS_PER_GPU"), "'%s' refused: %s", bad[i], st_last_error());
    }
    unsetenv("STRATA_GCDS_PER_GPU");
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        CHECK(0, "cannot write %s", path);
    if (f)
        fclose(f);
}

/* Reads a whole file; caller frees. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    *len = f && buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (buf)
        buf[*len] = '\0';
    if (f)
        fclose(f);
    return buf;
}

static void expect_load_error(const char *path, st_status want, const char *needle)
{
    setenv("STRATA_TOPOLOGY", path, 1);
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), want);
    CHECK(t == NULL, "%s: no topology returned", path);
    CHECK(h_msg_has(needle), "%s: message has '%s': %s", path, needle, st_last_error());
    st_topo_destroy(t);
}

static void test_corrupt(void)
{
    char src[1024], path[1024];
    snprintf(src, sizeof src, "%s/power8gpudistances.xml", TOPO_XML_DIR);
    size_t len;
    char *xml = slurp(src, &len);
    CHECK(xml && len > 10000, "read %s", src);
    if (!xml || len <= 10000) {
        free(xml);
        return;
    }
    static const size_t cuts[] = {0, 1, 100, 5000, 12345};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        snprintf(path, sizeof path, "%s/truncated-%zu.xml", TOPO_TEST_DIR, cuts[i]);
        write_file(path, xml, cuts[i]);
        expect_load_error(path, ST_ERR_FORMAT, cuts[i] ? "not well-formed XML (line" : "not well-formed XML");
    }
    snprintf(path, sizeof path, "%s/garbage.xml", TOPO_TEST_DIR);
    static const char garbage[] = "\x01\x02<topology version=\"2.0\"><object type=\"Nope\"";
    write_file(path, garbage, sizeof garbage - 1);
    expect_load_error(path, ST_ERR_FORMAT, "not well-formed");
    /* well-formed, but an object type hwloc does not know: the line is named */
    static const char unknown[] = "<topology version=\"2.0\">\n<object type=\"Nope\"/>\n</topology>\n";
    write_file(path, unknown, sizeof unknown - 1);
    expect_load_error(path, ST_ERR_FORMAT, "line 2: object type 'Nope' unknown to hwloc");
    /* a format newer than any this reader converts */
    char *v4 = strstr(xml, "version=\"2.0\"");
    CHECK(v4 != NULL, "power8gpudistances.xml says version 2.0");
    if (v4) {
        v4[9] = '4';
        write_file(path, xml, len);
        expect_load_error(path, ST_ERR_FORMAT, "hwloc XML format '4.0'");
    }
    free(xml);
    expect_load_error("/nonexistent/dir/machine.xml", ST_ERR_IO, "No such file");
    expect_load_error("missing-machine.xml", ST_ERR_IO, "lstopo");
}

/* This machine, detected: whatever it has, the counts hold together and binding reports. */
static void test_detected(void)
{
    unsetenv("STRATA_TOPOLOGY");
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), ST_OK);
    if (!t)
        return;
    st_topo_counts c;
    CHECK_ST(st_topo_get_counts(t, &c), ST_OK);
    CHECK(c.numa_nodes >= 1 && c.cores >= 1 && c.pus >= c.cores, "%d NUMA, %d cores, %d PUs", c.numa_nodes, c.cores,
          c.pus);
    st_place p;
    CHECK_ST(st_topo_place(t, 0, 1, 0, 1, &p), ST_OK);
    char desc[512];
    st_status s = st_topo_bind_rank(t, &p, 0, 1, desc, sizeof desc);
    CHECK(s == ST_OK || s == ST_ERR_BACKEND, "bind: %s (%s)", st_status_string(s), st_last_error());
    CHECK(*desc != '\0', "bind describes itself");
    printf("detected, local rank 0 of 1: %s\n", desc);
    st_topo_print(t, 1, stdout);
    st_topo_destroy(t);
}

int main(void)
{
    unsetenv("STRATA_GCDS_PER_GPU");
    check_machine(&(expect){"power8gpudistances.xml", 2, 2, 8, 16, 4, 4, 1, "board serial numbers"});
    check_machine(&(expect){"vm-2core.xml", 1, 1, 2, 2, 0, 0, 1, "no GPU found"});
    check_machine(&(expect){"frontier-mi250x.xml", 1, 4, 64, 128, 8, 4, 2, "board serial numbers"});
    check_machine(&(expect){"frontier-mi250x-noserial.xml", 1, 4, 64, 128, 8, 4, 2, "MI250-class pairs"});
    test_power8_devices();
    test_frontier_devices("frontier-mi250x.xml");
    test_frontier_devices("frontier-mi250x-noserial.xml");
    test_override();
    test_corrupt();
    test_detected();
    return h_finish();
}
