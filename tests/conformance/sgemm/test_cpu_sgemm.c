/* Strata's SGEMM (backends/cpu/cpu_sgemm*.c), every kernel this CPU runs (AVX-512 14x32, AVX2 6x16;
 * the others are named as skipped), against a naive double-precision loop on edge shapes: every
 * m, n, k in {0, 1, 3, ..., 1000} within a work budget, both transposes, padded leading
 * dimensions, alpha/beta (beta = 0 over NaN), batches with shared and strided B; then the same
 * with bf16 A, B or both (widened while packing), against the loop on the bf16 values. Exit 77
 * (skipped) on a CPU with no kernel. */
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
/* The kernel under test and the operand types of the current pass. */
static st_sgemm_isa cur_isa;
static st_sgemm_type cur_a = ST_SGEMM_F32, cur_b = ST_SGEMM_F32;

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

/* For a bf16 operand: rounds x to bf16 in place (so the reference uses the exact bf16 values) and
 * returns the bf16 copy that the SGEMM reads; NULL for f32. */
static uint16_t *as_bf16(float *x, int64_t n, st_sgemm_type type)
{
    if (type != ST_SGEMM_BF16) return NULL;
    uint16_t *h = malloc((size_t)(n > 0 ? n : 1) * sizeof(uint16_t));
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        h[i] = (uint16_t)(u >> 16);
        u = (uint32_t)h[i] << 16;
        memcpy(&x[i], &u, 4);
    }
    return h;
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
    uint16_t *ha = as_bf16(a, na, cur_a), *hb = as_bf16(b, nb, cur_b);
    g.a = ha ? (const void *)ha : a;
    g.b = hb ? (const void *)hb : b;
    g.a_type = cur_a;
    g.b_type = cur_b;
    g.c = c;
    cases++;
    int bad = st_cpu_sgemm(cur_isa, &g) != 0;
    for (int64_t e = 0; e < t->batch && !bad; e++)
        bad = check_one(t, &g, a + e * g.stride_a, b + e * g.stride_b, c0 + e * g.stride_c, c + e * g.stride_c);
    if (bad) {
        failures++;
        fprintf(stderr, "FAIL %s a=%s b=%s m=%lld n=%lld k=%lld batch=%lld pad=%lld ta=%d tb=%d shared_b=%d "
                "alpha=%g beta=%g\n", st_cpu_sgemm_isa_name(cur_isa), cur_a ? "bf16" : "f32", cur_b ? "bf16" : "f32",
                (long long)t->m, (long long)t->n, (long long)t->k, (long long)t->batch, (long long)t->pad, t->ta,
                t->tb, t->shared_b, t->alpha, t->beta);
    }
    free(ha);
    free(hb);
    free(a);
    free(b);
    free(c);
    free(c0);
}

/* Every size triple within the work budget, each transpose pair; `every` > 1 keeps one in `every`
 * (the bf16 passes). */
static void run_sizes(int every)
{
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {-1.5f, 1.0f}, {0.0f, 0.5f}};
    int v = 0;
    for (int x = 0; x < N_SIZES; x++)
        for (int y = 0; y < N_SIZES; y++)
            for (int z = 0; z < N_SIZES; z++) {
                int64_t m = sizes[x], n = sizes[y], k = sizes[z];
                if ((double)m * (double)n * (double)k > 3e6) continue;
                for (int tr = 0; tr < 4; tr++, v++) {
                    if (v % every) continue;
                    gcase t = {m, n, k, 1, v % 3 == 0 ? 3 : 0, tr & 1, tr >> 1, 0, ab[v % 4][0], ab[v % 4][1]};
                    run_case(&t);
                }
            }
}

/* Large enough to use both threads, several k and n blocks, and the edge tiles. */
static void run_big(void)
{
    gcase big[] = {
        {1000, 1000, 255, 1, 0, 0, 0, 0, 1.0f, 0.0f},  {255, 1000, 1000, 1, 5, 1, 1, 0, 0.5f, 2.0f},
        {1000, 65, 1000, 1, 1, 0, 1, 0, 1.0f, 1.0f},   {33, 1000, 1000, 1, 0, 1, 0, 0, 1.0f, 0.0f},
        {127, 255, 64, 6, 2, 0, 0, 1, 1.0f, 0.0f},     {127, 255, 64, 6, 0, 1, 1, 0, 2.0f, 1.0f},
        {17, 33, 31, 7, 1, 0, 1, 0, 1.0f, 0.0f},       {64, 64, 64, 2, 0, 1, 0, 1, -1.0f, 0.5f},
        {0, 17, 5, 3, 0, 0, 0, 0, 1.0f, 0.0f},         {3, 3, 0, 3, 1, 0, 0, 0, 1.0f, 2.0f},
        /* Partial panels of 2, 4, 7, 8 rows (the AVX-512 edge kernel; its 2-chain form with an odd
         * k and across k blocks) and of 12 (the full kernel into scratch), C read back (alpha 1,
         * beta 1); for the 6-row AVX2 kernel, partial panels of 4, 1, 2 rows. */
        {1024, 96, 385, 1, 0, 0, 0, 0, 1.0f, 1.0f},   {18, 70, 31, 1, 0, 1, 0, 0, 1.0f, 0.0f},
        {7, 40, 9, 1, 2, 0, 1, 0, 0.5f, 2.0f},        {26, 33, 100, 1, 0, 0, 0, 0, 1.0f, 0.0f},
        {50, 64, 129, 3, 0, 0, 0, 1, 1.0f, 1.0f},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) run_case(&big[i]);
}

