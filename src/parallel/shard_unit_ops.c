/* Each unit's collectives in the per-unit mode (shard_units.h): its working slots, its parameter
 * gather and its gradient's reduce-scatter, in the contiguous layout (blocking, run by run) and in
 * the balanced one (queued on the engine's shard_queue: true all-gathers and reduce-scatters of the
 * unit's N q elements, T's tails bucketed once per pass). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "shard_units.h"
#include "strata/ops.h"

/* The smallest free slot of at least `need` elements, or a new one of exactly that. */
st_status shard_unit_acquire(st_shard_state *s, int64_t need, int *out)
{
    shard_layers *l = s->lay;
    int best = -1;
    for (int i = 0; i < l->n_slots; i++)
        if (!l->slot[i].busy && l->slot[i].len >= need && (best < 0 || l->slot[i].len < l->slot[best].len))
            best = i;
    if (best < 0) {
        shard_slot *grown = realloc(l->slot, sizeof *grown * (size_t)(l->n_slots + 1));
        if (!grown)
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard: host allocation failed");
        l->slot = grown;
        best = l->n_slots;
        l->slot[best] = (shard_slot){NULL, need, 0};
        ST_TRY(st_tensor_create(s->dev, ST_F32, 1, &need, &l->slot[best].t));
        l->n_slots++;
        l->slot_bytes += (uint64_t)need * sizeof(float);
    }
    l->slot[best].busy = 1;
    *out = best;
    return ST_OK;
}

void shard_unit_drop(shard_layers *l, int *slot)
{
    if (*slot >= 0)
        l->slot[*slot].busy = 0;
    *slot = -1;
}

/* ---- contiguous layout: a unit's runs lie in few ranks' slices; blocking run collectives ---- */

static st_status gather_contiguous(st_shard_state *s, int k, int backward)
{
    const shard_unit_map *u = &s->map->u[k];
    int from_sec = backward && s->sec;
    st_tensor *src = from_sec ? s->sec : s->pshard;
    int64_t off = from_sec ? s->off_s : s->off_p, len = from_sec ? s->len_s : s->len_p;
    int scope = from_sec ? (int)s->p.secondary : (int)s->p.params;
    st_tensor *slot = s->lay->slot[s->lay->u[k].pslot].t;
    for (int r = 0; r < u->nruns; r++) {
        int64_t a = u->run[r][0], b = u->run[r][1], pos = u->run_pos[r];
        int64_t lo = a > off ? a : off, hi = b < off + len ? b : off + len;
        if (hi > lo)
            ST_TRY(shard_copy_range(slot, pos + lo - a, src, lo - off, hi - lo));
        st_tensor *run = NULL;
        ST_TRY(shard_view(slot, pos, b - a, &run));
        st_status st = shard_all_gather_run(s->c, run, a, s->L, 0, scope);
        st_tensor_destroy(run);
        ST_TRY(st);
        lo = a > s->off_s ? a : s->off_s;
        hi = b < s->off_s + s->len_s ? b : s->off_s + s->len_s;
        if (!backward && s->sec && hi > lo)
            ST_TRY(shard_copy_range(s->sec, lo - s->off_s, slot, pos + lo - a, hi - lo));
    }
    return ST_OK;
}

static st_status reduce_contiguous(st_shard_state *s, int k)
{
    const shard_unit_map *u = &s->map->u[k];
    int64_t off_g = shard_offset(s->c, s->L, 0, (int)s->p.grads);
    for (int r = 0; r < u->nruns; r++) {
        int64_t a = u->run[r][0], b = u->run[r][1], start = 0, kept = 0;
        st_tensor *run = NULL, *mine = NULL, *acc = NULL;
        ST_TRY(shard_view(s->lay->slot[s->lay->u[k].gslot].t, u->run_pos[r], b - a, &run));
        st_status st = shard_reduce_scatter_run(s->c, run, a, s->L, 0, (int)s->p.grads, &start, &kept);
        if (st == ST_OK && kept > 0)
            st = shard_view(run, 0, kept, &mine);
        if (st == ST_OK && kept > 0)
            st = shard_view(s->acc, start - off_g, kept, &acc);
        if (st == ST_OK && kept > 0)
            st = st_add(acc, acc, mine);
        st_tensor_destroy(run);
        st_tensor_destroy(mine);
        st_tensor_destroy(acc);
        ST_TRY(st);
    }
    return ST_OK;
}

