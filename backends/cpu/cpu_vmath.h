/* Branch-free f32 exp, log and tanh for the CPU backend's elementwise loops, and the row
 * reductions (max, sum, dot) that softmax, cross_entropy and attention build on.
 * libm's expf/logf/tanhf are opaque calls that stop GCC from vectorising a loop (and set errno);
 * these are plain arithmetic and selects, so a loop calling them vectorises. Cephes-derived
 * polynomials, a few ulp from the correctly rounded result; NaN, +-inf, 0 and subnormals follow
 * C99 Annex F (except in cpu_expf_fast, which trades the ends of the range for speed). Not a
 * public header. */
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

/* c ? a : b as a bit-mask blend: GCC keeps `?:` on floats as control flow, then jump-threads or
 * constant-folds each side separately (a clamp to a constant makes a whole constant path), and a
 * loop with control flow stays scalar unless AVX-512 masking can if-convert it. */
static inline float cpu_f32_select(int c, float a, float b)
{
    uint32_t m = 0u - (uint32_t)c;
    return cpu_f32_from_bits((cpu_f32_bits(a) & m) | (cpu_f32_bits(b) & ~m));
}

static inline float cpu_expf(float x)
{
    /* The clamps keep NaN (the compare is false) and bound n = round(x / ln 2) to [-150, 145];
     * 2^n is applied as two normal factors, so results that overflow (x > ln FLT_MAX gives
     * p > 1 at n = 128) or go subnormal round only once. */
    float xc = cpu_f32_select(x > 100.0f, 100.0f, x);
    xc = cpu_f32_select(xc < -104.0f, -104.0f, xc);
    /* Adding 1.5 * 2^23 rounds to an integer in round-to-nearest, and its low mantissa bits are
     * that integer: no float-to-int conversion (undefined for NaN) is needed. */
    float t = xc * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t ni = (int32_t)(cpu_f32_bits(t) - 0x4b400000u), n1 = ni >> 1, n2 = ni - n1;
    return p * cpu_f32_from_bits((uint32_t)(n1 + 127) << 23) * cpu_f32_from_bits((uint32_t)(n2 + 127) << 23);
}

/* exp for the e in 1 / (1 + e) (gelu): about two thirds of cpu_expf's work, with a degree-5
 * minimax polynomial (relative error < 1.1e-7 before rounding) and a single power-of-two
 * factor 2^n, n in [-126, 128]. So below -87.3 it returns about 1.2e-38 rather than going
 * subnormal, and from 88.38 on (n = 128, where the factor's bits are those of +inf) it returns
 * +inf although the true value is finite up to 88.72. NaN gives NaN. */
static inline float cpu_expf_fast(float x)
{
    float xc = cpu_f32_select(x < -87.3f, -87.3f, x);
    xc = cpu_f32_select(xc > 88.5f, 88.5f, xc);
    float t = xc * 1.44269504088896341f + 12582912.0f, n = t - 12582912.0f;
    float r = xc - n * 0.693359375f; /* Cephes' split of ln 2: n * 0.693359375 is exact */
    r = r - n * -2.12194440e-4f;
    float p = 8.312503807e-3f;
    p = p * r + 4.189033434e-2f;
    p = p * r + 1.666711569e-1f;
    p = p * r + 4.999923110e-1f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* t's low bits hold n: shifted into the exponent field, with the bias added. */
    return p * cpu_f32_from_bits((cpu_f32_bits(t) << 23) + ((127u - 0x4b400000u) << 23));
}

/* exp for x <= 0 (a value minus its row's max: softmax, cross-entropy): cpu_expf_fast's polynomial,
 * with exp(x) = 0 below -87.3 (so -inf, a masked logit, gives exactly 0; results that would be
 * subnormal flush to 0). NaN gives NaN. About two thirds of cpu_expf's work. */
static inline float cpu_expf_nonpos(float x)
{
    return cpu_f32_select(x < -87.3f, 0.0f, cpu_expf_fast(x));
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
    return cpu_f32_select((x > 0.0f) & (x < INFINITY), y, special);
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
    float big = copysignf(1.0f - 2.0f / (cpu_expf(2.0f * ax) + 1.0f), x);
    return cpu_f32_select(ax < 0.625f, small, big);
}

