/* GPUs of saved topologies, as hwloc's own test files give them: the NVIDIA DGX-2 (16 V100s under
 * NVSwitch, format 3.0 with "Backend" infos) and the POWER8 + 4 P100 node (format 3.0 with
 * subtypes), read verbatim; the DGX-2 again with every OS device removed (GPUs found by PCI class
 * and vendor alone); devices matched to GPUs by PCI bus id in a reordered numbering; and a
 * malformed file, and a crash inside hwloc's import, reported as ST_ERR_FORMAT. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../harness.h"

h_counts h_total;

#ifndef STRATA_SANITIZED
#define STRATA_SANITIZED 0
#endif

/* Fault injection: this executable's hwloc_topology_load comes before hwloc's (the library calls
 * it through the PLT), and crashes for real when STRATA_TEST_HWLOC_CRASH=1, standing in for the
 * crashes of hwloc 2.9 on fuzzed files that Strata's checks do not foresee. */
__attribute__((visibility("default"))) int hwloc_topology_load(void *topology);
int hwloc_topology_load(void *topology)
{
    const char *crash = getenv("STRATA_TEST_HWLOC_CRASH");
    if (crash && strcmp(crash, "1") == 0) {
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
    }
    int (*real)(void *) = (int (*)(void *))dlsym(RTLD_NEXT, "hwloc_topology_load");
    return real ? real(topology) : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    *len = f && buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (buf) buf[*len] = '\0';
    if (f) fclose(f);
    return buf;
}

static void spill(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fputs(text, f) >= 0, "write %s", path);
    if (f) fclose(f);
}

static st_topo *load(const char *path)
{
    setenv("STRATA_TOPOLOGY", path, 1);
    st_topo *t = NULL;
    st_status s = st_topo_load(&t);
    CHECK(s == ST_OK, "%s loads: %s", path, st_last_error());
    return s == ST_OK ? t : NULL;
}

static const char *const dgx2_bus[16] = {"34", "36", "39", "3b", "57", "59", "5c", "5e",
                                         "b7", "b9", "bc", "be", "e0", "e2", "e5", "e7"};

/* The DGX-2: 16 GPUs in bus id order, 0-7 local to NUMA 0, 8-15 to NUMA 1, a package each. */
static void check_dgx2(st_topo *t, const char *model, int with_osdevs, int extra_devices)
{
    st_topo_counts c;
    st_topo_shape sh;
    CHECK_ST(st_topo_get_counts(t, &c), ST_OK);
    CHECK_ST(st_topo_get_shape(t, &sh), ST_OK);
    CHECK(c.packages == 2 && c.numa_nodes == 2 && c.cores == 4 && c.pus == 4 && c.devices == 16 + extra_devices,
          "DGX-2: %d packages %d NUMA %d cores %d PUs %d GPUs", c.packages, c.numa_nodes, c.cores, c.pus, c.devices);
    CHECK(sh.gpus_per_node == 16 + extra_devices && sh.gcds_per_gpu == 1, "DGX-2 shape %dx%d", sh.gpus_per_node,
          sh.gcds_per_gpu);
    for (int i = 0; i < 16; i++) {
        st_topo_device d;
        char bus[16], os[16];
        int at = i + (i >= 8 ? extra_devices : 0); /* an extra device sorts between bus 5e and b7 */
        snprintf(bus, sizeof bus, "0000:%s:00.0", dgx2_bus[i]);
        snprintf(os, sizeof os, "nvml%d", i);
        CHECK_ST(st_topo_get_device(t, at, &d), ST_OK);
        CHECK(strcmp(d.pci_busid, bus) == 0 && d.package == at && d.gcd == 0 && d.numa == (i < 8 ? 0 : 1),
              "DGX-2 GPU %d: %s package %d numa %d; want %s %d %d", at, d.pci_busid, d.package, d.numa, bus, at, i / 8);
        CHECK(strcmp(d.name, model) == 0, "DGX-2 GPU %d model '%s', want '%s'", i, d.name, model);
        CHECK(strcmp(d.os_names, with_osdevs ? os : "") == 0, "DGX-2 GPU %d OS devices '%s'", i, d.os_names);
    }
}

