/* Run-time loading of the CPU backend's BLAS: OpenBLAS, else the reference BLAS. OpenBLAS picks its
 * kernels in its constructor; AVX2 ones (Haswell) run SGEMM at half the AVX-512 speed, and 0.3.21
 * predates some AVX-512 CPUs, so on such a CPU we ask for its SkylakeX kernels before loading it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_blas.h"
#include "cpu_sgemm.h"

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static st_cpu_sgemm_fn blas_sgemm;
static char blas_errors[512];        /* why each library failed to load */
static char blas_desc[1024];
static pthread_once_t desc_once = PTHREAD_ONCE_INIT;
static char full_desc[2100];          /* which SGEMM matmul runs, then the BLAS */

static int cpu_has_avx512(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

static int openblas_already_loaded(void)
{
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != NULL;
}

/* Who chose OpenBLAS's kernel set, for the description. */
typedef enum core_source {
    CORE_PRELOADED, CORE_NATIVE, CORE_USER, CORE_STRATA_ENV, CORE_STRATA_AUTO, CORE_DETECTED,
    CORE_STRATA_UPGRADE
} core_source;

static const char *const core_source_text[] = {
    [CORE_PRELOADED] = "OpenBLAS was loaded before Strata, its choice",
    [CORE_NATIVE] = "OpenBLAS's own detection (STRATA_BLAS_CORETYPE=native)",
    [CORE_USER] = "set by OPENBLAS_CORETYPE",
    [CORE_STRATA_ENV] = "set by STRATA_BLAS_CORETYPE",
    [CORE_STRATA_AUTO] = "set by Strata: CPU has AVX-512",
    [CORE_DETECTED] = "OpenBLAS's own detection",
    [CORE_STRATA_UPGRADE] = "set by Strata: OPENBLAS_CORETYPE named a core without AVX-512 on a "
                            "CPU that has it; STRATA_BLAS_CORETYPE=native keeps the user's value",
};

static int is_avx512_core(const char *core)
{
    return strcasestr(core, "skylakex") || strcasestr(core, "cooperlake") ||
           strcasestr(core, "sapphirerapids");
}

/* Sets OPENBLAS_CORETYPE for the OpenBLAS about to be loaded. The setenv happens once, from
 * pthread_once, before any BLAS thread exists. */
static core_source choose_coretype(void)
{
    const char *mine = getenv("STRATA_BLAS_CORETYPE");
    if (openblas_already_loaded()) return CORE_PRELOADED;
    if (mine && strcmp(mine, "native") == 0) return getenv("OPENBLAS_CORETYPE") ? CORE_USER : CORE_NATIVE;
    if (mine && *mine && strcmp(mine, "auto") != 0) {
        setenv("OPENBLAS_CORETYPE", mine, 1);
        return CORE_STRATA_ENV;
    }
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (!cpu_has_avx512()) return user ? CORE_USER : CORE_DETECTED;
    if (user && is_avx512_core(user)) return CORE_USER;
    /* "auto" makes sure the fast kernels run: a value without AVX-512 on an AVX-512 CPU (some
     * images export OPENBLAS_CORETYPE=Haswell) would halve SGEMM. native keeps it. */
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    return user ? CORE_STRATA_UPGRADE : CORE_STRATA_AUTO;
}

/* A core chosen outside Strata (some images set OPENBLAS_CORETYPE=Haswell) may leave AVX-512
 * unused: the description then says how to get it. */
static const char *avx512_hint(core_source src, const char *core)
{
    if (src == CORE_STRATA_ENV || src == CORE_STRATA_AUTO || src == CORE_STRATA_UPGRADE ||
        is_avx512_core(core) || !cpu_has_avx512())
        return "";
    return "; the CPU has AVX-512: STRATA_BLAS_CORETYPE=SkylakeX uses it";
}

/* The first of OpenBLAS, the reference BLAS and a separate reference CBLAS that has cblas_sgemm. */
static void *open_blas(const char **name)
{
    static const char *const names[] = {"libopenblas.so.0", "libblas.so.3", "libcblas.so.3"};
    size_t used = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h && dlsym(h, "cblas_sgemm")) {
            *name = names[i];
            return h;
        }
        const char *why = h ? "has no cblas_sgemm" : dlerror();
        if (h) dlclose(h);
        if (used < sizeof blas_errors)
            used += (size_t)snprintf(blas_errors + used, sizeof blas_errors - used, "%s%s",
                                     used ? "; " : "", why ? why : names[i]);
    }
    return NULL;
}