/* Row reductions. `omp simd reduction` lets GCC keep one partial result per vector lane (FP
 * reductions are otherwise left in order, i.e. scalar); sums hand each block of CPU_SUM_BLOCK
 * elements to a double, so their error stays that of a short f32 sum however long the row.
 * These inline into the callers' CPU_CLONES functions, which pick the vector width. */
#define CPU_SUM_BLOCK 1024

/* max of x[0..n); -inf for n = 0. NaNs may be skipped: exp(NaN - max) turns the row NaN anyway. */
static inline float cpu_row_max(const float *x, int64_t n)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* One block's partial sums in four independent chains: the block is cut into four contiguous
 * quarters (a multiple of 8 each), summed side by side, then the remainder. One chain (what
 * `omp simd reduction` gives) waits out the add's latency on every vector: a row op's statistics
 * then cost several times its memory traffic. TERM(j) is the j-th term. */
#define CPU_SUM4(TERM, m, out)                                                   \
    do {                                                                         \
        int64_t q_ = (m) / 32 * 8;                                               \
        float s0_ = 0.0f, s1_ = 0.0f, s2_ = 0.0f, s3_ = 0.0f, st_ = 0.0f;        \
        _Pragma("omp simd reduction(+ : s0_, s1_, s2_, s3_)")                    \
        for (int64_t j_ = 0; j_ < q_; j_++) {                                    \
            s0_ += TERM(j_), s1_ += TERM(q_ + j_);                               \
            s2_ += TERM(2 * q_ + j_), s3_ += TERM(3 * q_ + j_);                  \
        }                                                                        \
        _Pragma("omp simd reduction(+ : st_)")                                   \
        for (int64_t j_ = 4 * q_; j_ < (m); j_++) st_ += TERM(j_);               \
        (out) = ((s0_ + s1_) + (s2_ + s3_)) + st_;                               \
    } while (0)

/* sum of a[j] * (b ? b[j] : 1) over j < n. */
static inline double cpu_row_dot(const float *a, const float *b, int64_t n)
{
    double total = 0.0;
    for (int64_t j0 = 0; j0 < n; j0 += CPU_SUM_BLOCK) {
        int64_t m = n - j0 < CPU_SUM_BLOCK ? n - j0 : CPU_SUM_BLOCK;
        const float *x = a + j0, *y = b ? b + j0 : NULL;
        float acc;
#define CPU_DOT_TERM(j) (x[j] * y[j])
#define CPU_SUM_TERM(j) (x[j])
        if (y) CPU_SUM4(CPU_DOT_TERM, m, acc);
        else CPU_SUM4(CPU_SUM_TERM, m, acc);
#undef CPU_DOT_TERM
#undef CPU_SUM_TERM
        total += acc;
    }
    return total;
}

/* sum of (x[j] - m)^2 over j < n, blocked like cpu_row_dot. */
static inline double cpu_row_sqdev(const float *x, float m, int64_t n)
{
    double total = 0.0;
    for (int64_t j0 = 0; j0 < n; j0 += CPU_SUM_BLOCK) {
        int64_t len = n - j0 < CPU_SUM_BLOCK ? n - j0 : CPU_SUM_BLOCK;
        const float *y = x + j0;
        float acc;
#define CPU_SQDEV_TERM(j) ((y[j] - m) * (y[j] - m))
        CPU_SUM4(CPU_SQDEV_TERM, len, acc);
#undef CPU_SQDEV_TERM
        total += acc;
    }
    return total;
}

/* y[j] = exp(x[j] - m) (cpu_expf_nonpos) for j < n, returning the sum of the y[j], in one sweep (the sum is taken
 * as the values are stored, blocked like cpu_row_dot). y may be exactly x: each element is read
 * before it is written at the same index only, which the vectoriser's use of restrict tolerates
 * (as in the elementwise kernels). */
static inline double cpu_row_exp_sum(float *restrict y, const float *restrict x, float m, int64_t n)
{
    double total = 0.0;
    for (int64_t j0 = 0; j0 < n; j0 += CPU_SUM_BLOCK) {
        int64_t len = n - j0 < CPU_SUM_BLOCK ? n - j0 : CPU_SUM_BLOCK;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < len; j++) {
            float e = cpu_expf_nonpos(x[j0 + j] - m);
            y[j0 + j] = e;
            acc += e;
        }
        total += acc;
    }
    return total;
}

#endif
