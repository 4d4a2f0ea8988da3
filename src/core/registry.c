/* Backend registry: the list of known backends, plugin loading with dlopen, device objects.
 * Device selection from the environment lives in select.c. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#ifndef STRATA_PLUGIN_INSTALL_DIR
#define STRATA_PLUGIN_INSTALL_DIR "/usr/local/lib"
#endif

static const char *const known_names[] = {"cpu", "opencl", "cuda", "hip"};
#define N_KNOWN ((int)(sizeof known_names / sizeof known_names[0]))

static st_backend backends[N_KNOWN];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int st_backend_count(void) { return N_KNOWN; }

int st_backend_index(const char *name)
{
    for (int i = 0; i < N_KNOWN; i++)
        if (name && strcmp(name, known_names[i]) == 0) return i;
    return -1;
}

const char *st_backend_known_list(void) { return "cpu, opencl, cuda, hip"; }

static void append(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *dst, size_t size, const char *fmt, ...)
{
    size_t n = strlen(dst);
    if (n + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + n, size - n, fmt, ap);
    va_end(ap);
}

/* Directory holding libstrata itself, found from the address of one of its functions. */
static int self_dir(char *out, size_t size)
{
    /* realpath needs PATH_MAX bytes */
    if (size < 4096) return 0;
    Dl_info info;
    if (!dladdr((void *)&st_backend_count, &info) || !info.dli_fname) return 0;
    if (!realpath(info.dli_fname, out)) snprintf(out, size, "%s", info.dli_fname);
    char *slash = strrchr(out, '/');
    if (!slash) return 0;
    *slash = '\0';
    return 1;
}

/* The optional device collectives come as a whole set or not at all (backend_abi.h). */
static int coll_ok(st_backend *be, const st_backend_iface *f)
{
    int n = !!f->coll_get_unique_id + !!f->coll_comm_create + !!f->coll_comm_destroy + !!f->coll_all_reduce +
            !!f->coll_reduce_scatter + !!f->coll_all_gather + !!f->coll_broadcast;
    if (n == 0 && f->coll_id_bytes == 0)
        return 1;
    if (n == 7 && f->coll_id_bytes > 0 && f->coll_id_bytes <= ST_COLL_ID_MAX)
        return 1;
    append(be->reason, sizeof be->reason,
           "plugin's device collectives are incomplete (%d of 7 entries, id of %zu bytes, at most %d); ", n,
           f->coll_id_bytes, ST_COLL_ID_MAX);
    return 0;
}

/* Checks a plugin's vtable; returns 0 and fills be->reason when it must be refused. */
static int iface_ok(st_backend *be, const st_backend_iface *f, const char *name)
{
    if (!f) {
        append(be->reason, sizeof be->reason, "%s returned NULL; ", ST_PLUGIN_ENTRY_SYMBOL);
        return 0;
    }
    if (f->abi_version != ST_BACKEND_ABI_VERSION) {
        be->fail = ST_ERR_ABI;
        append(be->reason, sizeof be->reason,
               "plugin ABI version 0x%x, this libstrata needs 0x%x (rebuild the plugin); ",
               f->abi_version, ST_BACKEND_ABI_VERSION);
        return 0;
    }
    if (f->struct_size != sizeof(st_backend_iface) || !f->name || strcmp(f->name, name) != 0 ||
        !f->init || !f->alloc || !f->free || !f->read || !f->write || !f->sync ||
        !f->device_props) {
        append(be->reason, sizeof be->reason, "plugin vtable incomplete or misnamed; ");
        return 0;
    }
    for (int i = 0; i < ST_OP_COUNT; i++)
        if (!f->op[i]) {
            append(be->reason, sizeof be->reason, "plugin lacks op %s; ", st_op_name((st_op)i));
            return 0;
        }
    return coll_ok(be, f);
}

/* Tries one candidate file. Returns 1 when the plugin was accepted. */
static int try_plugin(st_backend *be, const char *name, const char *file)
{
    /* RTLD_NODELETE: vendor runtimes (cudart, HIP, OpenCL ICDs) do not survive being unmapped
     * (exit handlers, threads), so st_shutdown() ends a plugin's use but keeps its code mapped;
     * a later load of the same file reuses it and calls init again. */
    void *dl = dlopen(file, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!dl) {
        const char *e = dlerror();
        if (e && strstr(e, file)) append(be->reason, sizeof be->reason, "%s; ", e);
        else append(be->reason, sizeof be->reason, "%s: %s; ", file, e ? e : "dlopen failed");
        return 0;
    }
    st_plugin_entry_fn entry;
    *(void **)&entry = dlsym(dl, ST_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        append(be->reason, sizeof be->reason, "%s: no symbol %s; ", file, ST_PLUGIN_ENTRY_SYMBOL);
        dlclose(dl);
        return 0;
    }
    const st_backend_iface *f = entry();
    if (!iface_ok(be, f, name)) {
        append(be->reason, sizeof be->reason, "(%s); ", file);
        dlclose(dl);
        return 0;
    }
    be->dl = dl;
    be->iface = f;
    snprintf(be->path, sizeof be->path, "%s", file);
    return 1;
}

/* Tries dir/libstrata-<name>.so unless that directory was tried already (the same directory can
 * come from STRATA_PLUGIN_PATH, libstrata's own location and the install libdir). */
static int try_dir(st_backend *be, const char *name, const char *dir, char tried[][PATH_MAX], int *n)
{
    char real[PATH_MAX], file[PATH_MAX + 64];
    const char *key = realpath(dir, real) ? real : dir;
    for (int i = 0; i < *n; i++)
        if (strcmp(tried[i], key) == 0) return 0;
    if (*n < 8) snprintf(tried[(*n)++], PATH_MAX, "%s", key);
    snprintf(file, sizeof file, "%s/libstrata-%s.so", dir, name);
    return try_plugin(be, name, file);
}

