/* CPU random fill: Philox4x32-10 per element (counter = offset + flat index), so any split of a
 * draw, across threads or across calls with offsets, gives the same numbers. Formulas are in
 * docs/OPS.md and shared with every backend. */
#include <math.h>
#include "cpu_philox.h"
#include "cpu_strided.h"

#define TWO_POW_M24 5.9604644775390625e-08f

static void rand_tile(float *o, uint64_t first, int64_t m, const st_rand_params *p, int normal)
{
    uint32_t k0 = (uint32_t)p->seed, k1 = (uint32_t)(p->seed >> 32);
    for (int64_t i = 0; i < m; i++) {
        uint64_t n = first + (uint64_t)i;
        uint32_t c[4] = {(uint32_t)n, (uint32_t)(n >> 32), 0, 0};
        cpu_philox4x32_10(c, k0, k1);
        if (normal) {
            float u1 = (float)((c[0] >> 8) + 1) * TWO_POW_M24;
            float u2 = (float)(c[1] >> 8) * TWO_POW_M24;
            /* In double, rounded once: single-precision libm results differ between vendors,
             * double ones rounded to f32 agree, so every backend draws the same numbers. */
            float z = (float)(sqrt(-2.0 * log((double)u1)) * cos(6.283185307179586 * (double)u2));
            o[i] = p->a + p->b * z;
        } else {
            o[i] = p->a + (p->b - p->a) * ((float)(c[0] >> 8) * TWO_POW_M24);
        }
    }
}

static st_status rand_fill(const st_op_call *c, int normal)
{
    const st_view *y = &c->out[0];
    if (y->dtype != ST_F32 && y->dtype != ST_BF16)
        return ST_ERR(ST_ERR_DTYPE, "cpu: %s into %s", st_op_name(c->op), st_dtype_name(y->dtype));
    const st_rand_params *p = &c->p.rand_uniform; /* rand_uniform and rand_normal share st_rand_params */
    int64_t n = cpu_numel(y), tiles = (n + CPU_TILE - 1) / CPU_TILE;
    /* Philox costs ~100 instructions per element, so threads pay off far below CPU_PAR_MIN. */
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN / 16)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i = t * CPU_TILE, len = n - i < CPU_TILE ? n - i : CPU_TILE;
        float tile[CPU_TILE];
        if (y->dtype == ST_F32) {
            rand_tile((float *)cpu_ptr(y) + i, p->offset + (uint64_t)i, len, p, normal);
        } else {
            rand_tile(tile, p->offset + (uint64_t)i, len, p, normal);
            cpu_f32_to_bf16_n((uint16_t *)cpu_ptr(y) + i, tile, len);
        }
    }
    return ST_OK;
}

st_status st_cpu_rand_uniform(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    return rand_fill(c, 0);
}

st_status st_cpu_rand_normal(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    return rand_fill(c, 1);
}
