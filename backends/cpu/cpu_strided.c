/* The strided elementwise loop nest of the CPU backend (see cpu_strided.h): dimension ordering
 * and collapsing, the parallel split, the bf16 conversion loops, and cpu_ew_run, the f32 driver
 * of the elementwise and copy families' arithmetic. */
#include <omp.h>
#include <stdlib.h>
#include "cpu_strided.h"

static const st_view *iter_view(const st_op_call *c, int op)
{
    return op == 0 ? &c->out[0] : &c->in[op - 1];
}

/* Dims of size > 1, ordered by decreasing output stride so that the output is walked in memory
 * order (stable, so a contiguous output keeps its order). */
static int order_dims(const st_view *out, int *dims)
{
    int nd = 0;
    for (int d = 0; d < out->ndim; d++) {
        if (out->shape[d] == 1) continue;
        int j = nd++;
        int64_t s = llabs(out->stride[d]);
        while (j > 0 && llabs(out->stride[dims[j - 1]]) < s) {
            dims[j] = dims[j - 1];
            j--;
        }
        dims[j] = d;
    }
    return nd;
}

void cpu_iter_init(cpu_iter *it, const st_op_call *c)
{
    const st_view *out = &c->out[0];
    int dims[ST_MAX_DIMS], nd = order_dims(out, dims);
    it->nops = 1 + c->n_in;
    it->nd = 0;
    it->n = 1;
    for (int op = 0; op < it->nops; op++) {
        const st_view *v = iter_view(c, op);
        it->dt[op] = v->dtype;
        it->esize[op] = (int)st_dtype_size(v->dtype);
        it->base[op] = cpu_ptr(v);
    }
    for (int i = 0; i < nd; i++) {
        int d = dims[i], k = it->nd - 1, merge = k >= 0;
        for (int op = 0; merge && op < it->nops; op++)
            merge = it->stride[op][k] == iter_view(c, op)->stride[d] * out->shape[d];
        if (merge) {
            it->shape[k] *= out->shape[d];
            for (int op = 0; op < it->nops; op++) it->stride[op][k] = iter_view(c, op)->stride[d];
        } else {
            it->shape[++k] = out->shape[d];
            for (int op = 0; op < it->nops; op++) it->stride[op][k] = iter_view(c, op)->stride[d];
            it->nd = k + 1;
        }
        it->n *= out->shape[d];
    }
    if (it->nd == 0) { /* a single element */
        it->nd = 1;
        it->shape[0] = 1;
        for (int op = 0; op < it->nops; op++) it->stride[op][0] = 0;
    }
}

/* Byte addresses of element (row, col): row is the flat index over all dims but the last. */
static void iter_ptrs(const cpu_iter *it, int64_t row, int64_t col, char **ptr)
{
    int last = it->nd - 1;
    for (int op = 0; op < it->nops; op++) {
        int64_t off = col * it->stride[op][last], r = row;
        for (int d = last - 1; d >= 0; d--) {
            off += (r % it->shape[d]) * it->stride[op][d];
            r /= it->shape[d];
        }
        ptr[op] = it->base[op] + off * it->esize[op];
    }
}

/* Flat elements [beg, end) in row-major order of the collapsed shape, one inner run at a time. */
static void iter_range(const cpu_iter *it, int64_t beg, int64_t end, cpu_seg_fn fn, const void *arg)
{
    int64_t inner = it->shape[it->nd - 1];
    for (int64_t pos = beg; pos < end;) {
        int64_t row = pos / inner, col = pos % inner;
        int64_t len = inner - col < end - pos ? inner - col : end - pos;
        char *ptr[CPU_MAX_OPS];
        iter_ptrs(it, row, col, ptr);
        fn(it, ptr, len, arg);
        pos += len;
    }
}

/* An input walked across the output's inner dimension with a long stride, but contiguous along
 * the next one (a transpose): row-by-row order would touch a new cache line per element. */
static int iter_wants_blocks(const cpu_iter *it)
{
    int last = it->nd - 1;
    if (it->nd < 2 || it->shape[last] < CPU_BLOCK || it->shape[last - 1] < CPU_BLOCK) return 0;
    for (int op = 1; op < it->nops; op++) {
        int64_t si = llabs(it->stride[op][last]), so = llabs(it->stride[op][last - 1]);
        if (si > 1 && so < si) return 1;
    }
    return 0;
}

