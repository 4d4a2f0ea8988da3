/* Which of Strata's SGEMM kernels a CPU runs, and which SGEMM (Strata's or the BLAS) matmul runs
 * under STRATA_CPU_GEMM. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_sgemm.h"

int st_cpu_sgemm_isa_supported(st_sgemm_isa isa)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("fma")) return 0;
    if (isa == ST_SGEMM_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (isa == ST_SGEMM_AVX2) return __builtin_cpu_supports("avx2");
#else
    (void)isa;
#endif
    return 0;
}

st_sgemm_isa st_cpu_sgemm_best(void)
{
    if (st_cpu_sgemm_isa_supported(ST_SGEMM_AVX512)) return ST_SGEMM_AVX512;
    if (st_cpu_sgemm_isa_supported(ST_SGEMM_AVX2)) return ST_SGEMM_AVX2;
    return ST_SGEMM_NONE;
}

int st_cpu_sgemm_supported(void)
{
    return st_cpu_sgemm_best() != ST_SGEMM_NONE;
}

const char *st_cpu_sgemm_isa_name(st_sgemm_isa isa)
{
    return isa == ST_SGEMM_AVX512 ? "AVX-512" : isa == ST_SGEMM_AVX2 ? "AVX2" : "none";
}

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static st_cpu_gemm gemm_mode;
static const char *gemm_bad;          /* the unknown value of STRATA_CPU_GEMM */

static void init_mode(void)
{
    const char *v = getenv("STRATA_CPU_GEMM");
    if (!v || !*v || strcmp(v, "auto") == 0) gemm_mode = ST_CPU_GEMM_AUTO;
    else if (strcmp(v, "strata") == 0) gemm_mode = ST_CPU_GEMM_STRATA;
    else if (strcmp(v, "strata-avx512") == 0) gemm_mode = ST_CPU_GEMM_STRATA_AVX512;
    else if (strcmp(v, "strata-avx2") == 0) gemm_mode = ST_CPU_GEMM_STRATA_AVX2;
    else if (strcmp(v, "blas") == 0) gemm_mode = ST_CPU_GEMM_BLAS;
    else gemm_bad = v;
}

int st_cpu_gemm_mode(st_cpu_gemm *mode, const char **bad)
{
    pthread_once(&mode_once, init_mode);
    *mode = gemm_mode;
    *bad = gemm_bad;
    return gemm_bad ? -1 : 0;
}

/* auto's rule, from strata-bench runs of both SGEMMs in one process (bench/results, README "The
 * CPU backend's BLAS"):
 *   AVX-512 CPUs: Strata's 14x32 kernel (Zen 5: 0.99-1.05x OpenBLAS's rate at N = 1024-4096, the
 *     same gpt2-124m step).
 *   AVX2+FMA CPUs: Strata's 6x16 kernel for bf16 operands, which it widens while packing where
 *     the BLAS needs f32 copies (Zen 3: gpt2-124m B=4 T=64 bf16 step 1.10-1.17x faster than on
 *     the BLAS); the BLAS for f32 (Zen 3: OpenBLAS's f32 step 1.10-1.16x faster; square products
 *     0.90-1.03x).
 *   Others: the BLAS. */
static st_sgemm_isa auto_choice(int bf16, const char **why)
{
    st_sgemm_isa best = st_cpu_sgemm_best();
    if (best == ST_SGEMM_AVX512) {
        *why = "auto: the CPU has AVX-512";
        return best;
    }
    if (best == ST_SGEMM_AVX2 && bf16) {
        *why = "auto: AVX2+FMA CPU and bf16 operands";
        return best;
    }
    *why = best == ST_SGEMM_AVX2 ? "auto: AVX2+FMA CPU and f32 operands (OpenBLAS measured faster on Zen 3)"
                                 : "auto: the CPU has neither AVX-512 nor AVX2+FMA";
    return ST_SGEMM_NONE;
}

int st_cpu_gemm_choice(st_cpu_gemm mode, int bf16, st_sgemm_isa *isa, const char **why)
{
    st_sgemm_isa best = st_cpu_sgemm_best();
    *isa = ST_SGEMM_NONE;
    switch (mode) {
    case ST_CPU_GEMM_BLAS:
        *why = "STRATA_CPU_GEMM=blas";
        return 0;
    case ST_CPU_GEMM_STRATA_AVX512:
    case ST_CPU_GEMM_STRATA_AVX2: {
        st_sgemm_isa want = mode == ST_CPU_GEMM_STRATA_AVX512 ? ST_SGEMM_AVX512 : ST_SGEMM_AVX2;
        if (!st_cpu_sgemm_isa_supported(want)) {
            *why = want == ST_SGEMM_AVX512 ? "STRATA_CPU_GEMM=strata-avx512, but the CPU lacks AVX-512 F/DQ/BW/VL"
                                           : "STRATA_CPU_GEMM=strata-avx2, but the CPU lacks AVX2+FMA";
            return -1;
        }
        *isa = want;
        *why = want == ST_SGEMM_AVX512 ? "STRATA_CPU_GEMM=strata-avx512" : "STRATA_CPU_GEMM=strata-avx2";
        return 0;
    }
    case ST_CPU_GEMM_STRATA:
        *isa = best;
        *why = best != ST_SGEMM_NONE ? "STRATA_CPU_GEMM=strata"
                                     : "STRATA_CPU_GEMM=strata ignored: the CPU has neither AVX-512 nor AVX2+FMA";
        return 0;
    default:
        *isa = auto_choice(bf16, why);
        return 0;
    }
}
