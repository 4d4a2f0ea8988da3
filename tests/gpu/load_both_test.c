/* Loads the CUDA and the HIP plugin into one process through the registry and checks that both
 * start cleanly (on a machine without GPUs: loaded, zero devices, a reason), that their hidden
 * symbols do not clash, and that a preference list skips to the first usable backend. Public
 * API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata/strata.h"

static int failures;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
            failures++;                                    \
        }                                                  \
    } while (0)

/* Returns the device count (or -1) after checking the backend loaded. */
static int check_backend(const char *name)
{
    st_backend_info info;
    st_status s = st_backend_info_by_name(name, &info);
    CHECK(s == ST_OK, "st_backend_info_by_name(%s): %s", name, st_last_error());
    if (s != ST_OK) return -1;
    printf("%s: loaded=%d devices=%d plugin=%s\n  runtime: %s\n  reason: %s\n", name, info.loaded,
           info.device_count, info.plugin_path, info.runtime, info.reason);
    CHECK(info.loaded == 1, "%s did not load: %s", name, info.reason);
    CHECK(info.device_count > 0 || info.reason[0] != '\0', "%s has no device and no reason", name);
    return info.device_count;
}

int main(void)
{
    int cuda = check_backend("cuda"), hip = check_backend("hip");
    st_device *dev = NULL;
    st_status s = st_device_select("hip,cuda,cpu", "", &dev);
    CHECK(s == ST_OK, "st_device_select(hip,cuda,cpu): %s", st_last_error());
    if (s == ST_OK) {
        const char *want = hip > 0 ? "hip" : cuda > 0 ? "cuda" : "cpu";
        printf("hip,cuda,cpu -> %s\n", st_device_label(dev));
        CHECK(strcmp(st_device_backend(dev), want) == 0, "picked %s, expected %s", st_device_backend(dev), want);
    }
    /* A named backend without a device is an error with its reason, never a fallback. */
    if (cuda == 0) {
        s = st_device_select("cuda", "", &dev);
        CHECK(s != ST_OK, "selecting cuda without a device succeeded");
        printf("cuda alone -> %s: %s\n", st_status_string(s), st_last_error());
    }
    st_shutdown();
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("OK: both GPU plugins load side by side\n");
    return failures ? 1 : 0;
}
