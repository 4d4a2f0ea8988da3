/* matmul on the CPU: Strata's packed SGEMM (cpu_sgemm.c; AVX-512 or AVX2 kernel) where the CPU has
 * one, else single-threaded SGEMM calls of the BLAS loaded at run time (cpu_blas.c) on whole
 * products or slices of them spread over OpenMP threads. bf16 operands go straight into Strata's
 * packed panels (widened there); the BLAS path reads f32 copies of them. A bf16 output is
 * computed in an f32 buffer and rounded once. */
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include "cpu_blas.h"
#include "cpu_sgemm.h"

/* One batched GEMM in BLAS terms: row-major, strides in elements between batch entries. */
typedef struct gemm_plan {
    int64_t batch, m, n, k;
    int64_t stride_a, stride_b, stride_c;
    int trans_a, trans_b;
} gemm_plan;

static st_status plan_gemm(const st_op_call *c, gemm_plan *g)
{
    const st_view *a = &c->in[0], *b = &c->in[1], *o = &c->out[0];
    int nd = o->ndim;
    g->trans_a = c->p.matmul.trans_a;
    g->trans_b = c->p.matmul.trans_b;
    g->m = o->shape[nd - 2];
    g->n = o->shape[nd - 1];
    g->k = a->shape[nd - (g->trans_a ? 2 : 1)];
    g->batch = 1;
    for (int i = 0; i < nd - 2; i++) g->batch *= o->shape[i];
    g->stride_a = g->m * g->k;
    g->stride_b = b->ndim == 2 ? 0 : g->k * g->n;
    g->stride_c = g->m * g->n;
    /* A shared b and an untransposed contiguous a (batch, M, K) are one (batch*M, K) matrix: a
     * single large GEMM runs far closer to peak than many small ones. */
    if (g->stride_b == 0 && !g->trans_a && g->batch > 1 && g->batch * g->m <= INT_MAX) {
        g->m *= g->batch;
        g->batch = 1;
    }
    if (g->m > INT_MAX || g->n > INT_MAX || g->k > INT_MAX)
        return ST_ERR(ST_ERR_UNSUPPORTED, "cpu matmul: M=%lld N=%lld K=%lld exceed the BLAS's 32-bit sizes",
                      (long long)g->m, (long long)g->n, (long long)g->k);
    return ST_OK;
}

/* Below this many multiply-adds in all, one thread does the whole matmul. */
#define GEMM_PAR_MIN 262144.0
/* Slices are multiples of this many rows (or columns), to keep the BLAS's micro-tiles full. */
#define GEMM_SLICE 16

/* Pieces per product: whole products when the batch divides evenly among the threads, else every
 * product is cut into nt slices of its longer output dim (as long as slices stay >= GEMM_SLICE). */
static int64_t gemm_parts(const gemm_plan *g, int nt)
{
    int64_t len = g->m >= g->n ? g->m : g->n;
    if (nt <= 1 || g->batch % nt == 0) return 1;
    int64_t most = len / GEMM_SLICE;
    return most < 1 ? 1 : most < nt ? most : nt;
}

/* Product i, slice p of parts: rows (or columns, when n > m) [lo, hi) of out. */
static void gemm_piece(st_cpu_sgemm_fn sgemm, const gemm_plan *g, int64_t i, int64_t p, int64_t parts,
                       const float *a, const float *b, float *out, float alpha, float beta)
{
    int by_rows = g->m >= g->n;
    int64_t len = by_rows ? g->m : g->n;
    int64_t lo = len * p / parts / GEMM_SLICE * GEMM_SLICE;
    int64_t hi = p == parts - 1 ? len : len * (p + 1) / parts / GEMM_SLICE * GEMM_SLICE;
    if (lo >= hi) return;
    int64_t lda = g->trans_a ? g->m : g->k, ldb = g->trans_b ? g->k : g->n;
    a += i * g->stride_a;
    b += i * g->stride_b;
    out += i * g->stride_c + (by_rows ? lo * g->n : lo);
    if (by_rows) a += g->trans_a ? lo : lo * lda;
    else b += g->trans_b ? lo * ldb : lo;
    sgemm(ST_CBLAS_ROW_MAJOR, g->trans_a ? ST_CBLAS_TRANS : ST_CBLAS_NO_TRANS,
          g->trans_b ? ST_CBLAS_TRANS : ST_CBLAS_NO_TRANS, (int)(by_rows ? hi - lo : g->m),
          (int)(by_rows ? g->n : hi - lo), (int)g->k, alpha, a, (int)lda, b, (int)ldb, beta, out, (int)g->n);
}

