/* Strata's AVX-512 SGEMM (backends/cpu/cpu_sgemm*.c) against a naive double-precision loop on edge
 * shapes: every m, n, k in {0, 1, 3, ..., 1000} within a work budget, both transposes, padded
 * leading dimensions, alpha/beta (beta = 0 over NaN), batches with shared and strided B. Exit 77
 * (skipped) on a CPU without AVX-512. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_sgemm.h"

static const int64_t sizes[] = {0, 1, 3, 17, 31, 33, 64, 65, 127, 255, 1000};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))
#define PAD_SENTINEL 12345.0f

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1u << 24)) - 0.5f;
}

typedef struct gcase {
    int64_t m, n, k, batch, pad;
    int ta, tb, shared_b;
    float alpha, beta;
} gcase;

static int failures, cases;

/* Element (i, j) of op(X) for a stored matrix with row stride ld. */
static double at(const float *x, int64_t ld, int trans, int64_t i, int64_t j)
{
    return trans ? x[j * ld + i] : x[i * ld + j];
}

/* Checks one batch entry; returns 0 when every element is within tolerance and padding is intact. */
static int check_one(const gcase *t, const st_sgemm_args *g, const float *a, const float *b, const float *c0,
                     const float *c)
{
    for (int64_t i = 0; i < t->m; i++) {
        for (int64_t j = 0; j < g->ldc; j++) {
            float got = c[i * g->ldc + j];
            if (j >= t->n) {
                if (got != PAD_SENTINEL) return fprintf(stderr, "  padding of C written at (%lld,%lld)\n", (long long)i, (long long)j), 1;
                continue;
            }
            double ref = 0, scale = 0;
            for (int64_t p = 0; p < t->k; p++) {
                double v = at(a, g->lda, t->ta, i, p) * at(b, g->ldb, t->tb, p, j);
                ref += v;
                scale += fabs(v);
            }
            ref *= t->alpha;
            scale *= fabs(t->alpha);
            if (t->beta != 0.0f) {
                ref += (double)t->beta * c0[i * g->ldc + j];
                scale += fabs((double)t->beta * c0[i * g->ldc + j]);
            }
            double tol = 2e-7 * (double)(t->k + 2) * scale + 1e-30;
            if (!(fabs(got - ref) <= tol)) {
                fprintf(stderr, "  C(%lld,%lld) = %.9g, expected %.9g (tol %.3g)\n", (long long)i, (long long)j,
                        got, ref, tol);
                return 1;
            }
        }
    }
    return 0;
}

static float *fill(int64_t n, float v, int random)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = random ? rnd() : v;
    return x;
}

static void run_case(const gcase *t)
{
    int64_t ar = t->ta ? t->k : t->m, ac = t->ta ? t->m : t->k;
    int64_t br = t->tb ? t->n : t->k, bc = t->tb ? t->k : t->n;
    st_sgemm_args g = {.m = t->m, .n = t->n, .k = t->k, .batch = t->batch, .lda = ac + t->pad,
                       .ldb = bc + t->pad, .ldc = t->n + t->pad, .trans_a = t->ta, .trans_b = t->tb,
                       .alpha = t->alpha, .beta = t->beta};
    g.stride_a = ar * g.lda + 5;
    g.stride_b = t->shared_b ? 0 : br * g.ldb + 7;
    g.stride_c = t->m * g.ldc;
    int64_t na = g.stride_a * t->batch, nb = t->shared_b ? br * g.ldb : g.stride_b * t->batch;
    int64_t nc = g.stride_c * t->batch;
    float *a = fill(na, 0, 1), *b = fill(nb, 0, 1), *c = fill(nc, 0, 1), *c0 = fill(nc, 0, 0);
    for (int64_t i = 0; i < nc; i++) {
        int pad = i % g.ldc >= t->n;
        c[i] = pad ? PAD_SENTINEL : t->beta == 0.0f ? NAN : c[i];
        c0[i] = c[i];
    }
    g.a = a;
    g.b = b;
    g.c = c;
    cases++;
    int bad = st_cpu_sgemm(&g) != 0;
    for (int64_t e = 0; e < t->batch && !bad; e++)
        bad = check_one(t, &g, a + e * g.stride_a, b + e * g.stride_b, c0 + e * g.stride_c, c + e * g.stride_c);
    if (bad) {
        failures++;
        fprintf(stderr, "FAIL m=%lld n=%lld k=%lld batch=%lld pad=%lld ta=%d tb=%d shared_b=%d alpha=%g beta=%g\n",
                (long long)t->m, (long long)t->n, (long long)t->k, (long long)t->batch, (long long)t->pad, t->ta,
                t->tb, t->shared_b, t->alpha, t->beta);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
}

int main(void)
{
    if (!st_cpu_sgemm_supported()) {
        printf("SKIPPED: the CPU has no AVX-512\n");
        return 77;
    }
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {-1.5f, 1.0f}, {0.0f, 0.5f}};
    int v = 0;
    for (int x = 0; x < N_SIZES; x++)
        for (int y = 0; y < N_SIZES; y++)
            for (int z = 0; z < N_SIZES; z++) {
                int64_t m = sizes[x], n = sizes[y], k = sizes[z];
                if ((double)m * (double)n * (double)k > 3e6) continue;
                for (int tr = 0; tr < 4; tr++, v++) {
                    gcase t = {m, n, k, 1, v % 3 == 0 ? 3 : 0, tr & 1, tr >> 1, 0, ab[v % 4][0], ab[v % 4][1]};
                    run_case(&t);
                }
            }
    /* Large enough to use both threads, several k and n blocks, and the edge tiles. */
    gcase big[] = {
        {1000, 1000, 255, 1, 0, 0, 0, 0, 1.0f, 0.0f},  {255, 1000, 1000, 1, 5, 1, 1, 0, 0.5f, 2.0f},
        {1000, 65, 1000, 1, 1, 0, 1, 0, 1.0f, 1.0f},   {33, 1000, 1000, 1, 0, 1, 0, 0, 1.0f, 0.0f},
        {127, 255, 64, 6, 2, 0, 0, 1, 1.0f, 0.0f},     {127, 255, 64, 6, 0, 1, 1, 0, 2.0f, 1.0f},
        {17, 33, 31, 7, 1, 0, 1, 0, 1.0f, 0.0f},       {64, 64, 64, 2, 0, 1, 0, 1, -1.0f, 0.5f},
        {0, 17, 5, 3, 0, 0, 0, 0, 1.0f, 0.0f},         {3, 3, 0, 3, 1, 0, 0, 0, 1.0f, 2.0f},
        /* Partial panels of 2, 4, 7, 8 rows (the edge kernel; its 2-chain form with an odd k and
         * across k blocks) and of 12 (the full kernel into scratch), C read back (alpha 1, beta 1). */
        {1024, 96, 385, 1, 0, 0, 0, 0, 1.0f, 1.0f},   {18, 70, 31, 1, 0, 1, 0, 0, 1.0f, 0.0f},
        {7, 40, 9, 1, 2, 0, 1, 0, 0.5f, 2.0f},        {26, 33, 100, 1, 0, 0, 0, 0, 1.0f, 0.0f},
        {50, 64, 129, 3, 0, 0, 0, 1, 1.0f, 1.0f},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) run_case(&big[i]);
    printf("%s: %d cases, %d failed (%s)\n", failures ? "FAIL" : "PASS", cases, failures, st_cpu_sgemm_describe());
    return failures ? 1 : 0;
}
