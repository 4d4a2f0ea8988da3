/* The quant family on the CPU: block-symmetric quantize and dequantize, one OpenMP task per block.
 *
 * A block's amax comes from the bit patterns: |x| as an unsigned integer orders exactly like the
 * float, and every NaN sorts above inf, so one integer max (vpmaxud) finds the amax and whether the
 * block is non-finite, where fmaxf would drop a NaN. bf16 is read that way with no conversion.
 * Quantizing multiplies by inv = qmax / amax (one correctly rounded division per block) and rounds
 * half to even (rintf). A block whose amax is so small that qmax / amax overflows f32 is scaled
 * by 2^64 first (exact), so it quantizes like any other. */
#include <math.h>
#include "cpu_strided.h"
#include "cpu_vmath.h"

#define NONFINITE_BITS 0x7f800000u

/* What quantizing one block needs: its scale, and the factors applied to each element. */
typedef struct qblock {
    float scale, pre, inv, qmax;
    int finite; /* 0: NaN or inf in the block, q all 0 */
} qblock;

CPU_CLONES static uint32_t amax_bits_f32(const uint32_t *restrict x, int64_t n)
{
    uint32_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t a = x[i] & 0x7fffffffu;
        m = a > m ? a : m;
    }
    return m;
}

CPU_CLONES static uint32_t amax_bits_bf16(const uint16_t *restrict x, int64_t n)
{
    uint16_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t a = x[i] & 0x7fffu;
        m = a > m ? a : m;
    }
    return (uint32_t)m << 16;
}

static qblock block_of(uint32_t amax_bits, int bits)
{
    qblock b = {.qmax = bits == 8 ? 127.0f : 7.0f, .pre = 1.0f, .finite = amax_bits < NONFINITE_BITS};
    float amax = cpu_f32_from_bits(amax_bits);
    b.scale = amax / b.qmax; /* NaN stays NaN, inf stays inf */
    if (!b.finite || amax == 0.0f) return b; /* q all 0 */
    if (amax < 0x1p-60f) b.pre = 0x1p64f;
    b.inv = b.qmax / (amax * b.pre);
    return b;
}

/* q = clamp(rint(x pre inv), -qmax, qmax); 0 for a block without a finite nonzero amax. */
static inline int quant_one(float x, const qblock *b)
{
    float t = rintf((x * b->pre) * b->inv);
    t = t > b->qmax ? b->qmax : t;
    t = t < -b->qmax ? -b->qmax : t;
    return (int)t;
}

CPU_CLONES static void quant8_run(int8_t *restrict q, const float *restrict x, int64_t n, qblock b)
{
    for (int64_t i = 0; i < n; i++) q[i] = (int8_t)quant_one(x[i], &b);
}

/* Packs n int4 values (one per int8, from an even start): byte j holds elements 2j (low nibble)
 * and 2j + 1 (high); an odd n's last high nibble is 0. */
CPU_CLONES static void pack4_run(uint8_t *restrict q, const int8_t *restrict t, int64_t n)
{
    for (int64_t j = 0; j < n / 2; j++) q[j] = (uint8_t)((t[2 * j] & 15) | ((t[2 * j + 1] & 15) << 4));
    if (n & 1) q[n / 2] = (uint8_t)(t[n - 1] & 15);
}

/* Quantizes block elements [0, n) of x (dtype dt) into q (at the block's first byte). */
static void quantize_block(const void *x, st_dtype dt, int64_t n, int bits, void *q, float *scale)
{
    uint32_t amax = dt == ST_BF16 ? amax_bits_bf16(x, n) : amax_bits_f32(x, n);
    qblock b = block_of(amax, bits);
    *scale = b.scale;
    if (!b.finite || b.inv == 0.0f) {
        memset(q, 0, (size_t)(bits == 8 ? n : (n + 1) / 2));
        return;
    }
    float tile[CPU_TILE];
    int8_t q8[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) { /* CPU_TILE is even: int4 chunks fill whole bytes */
        int64_t len = n - i < CPU_TILE ? n - i : CPU_TILE;
        const float *xs = (const float *)x + i;
        if (dt == ST_BF16) {
            cpu_bf16_to_f32_n(tile, (const uint16_t *)x + i, len);
            xs = tile;
        }
        if (bits == 8) quant8_run((int8_t *)q + i, xs, len, b);
        else {
            quant8_run(q8, xs, len, b);
            pack4_run((uint8_t *)q + i / 2, q8, len);
        }
    }
}

