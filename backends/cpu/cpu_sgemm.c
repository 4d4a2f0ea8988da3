/* Strata's packed SGEMM (BLIS-style loops around cpu_sgemm_kernel.c's 14x32 micro-kernel): cache
 * blocks sized from the CPU's caches at run time, the OpenMP team sharing one packed A block. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu_sgemm.h"

#define MR ST_SGEMM_MR
#define NR ST_SGEMM_NR

/* Cache blocks (BLIS's loop nest with A and B swapped, since C is row-major and its rows are
 * the vector direction): kc steps of a 14-row A panel live in L1 while the 32-column B panels of
 * a kc x nc block stream from L2; the packed mc x kc A block, shared by the threads, sits in L3. */
typedef struct blocks {
    int64_t kc, nc, mc;
    long l1, l2, l3;
} blocks;

static pthread_once_t blocks_once = PTHREAD_ONCE_INIT;
static blocks cache_blocks;
static char sgemm_desc[256];

static long cache_size(int name, long fallback)
{
    long v = sysconf(name);
    return v > 0 ? v : fallback;
}

static int64_t clamp_round(int64_t v, int64_t lo, int64_t hi, int64_t mult)
{
    v = v < lo ? lo : v > hi ? hi : v;
    return v / mult * mult;
}

/* The fractions follow BLIS's Skylake-X blocks (kc 384, a ~1 MiB L2), which give kc=384 and
 * nc=320 on a Zen 5 (48 KiB L1, 1 MiB L2): A's panel ~45% of L1 (the rest holds the B lines in
 * flight and C), B's block ~half of L2. The L3 that sysconf reports in a VM is often the host's
 * whole L3 (384 MiB here), so the A block is capped as well. */
static void init_blocks(void)
{
    blocks *b = &cache_blocks;
    b->l1 = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32 << 10);
    b->l2 = cache_size(_SC_LEVEL2_CACHE_SIZE, 1 << 20);
    b->l3 = cache_size(_SC_LEVEL3_CACHE_SIZE, 8 << 20);
    b->kc = clamp_round(b->l1 * 45 / 100 / (MR * 4), 128, 512, 16);
    b->nc = clamp_round(b->l2 / 2 / (b->kc * 4), 4 * NR, 4096, NR);
    b->mc = clamp_round(b->l3 / 4 / (b->kc * 4), 16 * MR, 300 * MR, MR);
    snprintf(sgemm_desc, sizeof sgemm_desc,
             "Strata AVX-512 %dx%d, blocks kc=%lld nc=%lld mc=%lld (L1 %ld KiB, L2 %ld KiB, L3 %ld KiB)",
             MR, NR, (long long)b->kc, (long long)b->nc, (long long)b->mc, b->l1 >> 10, b->l2 >> 10,
             b->l3 >> 10);
}

int st_cpu_sgemm_supported(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static st_cpu_gemm gemm_mode;
static const char *gemm_bad;          /* the unknown value of STRATA_CPU_GEMM */

static void init_mode(void)
{
    const char *v = getenv("STRATA_CPU_GEMM");
    if (!v || !*v || strcmp(v, "auto") == 0) gemm_mode = ST_CPU_GEMM_AUTO;
    else if (strcmp(v, "strata") == 0) gemm_mode = ST_CPU_GEMM_STRATA;
    else if (strcmp(v, "blas") == 0) gemm_mode = ST_CPU_GEMM_BLAS;
    else gemm_bad = v;
}

int st_cpu_gemm_mode(st_cpu_gemm *mode, const char **bad)
{
    pthread_once(&mode_once, init_mode);
    *mode = gemm_mode;
    *bad = gemm_bad;
    return gemm_bad ? -1 : 0;
}

const char *st_cpu_sgemm_describe(void)
{
    pthread_once(&blocks_once, init_blocks);
    return sgemm_desc;
}

#if defined(__x86_64__)
/* One product of the batch, addressed for the thread team. */
typedef struct product {
    const float *a, *b;
    float *c;
    const st_sgemm_args *g;
} product;

/* A tile at an edge of C: the kernel writes a full 14x32 scratch tile, the valid part is merged. */
static void edge_tile(int64_t kc, const float *pa, const float *pb, float *c, int64_t ldc, int64_t mr,
                      int64_t nr, float alpha, float beta)
{
    float t[MR * NR] __attribute__((aligned(64)));
    if (mr <= ST_SGEMM_EDGE_ROWS) st_sgemm_kernel_rows(kc, mr, pa, pb, t);
    else st_sgemm_kernel(kc, pa, pb, t, NR, 1.0f, 0.0f);
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++)
            c[i * ldc + j] = alpha * t[i * NR + j] + (beta != 0.0f ? beta * c[i * ldc + j] : 0.0f);
}