static void load_blas(void)
{
    core_source src = choose_coretype();
    const char *name = NULL;
    void *h = open_blas(&name);
    if (!h) {
        snprintf(blas_desc, sizeof blas_desc, "no BLAS, matmul unavailable (%s)", blas_errors);
        return;
    }
    blas_sgemm = (st_cpu_sgemm_fn)dlsym(h, "cblas_sgemm");
    char *(*config)(void) = (char *(*)(void))dlsym(h, "openblas_get_config");
    char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    int (*parallel)(void) = (int (*)(void))dlsym(h, "openblas_get_parallel");
    if (!config || !corename) {
        snprintf(blas_desc, sizeof blas_desc,
                 "reference BLAS from %s, slow (OpenBLAS not found: %s)", name, blas_errors);
        return;
    }
    static const char *const threading[] = {"sequential", "pthreads", "OpenMP"};
    int par = parallel ? parallel() : -1;
    /* Strata's OpenMP threads split every product (cpu_matmul.c), so a pthreads OpenBLAS runs
     * single-threaded: its own pool would spin against ours whenever matmul and other ops
     * alternate. (An OpenMP OpenBLAS is left alone: its set_num_threads would change ours, and
     * it runs single-threaded inside a parallel region anyway.) */
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    if (par == 1 && set_threads) set_threads(1);
    snprintf(blas_desc, sizeof blas_desc, "%s, core %s (%s%s), %s build%s", config(), corename(),
             core_source_text[src], avx512_hint(src, corename()),
             par >= 0 && par <= 2 ? threading[par] : "unknown threading",
             par == 1 && set_threads ? " run on Strata's OpenMP threads" : "");
}

st_status st_cpu_blas_sgemm(st_cpu_sgemm_fn *fn)
{
    pthread_once(&blas_once, load_blas);
    if (!blas_sgemm)
        return ST_ERR(ST_ERR_BACKEND, "cpu matmul: no BLAS could be loaded (%s)", blas_errors);
    *fn = blas_sgemm;
    return ST_OK;
}

/* One line for the SGEMM that operands of one kind (bf16 or not) get, and why. */
static void describe_choice(char *out, size_t size, st_cpu_gemm mode, int bf16)
{
    st_sgemm_isa isa = ST_SGEMM_NONE, best = st_cpu_sgemm_best();
    const char *why = "";
    if (st_cpu_gemm_choice(mode, bf16, &isa, &why) != 0)
        snprintf(out, size, "fails: %s", why);
    else if (isa != ST_SGEMM_NONE)
        snprintf(out, size, "%s (%s%s)", st_cpu_sgemm_describe(isa), why,
                 bf16 ? "; bf16 widened while packing" : "");
    else if (best != ST_SGEMM_NONE)
        snprintf(out, size, "the BLAS (%s; not run: %s)", why, st_cpu_sgemm_describe(best));
    else
        snprintf(out, size, "the BLAS (%s)", why);
}

/* Which SGEMM matmul runs and why (kernel shape and blocks for Strata's), per operand type when
 * they differ, then the BLAS. */
static void describe(void)
{
    st_cpu_gemm mode;
    const char *bad;
    char gemm[1024], f32[480], bf16[480];
    pthread_once(&blas_once, load_blas);
    if (st_cpu_gemm_mode(&mode, &bad) != 0) {
        snprintf(gemm, sizeof gemm, "matmul fails: STRATA_CPU_GEMM=%s is not auto, strata, strata-avx512, "
                 "strata-avx2 or blas", bad);
    } else {
        describe_choice(f32, sizeof f32, mode, 0);
        describe_choice(bf16, sizeof bf16, mode, 1);
        if (strcmp(f32, bf16) == 0 || strncmp(f32, bf16, strlen(f32) - 1) == 0)
            snprintf(gemm, sizeof gemm, "matmul: %s", bf16);
        else
            snprintf(gemm, sizeof gemm, "matmul: f32 operands: %s; bf16 operands: %s", f32, bf16);
    }
    snprintf(full_desc, sizeof full_desc, "%s; BLAS: %s", gemm, blas_desc);
}

const char *st_cpu_blas_describe(void)
{
    pthread_once(&desc_once, describe);
    return full_desc;
}
