/* Reference Philox4x32-10 and the uniform/normal transforms, from the spec in docs/OPS.md. */
#include <math.h>
#include "ref.h"

static void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void ref_philox(uint64_t seed, uint64_t n, uint32_t out[4])
{
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint32_t c0 = (uint32_t)n, c1 = (uint32_t)(n >> 32), c2 = 0, c3 = 0;
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

float ref_uniform_f32(uint64_t seed, uint64_t n, float lo, float hi)
{
    uint32_t c[4];
    ref_philox(seed, n, c);
    float u = (float)(c[0] >> 8) * 0x1.0p-24f;
    volatile float range = hi - lo; /* evaluated as written: no contraction into an FMA */
    volatile float prod = range * u;
    return lo + prod;
}

double ref_normal(uint64_t seed, uint64_t n, double mean, double std)
{
    uint32_t c[4];
    ref_philox(seed, n, c);
    double u1 = ((double)(c[0] >> 8) + 1.0) * 0x1.0p-24, u2 = (double)(c[1] >> 8) * 0x1.0p-24;
    return mean + std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
