/* Tests of strata-info --plan (info_plan_main, run in-process): its JSON agrees with the library's
 * closed forms, its text names the choice, and bad options fail with the right exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "harness.h"
#include "tool_json.h"

h_counts h_total;

int info_plan_main(int argc, char **argv, FILE *out);

/* Runs info_plan_main with the NULL-terminated args; its output in *text (malloc'd). */
static int run(char **text, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"strata-info";
    while (*args && argc < 31)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    FILE *f = tmpfile();
    if (!f)
        return -1;
    int rc = info_plan_main(argc, argv, f);
    long n = ftell(f);
    rewind(f);
    *text = calloc(1, (size_t)n + 1);
    if (*text && fread(*text, 1, (size_t)n, f) != (size_t)n)
        (*text)[0] = '\0';
    fclose(f);
    return rc;
}

static double num(const tj_value *v, const char *a, const char *b)
{
    const tj_value *x = tj_get(v, a);
    x = b ? tj_get(x, b) : x;
    return x && x->type == TJ_NUMBER ? x->number : -1;
}

static void test_json(void)
{
    char *text = NULL;
    const char *args[] = {"--plan", "--model", "20b", "--topology", "48x4x2", "--machine", "frontier",
                          "--grad-accum", "4", "--json", NULL};
    CHECK(run(&text, args) == 0, "exit 0");
    char err[256] = "";
    tj_value *doc = text ? tj_parse(text, err, sizeof err) : NULL;
    CHECK(doc != NULL, "JSON parses: %s", err);
    if (doc) {
        const tj_value *chosen = tj_get(doc, "chosen");
        CHECK(chosen && chosen->type == TJ_STRING && strcmp(chosen->string, "frontier3") == 0, "chosen frontier3");
        CHECK(num(doc, "params", NULL) == 20256221184.0 && num(doc, "micro_batches", NULL) == 4, "model and A");
        const tj_value *schemes = tj_get(doc, "schemes");
        CHECK(schemes && schemes->type == TJ_ARRAY && schemes->n == 8, "eight schemes");
        for (int i = 0; schemes && i < schemes->n; i++) {
            const tj_value *s = &schemes->items[i];
            const tj_value *name = tj_get(s, "name");
            if (!name || strcmp(name->string, "frontier3") != 0)
                continue;
            /* 20b, bf16, A = 4 on 48x4x2: GCD 4 * 3 * (Ψ/2) * 2, NODE 2 * 47 * (Ψ/384) * 2. */
            CHECK(num(s, "bytes_per_step", "GCD") == 4.0 * 3 * 10128110592.0 * 2 &&
                  num(s, "bytes_per_step", "NODE") == 2.0 * 2479277072.0 * 2, "frontier3 bytes per step");
            CHECK(num(s, "bytes_per_micro_batch", "NODE") == 0, "no inter-node traffic per micro-batch");
        }
        tj_value_free(doc);
    }
    free(text);
}

static void test_text_and_errors(void)
{
    char *text = NULL;
    const char *ok[] = {"--plan", "--params", "1000", "--topology", "2x2x2", "--verbose", NULL};
    CHECK(run(&text, ok) == 0 && text && strstr(text, "chose ") && strstr(text, "reduce-scatter"),
          "text names a choice and lists phases: %s", text ? text : "");
    free(text);
    const char *help[] = {"--plan", "--help", NULL};
    CHECK(run(&text, help) == 0 && text && strstr(text, "--machine-file"), "help");
    free(text);
    const char *bad[][8] = {
        {"--plan", "--bogus", NULL},
        {"--plan", "--grad-accum", "0", NULL},
        {"--plan", "--model", NULL},
    };
    for (int i = 0; i < 3; i++) {
        text = NULL;
        CHECK(run(&text, bad[i]) == 2, "bad option set %d exits 2", i);
        free(text);
    }
    const char *fails[][8] = {
        {"--plan", "--topology", "2x2", NULL},
        {"--plan", "--model", "7b", "--topology", "1x1x1", NULL},
        {"--plan", "--machine-file", "/nonexistent/m.conf", "--topology", "1x1x1", NULL},
        {"--plan", "--partition", "params=world", "--topology", "1x1x1", NULL},
        {"--plan", "--dtype", "f16", "--topology", "1x1x1", NULL},
    };
    for (int i = 0; i < 5; i++) {
        text = NULL;
        CHECK(run(&text, fails[i]) == 1, "failing input %d exits 1", i);
        free(text);
    }
}

/* Without --machine the figures come from STRATA_TOPOLOGY's XML, with their sources; --machine
 * replaces them with a table and --machine-file overrides on top of either. */
static void test_sources(void)
{
    setenv("STRATA_TOPOLOGY", STRATA_TOPO_XML_DIR "/power8gpudistances.xml", 1);
    char *text = NULL;
    const char *plain[] = {"--plan", "--params", "1000", NULL};
    CHECK(run(&text, plain) == 0 && text && strstr(text, "machine hwloc:") &&
          strstr(text, "memory 15.9 GiB: hwloc: CUDAGlobalMemorySize") &&
          strstr(text, "GPU  25 GB/s: default (hwloc NVLinkBandwidth links only 2 of 6 GPU pairs)"),
          "sources printed: %s", text ? text : "");
    free(text);
    char path[] = "/tmp/strata_plan_toolXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "gpu_gbs = 30\n", 13) == 13, "machine file");
    if (fd >= 0)
        close(fd);
    const char *table[] = {"--plan", "--params", "1000", "--machine", "frontier", "--machine-file", path, "--json", NULL};
    text = NULL;
    CHECK(run(&text, table) == 0, "frontier + file");
    char err[128] = "";
    tj_value *doc = text ? tj_parse(text, err, sizeof err) : NULL;
    const tj_value *src = tj_get(tj_get(doc, "machine"), "sources");
    const tj_value *gpu = tj_get(src, "GPU_gbs"), *gcd = tj_get(src, "GCD_gbs");
    CHECK(gpu && gcd && gpu->type == TJ_STRING && gcd->type == TJ_STRING && strncmp(gpu->string, "file: ", 6) == 0 &&
          strcmp(gcd->string, "table: frontier") == 0 && num(tj_get(doc, "machine"), "GPU_gbs", NULL) == 30,
          "JSON sources (%s): %s", err, text ? text : "");
    if (doc)
        tj_value_free(doc);
    free(text);
    const char *over_hwloc[] = {"--plan", "--params", "1000", "--machine-file", path, NULL};
    text = NULL;
    CHECK(run(&text, over_hwloc) == 0 && text && strstr(text, "GPU  30 GB/s: file: ") &&
          strstr(text, "memory 15.9 GiB: hwloc: CUDAGlobalMemorySize"), "file over hwloc: %s", text ? text : "");
    free(text);
    unlink(path);
    unsetenv("STRATA_TOPOLOGY");
}

int main(void)
{
    test_sources();
    test_json();
    test_text_and_errors();
    return h_finish();
}
