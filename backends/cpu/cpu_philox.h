/* Philox4x32-10 (Salmon et al., SC'11) exactly as docs/OPS.md fixes it for every backend.
 * Not a public header. */
#ifndef STRATA_CPU_PHILOX_H
#define STRATA_CPU_PHILOX_H

#include <stdint.h>

/* Runs the 10 rounds on counter c in place, with key (k0, k1). */
static inline void cpu_philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

#endif
