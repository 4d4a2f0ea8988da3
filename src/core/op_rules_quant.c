/* Shape rules of the quant family (quantize, dequantize) and st_quant_bytes: the parameters
 * checked once here, so no backend sees bits other than 8 or 4 or a block that does not fit. */
#include "op_impl.h"
#include "op_rules.h"

/* Bytes of the payload of n elements: one each, or two per byte. */
static int64_t payload(int64_t n, int bits) { return bits == 4 ? (n + 1) / 2 : n; }
static int64_t blocks(int64_t n, int64_t block) { return n / block + (n % block != 0); }

static st_status check_params(st_rule_ctx *c)
{
    const st_quant_params *p = &c->p->quantize; /* quantize and dequantize share the type */
    if (p->bits != 8 && p->bits != 4)
        return st_op_fail(c->info, ST_ERR_INVALID_ARG, "bits is %d; it must be 8 or 4", p->bits);
    if (p->block <= 0)
        return st_op_fail(c->info, ST_ERR_INVALID_ARG, "block is %lld; it must be > 0 (elements per scale)",
                          (long long)p->block);
    if (p->bits == 4 && p->block % 2)
        return st_op_fail(c->info, ST_ERR_INVALID_ARG,
                          "block is %lld; with bits 4 it must be even (a block's int4 pairs fill whole bytes)",
                          (long long)p->block);
    return ST_OK;
}

/* quantize: in (n) -> q (payload bytes, any shape of that many), scale (one per block). */
static st_status quantize_shape(st_rule_ctx *c)
{
    ST_TRY(check_params(c));
    const st_quant_params *p = &c->p->quantize;
    int64_t n = st_desc_numel(&c->in[0]);
    if (p->accumulate)
        return st_op_fail(c->info, ST_ERR_INVALID_ARG, "accumulate is %d; only dequantize accumulates",
                          p->accumulate);
    int64_t q = payload(n, p->bits), s = blocks(n, p->block);
    rule_set(c, 0, 1, &q);
    rule_set(c, 1, 1, &s);
    c->match[0] = c->match[1] = ST_MATCH_NUMEL;
    return ST_OK;
}
const st_rule st_rule_quantize = {quantize_shape, NULL};

/* dequantize: q, scale -> out. Eagerly out's element count is the caller's (bits 4 cannot tell an
 * odd count from q alone) and q and scale must fit it; inferred, out is 1-d with q's elements
 * (two per byte for bits 4). */
static st_status dequantize_shape(st_rule_ctx *c)
{
    ST_TRY(check_params(c));
    const st_quant_params *p = &c->p->dequantize;
    int64_t nq = st_desc_numel(&c->in[0]), ns = st_desc_numel(&c->in[1]);
    int64_t n = c->given ? st_desc_numel(&c->given[0]) : p->bits == 4 ? 2 * nq : nq;
    if (payload(n, p->bits) != nq)
        return st_op_fail(c->info, ST_ERR_SHAPE, "q holds %lld bytes; %lld elements at %d bits need %lld", (long long)nq,
                          (long long)n, p->bits, (long long)payload(n, p->bits));
    if (blocks(n, p->block) != ns)
        return st_op_fail(c->info, ST_ERR_SHAPE, "scale has %lld elements; %lld elements in blocks of %lld need %lld",
                          (long long)ns, (long long)n, (long long)p->block, (long long)blocks(n, p->block));
    if (c->given) rule_set(c, 0, c->given[0].ndim, c->given[0].shape);
    else rule_set(c, 0, 1, &n);
    if (!c->given) c->out[0].dtype = ST_F32;
    return ST_OK;
}
const st_rule st_rule_dequantize = {dequantize_shape, NULL};

int64_t st_quant_bytes(int64_t n, int bits, int64_t block)
{
    if (n < 0 || (bits != 8 && bits != 4) || block <= 0 || (bits == 4 && block % 2)) return 0;
    return payload(n, bits) + 4 * blocks(n, block);
}
