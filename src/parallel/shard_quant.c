/* The sharded engine's side of ZeRO++'s quantized communication (partition.h qw, qg, qwblock, qgblock;
 * docs/partitioning.md, section 9). The level-range collectives of shard_levels.c ask here whether
 * a call is one the scheme quantizes and hand it to comm_quant.c, so the whole-arena path and the
 * per-unit path (shard_units.c) both quantize without knowing it.
 *
 * qwZ. The exact (master) parameters are quantized to int8 once after every update (and at
 * creation and load): with params == optim the params shard is the master, its int8 payload is
 * kept on the host and its scales are all-gathered then, once per step, so that every
 * micro-batch's gather over params (forward, and backward without a secondary copy) moves only
 * the payload; with params narrower than optim, an exact f32 copy of the optim shard (`master`)
 * takes AdamW's updates and the step's gather from optim to params moves payload and scales,
 * leaving every rank's params shard dequantized (its own piece too, so every copy of the model is
 * the same). The hpZ secondary copy is cut from the forward's dequantized gather, so backward
 * computes with the weights forward used, and gathers them exactly.
 *
 * qgZ. Every reduce-scatter of the gradient over levels up to the optim scope (per micro-batch
 * over grads, once per step from grads to optim) is comm_quant.c's per-level quantized
 * all-to-all. The all-reduce across copies of an optim shard narrower than the world stays
 * exact. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"
#include "shard_internal.h"
#include "strata/ops.h"

struct shard_quant {
    st_shard_state *s;     /* borrowed */
    int wbits, gbits;
    int64_t wblock, gblock; /* elements per scale: weights (qw), gradients (qg) */
    int micro;             /* qw with params == optim: the per-micro-batch gathers are quantized */
    int wlo, whi;          /* levels of the quantized parameter gather */
    int optim;             /* gradient reduce-scatters ending at or below this scope are quantized */
    int64_t mlen, nb;      /* master shard: elements, blocks */
    int64_t nvec, nscales; /* the gathered vector (L or len_p) and its scales */
    int8_t *q;             /* this rank's master shard in int8 */
    float *scales;         /* every master shard's scales, in vector order */
};

uint64_t shard_row(const st_params *ps)
{
    /* The smaller side of each matrix, weighted by its elements: in a transformer every weight is
     * d x k d (or its vocabulary/position table V x d), so this is the hidden width d whatever
     * the vocabulary or context. Ties go to the narrower row. */
    int n = st_params_count(ps);
    uint64_t best = 0, best_elems = 0;
    for (int i = 0; i < n; i++) {
        st_param_info a;
        if (st_params_info(ps, i, &a) != ST_OK || a.ndim < 2 || a.numel <= 0)
            continue;
        int64_t last = a.shape[a.ndim - 1], w = last < a.numel / last ? last : a.numel / last;
        uint64_t elems = 0;
        for (int j = 0; j < n; j++) {
            st_param_info b;
            if (st_params_info(ps, j, &b) != ST_OK || b.ndim < 2 || b.numel <= 0)
                continue;
            int64_t lb = b.shape[b.ndim - 1], wb = lb < b.numel / lb ? lb : b.numel / lb;
            elems += wb == w ? (uint64_t)b.numel : 0;
        }
        if (elems > best_elems || (elems == best_elems && (uint64_t)w < best))
            best = (uint64_t)w, best_elems = elems;
    }
    return best;
}

int64_t shard_quant_block(const shard_quant *q, int grads)
{
    return grads ? q->gblock : q->wblock;
}

static uint64_t device_bytes(st_device *dev)
{
    st_device_memory m;
    return st_device_memory_get(dev, &m) == ST_OK ? m.current : 0;
}

/* Quantizes the master shard on its device, keeps the payload, and all-gathers the scales. */
static st_status refresh(shard_quant *q)
{
    st_shard_state *s = q->s;
    st_tensor *src = q->micro ? s->pshard : s->master, *tq = NULL, *ts = NULL;
    int64_t own = shard_offset(s->c, q->nvec, q->wlo, q->whi) / q->mlen;
    st_status st = st_tensor_create(s->dev, ST_I8, 1, &q->mlen, &tq);
    if (st == ST_OK)
        st = st_tensor_create(s->dev, ST_F32, 1, &q->nb, &ts);
    if (st == ST_OK)
        st = st_quantize(src, tq, ts, 8, shard_quant_block(q, 0));
    if (st == ST_OK)
        st = st_tensor_read(tq, q->q, (size_t)q->mlen);
    if (st == ST_OK)
        st = st_tensor_read(ts, q->scales + own * q->nb, sizeof(float) * (size_t)q->nb);
    st_tensor_destroy(tq);
    st_tensor_destroy(ts);
    ST_TRY(st);
    return comm_quant_gather_scales(s->c, q->scales, q->nscales, q->wlo, q->whi);
}

/* qw's geometry and buffers; with params narrower than optim, the exact master copy (counted as
 * optimizer state: st_partition_memory_get adds it the same way). */
