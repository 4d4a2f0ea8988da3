/* Topology without hardware: STRATA_TOPOLOGY shape parsing, the emulated placement table, the
 * emulated tree, binding of emulated ranks, and strata-info --topology on an emulated shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "../harness.h"

h_counts h_total;

static void test_parse(void)
{
    st_topo_shape s;
    CHECK_ST(st_topo_parse_shape("2x4x2", &s), ST_OK);
    CHECK(s.nodes == 2 && s.gpus_per_node == 4 && s.gcds_per_gpu == 2, "got %dx%dx%d", s.nodes, s.gpus_per_node,
          s.gcds_per_gpu);
    CHECK_ST(st_topo_parse_shape("1x1x1", &s), ST_OK);
    CHECK(s.nodes == 1 && s.gpus_per_node == 1 && s.gcds_per_gpu == 1, "1x1x1");
    static const char *const bad[] = {"2x4", "0x1x1", "2x4x2x", "abc", "", "2x-1x2", "2x4x0", "2xx4", "2x4x2 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = (st_topo_shape){7, 7, 7};
        CHECK_ST(st_topo_parse_shape(bad[i], &s), ST_ERR_INVALID_ARG);
        CHECK(h_msg_has("NODESxGPUSxGCDS"), "'%s': message names the format: %s", bad[i], st_last_error());
        CHECK(s.nodes == 7, "'%s': output untouched on error", bad[i]);
    }
    CHECK_ST(st_topo_parse_shape(NULL, &s), ST_ERR_INVALID_ARG);
}

/* STRATA_TOPOLOGY through st_topo_load, valid and not. */
static void test_load_env(void)
{
    static const char *const bad[] = {"2x4", "0x1x1", "2x4x2x", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("STRATA_TOPOLOGY", bad[i], 1);
        st_topo *t = (st_topo *)1;
        CHECK_ST(st_topo_load(&t), ST_ERR_INVALID_ARG);
        CHECK(t == (st_topo *)1, "'%s': *out untouched", bad[i]);
        CHECK(h_msg_has("STRATA_TOPOLOGY"), "'%s': message names the variable: %s", bad[i], st_last_error());
    }
    setenv("STRATA_TOPOLOGY", "2x4x2", 1);
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), ST_OK);
    st_topo_shape s = {0};
    CHECK_ST(st_topo_get_shape(t, &s), ST_OK);
    CHECK(st_topo_get_source(t) == ST_TOPO_EMULATED, "source");
    CHECK(s.nodes == 2 && s.gpus_per_node == 4 && s.gcds_per_gpu == 2, "shape from env");
    st_topo_counts c;
    CHECK_ST(st_topo_get_counts(t, &c), ST_OK);
    CHECK(c.devices == 16 && c.packages == 0 && c.cores == 0, "emulated counts: %d devices", c.devices);
    st_topo_device d;
    CHECK_ST(st_topo_get_device(t, 0, &d), ST_ERR_INVALID_ARG);
    st_topo_destroy(t);
    st_topo_destroy(NULL);
}

/* 2x4x2: ranks fill GCDs, then GPUs, then nodes. The table is written out, not recomputed. */
static void test_place_2x4x2(void)
{
    static const int want[16][3] = {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 1, 1}, {0, 2, 0}, {0, 2, 1},
                                    {0, 3, 0}, {0, 3, 1}, {1, 0, 0}, {1, 0, 1}, {1, 1, 0}, {1, 1, 1},
                                    {1, 2, 0}, {1, 2, 1}, {1, 3, 0}, {1, 3, 1}};
    setenv("STRATA_TOPOLOGY", "2x4x2", 1);
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), ST_OK);
    if (!t)
        return;
    for (int r = 0; r < 16; r++) {
        st_place p = {-9, -9, -9};
        CHECK_ST(st_topo_place(t, r, 16, r % 8, 8, &p), ST_OK);
        CHECK(p.node == want[r][0] && p.gpu == want[r][1] && p.gcd == want[r][2],
              "rank %d: got node %d gpu %d gcd %d, want %d %d %d", r, p.node, p.gpu, p.gcd, want[r][0], want[r][1],
              want[r][2]);
    }
    st_place p = {-9, -9, -9};
    CHECK_ST(st_topo_place(t, 0, 8, 0, 8, &p), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("16") && h_msg_has("8"), "mismatch names both counts: %s", st_last_error());
    CHECK(p.node == -9, "output untouched on mismatch");
    CHECK_ST(st_topo_place(t, 16, 16, 0, 8, &p), ST_ERR_INVALID_ARG);
    CHECK_ST(st_topo_place(t, -1, 16, 0, 8, &p), ST_ERR_INVALID_ARG);
    CHECK_ST(st_topo_place(NULL, 0, 16, 0, 8, &p), ST_ERR_INVALID_ARG);
    st_topo_destroy(t);
}