/* Part `part` of `parts` of the next A panel (`len` floats) into L1 while the current row of tiles
 * runs: the panel's first tile otherwise waits on L3 (kernel-only test, 10 tiles a row: ~5%). */
static void prefetch_share(const float *next, int64_t len, int64_t part, int64_t parts)
{
    for (int64_t l = len * part / parts / 16; l < len * (part + 1) / parts / 16; l++)
        __builtin_prefetch(next + l * 16, 0, 3);
}

/* C[m0:m0+mb, n0:n1] += A-block panels [p0, p1) times B columns [n0, n1), B packed nc at a time
 * into this thread's buffer. */
static void compute_range(const product *p, const float *pa, float *pb, int64_t m0, int64_t mb,
                          int64_t p0, int64_t p1, int64_t n0, int64_t n1, int64_t k0, int64_t kb,
                          float beta)
{
    const st_sgemm_args *g = p->g;
    int64_t nc = cache_blocks.nc;
    for (int64_t j0 = n0; j0 < n1; j0 += nc) {
        int64_t nb = n1 - j0 < nc ? n1 - j0 : nc;
        for (int64_t j = 0; j < nb; j += NR) {
            const float *src = g->trans_b ? p->b + (j0 + j) * g->ldb + k0 : p->b + k0 * g->ldb + j0 + j;
            st_sgemm_pack_b(pb + j * kb, src, g->ldb, g->trans_b, nb - j < NR ? nb - j : NR, kb);
        }
        for (int64_t pi = p0; pi < p1; pi++) {
            int64_t i = pi * MR, mr = mb - i < MR ? mb - i : MR;
            for (int64_t j = 0; j < nb; j += NR) {
                int64_t nr = nb - j < NR ? nb - j : NR;
                float *c = p->c + (m0 + i) * g->ldc + j0 + j;
                if (pi + 1 < p1) prefetch_share(pa + (i + MR) * kb, MR * kb, j / NR, (nb + NR - 1) / NR);
                if (mr == MR && nr == NR)
                    st_sgemm_kernel(kb, pa + i * kb, pb + j * kb, c, g->ldc, g->alpha, beta);
                else
                    edge_tile(kb, pa + i * kb, pb + j * kb, c, g->ldc, mr, nr, g->alpha, beta);
            }
        }
    }
}

/* This thread's share [*lo, *hi) of `count` units split among `nt`. */
static void share(int64_t count, int tid, int nt, int64_t *lo, int64_t *hi)
{
    *lo = count * tid / nt;
    *hi = count * (tid + 1) / nt;
}

/* One product on a team of nt threads (tid = this thread): the team packs each A block together,
 * then splits C by columns (each thread packing its own B columns) or, when C is too narrow,
 * by row panels. nt == 1 runs alone without barriers. */
