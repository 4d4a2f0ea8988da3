/* Backend registry and device selection: unknown names, a plugin that is missing, one with a
 * wrong ABI version, one without the entry point (fake plugins built by tests/api), the
 * STRATA_BACKEND / STRATA_DEVICE parsing, and operands on two devices when a second one exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../harness.h"

h_counts h_total;

static const char *const plugin_names[3] = {"opencl", "cuda", "hip"};

/* Whether a real plugin could be found beside libstrata or in the install directory. */
/* Where the real plugins are: the build's lib directory, or STRATA_TEST_LIBDIR when the test runs
 * against a copy of libstrata isolated from them (so that missing plugins can be tested). */
static const char *test_libdir(void)
{
    const char *e = getenv("STRATA_TEST_LIBDIR");
    return e && *e ? e : STRATA_TEST_LIBDIR_DEFAULT;
}

static int real_plugin(const char *name)
{
    char f[1200];
    snprintf(f, sizeof f, "%s/libstrata-%s.so", test_libdir(), name);
    if (access(f, F_OK) == 0) return 1;
    snprintf(f, sizeof f, "%s/libstrata-%s.so", STRATA_TEST_INSTALL_LIBDIR, name);
    return access(f, F_OK) == 0;
}

static void use_plugin_path(const char *path)
{
    st_shutdown(); /* forget what was loaded, so that the next query searches again */
    if (path) setenv("STRATA_PLUGIN_PATH", path, 1);
    else unsetenv("STRATA_PLUGIN_PATH");
}

static void unknown_names(void)
{
    st_backend_info info;
    st_device *d = NULL;
    CHECK_ST(st_backend_info_by_name("bogus", &info), ST_ERR_UNKNOWN_BACKEND);
    CHECK(h_msg_has("bogus") && h_msg_has("cpu, opencl, cuda, hip"), "message lists the known backends: %s", st_last_error());
    CHECK_ST(st_device_get("metal", 0, &d), ST_ERR_UNKNOWN_BACKEND);
    CHECK(h_msg_has("cpu, opencl, cuda, hip"), "message lists the known backends: %s", st_last_error());
    CHECK_ST(st_device_get(NULL, 0, &d), ST_ERR_UNKNOWN_BACKEND);
    CHECK(st_backend_count() == 4, "4 known backends, got %d", st_backend_count());
    static const char *const order[4] = {"cpu", "opencl", "cuda", "hip"};
    for (int i = 0; i < st_backend_count() && i < 4; i++) {
        CHECK_ST(st_backend_info_get(i, &info), ST_OK);
        CHECK(strcmp(info.name, order[i]) == 0, "backend %d is %s", i, info.name);
        CHECK(info.loaded || info.reason[0], "%s not loaded must say why", info.name);
        printf("     backend %-6s loaded %d devices %d path '%s' reason '%s'\n", info.name, info.loaded,
               info.device_count, info.plugin_path, info.reason);
    }
    CHECK_ST(st_backend_info_by_name("cpu", &info), ST_OK);
    CHECK(info.loaded && info.device_count == 1 && strcmp(info.plugin_path, "(built in)") == 0, "cpu is built in with one device");
    CHECK_ST(st_device_get("cpu", 1, &d), ST_ERR_NO_DEVICE);
    CHECK_ST(st_device_get("cpu", -1, &d), ST_ERR_NO_DEVICE);
    CHECK(d == NULL, "failed calls left out untouched");
}

/* With `dir` searched first: every backend without a real plugin must fail to load, with a
 * reason naming what `want` says; a backend with a real plugin must not load the fake one. */
