/* The CPU backend's BLAS, loaded at run time (cpu_blas.c): only SGEMM is used, through the CBLAS
 * row-major interface with 32-bit ints (what Debian's OpenBLAS and reference BLAS export). */
#ifndef STRATA_CPU_BLAS_H
#define STRATA_CPU_BLAS_H

#include "cpu_ops.h"
#include "cpu_sgemm.h"

/* CBLAS enum values, spelled out so that building needs no cblas.h. */
enum { ST_CBLAS_ROW_MAJOR = 101, ST_CBLAS_NO_TRANS = 111, ST_CBLAS_TRANS = 112 };

typedef void (*st_cpu_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                                const float *a, int lda, const float *b, int ldb, float beta, float *c,
                                int ldc);

/* cblas_sgemm of the loaded BLAS, loading it on first use (thread-safe). The function is safe
 * to call from several threads at once and runs on the calling thread only (a pthreads OpenBLAS
 * is set to one thread): callers parallelise with OpenMP. ST_ERR_BACKEND with each library's
 * dlerror() when no BLAS could be loaded. */
st_status st_cpu_blas_sgemm(st_cpu_sgemm_fn *fn);

#endif
