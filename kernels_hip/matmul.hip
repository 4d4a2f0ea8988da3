/* matmul for the HIP plugin where CMake finds no hipBLAS (Debian packages none; otherwise
 * matmul_hipblas.hip): a 64x64-tiled f32-accumulating GEMM of our own. 256 threads (four 64-wide
 * wavefronts) each own a 4x4 patch of the tile; bf16 operands are widened to f32 as they are
 * staged into LDS. Correct for any shape, stride and transpose; not MFMA-tuned. */
#include <stdio.h>
#include "gpu_common.cuh"

#define TILE_M 64
#define TILE_N 64
#define TILE_K 16

struct gemm_args {
    int64_t M, N, K, batch;
    int64_t stride_a, stride_b, stride_c; /* stride_b 0: one b shared by every batch */
    int trans_a, trans_b;
    float alpha, beta;
};

template <typename T>
__global__ __launch_bounds__(256) void gemm_kernel(T *C, const T *A, const T *B, gemm_args g)
{
    __shared__ float As[TILE_K][TILE_M + 1], Bs[TILE_K][TILE_N + 1];
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    int64_t row0 = (int64_t)blockIdx.y * TILE_M, col0 = (int64_t)blockIdx.x * TILE_N;
    for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
        const T *a = A + z * g.stride_a, *b = B + z * g.stride_b;
        float acc[4][4] = {};
        for (int64_t k0 = 0; k0 < g.K; k0 += TILE_K) {
            __syncthreads();
            for (int i = threadIdx.x; i < TILE_M * TILE_K; i += blockDim.x) {
                int r = i / TILE_K, kk = i % TILE_K;
                int64_t gr = row0 + r, gk = k0 + kk;
                As[kk][r] = gr < g.M && gk < g.K ? gpu_ld(a, g.trans_a ? gk * g.M + gr : gr * g.K + gk) : 0.0f;
            }
            for (int i = threadIdx.x; i < TILE_K * TILE_N; i += blockDim.x) {
                int kk = i / TILE_N, cc = i % TILE_N;
                int64_t gc = col0 + cc, gk = k0 + kk;
                Bs[kk][cc] = gc < g.N && gk < g.K ? gpu_ld(b, g.trans_b ? gc * g.K + gk : gk * g.N + gc) : 0.0f;
            }
            __syncthreads();
            for (int kk = 0; kk < TILE_K; kk++)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) acc[i][j] += As[kk][ty + 16 * i] * Bs[kk][tx + 16 * j];
        }
        T *c = C + z * g.stride_c;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int64_t r = row0 + ty + 16 * i, cc = col0 + tx + 16 * j;
                /* beta == 0 must not read out: it may hold NaN. */
                if (r < g.M && cc < g.N)
                    gpu_st(c, r * g.N + cc, g.alpha * acc[i][j] + (g.beta == 0.0f ? 0.0f : g.beta * gpu_ld(c, r * g.N + cc)));
            }
    }
}

st_status ST_GPU(blas_start)(gpu_device *d)
{
    (void)d;
    return ST_OK;
}

void ST_GPU(blas_stop)(gpu_device *d) { (void)d; }

void ST_GPU(blas_describe)(char *out, size_t size) { snprintf(out, size, "matmul: Strata tiled GEMM (no hipBLAS)"); }

st_status ST_GPU(matmul)(void *ctx, int dev, const st_op_call *c)
{
    gpu_device *d;
    st_status s = ST_GPU(enter)(ctx, dev, &d);
    if (s != ST_OK) return s;
    const st_view *a = &c->in[0], *b = &c->in[1], *o = &c->out[0];
    int nd = o->ndim;
    gemm_args g;
    g.M = o->shape[nd - 2];
    g.N = o->shape[nd - 1];
    g.K = a->shape[nd - (c->p.matmul.trans_a ? 2 : 1)];
    g.batch = 1;
    for (int i = 0; i < nd - 2; i++) g.batch *= o->shape[i];
    g.stride_a = g.M * g.K;
    g.stride_b = b->ndim == nd ? g.K * g.N : 0;
    g.stride_c = g.M * g.N;
    g.trans_a = c->p.matmul.trans_a;
    g.trans_b = c->p.matmul.trans_b;
    g.alpha = c->p.matmul.alpha;
    g.beta = c->p.matmul.beta;
    if ((g.M + TILE_M - 1) / TILE_M > 65535)
        return ST_GPU(host)->set_error(ST_ERR_UNSUPPORTED, __FILE__, __LINE__, "hip: matmul with M = %lld rows",
                                       (long long)g.M);
    dim3 grid((unsigned)((g.N + TILE_N - 1) / TILE_N), (unsigned)((g.M + TILE_M - 1) / TILE_M),
              (unsigned)(g.batch < 65535 ? g.batch : 65535));
    GPU_DISPATCH_F(o->dtype, T, gemm_kernel<T><<<grid, 256, 0, d->stream>>>((T *)gpu_ptr(o), (const T *)gpu_ptr(a),
                                                                          (const T *)gpu_ptr(b), g));
    GPU_LAUNCHED("gemm_kernel");
    return ST_OK;
}
