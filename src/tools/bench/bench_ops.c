/* strata-bench's op cases: st_matmul at square sizes (with cblas_sgemm from the BLAS that the CPU
 * backend loaded as the reference), and elementwise and row-wise ops over large arrays.
 * Every timed call ends with st_device_sync, so asynchronous backends are timed to completion. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

static void row_fail(bench_row *row, st_status s)
{
    row->status = s;
    snprintf(row->error, sizeof row->error, "%s", st_last_error());
    st_clear_error();
}

static st_tensor *new_tensor(st_device *dev, int ndim, const int64_t *shape, st_status *s)
{
    st_tensor *t = NULL;
    if (*s == ST_OK) *s = st_tensor_create(dev, ST_F32, ndim, shape, &t);
    return t;
}

/* ---- matmul ---- */

typedef struct mm_ctx {
    st_device *dev;
    st_tensor *a, *b, *c;
} mm_ctx;

static st_status run_matmul(void *p)
{
    mm_ctx *m = p;
    st_status s = st_matmul(m->c, m->a, m->b, 0, 0, 1.0f, 0.0f);
    return s == ST_OK ? st_device_sync(m->dev) : s;
}

/* cblas_sgemm as OpenBLAS exports it (LP64: int sizes; the enums are ints). */
typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                         int lda, const float *b, int ldb, float beta, float *c, int ldc);
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111 };

typedef struct blas_ctx {
    sgemm_fn sgemm;
    int n;
    float *a, *b, *c;
} blas_ctx;

static st_status run_blas(void *p)
{
    blas_ctx *g = p;
    g->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b, g->n, 0.0f,
             g->c, g->n);
    return ST_OK;
}

/* OpenBLAS's thread count, when it exports the calls: the CPU backend runs it single-threaded
 * on its own OpenMP threads, but as a reference it gets every thread, its own way. */
static int (*blas_get_threads)(void);
static void (*blas_set_threads)(int);

/* cblas_sgemm from the BLAS already in the process (the CPU backend's, found with RTLD_NOLOAD so
 * that it is the same instance with the same core), else a fresh OpenBLAS. */
static sgemm_fn find_sgemm(bench_report *r)
{
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0"};
    void *dl = NULL;
    const char *how = "already loaded by Strata";
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !dl; i++)
        if ((dl = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD))) snprintf(r->blas, sizeof r->blas, "%s", names[i]);
    if (!dl && (dl = dlopen("libopenblas.so.0", RTLD_NOW))) {
        how = "loaded by strata-bench: Strata does not use it";
        snprintf(r->blas, sizeof r->blas, "libopenblas.so.0");
    }
    if (!dl) {
        snprintf(r->blas, sizeof r->blas, "none (%s)", dlerror());
        return NULL;
    }
    sgemm_fn f;
    *(void **)&f = dlsym(dl, "cblas_sgemm");
    char *(*corename)(void);
    *(void **)&corename = dlsym(dl, "openblas_get_corename");
    *(void **)&blas_get_threads = dlsym(dl, "openblas_get_num_threads");
    *(void **)&blas_set_threads = dlsym(dl, "openblas_set_num_threads");
    size_t len = strlen(r->blas);
    snprintf(r->blas + len, sizeof r->blas - len, " (%s)%s%s, timed on %d threads", how,
             corename ? ", core " : "", corename ? corename() : "",
             blas_set_threads && blas_get_threads ? omp_get_max_threads() : 1);
    return f;
}

