/* rand_uniform, rand_normal: Philox4x32-10 exactly as docs/OPS.md gives it, so every backend
 * draws the same numbers for the same (seed, offset + i). */

/* a + (b - a) u and a + b z are rounded step by step on every backend: no fused multiply-add. */
#pragma OPENCL FP_CONTRACT OFF

inline uint4 st_philox(ulong seed, ulong n)
{
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    uint4 c = (uint4)((uint)n, (uint)(n >> 32), 0u, 0u);
    for (int r = 0; r < 10; r++) {
        uint lo0 = 0xD2511F53u * c.x, hi0 = mul_hi(0xD2511F53u, c.x);
        uint lo1 = 0xCD9E8D57u * c.z, hi1 = mul_hi(0xCD9E8D57u, c.z);
        c = (uint4)(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

__kernel void st_rand_uniform(__global void *out, long off, long total, int dt, ulong seed,
                              ulong offset, float a, float b)
{
    long i = get_global_id(0);
    if (i >= total) return;
    uint4 c = st_philox(seed, offset + (ulong)i);
    float u = (float)(c.x >> 8) * 0x1.0p-24f;
    st_st(out, dt, off + i, a + (b - a) * u);
}

/* Box-Muller with the host's f32 steps: l = logf(u1), sqrtf(-2 l), cosf(6.283185307179586f * u2).
 * Where the device has fp64 each function is taken in double and rounded once, i.e. correctly
 * rounded; a host computing (float)log((double)u1) and (float)cos((double)x) gets the same bits
 * (f32 libm functions are within an ulp of that, not always equal). */
__kernel void st_rand_normal(__global void *out, long off, long total, int dt, ulong seed,
                             ulong offset, float a, float b)
{
    long i = get_global_id(0);
    if (i >= total) return;
    uint4 c = st_philox(seed, offset + (ulong)i);
    float u1 = (float)((c.x >> 8) + 1u) * 0x1.0p-24f, u2 = (float)(c.y >> 8) * 0x1.0p-24f;
#ifdef cl_khr_fp64
    /* docs/OPS.md: in double, rounded once, so that every backend draws the same numbers */
    float z = (float)(sqrt(-2.0 * log((double)u1)) * cos(6.283185307179586 * (double)u2));
#else
    float z = sqrt(-2.0f * log(u1)) * cos(6.283185307179586f * u2);
#endif
    st_st(out, dt, off + i, a + b * z);
}