/* ---- balanced layout ---- */

/* dst[j stride_d + doff, + q) op= src[j stride_s + soff, + q) for the G blocks j (add: +=). */
static st_status blocks(st_tensor *dst, int64_t doff, int64_t stride_d, st_tensor *src, int64_t soff,
                        int64_t stride_s, int64_t q, int64_t G, int add)
{
    for (int64_t j = 0; j < G && q > 0; j++) {
        if (!add) {
            ST_TRY(shard_copy_range(dst, doff + j * stride_d, src, soff + j * stride_s, q));
            continue;
        }
        st_tensor *d = NULL, *x = NULL;
        st_status st = shard_view(dst, doff + j * stride_d, q, &d);
        if (st == ST_OK)
            st = shard_view(src, soff + j * stride_s, q, &x);
        if (st == ST_OK)
            st = st_add(d, d, x);
        st_tensor_destroy(d);
        st_tensor_destroy(x);
        ST_TRY(st);
    }
    return ST_OK;
}

static int crosses(const st_comm *c, int scope)
{
    for (int l = 0; l < scope; l++)
        if (c->lsize[l] > 1)
            return 1;
    return 0;
}

/* Queues an all-gather (or reduce-scatter) of t[0, n) over levels [0, scope): quantized where the
 * scheme quantizes it (shard_async_quant.c; `map` places t's pieces in W for qwZ's scales). */
static st_status queue_part(st_shard_state *s, st_tensor *t, int64_t n, int scope, int reduce, const shard_qmap *map,
                            shard_op_done done, void *ctx, int64_t *ticket)
{
    st_tensor *v = NULL;
    ST_TRY(shard_view(t, 0, n, &v));
    int quant = crosses(s->c, scope) &&
                (reduce ? shard_quant_reduces(s->c, 0, scope) : shard_quant_gathers(s->c, 0, scope));
    st_status st;
    if (reduce)
        st = quant ? shard_async_quant_reduce_scatter(s->q, v, 0, scope, done, ctx, ticket)
                   : shard_async_reduce_scatter(s->q, v, 0, scope, done, ctx, ticket);
    else
        st = quant ? shard_async_quant_gather(s->q, v, map, 0, scope, done, ctx, ticket)
                   : shard_async_all_gather(s->q, v, 0, scope, done, ctx, ticket);
    st_tensor_destroy(v);
    return st;
}

static st_status gather_balanced(st_shard_state *s, int k, int backward)
{
    shard_layers *l = s->lay;
    const shard_map *m = s->map;
    const shard_unit_map *u = &m->u[k];
    int from_sec = backward && s->sec;
    st_tensor *src = from_sec ? s->sec : s->pshard;
    int64_t off = from_sec ? s->off_s : s->off_p, len = from_sec ? s->len_s : s->len_p, N = s->N;
    int scope = from_sec ? (int)s->p.secondary : (int)s->p.params;
    int64_t w0 = off / m->B, G = len / m->B, tb = m->R / N;
    shard_unit *su = &l->u[k];
    su->gather_bwd = backward;
    su->gather_tails = l->started[backward]++ % l->n_units == 0 && m->R > 0;
    su->gather = 0;
    if (su->gather_tails) { /* the first gather of its pass brings T, queued before it */
        ST_TRY(blocks(l->ptail, w0 * tb, tb, src, m->Q, m->B, tb, G, 0));
        shard_qmap tmap = {tb, m->B, m->Q};
        ST_TRY(queue_part(s, l->ptail, m->R, scope, 0, &tmap, NULL, NULL, &su->gather));
    }
    if (u->q == 0)
        return ST_OK;
    st_tensor *slot = l->slot[su->pslot].t;
    ST_TRY(blocks(slot, w0 * u->q, u->q, src, u->boff, m->B, u->q, G, 0));
    shard_qmap umap = {u->q, m->B, u->boff};
    return queue_part(s, slot, N * u->q, scope, 0, &umap, NULL, NULL, &su->gather);
}