static void bench_blas(const bench_config *cfg, bench_report *r, sgemm_fn sgemm, int n, const char *size)
{
    bench_row *row = bench_add_row(r, "cblas_sgemm", size, BENCH_GFLOPS, 2.0 * n * n * (double)n);
    if (!row) return;
    row->reference = 1;
    size_t count = (size_t)n * (size_t)n;
    blas_ctx g = {sgemm, n, malloc(count * 4), malloc(count * 4), malloc(count * 4)};
    if (g.a && g.b && g.c) {
        for (size_t i = 0; i < count; i++) {
            g.a[i] = (float)(i % 7) * 0.25f - 0.75f;
            g.b[i] = (float)(i % 5) * 0.5f - 1.0f;
        }
        int saved = blas_get_threads && blas_set_threads ? blas_get_threads() : 0;
        if (saved) blas_set_threads(omp_get_max_threads());
        bench_time(cfg, run_blas, &g, &row->t);
        if (saved) blas_set_threads(saved);
    } else {
        row->status = ST_ERR_OUT_OF_MEMORY;
        snprintf(row->error, sizeof row->error, "host buffers for N=%d", n);
    }
    free(g.a);
    free(g.b);
    free(g.c);
}

void bench_matmul(const bench_config *cfg, st_device *dev, bench_report *r)
{
    static const int sizes[] = {256, 512, 1024, 2048};
    sgemm_fn sgemm = NULL;
    int is_cpu = strcmp(st_device_backend(dev), "cpu") == 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int n = sizes[i];
        char size[40];
        snprintf(size, sizeof size, "N=%d f32", n);
        bench_row *row = bench_add_row(r, "matmul", size, BENCH_GFLOPS, 2.0 * n * n * (double)n);
        if (!row) return;
        row->target = n >= 1024 ? 1 : 0;
        st_status s = ST_OK;
        int64_t shape[2] = {n, n};
        mm_ctx m = {dev, new_tensor(dev, 2, shape, &s), new_tensor(dev, 2, shape, &s), new_tensor(dev, 2, shape, &s)};
        if (s == ST_OK) s = st_rand_uniform(m.a, 1, 0, -1.0f, 1.0f);
        if (s == ST_OK) s = st_rand_uniform(m.b, 2, 0, -1.0f, 1.0f);
        double before = is_cpu ? bench_fma_now(cfg, r) : 0.0;
        if (s == ST_OK) s = bench_time(cfg, run_matmul, &m, &row->t);
        if (s != ST_OK) row_fail(row, s);
        st_tensor_free(m.a);
        st_tensor_free(m.b);
        st_tensor_free(m.c);
        /* After Strata's first matmul, so that its BLAS is loaded and can be found. */
        if (is_cpu && i == 0) sgemm = find_sgemm(r);
        if (sgemm) bench_blas(cfg, r, sgemm, n, size);
        double after = is_cpu ? bench_fma_now(cfg, r) : 0.0;
        /* the rows of this size: Strata's and the BLAS's, compared with the same yardstick */
        for (bench_row *x = row; x < r->rows + r->n_rows; x++) x->yardstick = before > after ? before : after;
    }
}

/* ---- elementwise and row-wise ops over cfg->stream_elems elements ---- */

enum { ROW = 1024 }; /* row length of the row-wise cases */

typedef struct ew_ctx {
    st_device *dev;
    st_tensor *out, *a, *b;                 /* (n) */
    st_tensor *out2, *a2;                   /* the same storage seen as (n / ROW, ROW) */
    st_tensor *mean, *rstd, *w, *bias, *one; /* (n / ROW), (ROW), and a single element */
    st_status (*op)(struct ew_ctx *);
} ew_ctx;

static st_status op_add(ew_ctx *c) { return st_add(c->out, c->a, c->b); }
static st_status op_mul(ew_ctx *c) { return st_mul(c->out, c->a, c->b); }
static st_status op_scale(ew_ctx *c) { return st_scale(c->out, c->a, 2.0f, 1.0f); }
static st_status op_gelu(ew_ctx *c) { return st_gelu(c->out, c->a); }
static st_status op_copy(ew_ctx *c) { return st_copy(c->out, c->a); }
static st_status op_softmax(ew_ctx *c) { return st_softmax(c->out2, c->a2, 0); }
static st_status op_layernorm(ew_ctx *c)
{
    return st_layernorm(c->out2, c->mean, c->rstd, c->a2, c->w, c->bias, 1e-5f);
}
static st_status op_sumsq(ew_ctx *c) { return st_sumsq(c->one, c->a); }

