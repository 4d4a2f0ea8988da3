/* strata-bench's vendor baselines: which library is the reference on each backend, the CPU's
 * (OpenBLAS sgemm from the instance the CPU backend loaded, and a plain OpenMP copy loop), and
 * the reference rows placed beside Strata's. CLBlast and cuBLAS live in their own files, built
 * only when CMake finds them (cuBLAS as a module loaded at run time); rocBLAS is not packaged by Debian and never built here. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#ifdef STRATA_BENCH_CLBLAST
extern const bench_vendor bench_vendor_clblast;
#endif

/* cuBLAS lives in a module (libstrata-bench-cublas.so, next to libstrata) loaded on first use, so
 * that strata-bench starts on machines without the CUDA libraries. */
static const bench_vendor *cublas_vendor(char *why, size_t whylen)
{
    static void *dl;
    if (!dl) dl = bench_module_open("libstrata-bench-cublas.so");
    const bench_vendor *v = dl ? dlsym(dl, "bench_vendor_cublas") : NULL;
    if (!v)
        snprintf(why, whylen, "cuBLAS: not available (%s)", dlerror());
    return v;
}

/* ---- OpenBLAS ---- */

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef struct openblas {
    void *dl;
    bench_cblas_sgemm sgemm;
    int (*get_threads)(void);
    void (*set_threads)(int);
} openblas;

static openblas blas;

/* The BLAS already in the process (the CPU backend's, found with RTLD_NOLOAD so that it is the
 * same instance with the same core), else a fresh OpenBLAS. */
static void *openblas_handle(const char **how)
{
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0"};
    *how = "the instance Strata loaded";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *dl = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
        if (dl) return dl;
    }
    *how = "loaded by strata-bench: Strata does not use it";
    return dlopen("libopenblas.so.0", RTLD_NOW);
}

void bench_openblas_describe(char *out, size_t len)
{
    const char *how;
    void *dl = openblas_handle(&how);
    char *(*config)(void) = NULL, *(*core)(void) = NULL;
    if (dl) {
        *(void **)&config = dlsym(dl, "openblas_get_config");
        *(void **)&core = dlsym(dl, "openblas_get_corename");
    }
    if (!dl) snprintf(out, len, "not loaded");
    else snprintf(out, len, "%s%s%s", config ? config() : "OpenBLAS", core ? ", core " : "", core ? core() : "");
}

static int openblas_open(bench_device *d)
{
    const char *how;
    if (!blas.dl && (blas.dl = openblas_handle(&how))) {
        *(void **)&blas.sgemm = dlsym(blas.dl, "cblas_sgemm");
        *(void **)&blas.get_threads = dlsym(blas.dl, "openblas_get_num_threads");
        *(void **)&blas.set_threads = dlsym(blas.dl, "openblas_set_num_threads");
        char id[160];
        bench_openblas_describe(id, sizeof id);
        snprintf(d->vendor_info, sizeof d->vendor_info, "%.160s (%.50s), sgemm on %d threads", id, how,
                 blas.set_threads ? omp_get_max_threads() : 1);
    }
    if (!blas.sgemm) snprintf(d->vendor_info, sizeof d->vendor_info, "OpenBLAS: %s", blas.dl ? "no cblas_sgemm" : dlerror());
    return blas.sgemm != NULL;
}

typedef struct gemm_ctx {
    bench_cblas_sgemm fn;
    int m, n, k, trans_b;
    float *a, *b, *c;
} gemm_ctx;

static st_status run_cblas(void *p)
{
    gemm_ctx *g = p;
    g->fn(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, g->trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, g->m, g->n, g->k, 1.0f, g->a,
          g->k, g->b, g->trans_b ? g->k : g->n, 0.0f, g->c, g->n);
    return ST_OK;
}

st_status bench_cblas_time(bench_cblas_sgemm fn, const bench_config *cfg, int m, int n, int k, int trans_b,
                           bench_stats *t)
{
    gemm_ctx g = {fn, m, n, k, trans_b, malloc((size_t)m * k * 4), malloc((size_t)k * n * 4),
                  malloc((size_t)m * n * 4)};
    st_status s = ST_ERR_OUT_OF_MEMORY;
    if (g.a && g.b && g.c) {
        for (size_t i = 0; i < (size_t)m * k; i++) g.a[i] = (float)(i % 7) * 0.25f - 0.75f;
        for (size_t i = 0; i < (size_t)k * n; i++) g.b[i] = (float)(i % 5) * 0.5f - 1.0f;
        s = bench_time(cfg, run_cblas, &g, t);
    }
    free(g.a);
    free(g.b);
    free(g.c);
    return s;
}

/* The CPU backend runs OpenBLAS single-threaded on its own OpenMP threads; as the reference it
 * gets every thread, its own way. */
static st_status openblas_gemm(bench_device *d, const bench_config *cfg, int m, int n, int k, int trans_b,
                               bench_stats *t)
{
    int saved = blas.get_threads && blas.set_threads ? blas.get_threads() : 0;
    if (saved) blas.set_threads(omp_get_max_threads());
    st_status s = bench_cblas_time(blas.sgemm, cfg, m, n, k, trans_b, t);
    if (saved) blas.set_threads(saved);
    if (s == ST_ERR_OUT_OF_MEMORY)
        snprintf(d->vendor_error, sizeof d->vendor_error, "host buffers for %dx%dx%d", m, n, k);
    return s;
}