static void run_product(const product *p, float *pa, float *pb, int tid, int nt)
{
    const st_sgemm_args *g = p->g;
    const blocks *bl = &cache_blocks;
    int split_n = g->n >= (int64_t)nt * 2 * NR;
    for (int64_t m0 = 0; m0 < g->m; m0 += bl->mc) {
        int64_t mb = g->m - m0 < bl->mc ? g->m - m0 : bl->mc, panels = (mb + MR - 1) / MR, lo, hi;
        for (int64_t k0 = 0; k0 < g->k; k0 += bl->kc) {
            int64_t kb = g->k - k0 < bl->kc ? g->k - k0 : bl->kc;
            share(panels, tid, nt, &lo, &hi);
            for (int64_t q = lo; q < hi; q++) {
                int64_t i = m0 + q * MR;
                const float *src = g->trans_a ? p->a + k0 * g->lda + i : p->a + i * g->lda + k0;
                int64_t next = q + 1 < hi ? mb - (q + 1) * MR : 0;
                st_sgemm_pack_a(pa + q * MR * kb, src, g->lda, g->trans_a, mb - q * MR < MR ? mb - q * MR : MR, kb,
                                next < MR ? next : MR);
            }
            if (nt > 1) {
#pragma omp barrier
            }
            float beta = k0 == 0 ? g->beta : 1.0f;
            if (split_n) {
                share((g->n + NR - 1) / NR, tid, nt, &lo, &hi);
                int64_t n1 = hi * NR < g->n ? hi * NR : g->n;
                compute_range(p, pa, pb, m0, mb, 0, panels, lo * NR, n1, k0, kb, beta);
            } else {
                compute_range(p, pa, pb, m0, mb, lo, hi, 0, g->n, k0, kb, beta);
            }
            if (nt > 1) {
#pragma omp barrier
            }
        }
    }
}

/* C = beta * C for products with nothing to add (k == 0 or alpha == 0); beta == 0 writes zeros. */
static void scale_only(const st_sgemm_args *g)
{
    for (int64_t t = 0; t < g->batch; t++)
        for (int64_t i = 0; i < g->m; i++) {
            float *c = g->c + t * g->stride_c + i * g->ldc;
            for (int64_t j = 0; j < g->n; j++) c[j] = g->beta != 0.0f ? g->beta * c[j] : 0.0f;
        }
}

static product product_at(const st_sgemm_args *g, int64_t t)
{
    return (product){g->a + t * g->stride_a, g->b + t * g->stride_b, g->c + t * g->stride_c, g};
}

/* Below this many multiply-adds a product runs on one thread. */
#define SGEMM_PAR_MIN 262144.0

int st_cpu_sgemm(const st_sgemm_args *g)
{
    pthread_once(&blocks_once, init_blocks);
    if (g->m == 0 || g->n == 0 || g->batch == 0) return 0;
    if (g->k == 0 || g->alpha == 0.0f) {
        scale_only(g);
        return 0;
    }
    const blocks *bl = &cache_blocks;
    double work = (double)g->m * (double)g->n * (double)g->k;
    int nt = work * (double)g->batch > SGEMM_PAR_MIN ? omp_get_max_threads() : 1;
    /* Whole products per thread when the batch covers the team and each product is small;
     * otherwise the team shares every product. */
    int per_thread = nt > 1 && g->batch >= nt && work < 64.0 * SGEMM_PAR_MIN;
    int64_t mc = g->m < bl->mc ? (g->m + MR - 1) / MR * MR : bl->mc;
    int64_t kc = g->k < bl->kc ? g->k : bl->kc;
    /* Sizes in whole cache lines keep every thread's buffer 64-byte aligned. */
    int64_t nc = bl->nc, a_size = (mc * kc + 15) / 16 * 16, b_size = (kc * nc + 15) / 16 * 16;
    int64_t n_a = per_thread ? nt : 1;
    float *buf = aligned_alloc(64, (size_t)(n_a * a_size + nt * b_size) * sizeof(float));
    if (!buf) return -1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), team = omp_get_num_threads();
        float *pb = buf + n_a * a_size + tid * b_size;
        if (per_thread) {
            for (int64_t t = tid; t < g->batch; t += team) {
                product p = product_at(g, t);
                run_product(&p, buf + tid * a_size, pb, 0, 1);
            }
        } else {
            for (int64_t t = 0; t < g->batch; t++) {
                product p = product_at(g, t);
                run_product(&p, buf, pb, tid, team);
            }
        }
    }
    free(buf);
    return 0;
}

#else

int st_cpu_sgemm(const st_sgemm_args *g)
{
    (void)g;
    return -1;
}

#endif