static void test_dgx2(void)
{
    st_topo *t = load(TOPO_XML_DIR "/nvidiaDGX2.v3.xml");
    if (!t) return;
    check_dgx2(t, "Tesla V100-SXM3-32GB-H", 1, 0);
    char buf[16384];
    CHECK_ST(st_topo_snprint(t, 16, buf, sizeof buf, NULL), ST_OK);
    CHECK(strstr(buf, "16 GPU devices") && strstr(buf, "converted from hwloc's XML format 3.0") &&
              strstr(buf, "board serial numbers") &&
              strstr(buf, "GPU 15 (package 15, GCD 0) 0000:e7:00.0 Tesla V100-SXM3-32GB-H [nvml15]"),
          "DGX-2 tree:\n%s", buf);
    st_topo_destroy(t);
}

/* Removes every <object type="OSDev" ...>...</object> (they hold no objects) from text, in place. */
static void strip_osdevs(char *text)
{
    for (char *at; (at = strstr(text, "<object type=\"OSDev\""));) {
        char *end = strstr(at, "</object>");
        if (!end) break;
        end += strlen("</object>");
        memmove(at, end, strlen(end) + 1);
    }
}

static void replace(char *text, const char *from, const char *to)
{
    char *at = strstr(text, from);
    CHECK(at && strlen(from) == strlen(to), "'%s' in the DGX-2 file", from);
    if (at && strlen(from) == strlen(to)) memcpy(at, to, strlen(to));
}

/* Debian's hwloc has no NVML/CUDA component: the same DGX-2 without OS devices still has 16 GPUs,
 * found as 3D controllers of NVIDIA. NVSwitches (0680) are not GPUs; turned into a BMC's VGA
 * (ASPEED 1a03) it is still none, into an Intel display controller (0380, a data-centre GPU) one. */
static void test_dgx2_pci_only(void)
{
    size_t len;
    char *text = slurp(TOPO_XML_DIR "/nvidiaDGX2.v3.xml", &len);
    CHECK(text && len > 40000, "read the DGX-2 file");
    if (!text || len <= 40000) {
        free(text);
        return;
    }
    strip_osdevs(text);
    CHECK(!strstr(text, "nvml"), "no OS device left");
    spill(TOPO_TEST_DIR "/dgx2-pci-only.xml", text);
    st_topo *t = load(TOPO_TEST_DIR "/dgx2-pci-only.xml");
    if (t) check_dgx2(t, "NVIDIA 10de:1db8", 0, 0);
    char buf[16384];
    CHECK(!t || (st_topo_snprint(t, 0, buf, sizeof buf, NULL) == ST_OK &&
                 strstr(buf, "0000:34:00.0 NVIDIA 10de:1db8 [no OS device: a GPU by its PCI class]")),
          "PCI-only tree:\n%s", buf);
    st_topo_destroy(t);
    replace(text, "pci_busid=\"0000:61:00.0\" pci_type=\"0680 [10de:1ac2]",
            "pci_busid=\"0000:61:00.0\" pci_type=\"0300 [1a03:2000]");
    replace(text, "pci_busid=\"0000:62:00.0\" pci_type=\"0680 [10de:1ac2]",
            "pci_busid=\"0000:62:00.0\" pci_type=\"0380 [8086:0bd5]");
    spill(TOPO_TEST_DIR "/dgx2-pci-only.xml", text);
    t = load(TOPO_TEST_DIR "/dgx2-pci-only.xml");
    st_topo_device d;
    CHECK(!t || (st_topo_get_device(t, 8, &d) == ST_OK && strcmp(d.pci_busid, "0000:62:00.0") == 0 &&
                 strcmp(d.name, "Intel 8086:0bd5") == 0 && d.numa == 0),
          "the Intel 0380 device is GPU 8, the ASPEED VGA none");
    if (t) check_dgx2(t, "NVIDIA 10de:1db8", 0, 1);
    st_topo_destroy(t);
    free(text);
}