static void find_plugin(st_backend *be, const char *name)
{
    static char tried[8][PATH_MAX]; /* under the registry lock */
    char dir[PATH_MAX];
    int n = 0;
    const char *env = getenv("STRATA_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save))
            if (try_dir(be, name, d, tried, &n)) break;
        free(copy);
        if (be->iface) return;
    }
    if (self_dir(dir, sizeof dir) && try_dir(be, name, dir, tried, &n)) return;
    try_dir(be, name, STRATA_PLUGIN_INSTALL_DIR, tried, &n);
}

static void start_backend(st_backend *be, int i)
{
    be->tried = 1;
    if (i == 0) {
        be->iface = st_cpu_backend_iface();
        snprintf(be->path, sizeof be->path, "(built in)");
    } else {
        find_plugin(be, known_names[i]);
        if (!be->iface) return;
    }
    st_status s = be->iface->init(&st_host_services, &be->ctx, &be->status);
    if (s != ST_OK) {
        char why[sizeof be->reason];
        snprintf(why, sizeof why, "%.1500s failed to start: %.2000s", be->path, st_last_error());
        memcpy(be->reason, why, sizeof why);
        if (be->dl) dlclose(be->dl);
        be->dl = NULL;
        be->iface = NULL;
        return;
    }
    int n = be->status.device_count;
    be->devices = n > 0 ? calloc((size_t)n, sizeof *be->devices) : NULL;
    if (n > 0 && !be->devices) {
        be->iface->shutdown(be->ctx);
        snprintf(be->reason, sizeof be->reason, "out of memory");
        return;
    }
    for (int d = 0; d < n; d++) {
        be->devices[d].be = be;
        be->devices[d].index = d;
        snprintf(be->devices[d].label, sizeof be->devices[d].label, "%s:%d", known_names[i], d);
    }
    be->loaded = 1;
    be->fail = ST_OK;
    be->reason[0] = '\0';
    if (n == 0) {
        size_t len = strnlen(be->status.reason, sizeof be->status.reason - 1);
        memcpy(be->reason, be->status.reason, len);
        be->reason[len] = '\0';
    }
}

st_backend *st_backend_get(int i)
{
    if (i < 0 || i >= N_KNOWN) return NULL;
    pthread_mutex_lock(&lock);
    if (!backends[i].tried) start_backend(&backends[i], i);
    pthread_mutex_unlock(&lock);
    return &backends[i];
}

static void fill_info(int i, st_backend_info *out)
{
    st_backend *be = st_backend_get(i);
    out->name = known_names[i];
    out->loaded = be->loaded;
    out->device_count = be->loaded ? be->status.device_count : 0;
    out->plugin_path = be->path;
    out->reason = be->reason;
    out->runtime = be->loaded ? be->status.runtime : "";
}

st_status st_backend_info_get(int i, st_backend_info *out)
{
    if (!out || i < 0 || i >= N_KNOWN)
        return ST_ERR(ST_ERR_INVALID_ARG, "backend index %d out of range [0, %d) or NULL out", i,
                      N_KNOWN);
    fill_info(i, out);
    return ST_OK;
}

st_status st_backend_info_by_name(const char *name, st_backend_info *out)
{
    int i = st_backend_index(name);
    if (i < 0)
        return ST_ERR(ST_ERR_UNKNOWN_BACKEND, "unknown backend '%s'; known backends: %s",
                      name ? name : "(null)", st_backend_known_list());
    return st_backend_info_get(i, out);
}

st_status st_device_get(const char *name, int index, st_device **out)
{
    if (!out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL out");
    int i = st_backend_index(name);
    if (i < 0)
        return ST_ERR(ST_ERR_UNKNOWN_BACKEND, "unknown backend '%s'; known backends: %s",
                      name ? name : "(null)", st_backend_known_list());
    st_backend *be = st_backend_get(i);
    if (!be->loaded)
        return ST_ERR(be->fail ? be->fail : ST_ERR_BACKEND_UNAVAILABLE,
                      "backend '%s' cannot be used: %s", name, be->reason);
    if (be->status.device_count == 0)
        return ST_ERR(ST_ERR_NO_DEVICE, "backend '%s' has no device: %s", name, be->reason);
    if (index < 0 || index >= be->status.device_count)
        return ST_ERR(ST_ERR_NO_DEVICE, "backend '%s' has %d device(s); index %d is out of range",
                      name, be->status.device_count, index);
    *out = &be->devices[index];
    return ST_OK;
}

st_status st_device_props_get(const st_device *dev, st_device_props *out)
{
    if (!dev || !out) return ST_ERR(ST_ERR_INVALID_ARG, "NULL device or out");
    memset(out, 0, sizeof *out);
    ST_TRY(dev->be->iface->device_props(dev->be->ctx, dev->index, out));
    out->backend = dev->be->iface->name;
    out->index = dev->index;
    return ST_OK;
}

const char *st_device_label(const st_device *dev) { return dev ? dev->label : "(null)"; }

const char *st_device_backend(const st_device *dev) { return dev ? dev->be->iface->name : "(null)"; }

st_status st_device_sync(st_device *dev)
{
    if (!dev) return ST_ERR(ST_ERR_INVALID_ARG, "NULL device");
    return dev->be->iface->sync(dev->be->ctx, dev->index);
}

void st_shutdown(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < N_KNOWN; i++) {
        st_backend *be = &backends[i];
        if (be->loaded && be->iface->shutdown) be->iface->shutdown(be->ctx);
        if (be->dl) dlclose(be->dl);
        free(be->devices);
        memset(be, 0, sizeof *be);
    }
    pthread_mutex_unlock(&lock);
}
