/* quantize, dequantize: block-symmetric int8 / int4 (two per byte, element 2j in the low nibble).
 * quantize: one work-group (power-of-two size) per block. The block's amax is an integer max over
 * the bit patterns |x| (NaN sorts above inf, which fmax would drop). OpenCL's f32 division may be
 * off by 2.5 ulp, so scale and the reciprocal are refined with an exact fma residual: both match
 * the correctly rounded quotient the CPU computes, to within rounding near a tie. */

/* a / b to within the correctly rounded quotient's rounding, where a / b itself may be 2.5 ulp off. */
inline float st_div_refined(float a, float b)
{
    float q = a / b;
    if (!isfinite(q) || q == 0.0f) return q;
    return fma(fma(-q, b, a), 1.0f / b, q);
}

inline int st_quant_one(float x, float pre, float inv, float qmax)
{
    float t = rint((x * pre) * inv);
    return (int)clamp(t, -qmax, qmax);
}

__kernel void st_quantize(__global char *q, long qoff, __global float *scale, long soff,
                          __global const void *x, long xoff, long n, long block, int bits, int dt,
                          __local float *red)
{
    long g = get_group_id(0), i0 = g * block, len = min(block, n - i0);
    int lid = get_local_id(0), L = get_local_size(0);
    uint m = 0;
    for (long k = lid; k < len; k += L) {
        uint u = dt == ST_BF16 ? (uint)((__global const ushort *)x)[xoff + i0 + k] << 16
                               : as_uint(((__global const float *)x)[xoff + i0 + k]);
        m = max(m, u & 0x7fffffffu);
    }
    __local uint *red_u = (__local uint *)red;
    red_u[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s /= 2) {
        if (lid < s) red_u[lid] = max(red_u[lid], red_u[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    uint abits = red_u[0];
    float qmax = bits == 8 ? 127.0f : 7.0f, amax = as_float(abits);
    if (lid == 0) scale[soff + g] = abits > 0x7f800000u ? amax : st_div_refined(amax, qmax);
    int zero = abits >= 0x7f800000u || abits == 0; /* non-finite or all-zero block: q all 0 */
    float pre = amax < 0x1p-60f ? 0x1p64f : 1.0f;
    float inv = zero ? 0.0f : st_div_refined(qmax, amax * pre);
    if (bits == 8) {
        for (long k = lid; k < len; k += L)
            q[qoff + i0 + k] = zero ? 0 : (char)st_quant_one(st_ld(x, dt, xoff + i0 + k), pre, inv, qmax);
        return;
    }
    for (long j = lid; 2 * j < len; j += L) {
        int lo = zero ? 0 : st_quant_one(st_ld(x, dt, xoff + i0 + 2 * j), pre, inv, qmax);
        int hi = zero || 2 * j + 1 >= len ? 0 : st_quant_one(st_ld(x, dt, xoff + i0 + 2 * j + 1), pre, inv, qmax);
        q[qoff + i0 / 2 + j] = (char)((lo & 15) | ((hi & 15) << 4));
    }
}

/* One work-item per ST_CHUNK output elements: out = q scale, or out += q scale. */
__kernel void st_dequantize(__global void *out, long ooff, __global const char *q, long qoff,
                            __global const float *scale, long soff, long n, long block, int bits, int dt,
                            int acc)
{
    long i0 = (long)get_global_id(0) * ST_CHUNK, e = min(n, i0 + ST_CHUNK);
    for (long i = i0; i < e; i++) {
        char b = q[qoff + (bits == 8 ? i : i / 2)];
        uint nib = ((uint)(uchar)b >> ((i & 1) * 4)) & 15u;
        int v = bits == 8 ? b : (int)(nib ^ 8u) - 8; /* sign-extends the nibble */
        float y = (float)v * scale[soff + i / block];
        if (acc) y = st_ld(out, dt, ooff + i) + y;
        st_st(out, dt, ooff + i, y);
    }
}
