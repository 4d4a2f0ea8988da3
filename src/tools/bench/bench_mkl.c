/* Intel's BLAS (oneMKL) as an optional second reference for the CPU's SGEMM: libmkl_rt, dlopened
 * with RTLD_LOCAL beside OpenBLAS (each library's cblas_sgemm is taken from its own handle), run on
 * the GNU OpenMP threading layer (the libgomp already in the process) with every OpenMP thread.
 * Found through STRATA_MKL (the library or its directory), the lib directory of an active
 * virtual environment, of STRATA_PYTHON's, of the repository's .venv (PyPI's `mkl` wheel puts
 * libmkl_rt.so.N there), else the loader's search path. Never needed: without it the rows are
 * skipped and the device line says why. On AMD CPUs MKL may choose a generic code path; strata-bench
 * records MKL's own rate whatever path it takes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <glob.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#ifndef STRATA_BENCH_SOURCE_DIR
#define STRATA_BENCH_SOURCE_DIR "."
#endif

static struct {
    int tried;
    void *dl;
    bench_cblas_sgemm sgemm;
    char info[256];
} mkl;

/* dlopen of the newest libmkl_rt.so* in dir (or dir itself when it names a file); NULL if none. */
static void *open_in(const char *dir, char *path, size_t n)
{
    if (!dir || !*dir) return NULL;
    glob_t g;
    char pat[600];
    snprintf(pat, sizeof pat, "%s/libmkl_rt.so*", dir);
    void *dl = NULL;
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = g.gl_pathc; i-- > 0 && !dl;) /* sorted: the highest soname last */
            if ((dl = dlopen(g.gl_pathv[i], RTLD_NOW | RTLD_LOCAL))) snprintf(path, n, "%s", g.gl_pathv[i]);
        globfree(&g);
    }
    if (!dl && strstr(dir, "libmkl_rt") && (dl = dlopen(dir, RTLD_NOW | RTLD_LOCAL))) snprintf(path, n, "%s", dir);
    return dl;
}

/* The lib directory of a virtual environment given by its interpreter (VENV/bin/python). */
static void venv_lib(const char *python, char *out, size_t n)
{
    out[0] = 0;
    if (!python) return;
    snprintf(out, n, "%s", python);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(out, '/');
        if (!slash) return (void)(out[0] = 0);
        *slash = 0;
    }
    size_t len = strlen(out);
    if (len + 5 < n) memcpy(out + len, "/lib", 5);
}

static void *mkl_find(char *path, size_t n)
{
    char dir[512];
    void *dl = open_in(getenv("STRATA_MKL"), path, n);
    if (!dl && getenv("VIRTUAL_ENV")) {
        snprintf(dir, sizeof dir, "%s/lib", getenv("VIRTUAL_ENV"));
        dl = open_in(dir, path, n);
    }
    if (!dl) {
        venv_lib(getenv("STRATA_PYTHON"), dir, sizeof dir);
        dl = open_in(dir, path, n);
    }
    if (!dl) dl = open_in(STRATA_BENCH_SOURCE_DIR "/.venv/lib", path, n);
    static const char *const names[] = {"libmkl_rt.so", "libmkl_rt.so.3", "libmkl_rt.so.2"};
    for (size_t i = 0; !dl && i < sizeof names / sizeof names[0]; i++)
        if ((dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL))) snprintf(path, n, "%s", names[i]);
    return dl;
}

/* MKL's version and the code path it chose for this CPU (MKL_Get_Version's Processor). */
static void mkl_identity(char *out, size_t n)
{
    struct mkl_version {
        int major, minor, update;
        char *status, *build, *processor, *platform;
    } v = {0};
    void (*get)(struct mkl_version *) = NULL;
    *(void **)&get = dlsym(mkl.dl, "MKL_Get_Version");
    if (!get) return (void)snprintf(out, n, "oneMKL (version unknown)");
    get(&v);
    snprintf(out, n, "oneMKL %d.%d.%d, code path: %.90s", v.major, v.minor, v.update,
             v.processor ? v.processor : "unknown");
}

/* Opens MKL once: the GNU threading layer and LP64 before any other call, then its identity. */
static int mkl_open(void)
{
    if (mkl.tried) return mkl.sgemm != NULL;
    mkl.tried = 1;
    char path[600] = "";
    if (!(mkl.dl = mkl_find(path, sizeof path))) {
        snprintf(mkl.info, sizeof mkl.info, "MKL: skipped: libmkl_rt.so not found (STRATA_MKL, the venv's lib; "
                                            "pip install mkl)");
        return 0;
    }
    int (*layer)(int) = NULL, (*iface)(int) = NULL;
    *(void **)&layer = dlsym(mkl.dl, "MKL_Set_Threading_Layer");
    *(void **)&iface = dlsym(mkl.dl, "MKL_Set_Interface_Layer");
    *(void **)&mkl.sgemm = dlsym(mkl.dl, "cblas_sgemm");
    if (iface) iface(0); /* MKL_INTERFACE_LP64 */
    if (layer) layer(3); /* MKL_THREADING_GNU: the process's libgomp, not a second OpenMP runtime */
    char id[200];
    mkl_identity(id, sizeof id);
    if (!mkl.sgemm) snprintf(mkl.info, sizeof mkl.info, "MKL: skipped: %s has no cblas_sgemm", path);
    else snprintf(mkl.info, sizeof mkl.info, "MKL: %.150s (%.60s), GNU OpenMP layer", id, path);
    return mkl.sgemm != NULL;
}

const char *bench_mkl_describe(void)
{
    mkl_open();
    return mkl.info;
}

/* MKL's SGEMM at (m, n, k) as a row beside OpenBLAS's (a reference row, not the row's reference:
 * OpenBLAS stays that); nothing when MKL is not there. CPU backend only. */
void bench_ref_mkl_gemm(const bench_config *cfg, bench_report *r, bench_device *d, const char *suite, int m, int n,
                        int k, int trans_b)
{
    if (strcmp(d->backend, "cpu") != 0 || !mkl_open()) return;
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d%s f32", m, n, k, trans_b ? " B^T" : "");
    bench_row *row = bench_add_row(r, d, suite, "mkl_sgemm", shape, BENCH_GFLOPS, 2.0 * m * (double)n * k,
                                   4.0 * ((double)m * k + (double)k * n + (double)m * n));
    if (!row) return;
    row->baseline = 1;
    bench_progress(cfg, r, row);
    void (*threads)(int) = NULL;
    *(void **)&threads = dlsym(mkl.dl, "MKL_Set_Num_Threads");
    if (threads) threads(omp_get_max_threads());
    row->status = bench_cblas_time(mkl.sgemm, cfg, m, n, k, trans_b, &row->t);
    if (row->status == ST_ERR_OUT_OF_MEMORY)
        snprintf(row->error, sizeof row->error, "host buffers for %dx%dx%d", m, n, k);
}
