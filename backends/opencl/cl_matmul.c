/* matmul. f32 without transposes: st_matmul_f32_nn (8 x 32 register tiles) on the bulk and the
 * general kernel on the edges; it beats untuned CLBlast on CPU devices (src/tools/bench_opencl.c).
 * Other f32 cases: CLBlast (row-major GEMM, strided-batched when the batch needs it). bf16: the
 * general st_matmul kernel, which converts in registers and rounds once. */
#include <stdio.h>
#include "cl_internal.h"
#include <clblast_c.h>

typedef struct gemm_shape {
    int64_t M, N, K, batch;
    int ta, tb, shared_b; /* shared_b: b is one (K, N) matrix for the whole batch */
} gemm_shape;

static gemm_shape shape_of(const st_op_call *c)
{
    const st_view *o = &c->out[0], *b = &c->in[1];
    gemm_shape g = {.ta = c->p.matmul.trans_a, .tb = c->p.matmul.trans_b};
    int nd = o->ndim;
    g.M = o->shape[nd - 2];
    g.N = o->shape[nd - 1];
    g.K = c->in[0].shape[nd - (g.ta ? 2 : 1)];
    g.batch = st_cl_numel(o) / (g.M * g.N);
    g.shared_b = b->ndim == 2 && nd > 2;
    return g;
}

static const char *clblast_name(CLBlastStatusCode s)
{
    switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastNoDoublePrecision: return "CLBlastNoDoublePrecision";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    default: return (int)s > -1000 ? st_cl_error_name((cl_int)s) : "CLBlast error";
    }
}

static st_status clblast_gemm(st_cl_device *d, const st_op_call *c, gemm_shape g)
{
    const st_view *a = &c->in[0], *b = &c->in[1], *o = &c->out[0];
    CLBlastTranspose ta = g.ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g.tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t lda = (size_t)(g.ta ? g.M : g.K), ldb = (size_t)(g.tb ? g.K : g.N), ldc = (size_t)g.N;
    /* A shared b with an untransposed a is one tall GEMM: (batch*M, K) @ (K, N). */
    if (g.shared_b && !g.ta) {
        g.M *= g.batch;
        g.batch = 1;
    }
    float beta = c->p.matmul.beta;
    /* beta == 0 must ignore NaN in out, which CLBlast's beta * C would propagate. */
    if (beta == 0.0f) ST_CL_TRY(st_cl_fill_range(d, st_cl_mem(o), o->offset, g.batch * g.M * g.N, ST_F32, 0.0f));
    CLBlastStatusCode s;
    pthread_mutex_lock(&d->launch_lock);
    if (g.batch == 1)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)g.M, (size_t)g.N, (size_t)g.K, c->p.matmul.alpha,
                         st_cl_mem(a), (size_t)a->offset, lda, st_cl_mem(b), (size_t)b->offset, ldb, beta,
                         st_cl_mem(o), (size_t)o->offset, ldc, &d->queue, NULL);
    else
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, (size_t)g.M, (size_t)g.N, (size_t)g.K,
                                       c->p.matmul.alpha, st_cl_mem(a), (size_t)a->offset, lda, (size_t)(g.M * g.K),
                                       st_cl_mem(b), (size_t)b->offset, ldb,
                                       g.shared_b ? 0 : (size_t)(g.K * g.N), beta, st_cl_mem(o),
                                       (size_t)o->offset, ldc, (size_t)(g.M * g.N), (size_t)g.batch,
                                       &d->queue, NULL);
    pthread_mutex_unlock(&d->launch_lock);
    if (s == CLBlastSuccess) return ST_OK;
    return ST_CL_ERR(ST_ERR_BACKEND,
                     "opencl: CLBlastSgemm%s(%lldx%lldx%lld, batch %lld): %s", g.batch > 1 ? "StridedBatched" : "",
                     (long long)g.M, (long long)g.N, (long long)g.K, (long long)g.batch, clblast_name(s));
}

/* The general kernel over everything outside [0, skip_m) x [0, skip_n). */
static st_status general_gemm(st_cl_device *d, const st_op_call *c, gemm_shape g, cl_long skip_m,
                              cl_long skip_n)
{
    cl_long M = g.M, N = g.N, K = g.K, batch = g.batch;
    cl_long sam = g.ta ? 1 : K, sak = g.ta ? M : 1, sab = M * K;
    cl_long sbk = g.tb ? 1 : N, sbn = g.tb ? K : 1, sbb = g.shared_b ? 0 : K * N;
    cl_int dt = c->out[0].dtype;
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_MATMUL, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_ARG(&l, M);
    ST_CL_ARG(&l, N);
    ST_CL_ARG(&l, K);
    ST_CL_ARG(&l, batch);
    ST_CL_ARG(&l, sam);
    ST_CL_ARG(&l, sak);
    ST_CL_ARG(&l, sab);
    ST_CL_ARG(&l, sbk);
    ST_CL_ARG(&l, sbn);
    ST_CL_ARG(&l, sbb);
    ST_CL_ARG(&l, c->p.matmul.alpha);
    ST_CL_ARG(&l, c->p.matmul.beta);
    ST_CL_ARG(&l, dt);
    ST_CL_ARG(&l, skip_m);
    ST_CL_ARG(&l, skip_n);
    return st_cl_run(&l, 0, d->kwg[ST_CL_K_MATMUL], (size_t)(batch * M * N));
}

static st_status tiled_gemm(st_cl_device *d, const st_op_call *c, gemm_shape g)
{
    cl_long M8 = g.M / 8 * 8, N32 = g.N / 32 * 32, M = g.M, N = g.N, K = g.K, batch = g.batch;
    cl_long sab = M * K, sbb = g.shared_b ? 0 : K * N;
    st_cl_launch l;
    ST_CL_TRY(st_cl_begin(d, ST_CL_K_MATMUL_F32_NN, &l));
    ST_CL_VIEW(&l, &c->out[0]);
    ST_CL_VIEW(&l, &c->in[0]);
    ST_CL_VIEW(&l, &c->in[1]);
    ST_CL_ARG(&l, M8);
    ST_CL_ARG(&l, N32);
    ST_CL_ARG(&l, M);
    ST_CL_ARG(&l, N);
    ST_CL_ARG(&l, K);
    ST_CL_ARG(&l, batch);
    ST_CL_ARG(&l, sab);
    ST_CL_ARG(&l, sbb);
    ST_CL_ARG(&l, c->p.matmul.alpha);
    ST_CL_ARG(&l, c->p.matmul.beta);
    size_t tiles = (size_t)(batch * (M8 / 8) * (N32 / 32));
    ST_CL_TRY(st_cl_run(&l, 0, st_cl_group_size(d, ST_CL_K_MATMUL_F32_NN, (int64_t)tiles), tiles));
    if (M8 == M && N32 == N) return ST_OK;
    return general_gemm(d, c, g, M8, N32);
}

st_status st_cl_matmul(void *ctx, int dev, const st_op_call *c)
{
    st_cl_device *d = st_cl_dev(ctx, dev);
    gemm_shape g = shape_of(c);
    if (c->out[0].dtype != ST_F32) return general_gemm(d, c, g, 0, 0);
    if (!g.ta && !g.tb && g.M >= 8 && g.N >= 32) return tiled_gemm(d, c, g);
    return clblast_gemm(d, c, g);
}

/* CLBlast caches compiled programs per context; drop them before the context goes. */
void st_cl_matmul_release(st_cl_device *d)
{
    (void)d;
    CLBlastClearCache();
}