/* The last two dims in CPU_BLOCK x CPU_BLOCK tiles, so both orders stay within cache. */
static void iter_blocked(const cpu_iter *it, cpu_seg_fn fn, const void *arg)
{
    int64_t rows = it->shape[it->nd - 2], cols = it->shape[it->nd - 1];
    int64_t br = (rows + CPU_BLOCK - 1) / CPU_BLOCK, bc = (cols + CPU_BLOCK - 1) / CPU_BLOCK;
    int64_t outer = it->n / (rows * cols);
#pragma omp parallel for schedule(static) if (it->n >= CPU_PAR_MIN)
    for (int64_t b = 0; b < outer * br * bc; b++) {
        int64_t o = b / (br * bc), r0 = (b / bc % br) * CPU_BLOCK, c0 = b % bc * CPU_BLOCK;
        int64_t r1 = r0 + CPU_BLOCK < rows ? r0 + CPU_BLOCK : rows;
        int64_t len = cols - c0 < CPU_BLOCK ? cols - c0 : CPU_BLOCK;
        for (int64_t r = r0; r < r1; r++) {
            char *ptr[CPU_MAX_OPS];
            iter_ptrs(it, o * rows + r, c0, ptr);
            fn(it, ptr, len, arg);
        }
    }
}

void cpu_iter_run(const cpu_iter *it, cpu_seg_fn fn, const void *arg)
{
    if (iter_wants_blocks(it)) {
        iter_blocked(it, fn, arg);
        return;
    }
    int64_t n = it->n;
#pragma omp parallel if (n >= CPU_PAR_MIN)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        /* Whole cache lines per thread, so threads never share a line of a contiguous output. */
        int64_t chunk = ((n + nt - 1) / nt + 63) & ~(int64_t)63;
        int64_t beg = t * chunk < n ? t * chunk : n;
        int64_t end = beg + chunk < n ? beg + chunk : n;
        iter_range(it, beg, end, fn, arg);
    }
}

CPU_CLONES void cpu_bf16_to_f32_n(float *restrict dst, const uint16_t *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = cpu_bf16_to_f32(src[i]);
}

CPU_CLONES void cpu_f32_to_bf16_n(uint16_t *restrict dst, const float *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = cpu_f32_to_bf16(src[i]);
}

/* ---- f32 arithmetic over strided operands (cpu_ew_run) ---- */

/* Operand k's `m` elements from `i` as contiguous f32: the data itself or a staged tile. */
static const float *ew_gather(const cpu_iter *it, int k, char *p, int64_t i, int64_t m, float *tile)
{
    int64_t s = it->stride[k][it->nd - 1];
    if (it->dt[k] == ST_F32) {
        const float *x = (const float *)p + i * s;
        if (s == 1) return x;
        for (int64_t j = 0; j < m; j++) tile[j] = x[j * s];
    } else {
        const uint16_t *x = (const uint16_t *)p + i * s;
        if (s == 1) cpu_bf16_to_f32_n(tile, x, m);
        else
            for (int64_t j = 0; j < m; j++) tile[j] = cpu_bf16_to_f32(x[j * s]);
    }
    return tile;
}

static void ew_scatter(const cpu_iter *it, char *p, int64_t i, int64_t m, const float *tile)
{
    int64_t s = it->stride[0][it->nd - 1];
    if (it->dt[0] == ST_F32) {
        float *y = (float *)p + i * s;
        for (int64_t j = 0; j < m; j++) y[j * s] = tile[j];
    } else {
        uint16_t *y = (uint16_t *)p + i * s;
        if (s == 1) cpu_f32_to_bf16_n(y, tile, m);
        else
            for (int64_t j = 0; j < m; j++) y[j * s] = cpu_f32_to_bf16(tile[j]);
    }
}

typedef struct ew_math_arg {
    cpu_ew_kernel kernel;
    const st_op_params *p;
} ew_math_arg;

static void ew_math_seg(const cpu_iter *it, char *const *ptr, int64_t len, const void *argp)
{
    const ew_math_arg *arg = argp;
    float tile[CPU_MAX_OPS][CPU_TILE];
    int direct = it->dt[0] == ST_F32 && it->stride[0][it->nd - 1] == 1;
    for (int64_t i = 0; i < len; i += CPU_TILE) {
        int64_t m = len - i < CPU_TILE ? len - i : CPU_TILE;
        const float *in[2] = {tile[1], tile[2]};
        for (int k = 1; k < it->nops; k++) in[k - 1] = ew_gather(it, k, ptr[k], i, m, tile[k]);
        float *o = direct ? (float *)ptr[0] + i : tile[0];
        arg->kernel(o, in[0], in[1], m, arg->p);
        if (!direct) ew_scatter(it, ptr[0], i, m, tile[0]);
    }
}

st_status cpu_ew_run(const st_op_call *c, cpu_ew_kernel kernel)
{
    for (int k = 0; k <= c->n_in; k++) {
        const st_view *v = k == 0 ? &c->out[0] : &c->in[k - 1];
        if (v->dtype != ST_F32 && v->dtype != ST_BF16)
            return ST_ERR(ST_ERR_DTYPE, "cpu: %s on %s data", st_op_name(c->op), st_dtype_name(v->dtype));
    }
    cpu_iter it;
    cpu_iter_init(&it, c);
    ew_math_arg arg = {kernel, &c->p};
    cpu_iter_run(&it, ew_math_seg, &arg);
    return ST_OK;
}
