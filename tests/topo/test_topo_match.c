/* A backend's devices matched to a saved topology's GPUs by PCI bus id, end to end: a test plugin
 * (fake_gpu_plugin.c, loaded as the "cuda" backend) reports three devices in the order
 * CUDA_VISIBLE_DEVICES=15,0,8 would give on the DGX-2 of hwloc's tests, with CUDA's bus id form;
 * st_topo_load matches them by itself, ranks are placed on their device's GPU (not on GPU r in PCI
 * order), and strata-info --topology shows the match. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../harness.h"

h_counts h_total;

static void test_load_matches(void)
{
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), ST_OK);
    if (!t) return;
    static const int gpu_of_device[] = {15, 0, 8};
    for (int r = 0; r < 3; r++) {
        st_place p;
        st_topo_device d;
        char name[16];
        snprintf(name, sizeof name, "cuda:%d", r);
        CHECK_ST(st_topo_place(t, r, 3, r, 3, &p), ST_OK);
        CHECK(p.node == -1 && p.gpu == gpu_of_device[r] && p.gcd == 0, "local rank %d on GPU %d, got %d", r,
              gpu_of_device[r], p.gpu);
        CHECK(st_topo_get_device(t, gpu_of_device[r], &d) == ST_OK && strcmp(d.device, name) == 0 &&
                  d.numa == (gpu_of_device[r] < 8 ? 0 : 1),
              "GPU %d is %s on NUMA %d: '%s' %d", gpu_of_device[r], name, gpu_of_device[r] / 8, d.device, d.numa);
    }
    st_topo_device d;
    CHECK(st_topo_get_device(t, 1, &d) == ST_OK && *d.device == '\0', "GPU 1 is none of the program's devices");
    st_topo_destroy(t);
}

static void test_info(void)
{
    FILE *p = popen(STRATA_INFO " --topology --ranks 3", "r");
    CHECK(p != NULL, "run strata-info");
    if (!p) return;
    static char out[65536];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK(pclose(p) == 0, "strata-info --topology succeeds:\n%s", out);
    CHECK(strstr(out, "0000:e7:00.0 Tesla V100-SXM3-32GB-H [nvml15] serial 0321019030765 = cuda:0  rank 0\n") &&
              strstr(out, "0000:34:00.0 Tesla V100-SXM3-32GB-H [nvml0] serial 0321019030775 = cuda:1  rank 1\n") &&
              strstr(out, "Devices of cuda matched by PCI bus id") &&
              strstr(out, "  cuda:2 00000000:B7:00.0 = GPU 8 (package 8, GCD 0)\n") &&
              strstr(out, "  rank 0: node -1, GPU 15, GCD 0  -> device 15 0000:e7:00.0 Tesla V100-SXM3-32GB-H = cuda:0\n"),
          "strata-info --topology:\n%s", out);
}

int main(void)
{
    /* before anything loads a backend: the test plugin alone, its devices, the DGX-2 */
    setenv("STRATA_PLUGIN_PATH", FAKE_GPU_DIR, 1);
    setenv("STRATA_BACKEND", "cuda", 1);
    setenv("STRATA_FAKE_BUSIDS", "00000000:E7:00.0,00000000:34:00.0,00000000:B7:00.0", 1);
    setenv("STRATA_TOPOLOGY", TOPO_XML_DIR "/nvidiaDGX2.v3.xml", 1);
    unsetenv("STRATA_DEVICE");
    unsetenv("STRATA_GCDS_PER_GPU");
    test_load_matches();
    test_info();
    return h_finish();
}