st_status shard_unit_gather_start(st_shard_state *s, int k, int backward)
{
    shard_unit *su = &s->lay->u[k];
    if (su->pslot < 0)
        ST_TRY(shard_unit_acquire(s, s->map->u[k].numel, &su->pslot));
    su->pending = 1;
    if (!s->map->balanced) {
        su->gather_bwd = backward;
        return gather_contiguous(s, k, backward);
    }
    return gather_balanced(s, k, backward);
}

/* After the gather: the unit's tail from T, and (forward, hpZ) the secondary copy's share. */
st_status shard_unit_gather_finish(st_shard_state *s, int k)
{
    shard_layers *l = s->lay;
    const shard_map *m = s->map;
    shard_unit *su = &l->u[k];
    su->pending = 0;
    if (!m->balanced)
        return ST_OK;
    ST_TRY(shard_queue_wait(s->q, su->gather));
    su->gather = 0;
    const shard_unit_map *u = &m->u[k];
    st_tensor *slot = l->slot[su->pslot].t;
    int64_t N = s->N, r = u->numel - N * u->q, tb = m->R / N;
    if (r > 0)
        ST_TRY(shard_copy_range(slot, N * u->q, l->ptail, u->toff, r));
    if (su->gather_bwd || !s->sec)
        return ST_OK;
    int64_t ws = s->off_s / m->B, Gs = s->len_s / m->B;
    ST_TRY(blocks(s->sec, u->boff, m->B, slot, ws * u->q, u->q, u->q, Gs, 0));
    return su->gather_tails ? blocks(s->sec, m->Q, m->B, l->ptail, ws * tb, tb, tb, Gs, 0) : ST_OK;
}

/* Completion of a unit's reduce-scatter: this rank's pieces into the accumulator, slot freed. */
static st_status unit_reduced(void *ctx, shard_op *op)
{
    struct shard_state_unit *x = ctx;
    st_shard_state *s = x->s;
    const shard_unit_map *u = &s->map->u[x->k];
    int64_t Gg = s->len_g / s->map->B;
    ST_TRY(blocks(s->acc, u->boff, s->map->B, op->t, 0, u->q, u->q, Gg, 1));
    shard_unit_drop(s->lay, &s->lay->u[x->k].gslot);
    return ST_OK;
}

static st_status tails_reduced(void *ctx, shard_op *op)
{
    st_shard_state *s = ctx;
    int64_t tb = s->map->R / s->N, Gg = s->len_g / s->map->B;
    ST_TRY(blocks(s->acc, s->map->Q, s->map->B, op->t, 0, tb, tb, Gg, 1));
    return st_fill(s->lay->gtail, 0.0);
}

static st_status reduce_balanced(st_shard_state *s, int k, int last)
{
    shard_layers *l = s->lay;
    const shard_unit_map *u = &s->map->u[k];
    shard_unit *su = &l->u[k];
    int64_t N = s->N, r = u->numel - N * u->q, ticket = 0;
    st_tensor *slot = l->slot[su->gslot].t;
    if (r > 0)
        ST_TRY(shard_copy_range(l->gtail, u->toff, slot, N * u->q, r));
    su->ctx = (struct shard_state_unit){s, k};
    if (u->q > 0)
        ST_TRY(queue_part(s, slot, N * u->q, (int)s->p.grads, 1, NULL, unit_reduced, &su->ctx, &ticket));
    else
        shard_unit_drop(l, &su->gslot);
    if (last && s->map->R > 0)
        ST_TRY(queue_part(s, l->gtail, s->map->R, (int)s->p.grads, 1, NULL, tails_reduced, s, &ticket));
    return last || !s->overlap ? shard_queue_wait(s->q, -1) : ST_OK;
}

st_status shard_unit_reduce(st_shard_state *s, int k, int last)
{
    shard_layers *l = s->lay;
    if (s->map->balanced)
        return reduce_balanced(s, k, last);
    st_status st = reduce_contiguous(s, k);
    shard_unit_drop(l, &l->u[k].gslot);
    return st;
}
