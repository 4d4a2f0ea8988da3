/* strata-conformance: every op of the op table, in every dtype it is tested in (st_op_info's
 * dtype_variants), on one device of one backend, against double-precision references written for
 * the tests; the gradient of every differentiable op (from the table) against finite differences;
 * copies between that device and cpu. Prints one PASS/FAIL line per op, dtype and kind of check,
 * then "N passed, M failed[, K skipped]". A backend that is absent or has no device is reported
 * as "SKIPPED: backend <name>: <reason>" with exit status 77.
 *
 *   strata-conformance BACKEND [--device N] [--only NAME[,NAME...]] [--seed N]
 *
 * NAME is an op name, "vjp", "transfer" or "errors". Exit status: 0 all passed, 1 failures, 2
 * usage, 77 skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "conf.h"

h_counts h_total;

/* One entry per op of the table: its own test, or a generic one with its reference. */
typedef struct op_test {
    st_op op;
    void (*own)(conf *c, st_dtype dt);
    const conf_unary_ref *unary;
    const conf_binary_ref *binary;
} op_test;

#define CONF_ENTRY_REF_UNARY_(ID, name) {ST_OP_##ID, NULL, &conf_ref_##name, NULL},
#define CONF_ENTRY_REF_BINARY_(ID, name) {ST_OP_##ID, NULL, NULL, &conf_ref_##name},
#define CONF_ENTRY_REF_NONE_(ID, name) {ST_OP_##ID, NULL, NULL, NULL},
#define CONF_ENTRY_OWN_TEST_(ID, name) {ST_OP_##ID, test_##name, NULL, NULL},
#define CONF_ENTRY_(F, ID, name, sig, rule, ...) CONF_CAT_(CONF_ENTRY_, CONF_KIND_(rule))(ID, name)
static const op_test op_tests[] = {ST_OP_TABLE(CONF_ENTRY_)};
#undef CONF_ENTRY_
#define N_OP_TESTS ((int)(sizeof op_tests / sizeof op_tests[0]))

static void run_op(conf *c, const op_test *t, st_dtype dt)
{
    if (t->own) t->own(c, dt);
    else if (t->unary) conf_unary(c, t->op, dt, t->unary);
    else if (t->binary) conf_binary(c, t->op, dt, t->binary);
    else conf_unary_bwd(c, t->op, dt, op_tests[st_op_info_get(t->op)->forward].unary);
}

/* Whether `name` is in the comma-separated list (NULL list: everything). */
static int selected(const char *list, const char *name)
{
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

static int check_filter(const char *list)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int known = strcmp(tok, "transfer") == 0 || strcmp(tok, "errors") == 0 || strcmp(tok, "vjp") == 0;
        known |= st_op_from_name(tok) != ST_OP_NONE;
        if (!known) {
            fprintf(stderr, "strata-conformance: no test named '%s' (op names, 'vjp', 'transfer' or 'errors')\n", tok);
            return 0;
        }
    }
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: strata-conformance BACKEND [--device N] [--only NAME[,NAME...]] [--seed N]\n");
    return 2;
}

/* Opens the device under test; returns 0 to go on, else the exit status. */
static int open_device(const char *backend, int index, conf *c)
{
    st_backend_info info;
    if (st_backend_info_by_name(backend, &info) != ST_OK) {
        fprintf(stderr, "strata-conformance: %s\n", st_last_error());
        return 2;
    }
    if (!info.loaded || info.device_count == 0) {
        printf("SKIPPED: backend %s: %s\n", backend,
               info.reason[0] ? info.reason : info.loaded ? "no device" : "not loaded");
        return H_SKIP_CODE;
    }
    if (st_device_get(backend, index, &c->dev) != ST_OK || st_device_get("cpu", 0, &c->cpu) != ST_OK) {
        fprintf(stderr, "strata-conformance: %s\n", st_last_error());
        return 2;
    }
    c->is_cpu = strcmp(backend, "cpu") == 0;
    st_device_props p;
    if (st_device_props_get(c->dev, &p) == ST_OK)
        printf("strata-conformance %s on %s: %s (%s), %s\n", st_version_string(), st_device_label(c->dev),
               p.name ? p.name : "?", p.type ? p.type : "?", info.runtime);
    return 0;
}

/* STRATA_CPU_GEMM=strata-avx512 / strata-avx2 forces one of Strata's SGEMM kernels (a ctest entry
 * each). On a CPU without that kernel matmul refuses with ST_ERR_UNSUPPORTED and says why: the
 * run is then reported as skipped with that reason instead of failing every matmul case. */
static int forced_gemm_missing(conf *c)
{
    const char *mode = getenv("STRATA_CPU_GEMM");
    if (!c->is_cpu || !mode || strncmp(mode, "strata-", 7) != 0) return 0;
    int64_t shape[2] = {1, 1};
    st_tensor *t = NULL;
    if (st_tensor_create(c->dev, ST_F32, 2, shape, &t) != ST_OK) return 0;
    st_status s = st_matmul(t, t, t, 0, 0, 1.0f, 0.0f);
    st_tensor_destroy(t);
    if (s != ST_ERR_UNSUPPORTED) return 0;
    printf("SKIPPED: %s\n", st_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *only = NULL;
    int index = 0;
    conf c = {.rng = 0x5eed5eedull};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) index = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) c.rng = strtoull(argv[++i], NULL, 0);
        else if (argv[i][0] != '-' && !backend) backend = argv[i];
        else return usage();
    }
    if (!backend || (only && !check_filter(only))) return usage();
    int rc = open_device(backend, index, &c);
    if (rc) return rc;
    if (forced_gemm_missing(&c)) return H_SKIP_CODE;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N_OP_TESTS; i++) {
        const st_op_info *info = st_op_info_get(op_tests[i].op);
        if (!selected(only, info->name)) continue;
        for (int dt = 0; dt < ST_DTYPE_COUNT; dt++)
            if (info->dtype_variants & (1u << dt)) run_op(&c, &op_tests[i], (st_dtype)dt);
        if (info->grad != ST_GRAD_NONE) conf_grad(&c, info->op);
    }
    if (selected(only, "vjp")) test_vjp(&c);
    if (selected(only, "transfer")) test_transfer(&c);
    if (selected(only, "errors")) test_errors(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s: %.1f s\n", st_device_label(c.dev),
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    rc = h_finish();
    st_shutdown();
    return rc;
}
