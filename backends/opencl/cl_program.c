/* The program holding every kernel of kernels_cl/: assembled from the embedded sources, built
 * once per device on first use, and cached on disk as a device binary keyed by device, driver,
 * options and source hash. A cache file is checked (magic, key, size, payload hash) before use;
 * anything that does not check out, or that the driver refuses, is rebuilt from source. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cl_internal.h"

#define ST_CL_BUILD_OPTIONS "-cl-std=CL1.2"
#define ST_CL_CACHE_MAGIC "STRATACL"
#define ST_CL_CACHE_FORMAT 1u

const char *const st_cl_kernel_names[ST_CL_K_COUNT] = {
#define ST_CL_KNAME_(F, ID, name, ...) [ST_CL_K_##ID] = "st_" #name,
    ST_OP_TABLE(ST_CL_KNAME_)
#undef ST_CL_KNAME_
    [ST_CL_K_LAYERNORM_BACKWARD_WB] = "st_layernorm_backward_wb",
    [ST_CL_K_ATTENTION_BACKWARD_KV] = "st_attention_backward_kv",
    [ST_CL_K_MATMUL_F32_NN] = "st_matmul_f32_nn",
};

typedef struct cache_header {
    char magic[8];
    uint32_t format, reserved;
    uint64_t key, size, hash;
} cache_header;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) { return fnv1a(h, s, strlen(s) + 1); }

/* All sources in one string, each preceded by a #line so that build logs name the file. */
static char *assemble_source(void)
{
    size_t n = 1;
    for (int i = 0; i < st_cl_source_count; i++)
        n += strlen(st_cl_source_texts[i]) + strlen(st_cl_source_names[i]) + 32;
    char *src = malloc(n), *p = src;
    if (!src) return NULL;
    for (int i = 0; i < st_cl_source_count; i++)
        p += sprintf(p, "#line 1 \"%s\"\n%s\n", st_cl_source_names[i], st_cl_source_texts[i]);
    return src;
}

/* Cache file path for this key, or 0 when no cache directory is usable (caching is then
 * skipped, which is not an error). */
static int cache_path(uint64_t key, char *path, size_t size)
{
    const char *dir = getenv("STRATA_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[3072];
    if (dir && *dir) snprintf(base, sizeof base, "%s", dir);
    else if (xdg && *xdg) snprintf(base, sizeof base, "%s/strata", xdg);
    else if (home && *home) snprintf(base, sizeof base, "%s/.cache/strata", home);
    else return 0;
    for (char *p = base + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(base, 0755);
        *p = '/';
    }
    if (mkdir(base, 0755) != 0 && errno != EEXIST) return 0;
    return snprintf(path, size, "%s/opencl-%016llx.bin", base, (unsigned long long)key) < (int)size;
}

/* The cached binary for `key`, or NULL when absent or not intact. */
static unsigned char *cache_load(const char *path, uint64_t key, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cache_header h;
    unsigned char *bin = NULL;
    long end = -1;
    if (fread(&h, sizeof h, 1, f) == 1 && memcmp(h.magic, ST_CL_CACHE_MAGIC, 8) == 0 &&
        h.format == ST_CL_CACHE_FORMAT && h.key == key && fseek(f, 0, SEEK_END) == 0)
        end = ftell(f);
    if (end >= 0 && (uint64_t)end == sizeof h + h.size && h.size > 0 &&
        fseek(f, (long)sizeof h, SEEK_SET) == 0 && (bin = malloc(h.size)) &&
        (fread(bin, 1, h.size, f) != h.size || fnv1a(0xcbf29ce484222325ull, bin, h.size) != h.hash)) {
        free(bin);
        bin = NULL;
    }
    fclose(f);
    if (bin) *size = h.size;
    return bin;
}

/* Written to a temporary name and renamed, so a concurrent reader never sees half a file. */
static void cache_store(const char *path, uint64_t key, const unsigned char *bin, size_t size)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    cache_header h = {.format = ST_CL_CACHE_FORMAT, .key = key, .size = size,
                      .hash = fnv1a(0xcbf29ce484222325ull, bin, size)};
    memcpy(h.magic, ST_CL_CACHE_MAGIC, 8);
    int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}

static unsigned char *program_binary(st_cl_device *d, size_t *size)
{
    if (clGetProgramInfo(d->prog, CL_PROGRAM_BINARY_SIZES, sizeof *size, size, NULL) != CL_SUCCESS || !*size)
        return NULL;
    unsigned char *bin = malloc(*size);
    if (bin && clGetProgramInfo(d->prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) != CL_SUCCESS) {
        free(bin);
        bin = NULL;
    }
    return bin;
}

/* The compiler's log is kept on the device so that every later call reports it too, without
 * building again. */
