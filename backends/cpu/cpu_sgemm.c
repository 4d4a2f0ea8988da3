/* Strata's packed SGEMM: BLIS-style loops around a micro-kernel (cpu_sgemm_kernel.c's AVX-512
 * 14x32 or cpu_sgemm_avx2.c's AVX2 6x16), cache blocks sized from the CPU's caches at run time,
 * the OpenMP team sharing one packed A block. f32 or bf16 operands, widened while packing. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu_sgemm.h"

/* Cache blocks (BLIS's loop nest with A and B swapped, since C is row-major and its rows are
 * the vector direction): kc steps of an mr-row A panel live in L1 while the nr-column B panels of
 * a kc x nc block stream from L2; the packed mc x kc A block, shared by the threads, sits in L3.
 * One set per kernel, derived from the same caches. */
typedef struct blocks {
    int64_t kc, nc, mc;
} blocks;

static pthread_once_t blocks_once = PTHREAD_ONCE_INIT;
static blocks cache_blocks[3];        /* by st_sgemm_isa */
static char sgemm_desc[3][256];
static long cache_l1, cache_l2, cache_l3;

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

static const st_sgemm_impl *impl_of(st_sgemm_isa isa)
{
#if defined(__x86_64__)
    if (isa == ST_SGEMM_AVX512) return &st_sgemm_avx512_impl;
    if (isa == ST_SGEMM_AVX2) return &st_sgemm_avx2_impl;
#endif
    (void)isa;
    return NULL;
}

/* The same rule for every kernel, from the caches sysconf reports:
 *   kc: what a k step keeps in L1 (l1_floats) in the kernel's share of L1 (l1_share).
 *       AVX-512 14x32: the 14-row A panel in 45% (BLIS's Skylake-X kc 384), the rule it had
 *       before there was a second kernel, so its blocks are unchanged on every CPU (kc=384 on
 *       Zen 5's 48 KiB L1, 256 on a 32 KiB one). AVX2 6x16: the A panel and the B panel that
 *       streams past it (6 + 16 floats a step) in 70%: kc=256 on Zen 3's 32 KiB (BLIS's zen3
 *       sgemm kc; on the shared Zen 3 VM, kc 192-512 and nc 192-1024 all measured within its
 *       run-to-run noise of each other at N = 1536-2048).
 *   nc: half of L2 for the kc x nc B block (nc=320 on Zen 5's 1 MiB, 256 on Zen 3's 512 KiB).
 *   mc: a quarter of L3 for the A block, capped at 300 panels: the L3 that sysconf reports in a
 *       VM is often the host's whole L3 (256-384 MiB here).
 * The FMA layout enters through the kernels' shapes (their files say how many accumulators cover
 * the FMA pipes' latency), not through the blocks. */
static void init_blocks(void)
{
    cache_l1 = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32 << 10);
    cache_l2 = cache_size(_SC_LEVEL2_CACHE_SIZE, 1 << 20);
    cache_l3 = cache_size(_SC_LEVEL3_CACHE_SIZE, 8 << 20);
    for (int isa = ST_SGEMM_AVX512; isa <= ST_SGEMM_AVX2; isa++) {
        const st_sgemm_impl *im = impl_of((st_sgemm_isa)isa);
        if (!im) continue;
        blocks *b = &cache_blocks[isa];
        b->kc = clamp_round(cache_l1 * im->l1_share / 100 / (im->l1_floats * 4), 128, 512, 16);
        b->nc = clamp_round(cache_l2 / 2 / (b->kc * 4), 4 * im->nr, 4096, im->nr);
        b->mc = clamp_round(cache_l3 / 4 / (b->kc * 4), 16 * im->mr, 300 * im->mr, im->mr);
        snprintf(sgemm_desc[isa], sizeof sgemm_desc[isa],
                 "Strata %s %dx%d, blocks kc=%lld nc=%lld mc=%lld (L1 %ld KiB, L2 %ld KiB, L3 %ld KiB)",
                 st_cpu_sgemm_isa_name((st_sgemm_isa)isa), im->mr, im->nr, (long long)b->kc, (long long)b->nc,
                 (long long)b->mc, cache_l1 >> 10, cache_l2 >> 10, cache_l3 >> 10);
    }
}

const char *st_cpu_sgemm_describe(st_sgemm_isa isa)
{
    pthread_once(&blocks_once, init_blocks);
    if (!impl_of(isa)) return "no Strata SGEMM kernel in this build";
    return sgemm_desc[isa];
}

#if defined(__x86_64__)
/* One product of the batch, addressed for the thread team (a, b: bytes, of element size esize_*). */
typedef struct product {
    const char *a, *b;
    float *c;
    const st_sgemm_args *g;
    const st_sgemm_impl *im;
    const blocks *bl;
} product;

static int64_t esize(st_sgemm_type t)
{
    return t == ST_SGEMM_BF16 ? 2 : 4;
}

/* The largest micro-tile of any kernel (AVX-512's 14x32), for edge scratch. */
#define TILE_MAX (ST_SGEMM_MR * ST_SGEMM_NR)