static void refused_plugins(const char *path, const char *dir, const char *want, const char *what,
                            st_status want_st)
{
    int tested = 0;
    use_plugin_path(path);
    for (int i = 0; i < 3; i++) {
        const char *n = plugin_names[i];
        st_backend_info info;
        st_device *d = NULL;
        CHECK_ST(st_backend_info_by_name(n, &info), ST_OK);
        if (real_plugin(n)) {
            CHECK(!strstr(info.plugin_path, dir), "%s: %s loaded from %s", what, n, info.plugin_path);
            continue;
        }
        tested++;
        CHECK(!info.loaded && info.device_count == 0, "%s: %s loaded", what, n);
        CHECK(strstr(info.reason, dir) && strstr(info.reason, want), "%s: %s reason lacks '%s' or %s: %s", what, n, want, dir, info.reason);
        CHECK(strstr(info.reason, test_libdir()) && strstr(info.reason, STRATA_TEST_INSTALL_LIBDIR),
              "%s: %s reason names every place looked at: %s", what, n, info.reason);
        CHECK_ST(st_device_get(n, 0, &d), want_st);
        CHECK(h_msg_has(n) && h_msg_has(want), "%s: st_device_get message: %s", what, st_last_error());
    }
    if (!tested) h_skip("%s: every plugin is built here, so none can be missing", what);
}

static void plugin_loading(void)
{
    char tmpl[] = "/tmp/strata-empty-XXXXXX";
    char *empty = mkdtemp(tmpl);
    if (!CHECK(empty != NULL, "mkdtemp")) return;
    refused_plugins(empty, empty, "No such file", "missing plugin", ST_ERR_BACKEND_UNAVAILABLE);
    refused_plugins(FAKE_ABI_DIR, FAKE_ABI_DIR, "ABI version", "wrong ABI version", ST_ERR_ABI);
    refused_plugins(FAKE_NOENTRY_DIR, FAKE_NOENTRY_DIR, "no symbol strata_backend_entry", "no entry point",
                    ST_ERR_BACKEND_UNAVAILABLE);
    char both[2048];
    snprintf(both, sizeof both, "%s:%s", empty, FAKE_ABI_DIR);
    refused_plugins(both, empty, "ABI version", "two directories", ST_ERR_ABI);
    rmdir(empty);
}

/* The backend "hip,cuda,cpu" must pick: the first with a usable device. */
static const char *first_usable(void)
{
    static const char *const list[3] = {"hip", "cuda", "cpu"};
    for (int i = 0; i < 3; i++) {
        st_backend_info info;
        if (st_backend_info_by_name(list[i], &info) == ST_OK && info.loaded && info.device_count > 0) return list[i];
    }
    return "none";
}

static void selection(void)
{
    st_device *d = NULL;
    st_backend_info cuda;
    CHECK_ST(st_device_select("hip,cuda,cpu", NULL, &d), ST_OK);
    CHECK(d && strcmp(st_device_backend(d), first_usable()) == 0, "hip,cuda,cpu chose %s", st_device_label(d));
    CHECK_ST(st_device_select(" hip , cpu ", "", &d), ST_OK);
    CHECK_ST(st_device_select("cpu", "cpu:0", &d), ST_OK);
    CHECK(d && strcmp(st_device_label(d), "cpu:0") == 0, "cpu:0 gave %s", st_device_label(d));
    CHECK_ST(st_device_select(NULL, "cpu:0", &d), ST_OK);
    CHECK(d && strcmp(st_device_label(d), "cpu:0") == 0, "auto with cpu:0 gave %s", st_device_label(d));
    CHECK_ST(st_device_select("cpu", "0", &d), ST_OK);
    CHECK_ST(st_device_select(NULL, NULL, &d), ST_OK);
    CHECK_ST(st_device_select("auto", "", &d), ST_OK);
    d = NULL;
    CHECK_ST(st_device_select("cpu", "1", &d), ST_ERR_NO_DEVICE);
    CHECK_ST(st_device_select("cpu", "cuda:1", &d), ST_ERR_INVALID_ARG);
    CHECK_ST(st_backend_info_by_name("cuda", &cuda), ST_OK);
    st_status s = st_device_select("cuda", "cuda:1", &d);
    if (cuda.device_count >= 2) CHECK(s == ST_OK, "cuda:1 with %d devices: %s", cuda.device_count, st_last_error());
    else CHECK(s == ST_ERR_BACKEND_UNAVAILABLE || s == ST_ERR_NO_DEVICE, "cuda:1 with %d devices gave %s", cuda.device_count, st_status_string(s));
    CHECK_ST(st_device_select("bogus", NULL, &d), ST_ERR_UNKNOWN_BACKEND);
    CHECK(h_msg_has("cpu, opencl, cuda, hip"), "message lists the known backends: %s", st_last_error());
    CHECK_ST(st_device_select("cpu,bogus", NULL, &d), ST_ERR_UNKNOWN_BACKEND);
    CHECK_ST(st_device_select(",", NULL, &d), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_select("cpu", "x", &d), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_select("cpu", "cpu:", &d), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_select("cpu", ":0", &d), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_select("cpu", "-1", &d), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_select("cpu", "bogus:0", &d), ST_ERR_UNKNOWN_BACKEND);
    CHECK(d == NULL, "failed selections left out untouched");
    /* a single name never falls back */
    for (int i = 0; i < 3; i++) {
        st_backend_info info;
        CHECK_ST(st_backend_info_by_name(plugin_names[i], &info), ST_OK);
        if (info.loaded && info.device_count > 0) continue;
        s = st_device_select(plugin_names[i], NULL, &d);
        CHECK(s == ST_ERR_BACKEND_UNAVAILABLE || s == ST_ERR_NO_DEVICE, "%s alone gave %s", plugin_names[i], st_status_string(s));
    }
    /* the environment */
    setenv("STRATA_BACKEND", "cpu", 1);
    setenv("STRATA_DEVICE", "x", 1);
    CHECK_ST(st_device_default(&d), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("'x'"), "message quotes the spec: %s", st_last_error());
    setenv("STRATA_DEVICE", "cpu:0", 1);
    CHECK_ST(st_device_default(&d), ST_OK);
    unsetenv("STRATA_DEVICE");
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "5", 1); /* rank 5 modulo one device */
    CHECK_ST(st_device_default(&d), ST_OK);
    CHECK(d && strcmp(st_device_label(d), "cpu:0") == 0, "local rank 5 on one cpu device gave %s", st_device_label(d));
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    setenv("STRATA_BACKEND", "nope", 1);
    CHECK_ST(st_device_default(&d), ST_ERR_UNKNOWN_BACKEND);
    unsetenv("STRATA_BACKEND");
}