static st_status build_failure(st_cl_device *d, cl_int err)
{
    size_t n = 0;
    clGetProgramBuildInfo(d->prog, d->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = calloc(1, n + 1);
    if (log && n) clGetProgramBuildInfo(d->prog, d->id, CL_PROGRAM_BUILD_LOG, n, log, NULL);
    size_t size = n + 512;
    d->build_error = malloc(size);
    if (d->build_error)
        snprintf(d->build_error, size, "opencl: clBuildProgram(kernels_cl) on %s: %s; build log:\n%s",
                 d->name, st_cl_error_name(err), log ? log : "(no memory for the log)");
    free(log);
    d->build_state = -1;
    return ST_CL_ERR(ST_ERR_BACKEND, "%s", d->build_error ? d->build_error : "opencl: clBuildProgram failed");
}

/* Tries the cached binary first; returns with d->prog built or an error. */
static st_status build_program(st_cl_device *d, const char *src, const char *path, uint64_t key)
{
    size_t size = 0;
    unsigned char *bin = path[0] ? cache_load(path, key, &size) : NULL;
    cl_int err, bstatus;
    if (bin) {
        const unsigned char *bins[1] = {bin};
        d->prog = clCreateProgramWithBinary(d->ctx, 1, &d->id, &size, bins, &bstatus, &err);
        if (err == CL_SUCCESS && bstatus == CL_SUCCESS &&
            clBuildProgram(d->prog, 1, &d->id, ST_CL_BUILD_OPTIONS, NULL, NULL) == CL_SUCCESS) {
            free(bin);
            return ST_OK;
        }
        if (d->prog) clReleaseProgram(d->prog);
        d->prog = NULL;
        free(bin);
    }
    d->prog = clCreateProgramWithSource(d->ctx, 1, &src, NULL, &err);
    if (err != CL_SUCCESS) return ST_CL_CHECK(err, "clCreateProgramWithSource(kernels_cl)");
    err = clBuildProgram(d->prog, 1, &d->id, ST_CL_BUILD_OPTIONS, NULL, NULL);
    if (err != CL_SUCCESS) return build_failure(d, err);
    if (path[0] && (bin = program_binary(d, &size))) cache_store(path, key, bin, size);
    free(bin);
    return ST_OK;
}

static size_t pow2_floor(size_t n)
{
    size_t p = 1;
    while (p * 2 <= n) p *= 2;
    return p;
}

/* A kernel the program lacks (an op of the table without its kernel in kernels_cl/) stays NULL:
 * that op's calls fail naming it (st_cl_begin) and every other op still runs. */
static st_status create_kernels(st_cl_device *d)
{
    for (int k = 0; k < ST_CL_K_COUNT; k++) {
        cl_int err;
        d->kernel[k] = clCreateKernel(d->prog, st_cl_kernel_names[k], &err);
        d->kwg[k] = 1;
        if (err == CL_INVALID_KERNEL_NAME) {
            d->kernel[k] = NULL;
            continue;
        }
        if (err != CL_SUCCESS)
            return ST_CL_ERR(ST_ERR_BACKEND, "opencl: clCreateKernel(%s): %s", st_cl_kernel_names[k],
                             st_cl_error_name(err));
        size_t wg = 1;
        clGetKernelWorkGroupInfo(d->kernel[k], d->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
        d->kwg[k] = pow2_floor(wg < 256 ? (wg ? wg : 1) : 256);
    }
    return ST_OK;
}

static st_status build_all(st_cl_device *d)
{
    char *src = assemble_source();
    if (!src) return ST_CL_ERR(ST_ERR_OUT_OF_MEMORY, "opencl: assembling the kernel sources");
    uint64_t key = fnv_str(0xcbf29ce484222325ull, src);
    const char *parts[] = {d->name, d->vendor, d->version, d->driver, d->platform_version,
                           ST_CL_BUILD_OPTIONS};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) key = fnv_str(key, parts[i]);
    char path[4096] = "";
    if (!cache_path(key, path, sizeof path)) path[0] = '\0';
    st_status s = build_program(d, src, path, key);
    free(src);
    return s == ST_OK ? create_kernels(d) : s;
}

/* Other failures (no memory, a missing kernel) are retried on the next call. */
st_status st_cl_program_ready(st_cl_device *d)
{
    st_status s = ST_OK;
    pthread_mutex_lock(&d->build_lock);
    if (d->build_state == 0) {
        s = build_all(d);
        if (s == ST_OK) d->build_state = 1;
        else if (d->build_state == 0) st_cl_program_release(d);
    } else if (d->build_state < 0) {
        s = ST_CL_ERR(ST_ERR_BACKEND, "%s", d->build_error ? d->build_error : "opencl: clBuildProgram failed");
    }
    pthread_mutex_unlock(&d->build_lock);
    return s;
}

void st_cl_program_release(st_cl_device *d)
{
    for (int k = 0; k < ST_CL_K_COUNT; k++) {
        if (d->kernel[k]) clReleaseKernel(d->kernel[k]);
        d->kernel[k] = NULL;
    }
    if (d->prog) clReleaseProgram(d->prog);
    d->prog = NULL;
}
