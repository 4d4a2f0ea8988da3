/* matmul: out = alpha * op(a) @ op(b) + beta * out over a batch. st_matmul is the general form
 * (any transpose, f32 or bf16, one work-item per output element); it skips the block
 * [0, skip_m) x [0, skip_n) that a fast path already computed. */
__kernel void st_matmul(__global void *c, long coff, __global const void *a, long aoff,
                        __global const void *b, long boff, long M, long N, long K, long batch,
                        long sam, long sak, long sab, long sbk, long sbn, long sbb, float alpha,
                        float beta, int dt, long skip_m, long skip_n)
{
    long i = get_global_id(0);
    if (i >= batch * M * N) return;
    long n = i % N, m = (i / N) % M, z = i / (M * N);
    if (m < skip_m && n < skip_n) return;
    long pa = aoff + z * sab + m * sam, pb = boff + z * sbb + n * sbn;
    float acc = 0.0f;
    for (long k = 0; k < K; k++) acc += st_ld(a, dt, pa + k * sak) * st_ld(b, dt, pb + k * sbk);
    float r = alpha * acc;
    if (beta != 0.0f) r += beta * st_ld(c, dt, coff + i);
    st_st(c, dt, coff + i, r);
}

/* Fast path for f32, no transpose: each work-item computes an 8 x 32 tile of c with explicit
 * float16 vectors (CPU OpenCL compilers vectorise those directly, not loops over work-items);
 * rows [0, M8) and columns [0, N32) only, multiples of 8 and 32. The general kernel does the
 * rest (skip_m/skip_n tell it which part is done). One B row segment feeds 16 FMAs per k. */
__kernel void st_matmul_f32_nn(__global float *c, long coff, __global const float *a, long aoff,
                               __global const float *b, long boff, long M8, long N32, long M,
                               long N, long K, long batch, long sab, long sbb, float alpha,
                               float beta)
{
    long mb = M8 / 8, per = (N32 / 32) * mb, g = get_global_id(0);
    if (g >= per * batch) return;
    long z = g / per;
    g %= per;
    /* Consecutive work-items share one 32-column strip of b, which stays in cache. */
    long m0 = (g % mb) * 8, n0 = (g / mb) * 32;
    __global const float *pa = a + aoff + z * sab + m0 * K;
    __global const float *pb = b + boff + z * sbb + n0;
    float16 acc0[8], acc1[8];
    for (int r = 0; r < 8; r++) acc0[r] = acc1[r] = (float16)(0.0f);
    for (long k = 0; k < K; k++) {
        float16 b0 = vload16(0, pb + k * N), b1 = vload16(0, pb + k * N + 16);
        for (int r = 0; r < 8; r++) {
            float16 av = (float16)(pa[r * K + k]);
            acc0[r] = fma(av, b0, acc0[r]);
            acc1[r] = fma(av, b1, acc1[r]);
        }
    }
    __global float *pc = c + coff + z * M * N + m0 * N + n0;
    for (int r = 0; r < 8; r++) {
        float16 r0 = alpha * acc0[r], r1 = alpha * acc1[r];
        if (beta != 0.0f) {
            r0 += beta * vload16(0, pc + r * N);
            r1 += beta * vload16(0, pc + r * N + 16);
        }
        vstore16(r0, 0, pc + r * N);
        vstore16(r1, 0, pc + r * N + 16);
    }
}
