/* strata-bench's machine probes, the yardsticks of the CPU backend's figures, measured in the
 * same run: the f32 FMA peak (a register-only loop of independent FMAs on every OpenMP thread)
 * and the memory bandwidth of a STREAM-style triad a[i] = b[i] + s * c[i].
 * The ISA is picked at run time (target attributes), as libstrata does: no -march here. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

/* Iterations of the FMA loop per thread and call: ~25 ms at 2 FMA pipes x 16 lanes. */
#define FMA_ITERS 10000000

/* 16 chains: enough to cover the FMA latency (4 cycles) times 2 pipes with room to spare.
 * a = a * m + c converges (to c / (1 - m)), so values stay finite for any iteration count. */
#define ACC16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define ACC12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f,fma"))) static float fma_avx512(long iters)
{
    const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps(1.0f + 0.01f * i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    ACC16(DECL)
    for (long it = 0; it < iters; it++) {
        ACC16(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    ACC16(SUM)
    return _mm512_reduce_add_ps(s);
#undef DECL
#undef STEP
#undef SUM
}

/* AVX2 has 16 ymm registers: 12 chains plus the two constants. */
__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps(1.0f + 0.01f * i);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    ACC12(DECL)
    for (long it = 0; it < iters; it++) {
        ACC12(STEP)
    }
    __m256 s = _mm256_setzero_ps();
    ACC12(SUM)
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
#undef DECL
#undef STEP
#undef SUM
}

typedef struct fma_probe {
    float (*kernel)(long);
    volatile float sink; /* keeps the loops' results alive */
} fma_probe;

static st_status run_fma(void *ctx)
{
    fma_probe *p = ctx;
    float total = 0;
#pragma omp parallel reduction(+ : total)
    total += p->kernel(FMA_ITERS);
    p->sink = total;
    return ST_OK;
}

static fma_probe fma;
static double fma_flops; /* per call */

void bench_probe_fma(const bench_config *cfg, bench_report *r)
{
    __builtin_cpu_init();
    fma_probe p = {0};
    double flops_per_iter = 0;
    if (__builtin_cpu_supports("avx512f")) {
        p.kernel = fma_avx512;
        flops_per_iter = 16 * 16 * 2;
        r->fma_isa = "avx512f";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        p.kernel = fma_avx2;
        flops_per_iter = 12 * 8 * 2;
        r->fma_isa = "avx2";
    } else {
        r->fma_isa = "none";
    }
    char size[40];
    int threads = omp_get_max_threads();
    snprintf(size, sizeof size, "%d thread%s, %s", threads, threads == 1 ? "" : "s", r->fma_isa);
    bench_row *row = bench_add_row(r, NULL, "probe", "fma_probe", size, BENCH_GFLOPS, flops_per_iter * FMA_ITERS * threads, 0);
    if (!row) return;
    row->baseline = 1;
    if (!p.kernel) {
        row->status = ST_ERR_UNSUPPORTED;
        snprintf(row->error, sizeof row->error, "this CPU has neither AVX-512 nor AVX2+FMA");
        return;
    }
    bench_time(cfg, run_fma, &p, &row->t);
    r->peak_gflops = bench_rate(row, row->t.min);
    fma.kernel = p.kernel;
    fma_flops = row->flops;
}

/* A short re-run of a probe: best rate of a few calls, in GFLOP/s or GB/s (0 when unavailable). */
static double quick_best(const bench_config *cfg, bench_fn fn, void *ctx, double work)
{
    bench_config c = *cfg;
    c.min_reps = 3;
    c.max_reps = 5;
    c.budget_s = 0.0;
    bench_stats t;
    return bench_time(&c, fn, ctx, &t) == ST_OK && t.min > 0 ? work / t.min * 1e-9 : 0.0;
}

double bench_fma_now(const bench_config *cfg, bench_report *r)
{
    double g = fma.kernel ? quick_best(cfg, run_fma, &fma, fma_flops) : 0.0;
    if (g > r->peak_gflops) r->peak_gflops = g;
    return g;
}

/* ---- triad ---- */

static float *tri_a, *tri_b, *tri_c;
static int64_t tri_n;

/* Each thread's chunk, in the widest ISA the CPU has (chosen once, like the kernels'). */
__attribute__((target("avx512f"))) static void triad_avx512(float *a, const float *b, const float *c, float s,
                                                            int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

__attribute__((target("avx2"))) static void triad_avx2(float *a, const float *b, const float *c, float s, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

static void triad_sse(float *a, const float *b, const float *c, float s, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

/* The same with streaming (non-temporal) stores, which skip the read-for-ownership of `a`: for
 * information, it shows what an elementwise kernel could gain on outputs far beyond the cache. */
__attribute__((target("avx512f"))) static void triad_stream_avx512(float *a, const float *b, const float *c,
                                                                   float s, int64_t n)
{
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(a + i) & 63); i++) a[i] = b[i] + s * c[i];
    const __m512 vs = _mm512_set1_ps(s);
    for (; i + 16 <= n; i += 16)
        _mm512_stream_ps(a + i, _mm512_fmadd_ps(vs, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i)));
    for (; i < n; i++) a[i] = b[i] + s * c[i];
    _mm_sfence();
}

typedef void (*triad_fn)(float *, const float *, const float *, float, int64_t);
static triad_fn triad_plain;

/* The same static split as the first touch, so each thread streams the pages it placed. */
static st_status run_triad(void *ctx)
{
    triad_fn triad_chunk = *(triad_fn *)ctx;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = tri_n * t / nt, hi = tri_n * (t + 1) / nt;
        triad_chunk(tri_a + lo, tri_b + lo, tri_c + lo, 3.0f, hi - lo);
    }
    return ST_OK;
}

void bench_probe_triad(const bench_config *cfg, bench_report *r)
{
    tri_n = cfg->stream_elems;
    size_t bytes = (size_t)tri_n * sizeof(float);
    char size[40];
    snprintf(size, sizeof size, "3 x %lld MB", (long long)(bytes >> 20));
    bench_row *row = bench_add_row(r, NULL, "probe", "triad", size, BENCH_GBPS, 2.0 * (double)tri_n, 3.0 * (double)bytes);
    if (!row) return;
    row->baseline = 1;
    tri_a = aligned_alloc(64, bytes);
    tri_b = aligned_alloc(64, bytes);
    tri_c = aligned_alloc(64, bytes);
    if (!tri_a || !tri_b || !tri_c) {
        row->status = ST_ERR_OUT_OF_MEMORY;
        snprintf(row->error, sizeof row->error, "3 x %zu bytes for the triad", bytes);
        bench_probes_free();
        return;
    }
    triad_plain = __builtin_cpu_supports("avx512f") ? triad_avx512
                : __builtin_cpu_supports("avx2")    ? triad_avx2
                                                    : triad_sse;
    /* First touch, by the thread that will stream each part (see MEASUREMENTS.md on its cost). */
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int64_t i = tri_n * t / nt; i < tri_n * (t + 1) / nt; i++) {
            tri_a[i] = 0.0f;
            tri_b[i] = 1.0f;
            tri_c[i] = 2.0f;
        }
    }
    bench_time(cfg, run_triad, &triad_plain, &row->t);
    r->triad_gbps = bench_rate(row, row->t.min);
    if (!__builtin_cpu_supports("avx512f")) return;
    snprintf(size, sizeof size, "3 x %lld MB, stream stores", (long long)(bytes >> 20));
    if (!(row = bench_add_row(r, NULL, "probe", "triad_nt", size, BENCH_GBPS, 2.0 * (double)tri_n, 3.0 * (double)bytes))) return;
    triad_fn stream = triad_stream_avx512;
    bench_time(cfg, run_triad, &stream, &row->t);
}

double bench_triad_now(const bench_config *cfg, bench_report *r)
{
    double g = tri_a ? quick_best(cfg, run_triad, &triad_plain, 3.0 * (double)tri_n * sizeof(float)) : 0.0;
    if (g > r->triad_gbps) r->triad_gbps = g;
    return g;
}

void bench_probes_free(void)
{
    free(tri_a);
    free(tri_b);
    free(tri_c);
    tri_a = tri_b = tri_c = NULL;
}