static st_status weights_init(shard_quant *q)
{
    st_shard_state *s = q->s;
    q->micro = s->p.params == s->p.optim;
    q->wlo = q->micro ? 0 : (int)s->p.params;
    q->whi = q->micro ? (int)s->p.params : (int)s->p.optim;
    q->mlen = q->micro ? s->len_p : s->len_o;
    q->nvec = q->micro ? s->L : s->len_p;
    int64_t B = shard_quant_block(q, 0);
    q->nb = q->mlen / B + (q->mlen % B != 0);
    q->nscales = q->nvec / q->mlen * q->nb;
    q->q = malloc((size_t)q->mlen);
    q->scales = calloc((size_t)q->nscales, sizeof(float));
    if (!q->q || !q->scales)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_create: quantization buffers");
    if (q->micro)
        return ST_OK;
    uint64_t before = device_bytes(s->dev);
    ST_TRY(st_tensor_create(s->dev, ST_F32, 1, &s->len_o, &s->master));
    ST_TRY(shard_copy_range(s->master, 0, s->pshard, s->off_o - s->off_p, s->len_o));
    s->measured.optim += device_bytes(s->dev) - before;
    return ST_OK;
}

st_status shard_quant_create(st_shard_state *s)
{
    if (!s->p.qw && !s->p.qg)
        return ST_OK;
    if (s->c->squant)
        return ST_ERR(ST_ERR_UNSUPPORTED, "st_shard_create: this communicator already serves a quantized sharded "
                      "engine (one per communicator)");
    shard_quant *q = calloc(1, sizeof *q);
    if (!q)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_create: quantization state");
    q->s = s;
    q->wbits = s->p.qw;
    q->gbits = s->p.qg;
    q->wblock = st_partition_qw_block(&s->p);
    q->gblock = st_partition_qg_block(&s->p, shard_row(s->ps));
    q->optim = (int)s->p.optim;
    s->quant = q;
    s->c->squant = q;
    if (q->wbits)
        ST_TRY(weights_init(q));
    return shard_quant_sync(s);
}

void shard_quant_destroy(st_shard_state *s)
{
    if (!s->quant)
        return;
    if (s->c->squant == s->quant)
        s->c->squant = NULL;
    free(s->quant->q);
    free(s->quant->scales);
    free(s->quant);
    s->quant = NULL;
    st_tensor_destroy(s->master);
    s->master = NULL;
}

st_status shard_quant_sync(st_shard_state *s)
{
    shard_quant *q = s->quant;
    if (!q || !q->wbits)
        return ST_OK;
    if (q->micro)
        return refresh(q);
    /* the params shard's optim range is the exact state (creation, load): it becomes the master,
     * and every params shard its dequantized gather */
    ST_TRY(shard_copy_range(s->master, 0, s->pshard, s->off_o - s->off_p, s->len_o));
    return shard_all_gather_levels(s->c, s->pshard, (int)s->p.params, (int)s->p.optim);
}

st_status shard_quant_updated(st_shard_state *s)
{
    shard_quant *q = s->quant;
    if (!q || !q->wbits)
        return ST_OK;
    if (q->micro)
        return refresh(q);
    for (int l = q->wlo; l < q->whi; l++)
        if (s->c->lsize[l] > 1)
            return ST_OK; /* the step's gather (shard_quant_gather) filled the params shard */
    /* nothing to cross: the optim shard is this rank's whole share of the params shard */
    return shard_copy_range(s->pshard, s->off_o - s->off_p, s->master, 0, s->len_o);
}

int shard_quant_gathers(const st_comm *c, int lo, int hi)
{
    const shard_quant *q = c->squant;
    return q && q->wbits && lo == q->wlo && hi == q->whi;
}

int shard_quant_reduces(const st_comm *c, int lo, int hi)
{
    const shard_quant *q = c->squant;
    return q && q->gbits && lo < hi && hi <= q->optim;
}

st_status shard_quant_gather(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi)
{
    shard_quant *q = c->squant;
    if (!q->micro) /* the step's gather from the freshly updated master */
        ST_TRY(refresh(q));
    quant_src src;
    shard_quant_source(c, &src);
    return comm_quant_gather_run(c, &src, t, a, n, lo, hi);
}

st_status shard_quant_reduce(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi, int64_t *start,
                             int64_t *kept)
{
    shard_quant *q = c->squant;
    return comm_quant_reduce_scatter_run(c, q->gbits, shard_quant_block(q, 1), t, a, n, lo, hi, start, kept);
}

void shard_quant_source(const st_comm *c, quant_src *src)
{
    const shard_quant *q = c->squant;
    *src = (quant_src){q->q, q->scales, q->mlen, shard_quant_block(q, 0)};
}

void shard_quant_grad(const st_comm *c, int *bits, int64_t *block)
{
    const shard_quant *q = c->squant;
    *bits = q->gbits;
    *block = shard_quant_block(q, 1);
}