/* Our OpenMP threads are the only pool: each runs single-threaded BLAS calls on its share of the
 * pieces (see cpu_blas.c for why the BLAS's own threads are not used). */
static void run_gemm(st_cpu_sgemm_fn sgemm, const gemm_plan *g, const float *a, const float *b,
                     float *out, float alpha, float beta)
{
    int par = (double)g->batch * (double)g->m * (double)g->n * (double)g->k > GEMM_PAR_MIN;
    int64_t parts = par ? gemm_parts(g, omp_get_max_threads()) : 1, tasks = g->batch * parts;
#pragma omp parallel for schedule(static) if (par && tasks > 1)
    for (int64_t t = 0; t < tasks; t++)
        gemm_piece(sgemm, g, t / parts, t % parts, parts, a, b, out, alpha, beta);
}

static st_status run_strata(st_sgemm_isa isa, const gemm_plan *g, const st_view *va, const st_view *vb,
                            float *out, float alpha, float beta)
{
    st_sgemm_args s = {
        .m = g->m, .n = g->n, .k = g->k, .batch = g->batch, .a = cpu_ptr(va), .b = cpu_ptr(vb), .c = out,
        .lda = g->trans_a ? g->m : g->k, .ldb = g->trans_b ? g->k : g->n, .ldc = g->n,
        .stride_a = g->stride_a, .stride_b = g->stride_b, .stride_c = g->stride_c,
        .trans_a = g->trans_a, .trans_b = g->trans_b, .alpha = alpha, .beta = beta,
        .a_type = va->dtype == ST_BF16 ? ST_SGEMM_BF16 : ST_SGEMM_F32,
        .b_type = vb->dtype == ST_BF16 ? ST_SGEMM_BF16 : ST_SGEMM_F32,
    };
    if (st_cpu_sgemm(isa, &s) != 0)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu matmul: no memory for the packing buffers of M=%lld N=%lld K=%lld",
                      (long long)g->m, (long long)g->n, (long long)g->k);
    return ST_OK;
}

/* The BLAS on f32 operands (bf16 ones staged as f32 copies). */
static st_status run_blas(const gemm_plan *g, const st_view *va, const st_view *vb, float *out, float alpha,
                          float beta)
{
    st_cpu_sgemm_fn sgemm = NULL;
    ST_TRY(st_cpu_blas_sgemm(&sgemm));
    const float *a, *b;
    float *ta = NULL, *tb = NULL;
    st_status s = cpu_as_f32(va, &a, &ta);
    if (s == ST_OK) s = cpu_as_f32(vb, &b, &tb);
    if (s == ST_OK) run_gemm(sgemm, g, a, b, out, alpha, beta);
    free(ta);
    free(tb);
    return s;
}

st_status st_cpu_matmul(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    st_cpu_gemm mode;
    st_sgemm_isa isa;
    const char *bad, *why;
    gemm_plan g;
    if (st_cpu_gemm_mode(&mode, &bad) != 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "STRATA_CPU_GEMM=%s: expected auto, strata, strata-avx512, strata-avx2 or blas",
                      bad);
    int bf16 = c->in[0].dtype == ST_BF16 || c->in[1].dtype == ST_BF16;
    if (st_cpu_gemm_choice(mode, bf16, &isa, &why) != 0) return ST_ERR(ST_ERR_UNSUPPORTED, "cpu matmul: %s", why);
    ST_TRY(plan_gemm(c, &g));
    float *out, *tout = NULL;
    /* beta == 0 must ignore out's old contents (NaN included): neither SGEMM reads C then. */
    st_status s = cpu_out_f32(&c->out[0], &out, &tout, c->p.matmul.beta != 0.0f);
    if (s != ST_OK) return s;
    if (isa != ST_SGEMM_NONE) s = run_strata(isa, &g, &c->in[0], &c->in[1], out, c->p.matmul.alpha, c->p.matmul.beta);
    else s = run_blas(&g, &c->in[0], &c->in[1], out, c->p.matmul.alpha, c->p.matmul.beta);
    if (s == ST_OK) cpu_finish_f32(&c->out[0], tout);
    else free(tout);
    return s;
}