/* Operands on two devices are refused; moving one across fixes it. */
static void two_devices(void)
{
    st_device *cpu = NULL, *other = NULL;
    CHECK_ST(st_device_get("cpu", 0, &cpu), ST_OK);
    for (int i = 0; i < 3 && !other; i++)
        if (st_device_get(plugin_names[i], 0, &other) != ST_OK) other = NULL;
    if (!other) {
        h_skip("two devices: no backend besides cpu has a device here");
        return;
    }
    int64_t s[1] = {4};
    st_tensor *a = NULL, *b = NULL, *o = NULL, *moved = NULL;
    CHECK_ST(st_tensor_create(cpu, ST_F32, 1, s, &a), ST_OK);
    CHECK_ST(st_tensor_create(other, ST_F32, 1, s, &b), ST_OK);
    CHECK_ST(st_tensor_create(cpu, ST_F32, 1, s, &o), ST_OK);
    CHECK_ST(st_fill(a, 1.0), ST_OK);
    CHECK_ST(st_fill(b, 2.0), ST_OK);
    CHECK_ST(st_add(o, a, b), ST_ERR_DEVICE);
    CHECK(h_msg_has("cpu:0") && h_msg_has(st_device_label(other)), "message names both devices: %s", st_last_error());
    CHECK_ST(st_tensor_to(b, cpu, &moved), ST_OK);
    CHECK_ST(st_add(o, a, moved), ST_OK);
    float v[4] = {0};
    CHECK(st_tensor_read(o, v, sizeof v) == ST_OK && v[0] == 3.0f && v[3] == 3.0f, "sum after moving: %g", v[0]);
    st_tensor *all[] = {a, b, o, moved};
    for (int i = 0; i < 4; i++) st_tensor_destroy(all[i]);
}

int main(void)
{
    const char *env = getenv("STRATA_PLUGIN_PATH");
    char saved[2048] = "";
    if (env) snprintf(saved, sizeof saved, "%s", env);
    unsetenv("STRATA_BACKEND");
    unsetenv("STRATA_DEVICE");
    unknown_names();
    plugin_loading();
    use_plugin_path(env ? saved : NULL);
    selection();
    two_devices();
    st_shutdown();
    return h_finish();
}
