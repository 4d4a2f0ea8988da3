/* The CPU backend's strided elementwise loop nest: operands of one shape with arbitrary strides
 * (0 = broadcast), split over OpenMP threads by flat element index and handed to a per-segment
 * function one contiguous run of the innermost dimension at a time. Not a public header. */
#ifndef STRATA_CPU_STRIDED_H
#define STRATA_CPU_STRIDED_H

#include "cpu_ops.h"

/* Hot contiguous loops are compiled for several ISAs and picked at load time (ifunc), since the
 * library is built without -march. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_CLONES
#endif

/* Below this many elements a loop runs on the calling thread: waking the team costs more. */
#define CPU_PAR_MIN 32768
/* Elements per staging tile: 3 tiles of f32 stay well inside L1 next to the streamed data. */
#define CPU_TILE 1024
#define CPU_MAX_OPS 3
/* Tile edge for transposing access patterns: 32 x 32 f32 is 4 KB per operand. */
#define CPU_BLOCK 32

/* Operands after dimension collapsing: op 0 is the output, ops 1.. the inputs. Dims are ordered
 * by the output's strides, innermost last, and merged wherever every operand is contiguous
 * across them, so same-shape contiguous operands become one dimension. */
typedef struct cpu_iter {
    int nops, nd;
    int64_t n;
    int64_t shape[ST_MAX_DIMS];
    int64_t stride[CPU_MAX_OPS][ST_MAX_DIMS];
    char *base[CPU_MAX_OPS];
    st_dtype dt[CPU_MAX_OPS];
    int esize[CPU_MAX_OPS];
} cpu_iter;

/* Processes `len` elements of the innermost dimension starting at ptr[op] (byte addresses);
 * operand op advances by it->stride[op][it->nd - 1] elements per element. */
typedef void (*cpu_seg_fn)(const cpu_iter *it, char *const *ptr, int64_t len, const void *arg);

void cpu_iter_init(cpu_iter *it, const st_op_call *c);
/* Runs fn over every element, in parallel when the operands are large enough. */
void cpu_iter_run(const cpu_iter *it, cpu_seg_fn fn, const void *arg);

/* o[i] = f(a[i], b[i]) over a contiguous tile of f32. The output may be exactly one of the
 * inputs (an in-place op): every element is read before it is written at the same index only, so
 * the restrict promise the vectoriser relies on still holds for these loops. */
typedef void (*cpu_ew_kernel)(float *restrict o, const float *restrict a, const float *restrict b, int64_t n,
                              const st_op_params *p);
/* Runs kernel over call c (one output, one or two inputs, f32 or bf16, any strides): f32 operands
 * with unit inner stride are used in place, the others staged through f32 tiles. */
st_status cpu_ew_run(const st_op_call *c, cpu_ew_kernel kernel);

/* Contiguous bf16 <-> f32 conversion (round to nearest even on the way to bf16). */
void cpu_bf16_to_f32_n(float *restrict dst, const uint16_t *restrict src, int64_t n);
void cpu_f32_to_bf16_n(uint16_t *restrict dst, const float *restrict src, int64_t n);

#endif