/* The panel packer on its own, for every panel width of both kernels (the AVX-512 kernel's 14 and
 * 32 are checked here on any CPU with AVX2, though only an AVX-512 CPU runs that kernel): both
 * layouts, f32 and bf16, full and partial panels, k steps around the 8-step blocks. Returns the
 * number of failed packs. */
static int check_packing(void)
{
    static const int64_t widths[] = {6, 14, 16, 32}, kcs[] = {1, 7, 8, 9, 33};
    int bad = 0;
    for (int w = 0; w < 4; w++)
        for (int kk = 0; kk < 5; kk++)
            for (int v = 0; v < 8; v++) {
                int64_t p = widths[w], kc = kcs[kk], n = v & 4 ? p - 3 : p, ld = (v & 1 ? kc : p) + 3;
                int strided = v & 1;
                st_sgemm_type type = v & 2 ? ST_SGEMM_BF16 : ST_SGEMM_F32;
                int64_t len = (strided ? p : kc) * ld;
                float *x = fill(len, 0, 1), *dst = fill(p * kc + 1, NAN, 0);
                uint16_t *h = as_bf16(x, len, type);
                dst[p * kc] = PAD_SENTINEL;
                st_sgemm_pack_panel(dst, p, h ? (const void *)h : x, type, ld, strided, n, kc);
                int ok = dst[p * kc] == PAD_SENTINEL;
                for (int64_t k = 0; k < kc && ok; k++)
                    for (int64_t i = 0; i < p && ok; i++) {
                        float want = i >= n ? 0.0f : strided ? x[i * ld + k] : x[k * ld + i];
                        ok = dst[k * p + i] == want;
                    }
                if (!ok) {
                    bad++;
                    fprintf(stderr, "FAIL pack p=%lld kc=%lld n=%lld strided=%d %s\n", (long long)p, (long long)kc,
                            (long long)n, strided, type == ST_SGEMM_BF16 ? "bf16" : "f32");
                }
                free(x);
                free(dst);
                free(h);
            }
    return bad;
}

int main(void)
{
    static const st_sgemm_isa isas[] = {ST_SGEMM_AVX512, ST_SGEMM_AVX2};
    static const st_sgemm_type types[][2] = {{ST_SGEMM_BF16, ST_SGEMM_F32}, {ST_SGEMM_F32, ST_SGEMM_BF16},
                                            {ST_SGEMM_BF16, ST_SGEMM_BF16}};
    int ran = 0;
    if (st_cpu_sgemm_isa_supported(ST_SGEMM_AVX2)) {
        int bad = check_packing();
        failures += bad;
        printf("%s panel packing (widths 6, 14, 16, 32; f32, bf16): 160 packs, %d failed\n", bad ? "FAIL" : "PASS",
               bad);
    }
    for (int i = 0; i < 2; i++) {
        cur_isa = isas[i];
        if (!st_cpu_sgemm_isa_supported(cur_isa)) {
            printf("SKIPPED kernel %s: this CPU lacks it\n", st_cpu_sgemm_isa_name(cur_isa));
            continue;
        }
        int before = failures, c0 = cases;
        cur_a = cur_b = ST_SGEMM_F32;
        run_sizes(1);
        run_big();
        for (int t = 0; t < 3; t++) {
            cur_a = types[t][0];
            cur_b = types[t][1];
            run_sizes(3);
            run_big();
        }
        printf("%s kernel %s: %d cases (f32, bf16 A/B/both), %d failed (%s)\n", failures > before ? "FAIL" : "PASS",
               st_cpu_sgemm_isa_name(cur_isa), cases - c0, failures - before, st_cpu_sgemm_describe(cur_isa));
        ran++;
    }
    if (!ran) {
        printf("SKIPPED: the CPU has none of Strata's SGEMM kernels (AVX-512 or AVX2+FMA)\n");
        return 77;
    }
    return failures ? 1 : 0;
}