static void test_print_emulated(void)
{
    setenv("STRATA_TOPOLOGY", "2x2x2", 1);
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), ST_OK);
    if (!t)
        return;
    char buf[4096];
    size_t need = 0;
    CHECK_ST(st_topo_snprint(t, 8, buf, sizeof buf, &need), ST_OK);
    CHECK(need == strlen(buf), "needed %zu = length %zu", need, strlen(buf));
    CHECK(strstr(buf, "2x2x2") && strstr(buf, "  Node 1\n    GPU 0\n      GCD 0: rank 4\n") &&
              strstr(buf, "    GPU 1\n      GCD 0: rank 6\n      GCD 1: rank 7\n"),
          "tree:\n%s", buf);
    char small[20];
    size_t need2 = 0;
    CHECK_ST(st_topo_snprint(t, 8, small, sizeof small, &need2), ST_OK);
    CHECK(need2 == need && strlen(small) == sizeof small - 1 && strncmp(small, buf, sizeof small - 1) == 0,
          "truncated copy is a NUL-terminated prefix, needed still the full length");
    CHECK_ST(st_topo_snprint(t, 0, NULL, 0, &need2), ST_OK);
    CHECK(need2 > 0 && need2 < need, "without ranks: shorter (%zu < %zu)", need2, need);
    CHECK_ST(st_topo_snprint(t, 7, buf, sizeof buf, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_topo_print(t, 8, NULL), ST_ERR_INVALID_ARG);
    st_topo_destroy(t);
}

static void test_bind_emulated(void)
{
    setenv("STRATA_TOPOLOGY", "1x2x1", 1);
    st_topo *t = NULL;
    CHECK_ST(st_topo_load(&t), ST_OK);
    if (!t)
        return;
    st_place p;
    CHECK_ST(st_topo_place(t, 1, 2, 1, 2, &p), ST_OK);
    char desc[256] = "x";
    setenv("STRATA_BIND", "0", 1);
    CHECK_ST(st_topo_bind_rank(t, &p, 1, 2, desc, sizeof desc), ST_OK);
    CHECK(strstr(desc, "STRATA_BIND=0") != NULL, "skipped: %s", desc);
    unsetenv("STRATA_BIND");
    st_status s = st_topo_bind_rank(t, &p, 1, 2, desc, sizeof desc);
    CHECK(s == ST_OK || s == ST_ERR_BACKEND, "bind returns OK or a reportable refusal, got %s (%s)",
          st_status_string(s), st_last_error());
    CHECK(*desc && (s != ST_OK || strstr(desc, "share 1 of 2")), "description: %s", desc);
    printf("emulated rank 1 of 2: %s\n", desc);
    CHECK_ST(st_topo_bind_rank(t, &p, 2, 2, desc, sizeof desc), ST_ERR_INVALID_ARG);
    CHECK_ST(st_topo_bind_rank(t, NULL, 0, 2, desc, sizeof desc), ST_ERR_INVALID_ARG);
    st_topo_destroy(t);
}

/* Runs strata-info with STRATA_TOPOLOGY=shape; returns its exit status, output in out. */
static int run_info(const char *shape, const char *args, char *out, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "STRATA_TOPOLOGY=%s '%s' --topology %s 2>&1", shape, STRATA_INFO, args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    int rc = pclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_strata_info(void)
{
    static char out[16384];
    int rc = run_info("2x2x2", "", out, sizeof out);
    CHECK(rc == 0, "strata-info --topology exits 0, got %d:\n%s", rc, out);
    for (int r = 0; r < 8; r++) {
        char line[128];
        snprintf(line, sizeof line, "  rank %d: node %d, GPU %d, GCD %d\n", r, r / 4, (r / 2) % 2, r % 2);
        CHECK(strstr(out, line) != NULL, "strata-info lists '%.*s'", (int)strlen(line) - 1, line);
        snprintf(line, sizeof line, "      GCD %d: rank %d\n", r % 2, r);
        CHECK(strstr(out, line) != NULL, "tree leaf for rank %d", r);
    }
    CHECK(strstr(out, "rank 8") == NULL, "exactly 8 ranks");
    rc = run_info("2x2x2", "--ranks 8", out, sizeof out);
    CHECK(rc == 0, "--ranks 8 matches the shape");
    rc = run_info("2x2x2", "--ranks 6", out, sizeof out);
    CHECK(rc != 0 && strstr(out, "8 ranks but 6"), "--ranks 6 on 2x2x2 fails with the reason:\n%s", out);
    rc = run_info("2x2x2", "--ranks", out, sizeof out);
    CHECK(rc == 2, "--ranks without a value is a usage error (rc %d)", rc);
    rc = run_info("2x4", "", out, sizeof out);
    CHECK(rc != 0 && strstr(out, "NODESxGPUSxGCDS"), "bad shape reported:\n%s", out);
}

int main(void)
{
    test_parse();
    test_load_env();
    test_place_2x4x2();
    test_print_emulated();
    test_bind_emulated();
    test_strata_info();
    return h_finish();
}