/* A tile at an edge of C: the kernel writes a full scratch tile, the valid part is merged. */
static void edge_tile(const st_sgemm_impl *im, int64_t kc, const float *pa, const float *pb, float *c,
                      int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta)
{
    float t[TILE_MAX] __attribute__((aligned(64)));
    if (mr <= im->edge_rows) im->rows(kc, mr, pa, pb, t);
    else im->kernel(kc, pa, pb, t, im->nr, 1.0f, 0.0f);
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++)
            c[i * ldc + j] = alpha * t[i * im->nr + j] + (beta != 0.0f ? beta * c[i * ldc + j] : 0.0f);
}

/* Part `part` of `parts` of the next A panel (`len` floats) into L1 while the current row of tiles
 * runs: the panel's first tile otherwise waits on L3 (kernel-only test, 10 tiles a row: ~5%). */
static void prefetch_share(const float *next, int64_t len, int64_t part, int64_t parts)
{
    for (int64_t l = len * part / parts / 16; l < len * (part + 1) / parts / 16; l++)
        __builtin_prefetch(next + l * 16, 0, 3);
}

/* Packs B columns [j0, j0 + nb) of k steps [k0, k0 + kb) into pb, one nr-column panel at a time. */
static void pack_b_block(const product *p, float *pb, int64_t j0, int64_t nb, int64_t k0, int64_t kb)
{
    const st_sgemm_args *g = p->g;
    int64_t nr = p->im->nr, es = esize(g->b_type);
    for (int64_t j = 0; j < nb; j += nr) {
        int64_t w = nb - j < nr ? nb - j : nr;
        const char *src = p->b + (g->trans_b ? (j0 + j) * g->ldb + k0 : k0 * g->ldb + j0 + j) * es;
        if (g->b_type == ST_SGEMM_F32) p->im->pack_b(pb + j * kb, (const float *)src, g->ldb, g->trans_b, w, kb);
        else st_sgemm_pack_panel(pb + j * kb, nr, src, g->b_type, g->ldb, g->trans_b, w, kb);
    }
}

/* The tiles of panels [p0, p1) x B columns [j, j + nb) of a packed B block, A panel outermost:
 * each A panel stays in L1 while the B panels stream from L2 through it. (BLIS's order, B panel
 * in L1 and A's panels streaming from an L2-sized A block, measured 15-20% slower with the AVX2
 * kernel on Zen 3: kc=256, mc=228, N = 1024-2048.) */
static void tiles(const product *p, const float *pa, const float *pb, int64_t m0, int64_t mb,
                          int64_t p0, int64_t p1, int64_t j0, int64_t nb, int64_t kb, float beta)
{
    const st_sgemm_args *g = p->g;
    const st_sgemm_impl *im = p->im;
    int64_t MR = im->mr, NR = im->nr;
    for (int64_t pi = p0; pi < p1; pi++) {
        int64_t i = pi * MR, mr = mb - i < MR ? mb - i : MR;
        for (int64_t j = 0; j < nb; j += NR) {
            int64_t nr = nb - j < NR ? nb - j : NR;
            float *c = p->c + (m0 + i) * g->ldc + j0 + j;
            if (pi + 1 < p1) prefetch_share(pa + (i + MR) * kb, MR * kb, j / NR, (nb + NR - 1) / NR);
            if (mr == MR && nr == NR)
                im->kernel(kb, pa + i * kb, pb + j * kb, c, g->ldc, g->alpha, beta);
            else
                edge_tile(im, kb, pa + i * kb, pb + j * kb, c, g->ldc, mr, nr, g->alpha, beta);
        }
    }
}

/* C[m0:m0+mb, n0:n1] += A-block panels [p0, p1) times B columns [n0, n1), B packed nc at a time
 * into this thread's buffer. */
static void compute_range(const product *p, const float *pa, float *pb, int64_t m0, int64_t mb,
                          int64_t p0, int64_t p1, int64_t n0, int64_t n1, int64_t k0, int64_t kb,
                          float beta)
{
    int64_t nc = p->bl->nc;
    for (int64_t j0 = n0; j0 < n1; j0 += nc) {
        int64_t nb = n1 - j0 < nc ? n1 - j0 : nc;
        pack_b_block(p, pb, j0, nb, k0, kb);
        tiles(p, pa, pb, m0, mb, p0, p1, j0, nb, kb, beta);
    }
}

/* This thread's share [*lo, *hi) of `count` units split among `nt`. */
static void share(int64_t count, int tid, int nt, int64_t *lo, int64_t *hi)
{
    *lo = count * tid / nt;
    *hi = count * (tid + 1) / nt;
}