/* hwloc's POWER8 file verbatim (format 3.0, subtypes): the same GPUs as the copy converted by hand. */
static void test_power8_v3(void)
{
    st_topo *a = load(TOPO_XML_DIR "/power8gpudistances.v3.xml"), *b = load(TOPO_XML_DIR "/power8gpudistances.xml");
    for (int i = 0; a && b && i < 4; i++) {
        st_topo_device x, y;
        CHECK_ST(st_topo_get_device(a, i, &x), ST_OK);
        CHECK_ST(st_topo_get_device(b, i, &y), ST_OK);
        CHECK(strcmp(x.pci_busid, y.pci_busid) == 0 && strcmp(x.os_names, y.os_names) == 0 && x.numa == y.numa &&
                  x.package == y.package && strcmp(x.serial, y.serial) == 0,
              "POWER8 GPU %d: v3 %s [%s] numa %d, v2 %s [%s] numa %d", i, x.pci_busid, x.os_names, x.numa, y.pci_busid,
              y.os_names, y.numa);
    }
    st_topo_destroy(a);
    st_topo_destroy(b);
}

/* A program's devices numbered as CUDA_VISIBLE_DEVICES=3,1,2 would number them (CUDA's own bus id
 * form for one, no domain for another): placement and the printed tree follow the device. */
static void test_match(void)
{
    st_topo *t = load(TOPO_XML_DIR "/power8gpudistances.v3.xml");
    if (!t) return;
    const char *ids[] = {"0000000B:01:00.0", "0003:01:00.0", "000a:01:00.0", "0000:99:00.0", NULL};
    CHECK_ST(st_topo_match_devices(t, "cuda", ids, 5), ST_OK);
    static const int want_gpu[] = {3, 1, 2};
    for (int r = 0; r < 3; r++) {
        st_place p;
        CHECK_ST(st_topo_place(t, r, 3, r, 3, &p), ST_OK);
        CHECK(p.gpu == want_gpu[r] && p.gcd == 0, "local rank %d (device cuda:%d) on GPU %d, got %d", r, r,
              want_gpu[r], p.gpu);
    }
    st_topo_device d;
    CHECK(st_topo_get_device(t, 3, &d) == ST_OK && strcmp(d.device, "cuda:0") == 0, "GPU 3 is cuda:0: '%s'", d.device);
    CHECK(st_topo_get_device(t, 0, &d) == ST_OK && strcmp(d.device, "") == 0, "GPU 0 is no device: '%s'", d.device);
    char buf[8192];
    CHECK_ST(st_topo_snprint(t, 3, buf, sizeof buf, NULL), ST_OK);
    CHECK(strstr(buf, "000b:01:00.0 Tesla P100-SXM2-16GB [cuda3, opencl0d3, nvml3] serial 0322816173796 = cuda:0  rank 0") &&
              strstr(buf, "cuda:3 0000:99:00.0: no GPU of this topology there") && strstr(buf, "cuda:4 reports no PCI bus id"),
          "tree with devices:\n%s", buf);
    setenv("STRATA_DEVICE", "cuda:2", 1); /* every rank on the device named */
    st_place p;
    CHECK(st_topo_place(t, 0, 2, 0, 2, &p) == ST_OK && p.gpu == 2, "STRATA_DEVICE=cuda:2 -> GPU 2, got %d", p.gpu);
    unsetenv("STRATA_DEVICE");
    int i = -1;
    CHECK(st_topo_find_busid(t, "a:01:00.0", &i) == ST_OK && i == 2, "a:01:00.0 is GPU 2, got %d", i);
    CHECK(st_topo_find_busid(t, "01:00.0", &i) == ST_ERR_INVALID_ARG && h_msg_has("no GPU"),
          "no domain: domain 0, where this machine has no GPU");
    CHECK(st_topo_find_busid(t, "000a:01:00.0 ", &i) == ST_ERR_INVALID_ARG && h_msg_has("not a PCI bus id"),
          "trailing space refused: %s", st_last_error());
    CHECK(st_topo_find_busid(t, "0000:01:00.0", &i) == ST_ERR_INVALID_ARG && h_msg_has("no GPU"), "no GPU there");
    CHECK_ST(st_topo_match_devices(t, "cuda", NULL, 1), ST_ERR_INVALID_ARG);
    CHECK_ST(st_topo_match_devices(t, "cuda", ids, 0), ST_OK); /* unmatched: PCI order again */
    CHECK(st_topo_place(t, 0, 3, 0, 3, &p) == ST_OK && p.gpu == 0, "unmatched: rank 0 on GPU 0, got %d", p.gpu);
    st_topo_destroy(t);
    st_topo *e = NULL;
    setenv("STRATA_TOPOLOGY", "1x2x1", 1);
    CHECK_ST(st_topo_load(&e), ST_OK);
    CHECK_ST(st_topo_match_devices(e, "cuda", ids, 1), ST_ERR_INVALID_ARG);
    st_topo_destroy(e);
}

