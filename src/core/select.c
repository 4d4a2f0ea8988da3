/* Device selection: parses STRATA_BACKEND / STRATA_DEVICE style specs (see device.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define AUTO_LIST "cuda,hip,opencl,cpu"
#define MAX_LIST 8

/* Splits a comma list into trimmed names; validates each against the known backends. */
static st_status parse_list(const char *spec, char names[MAX_LIST][16], int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        char *end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1])) *--end = '\0';
        if (!*tok) continue;
        if (st_backend_index(tok) < 0 || strlen(tok) >= 16)
            return ST_ERR(ST_ERR_UNKNOWN_BACKEND,
                          "unknown backend '%s' in '%s'; known backends: %s (or auto)", tok, spec,
                          st_backend_known_list());
        if (*n == MAX_LIST) return ST_ERR(ST_ERR_INVALID_ARG, "backend list '%s' too long", spec);
        snprintf(names[(*n)++], 16, "%s", tok);
    }
    if (*n == 0) return ST_ERR(ST_ERR_INVALID_ARG, "empty backend list '%s'", spec);
    return ST_OK;
}

/* Local rank from the launchers we know, or -1. */
static int local_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                       "SLURM_LOCALID", "PMI_LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return -1;
}

/* Parses "", "2" or "hip:1" into an optional backend name and an index (-1 = default). */
static st_status parse_device(const char *spec, char *backend, size_t bsize, int *index)
{
    backend[0] = '\0';
    *index = -1;
    if (!spec || !*spec) return ST_OK;
    const char *num = spec;
    const char *colon = strchr(spec, ':');
    if (colon) {
        size_t len = (size_t)(colon - spec);
        if (len == 0 || len >= bsize)
            return ST_ERR(ST_ERR_INVALID_ARG, "device spec '%s' is not INDEX or BACKEND:INDEX", spec);
        memcpy(backend, spec, len);
        backend[len] = '\0';
        if (st_backend_index(backend) < 0)
            return ST_ERR(ST_ERR_UNKNOWN_BACKEND, "unknown backend '%s' in device spec '%s'; known backends: %s",
                          backend, spec, st_backend_known_list());
        num = colon + 1;
    }
    char *end = NULL;
    long v = strtol(num, &end, 10);
    if (end == num || *end || v < 0 || v > 1 << 20)
        return ST_ERR(ST_ERR_INVALID_ARG, "device spec '%s' is not INDEX or BACKEND:INDEX", spec);
    *index = (int)v;
    return ST_OK;
}

/* Whether "auto" may take this backend: it skips non-built-in backends whose devices are all
 * CPUs (PoCL), because the built-in cpu backend is the better use of a CPU. */
static int auto_takes(st_backend *be)
{
    if (be->iface->host_memory) return 1;
    for (int d = 0; d < be->status.device_count; d++) {
        st_device_props p;
        if (st_device_props_get(&be->devices[d], &p) == ST_OK && p.type && strcmp(p.type, "cpu") != 0)
            return 1;
    }
    return 0;
}

st_status st_device_select(const char *backend_spec, const char *device_spec, st_device **out)
{
    char names[MAX_LIST][16], dev_backend[16];
    int n = 0, index = -1;
    if (!out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL out");
    int is_auto = !backend_spec || !*backend_spec || strcmp(backend_spec, "auto") == 0;
    ST_TRY(parse_list(is_auto ? AUTO_LIST : backend_spec, names, &n));
    ST_TRY(parse_device(device_spec, dev_backend, sizeof dev_backend, &index));
    if (dev_backend[0]) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= strcmp(names[i], dev_backend) == 0;
        if (!found)
            return ST_ERR(ST_ERR_INVALID_ARG, "device '%s' names backend '%s', which is not in STRATA_BACKEND '%s'",
                          device_spec, dev_backend, backend_spec);
        snprintf(names[0], 16, "%s", dev_backend);
        n = 1;
        is_auto = 0;
    }
    char why[4096] = "";
    for (int i = 0; i < n; i++) {
        st_backend *be = st_backend_get(st_backend_index(names[i]));
        int usable = be->loaded && be->status.device_count > 0;
        const char *r = be->loaded ? (be->reason[0] ? be->reason : "no device") : be->reason;
        if (usable && is_auto && !auto_takes(be)) {
            usable = 0;
            r = "only CPU devices, which auto leaves to the built-in cpu backend (name it to use it)";
        }
        if (!usable) {
            size_t len = strlen(why);
            snprintf(why + len, sizeof why - len, "%s%s: %.1000s", len ? "; " : "", names[i], r);
            if (n == 1) return st_device_get(names[i], index < 0 ? 0 : index, out);
            continue;
        }
        int idx = index;
        if (idx < 0) {
            int lr = local_rank();
            idx = lr >= 0 ? lr % be->status.device_count : 0;
        }
        return st_device_get(names[i], idx, out);
    }
    return ST_ERR(ST_ERR_NO_DEVICE, "no usable backend in '%s': %s", is_auto ? "auto (" AUTO_LIST ")" : backend_spec, why);
}

st_status st_device_default(st_device **out)
{
    return st_device_select(getenv("STRATA_BACKEND"), getenv("STRATA_DEVICE"), out);
}