st_status st_cpu_quantize(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *in = &c->in[0];
    const st_quant_params *p = &c->p.quantize;
    int64_t n = cpu_numel(in), block = p->block, nb = (n + block - 1) / block;
    int bits = p->bits;
    const char *x = cpu_ptr(in);
    char *q = cpu_ptr(&c->out[0]);
    float *scale = cpu_ptr(&c->out[1]);
    size_t es = st_dtype_size(in->dtype);
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN && nb > 1)
    for (int64_t k = 0; k < nb; k++) {
        int64_t i = k * block, len = n - i < block ? n - i : block;
        quantize_block(x + (size_t)i * es, in->dtype, len, bits, q + (bits == 8 ? i : i / 2), &scale[k]);
    }
    return ST_OK;
}

/* ---- dequantize ---- */

CPU_CLONES static void deq8_run(float *restrict o, const int8_t *restrict q, int64_t n, float s, int acc)
{
    if (acc)
        for (int64_t i = 0; i < n; i++) o[i] += (float)q[i] * s;
    else
        for (int64_t i = 0; i < n; i++) o[i] = (float)q[i] * s;
}

/* A byte's two int4 values, sign-extended: element 2j (low nibble) and 2j + 1 (high). */
static inline float nib_lo(int8_t b) { return (float)((int)(((uint8_t)b & 15u) ^ 8u) - 8); }
static inline float nib_hi(int8_t b) { return (float)((int)(((uint8_t)b >> 4) ^ 8u) - 8); }

/* n elements from an even start; an odd n's last element is the low nibble of its byte. */
CPU_CLONES static void deq4_run(float *restrict o, const int8_t *restrict q, int64_t n, float s, int acc)
{
    int64_t m = n / 2;
    if (acc)
        for (int64_t j = 0; j < m; j++) {
            o[2 * j] += nib_lo(q[j]) * s;
            o[2 * j + 1] += nib_hi(q[j]) * s;
        }
    else
        for (int64_t j = 0; j < m; j++) {
            o[2 * j] = nib_lo(q[j]) * s;
            o[2 * j + 1] = nib_hi(q[j]) * s;
        }
    if (n & 1) {
        float v = nib_lo(q[m]) * s;
        o[n - 1] = acc ? o[n - 1] + v : v;
    }
}

/* Block elements [0, n) of out (dtype dt) from q (the block's first byte) and its scale. */
static void dequantize_block(void *out, st_dtype dt, const int8_t *q, int64_t n, int bits, float s, int acc)
{
    float tile[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t len = n - i < CPU_TILE ? n - i : CPU_TILE;
        float *o = dt == ST_BF16 ? tile : (float *)out + i;
        if (dt == ST_BF16 && acc) cpu_bf16_to_f32_n(tile, (const uint16_t *)out + i, len);
        if (bits == 8) deq8_run(o, q + i, len, s, acc);
        else deq4_run(o, q + i / 2, len, s, acc);
        if (dt == ST_BF16) cpu_f32_to_bf16_n((uint16_t *)out + i, tile, len);
    }
}

st_status st_cpu_dequantize(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *out = &c->out[0];
    const st_quant_params *p = &c->p.dequantize;
    int64_t n = cpu_numel(out), block = p->block, nb = (n + block - 1) / block;
    int bits = p->bits, acc = p->accumulate != 0;
    const int8_t *q = cpu_ptr(&c->in[0]);
    const float *scale = cpu_ptr(&c->in[1]);
    char *o = cpu_ptr(out);
    size_t es = st_dtype_size(out->dtype);
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN && nb > 1)
    for (int64_t k = 0; k < nb; k++) {
        int64_t i = k * block, len = n - i < block ? n - i : block;
        dequantize_block(o + (size_t)i * es, out->dtype, q + (bits == 8 ? i : i / 2), len, bits, scale[k], acc);
    }
    return ST_OK;
}
