/* Branch-free f32 exp, log, tanh and sigmoid for the CPU backend's elementwise loops.
 * libm's expf/logf/tanhf are opaque calls that stop GCC from vectorising a loop (and set errno);
 * these are plain arithmetic and selects, so a loop calling them vectorises. Cephes-derived
 * polynomials, a few ulp from the correctly rounded result; NaN, +-inf, 0 and subnormals follow
 * C99 Annex F. Not a public header. */
#ifndef STRATA_CPU_VMATH_H
#define STRATA_CPU_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float cpu_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t cpu_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float cpu_expf(float x)
{
    /* Clamped so that n = round(x / ln 2) lies in [-150, 128]; 2^n is applied as two normal
     * factors, which gives subnormal results and the overflow threshold their exact behaviour. */
    float xc = x > 88.72283f ? 88.72283f : x;
    xc = xc < -104.0f ? -104.0f : xc;
    /* Adding 1.5 * 2^23 rounds to an integer in round-to-nearest without a rounding instruction
     * that SSE2 lacks. */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t ni = (int32_t)n, n1 = ni / 2, n2 = ni - n1;
    float y = p * cpu_f32_from_bits((uint32_t)(n1 + 127) << 23) * cpu_f32_from_bits((uint32_t)(n2 + 127) << 23);
    y = x > 88.7228394f ? INFINITY : y;
    return x != x ? x : y;
}

static inline float cpu_logf(float x)
{
    /* Branch-free on purpose: GCC will not if-convert a conditional FP operation (it could
     * trap), and jump-threads repeated uses of one condition, either of which stops the loop
     * from vectorising. Subnormals are scaled by 2^23 into the normal range (mask arithmetic). */
    uint32_t sub = 0u - (uint32_t)(x < 1.17549435e-38f);
    float xs = x * cpu_f32_from_bits(0x3f800000u + (sub & (23u << 23)));
    uint32_t u = cpu_f32_bits(xs);
    int32_t e = (int32_t)((u >> 23) & 0xffu) - 126 - (int32_t)(sub & 23u);
    float m = cpu_f32_from_bits((u & 0x007fffffu) | 0x3f000000u); /* xs = m 2^e, m in [0.5, 1) */
    int lo = m < 0.707106781186547524f;
    e -= lo;
    m = (m + (lo ? m : 0.0f)) - 1.0f;
    float z = m * m;
    float p = 7.0376836292e-2f;
    p = p * m - 1.1514610310e-1f;
    p = p * m + 1.1676998740e-1f;
    p = p * m - 1.2420140846e-1f;
    p = p * m + 1.4249322787e-1f;
    p = p * m - 1.6668057665e-1f;
    p = p * m + 2.0000714765e-1f;
    p = p * m - 2.4999993993e-1f;
    p = p * m + 3.3333331174e-1f;
    float fe = (float)e;
    float y = p * z * m + fe * -2.12194440e-4f - 0.5f * z;
    y = (m + y) + fe * 0.693359375f;
    float special = x == 0.0f ? -INFINITY : (x < 0.0f ? NAN : x); /* +inf and NaN give x */
    /* A bit-mask blend, not `?:`, which GCC would turn into a branch around y's arithmetic. */
    uint32_t ok = 0u - (uint32_t)((x > 0.0f) & (x < INFINITY));
    return cpu_f32_from_bits((cpu_f32_bits(y) & ok) | (cpu_f32_bits(special) & ~ok));
}

/* 1 / (1 + exp(-x)), without cancellation at either end. */
static inline float cpu_sigmoidf(float x)
{
    return 1.0f / (1.0f + cpu_expf(-x));
}

static inline float cpu_tanhf(float x)
{
    float ax = fabsf(x), z = x * x;
    /* Small |x|: odd polynomial, since 1 - 2/(e^2x + 1) loses relative precision near 0. */
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float big = 1.0f - 2.0f / (cpu_expf(2.0f * ax) + 1.0f);
    big = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : big;
}

#endif