/* arrays: how many n-element arrays one call streams (reads + writes), as the triad counts. */
static const struct ew_case {
    const char *name;
    int arrays, target;
    st_status (*op)(ew_ctx *);
} ew_cases[] = {
    {"add", 3, 2, op_add},         {"mul", 3, 2, op_mul},         {"scale", 2, 2, op_scale},
    {"gelu", 2, 2, op_gelu},       {"copy", 2, 2, op_copy},       {"softmax", 2, 0, op_softmax},
    {"layernorm", 2, 0, op_layernorm}, {"sumsq", 1, 0, op_sumsq},
};

static st_status run_ew(void *p)
{
    ew_ctx *c = p;
    st_status s = c->op(c);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

static st_status ew_setup(ew_ctx *c, st_device *dev, int64_t n)
{
    st_status s = ST_OK;
    int64_t rows[2] = {n / ROW, ROW}, one = 1;
    c->dev = dev;
    c->out = new_tensor(dev, 1, &n, &s);
    c->a = new_tensor(dev, 1, &n, &s);
    c->b = new_tensor(dev, 1, &n, &s);
    c->mean = new_tensor(dev, 1, &rows[0], &s);
    c->rstd = new_tensor(dev, 1, &rows[0], &s);
    c->w = new_tensor(dev, 1, &rows[1], &s);
    c->bias = new_tensor(dev, 1, &rows[1], &s);
    c->one = new_tensor(dev, 1, &one, &s);
    if (s == ST_OK) s = st_tensor_reshape(c->out, 2, rows, &c->out2);
    if (s == ST_OK) s = st_tensor_reshape(c->a, 2, rows, &c->a2);
    /* Fills touch every page once, before any timing. */
    if (s == ST_OK) s = st_rand_uniform(c->a, 3, 0, -2.0f, 2.0f);
    if (s == ST_OK) s = st_rand_uniform(c->b, 4, 0, -2.0f, 2.0f);
    if (s == ST_OK) s = st_fill(c->out, 0.0);
    if (s == ST_OK) s = st_fill(c->w, 1.0);
    if (s == ST_OK) s = st_fill(c->bias, 0.0);
    if (s == ST_OK) s = st_device_sync(dev);
    return s;
}

static void ew_free(ew_ctx *c)
{
    st_tensor *all[] = {c->out, c->a, c->b, c->out2, c->a2, c->mean, c->rstd, c->w, c->bias, c->one};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) st_tensor_free(all[i]);
}

void bench_elementwise(const bench_config *cfg, st_device *dev, bench_report *r)
{
    int is_cpu = strcmp(st_device_backend(dev), "cpu") == 0;
    int64_t n = cfg->stream_elems / ROW * ROW;
    ew_ctx c = {0};
    char setup_error[256] = "";
    st_status setup = ew_setup(&c, dev, n);
    if (setup != ST_OK) snprintf(setup_error, sizeof setup_error, "setup: %s", st_last_error());
    for (size_t i = 0; i < sizeof ew_cases / sizeof ew_cases[0]; i++) {
        const struct ew_case *e = &ew_cases[i];
        char size[40];
        snprintf(size, sizeof size, "%lldM f32, %d array%s", (long long)(n >> 20), e->arrays, e->arrays == 1 ? "" : "s");
        bench_row *row = bench_add_row(r, e->name, size, BENCH_GBPS, (double)e->arrays * (double)n * 4.0);
        if (!row) break;
        row->target = e->target;
        c.op = e->op;
        if (setup != ST_OK) {
            row->status = setup;
            snprintf(row->error, sizeof row->error, "%s", setup_error);
            continue;
        }
        double before = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        st_status s = bench_time(cfg, run_ew, &c, &row->t);
        if (s != ST_OK) row_fail(row, s);
        double after = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        row->yardstick = before > after ? before : after;
    }
    ew_free(&c);
}