/* The reproducer of the issue: frontier-mi250x.xml with complete_cpuset misspelled on line 245
 * was a SIGSEGV inside hwloc 2.9. */
static void test_misspelled(void)
{
    size_t len;
    char *text = slurp(TOPO_XML_DIR "/frontier-mi250x.xml", &len);
    char *line = text;
    for (int n = 1; line && n < 245; n++) line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL;
    char *at = line ? strstr(line, " complete_cpuset=") : NULL;
    CHECK(at && at < strchr(line, '\n'), "line 245 has a complete_cpuset");
    if (at) {
        memcpy(at + 1, "complete_cpusat", 15);
        spill(TOPO_TEST_DIR "/misspelled.xml", text);
        setenv("STRATA_TOPOLOGY", TOPO_TEST_DIR "/misspelled.xml", 1);
        st_topo *t = NULL;
        CHECK_ST(st_topo_load(&t), ST_ERR_FORMAT);
        CHECK(t == NULL && h_msg_has("line 245: a Core object without complete_cpuset"), "%s", st_last_error());
    }
    free(text);
    /* hwloc 2.9 aborted the import of a topology without NUMA node, printing, and leaked */
    text = slurp(TOPO_XML_DIR "/vm-2core.xml", &len);
    at = text ? strstr(text, "type=\"NUMANode\"") : NULL;
    CHECK(at != NULL, "vm-2core.xml has a NUMANode");
    if (at) {
        memcpy(at, "type=\"Group\"   ", 15);
        spill(TOPO_TEST_DIR "/no-numa.xml", text);
        setenv("STRATA_TOPOLOGY", TOPO_TEST_DIR "/no-numa.xml", 1);
        st_topo *t = NULL;
        CHECK_ST(st_topo_load(&t), ST_ERR_FORMAT);
        CHECK(t == NULL && h_msg_has("no NUMANode object"), "%s", st_last_error());
    }
    free(text);
}

/* A crash inside hwloc on a file that passes Strata's checks: the child process takes it. Without
 * the child (STRATA_TOPO_CHILD=0) the same load kills the process, so the guard is what saves it. */
static void test_guard(void)
{
    setenv("STRATA_TOPOLOGY", TOPO_XML_DIR "/vm-2core.xml", 1);
    setenv("STRATA_TEST_HWLOC_CRASH", "1", 1);
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), ST_ERR_FORMAT);
    /* a sanitizer in the child may report the crash and exit non-zero instead of dying of it */
    CHECK(t == NULL && ((h_msg_has("crashes reading this file") && h_msg_has("Segmentation fault")) ||
                        (STRATA_SANITIZED && h_msg_has("reading it failed in a test process"))),
          "%s", st_last_error());
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("STRATA_TOPO_CHILD", "0", 1);
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        st_topo_load(&t);
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0),
          "unguarded, the load dies (status %#x)", status);
    unsetenv("STRATA_TEST_HWLOC_CRASH");
    CHECK_ST(st_topo_load(&t), ST_OK);
    st_topo_destroy(t);
}

int main(void)
{
    setenv("STRATA_BACKEND", "cpu", 1); /* no device of this machine matched: the files alone */
    unsetenv("STRATA_DEVICE");
    unsetenv("STRATA_GCDS_PER_GPU");
    test_dgx2();
    test_dgx2_pci_only();
    test_power8_v3();
    test_match();
    test_misspelled();
    test_guard();
    return h_finish();
}