typedef struct copy_ctx {
    float *src, *dst;
    size_t n;
} copy_ctx;

/* The same static split as the first touch, so each thread copies the pages it placed. */
static st_status run_cpu_copy(void *p)
{
    copy_ctx *c = p;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = c->n * (size_t)t / (size_t)nt, hi = c->n * (size_t)(t + 1) / (size_t)nt;
        memcpy(c->dst + lo, c->src + lo, (hi - lo) * sizeof(float));
    }
    return ST_OK;
}

static st_status cpu_copy(bench_device *d, const bench_config *cfg, double bytes, bench_stats *t)
{
    copy_ctx c = {NULL, NULL, (size_t)(bytes / 8.0)};
    if (c.n == 0) c.n = 1;
    c.src = aligned_alloc(64, (c.n * 4 + 63) / 64 * 64);
    c.dst = aligned_alloc(64, (c.n * 4 + 63) / 64 * 64);
    st_status s = ST_ERR_OUT_OF_MEMORY;
    if (c.src && c.dst) {
#pragma omp parallel
        {
            int th = omp_get_thread_num(), nt = omp_get_num_threads();
            for (size_t i = c.n * (size_t)th / (size_t)nt; i < c.n * (size_t)(th + 1) / (size_t)nt; i++)
                c.src[i] = c.dst[i] = 1.0f;
        }
        s = bench_time(cfg, run_cpu_copy, &c, t);
    } else {
        snprintf(d->vendor_error, sizeof d->vendor_error, "host buffers of %.0f bytes", bytes);
    }
    free(c.src);
    free(c.dst);
    return s;
}

static const bench_vendor vendor_openblas = {"openblas_sgemm", "copy_kernel", openblas_open, openblas_gemm,
                                             cpu_copy, NULL, NULL};

const bench_vendor *bench_vendor_for(const char *backend, char *why, size_t whylen)
{
    if (strcmp(backend, "cpu") == 0) return &vendor_openblas;
#ifdef STRATA_BENCH_CLBLAST
    if (strcmp(backend, "opencl") == 0) return &bench_vendor_clblast;
#endif
    if (strcmp(backend, "cuda") == 0) return cublas_vendor(why, whylen);
    if (strcmp(backend, "hip") == 0) snprintf(why, whylen, "rocBLAS: not available in this build (Debian has no rocBLAS package)");
    else if (strcmp(backend, "opencl") == 0) snprintf(why, whylen, "CLBlast: not available in this build");
    else snprintf(why, whylen, "no vendor library known for backend %s", backend);
    return NULL;
}

/* ---- reference rows ---- */

static void link_ref(bench_report *r, int row_index, const bench_row *ref)
{
    if (row_index < 0 || ref->status != ST_OK) return;
    bench_row *row = &r->rows[row_index];
    snprintf(row->ref, sizeof row->ref, "%s", ref->op);
    row->ref_rate = bench_rate(ref, ref->t.median);
}

void bench_ref_gemm(const bench_config *cfg, bench_report *r, bench_device *d, const char *suite, int m, int n,
                    int k, int trans_b, int row_index)
{
    if (!d->vendor || !d->vendor->gemm) return;
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d%s f32", m, n, k, trans_b ? " B^T" : "");
    bench_row *ref = bench_add_row(r, d, suite, d->vendor->gemm_name, shape, BENCH_GFLOPS, 2.0 * m * (double)n * k,
                                   4.0 * ((double)m * k + (double)k * n + (double)m * n));
    if (!ref) return;
    ref->baseline = 1;
    bench_progress(cfg, r, ref);
    d->vendor_error[0] = '\0';
    ref->status = d->vendor->gemm(d, cfg, m, n, k, trans_b, &ref->t);
    if (ref->status != ST_OK) snprintf(ref->error, sizeof ref->error, "%s", d->vendor_error);
    link_ref(r, row_index, ref);
}

void bench_ref_copy(const bench_config *cfg, bench_report *r, bench_device *d, const char *suite, double bytes,
                    int row_index)
{
    if (!d->vendor || !d->vendor->copy) return;
    for (int i = 0; i < d->n_copies; i++) {
        if (d->copies[i].bytes != bytes) continue;
        if (row_index >= 0 && d->copies[i].status == ST_OK) {
            bench_row *row = &r->rows[row_index];
            snprintf(row->ref, sizeof row->ref, "%s", d->vendor->copy_name);
            row->ref_rate = bytes / d->copies[i].t.median * 1e-9;
        }
        return;
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%.0f bytes", bytes);
    bench_row *ref = bench_add_row(r, d, suite, d->vendor->copy_name, shape, BENCH_GBPS, 0, bytes);
    if (!ref) return;
    ref->baseline = 1;
    bench_progress(cfg, r, ref);
    d->vendor_error[0] = '\0';
    ref->status = d->vendor->copy(d, cfg, bytes, &ref->t);
    if (ref->status != ST_OK) snprintf(ref->error, sizeof ref->error, "%s", d->vendor_error);
    if (d->n_copies < BENCH_COPY_CACHE) d->copies[d->n_copies++] = (bench_copy_ref){bytes, ref->t, ref->status};
    link_ref(r, row_index, ref);
}