/* Packs A panels [lo, hi) of the block at rows m0 (mb rows), k steps [k0, k0 + kb). */
static void pack_a_block(const product *p, float *pa, int64_t m0, int64_t mb, int64_t lo, int64_t hi,
                         int64_t k0, int64_t kb)
{
    const st_sgemm_args *g = p->g;
    int64_t MR = p->im->mr, es = esize(g->a_type);
    for (int64_t q = lo; q < hi; q++) {
        int64_t i = m0 + q * MR, rows = mb - q * MR < MR ? mb - q * MR : MR;
        const char *src = p->a + (g->trans_a ? k0 * g->lda + i : i * g->lda + k0) * es;
        int64_t next = q + 1 < hi ? mb - (q + 1) * MR : 0;
        if (g->a_type == ST_SGEMM_F32)
            p->im->pack_a(pa + q * MR * kb, (const float *)src, g->lda, g->trans_a, rows, kb, next < MR ? next : MR);
        else
            st_sgemm_pack_panel(pa + q * MR * kb, MR, src, g->a_type, g->lda, !g->trans_a, rows, kb);
    }
}

/* One product on a team of nt threads (tid = this thread): the team packs each A block together,
 * then splits C by columns (each thread packing its own B columns) or, when C is too narrow,
 * by row panels. nt == 1 runs alone without barriers. */
static void run_product(const product *p, float *pa, float *pb, int tid, int nt)
{
    const st_sgemm_args *g = p->g;
    const blocks *bl = p->bl;
    int64_t MR = p->im->mr, NR = p->im->nr;
    int split_n = g->n >= (int64_t)nt * 2 * NR;
    for (int64_t m0 = 0; m0 < g->m; m0 += bl->mc) {
        int64_t mb = g->m - m0 < bl->mc ? g->m - m0 : bl->mc, panels = (mb + MR - 1) / MR, lo, hi;
        for (int64_t k0 = 0; k0 < g->k; k0 += bl->kc) {
            int64_t kb = g->k - k0 < bl->kc ? g->k - k0 : bl->kc;
            share(panels, tid, nt, &lo, &hi);
            pack_a_block(p, pa, m0, mb, lo, hi, k0, kb);
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

static product product_at(const st_sgemm_args *g, const st_sgemm_impl *im, int64_t t)
{
    return (product){(const char *)g->a + t * g->stride_a * esize(g->a_type),
                     (const char *)g->b + t * g->stride_b * esize(g->b_type), g->c + t * g->stride_c, g, im,
                     &cache_blocks[im->isa]};
}

/* Below this many multiply-adds a product runs on one thread. */
#define SGEMM_PAR_MIN 262144.0

/* The team runs the batch: whole products per thread (buffers a_size apart), or every product
 * shared by the team. */
static void run_batch(const st_sgemm_args *g, const st_sgemm_impl *im, float *buf, int nt, int per_thread,
                      int64_t n_a, int64_t a_size, int64_t b_size)
{
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), team = omp_get_num_threads();
        float *pb = buf + n_a * a_size + tid * b_size;
        if (per_thread) {
            for (int64_t t = tid; t < g->batch; t += team) {
                product p = product_at(g, im, t);
                run_product(&p, buf + tid * a_size, pb, 0, 1);
            }
        } else {
            for (int64_t t = 0; t < g->batch; t++) {
                product p = product_at(g, im, t);
                run_product(&p, buf, pb, tid, team);
            }
        }
    }
}

int st_cpu_sgemm(st_sgemm_isa isa, const st_sgemm_args *g)
{
    pthread_once(&blocks_once, init_blocks);
    const st_sgemm_impl *im = impl_of(isa);
    if (!im) return -1;
    if (g->m == 0 || g->n == 0 || g->batch == 0) return 0;
    if (g->k == 0 || g->alpha == 0.0f) {
        scale_only(g);
        return 0;
    }
    const blocks *bl = &cache_blocks[isa];
    double work = (double)g->m * (double)g->n * (double)g->k;
    int nt = work * (double)g->batch > SGEMM_PAR_MIN ? omp_get_max_threads() : 1;
    /* Whole products per thread when the batch covers the team and each product is small;
     * otherwise the team shares every product. */
    int per_thread = nt > 1 && g->batch >= nt && work < 64.0 * SGEMM_PAR_MIN;
    int64_t mc = g->m < bl->mc ? (g->m + im->mr - 1) / im->mr * im->mr : bl->mc;
    int64_t kc = g->k < bl->kc ? g->k : bl->kc;
    /* Sizes in whole cache lines keep every thread's buffer 64-byte aligned. */
    int64_t nc = (bl->nc + im->nr - 1) / im->nr * im->nr;
    int64_t a_size = (mc * kc + 15) / 16 * 16, b_size = (kc * nc + 15) / 16 * 16;
    int64_t n_a = per_thread ? nt : 1;
    float *buf = aligned_alloc(64, (size_t)(n_a * a_size + nt * b_size) * sizeof(float));
    if (!buf) return -1;
    run_batch(g, im, buf, nt, per_thread, n_a, a_size, b_size);
    free(buf);
    return 0;
}

#else

int st_cpu_sgemm(st_sgemm_isa isa, const st_sgemm_args *g)
{
    (void)isa;
    (void)g;
    return -1;
}

#endif
