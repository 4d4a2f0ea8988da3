/* The sharded-state engine: persistent shards of parameters, gradients and AdamW state over the
 * scopes of a partitioning scheme, and the per-micro-batch and per-step data movement that
 * partition_volume.c counts. Checkpoints are in shard_ckpt.c, the level collectives in
 * shard_levels.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"
#include "shard_async.h"
#include "shard_internal.h"
#include "shard_bucket.h"
#include "strata/ops.h"

st_status shard_view(st_tensor *t, int64_t off, int64_t len, st_tensor **out)
{
    return st_tensor_slice(t, 0, off, len, 1, out);
}

st_status shard_copy_range(st_tensor *dst, int64_t doff, st_tensor *src, int64_t soff, int64_t len)
{
    if (len <= 0)
        return ST_OK;
    st_tensor *d = NULL, *s = NULL;
    st_status st = shard_view(dst, doff, len, &d);
    if (st == ST_OK)
        st = shard_view(src, soff, len, &s);
    if (st == ST_OK)
        st = st_copy(d, s);
    st_tensor_destroy(d);
    st_tensor_destroy(s);
    return st;
}

static st_status alloc_zero(st_device *dev, int64_t n, st_tensor **out)
{
    ST_TRY(st_tensor_create(dev, ST_F32, 1, &n, out));
    return st_fill(*out, 0.0);
}

st_status shard_working(st_shard_state *s)
{
    if (!s->map->balanced || s->lay)
        return ST_OK;
    if (!s->wp && !st_params_released(s->ps, 0)) {
        ST_TRY(alloc_zero(s->dev, s->L, &s->wp));
        ST_TRY(shard_map_from_arena(s, s->wp, s->arena_p));
    }
    if (!s->wg && !st_params_released(s->ps, 1)) {
        ST_TRY(alloc_zero(s->dev, s->L, &s->wg));
        ST_TRY(shard_map_from_arena(s, s->wg, s->arena_g));
    }
    return ST_OK;
}

/* With working copies (padded, or in the balanced layout's order) the arena is the real working
 * buffer: copy the parameters there. */
st_status shard_sync_arena_params(st_shard_state *s)
{
    int live = s->padded_copy && s->wp && !st_params_released(s->ps, 0);
    if (!live)
        return ST_OK;
    return s->map->balanced ? shard_map_to_arena(s, s->arena_p, s->wp) : shard_copy_range(s->arena_p, 0, s->wp, 0, s->F);
}

/* The working gradient buffer holding the arena's gradient (in W's order), zeros past it. */
static st_status load_working_grads(st_shard_state *s)
{
    if (!s->padded_copy)
        return ST_OK;
    if (s->map->balanced)
        return shard_map_from_arena(s, s->wg, s->arena_g);
    ST_TRY(st_fill(s->wg, 0.0));
    return shard_copy_range(s->wg, 0, s->arena_g, 0, s->F);
}

static int64_t scope_len(const st_shard_state *s, st_shard k) { return s->L / (int64_t)st_comm_scope_size(s->c, (st_scope)(k - 1)); }

static st_status check_config(const st_adamw_config *cfg)
{
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 && cfg->beta2 < 1 && cfg->eps > 0 &&
          cfg->weight_decay >= 0 && isfinite(cfg->weight_decay) && isfinite(cfg->eps)))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_create: AdamW needs betas in [0, 1), eps > 0 and a "
                      "finite weight decay >= 0 (got %g, %g, %g, %g)", cfg->beta1, cfg->beta2, cfg->eps,
                      cfg->weight_decay);
    return ST_OK;
}

/* Arena geometry: F, the end P of the last parameter, D, and the padded length L. */
static st_status geometry(st_shard_state *s)
{
    ST_TRY(st_params_flat(s->ps, &s->arena_p, &s->arena_g, &s->D));
    if (st_tensor_dtype(s->arena_p) != ST_F32 || st_tensor_dtype(s->arena_g) != ST_F32)
        return ST_ERR(ST_ERR_UNSUPPORTED, "st_shard_create: the sharded engine handles f32 arenas only");
    s->F = st_tensor_numel(s->arena_p);
    s->P = 0;
    for (int i = 0; i < st_params_count(s->ps); i++) {
        st_param_info info;
        ST_TRY(st_params_info(s->ps, i, &info));
        if (info.offset + info.numel > s->P)
            s->P = info.offset + info.numel;
    }
    if (s->P == 0)
        s->P = 1;
    s->N = st_comm_size(s->c);
    s->L = (s->P + s->N - 1) / s->N * s->N;
    s->dev = st_params_device(s->ps);
    static const char *const what[] = {"partitioned length P", "params scope", "grads scope", "optim scope",
                                       "secondary scope", "unit bucket (STRATA_SHARD_BUCKET)"};
    /* a malformed setting on some ranks only must not leave the others waiting in the agreement */
    int bad = shard_bucket_threshold(&s->bucket) != ST_OK;
    int64_t v[6] = {s->P, s->p.params, s->p.grads, s->p.optim, s->p.secondary, bad ? -1 : (int64_t)s->bucket};
    ST_TRY(shard_agree(s->c, v, 6, what));
    if (bad)
        return shard_bucket_threshold(&s->bucket); /* its error again, with its message */
    /* Balanced when parameters are sharded over more than one rank (docs/partitioning.md),
     * quantized schemes too: their per-unit collectives are the queue's machines
     * (shard_async_quant.c), their whole-vector ones comm_quant.c's on W. */
    int balanced = s->p.params != ST_SHARD_NONE && s->N > 1;
    return shard_map_new(s, NULL, balanced, &s->map);
}

/* Working buffers, then each kind of state (shards taken from the arena's values). */
/* Bytes the device's allocator gained since *mark (st_device_memory_get); moves the mark. */
static uint64_t grown(st_device *dev, uint64_t *mark)
{
    st_device_memory m;
    st_device_memory_get(dev, &m);
    uint64_t d = m.current - *mark;
    *mark = m.current;
    return d;
}

/* Allocates the state, measuring each kind's bytes with the allocator as it goes. */
static st_status allocate(st_shard_state *s)
{
    st_device_memory m0;
    st_device_memory_get(s->dev, &m0);
    uint64_t mark = m0.current;
    s->padded_copy = s->L > s->F || s->map->balanced;
    if (s->padded_copy && !s->map->balanced) {
        ST_TRY(alloc_zero(s->dev, s->L, &s->wp));
        ST_TRY(alloc_zero(s->dev, s->L, &s->wg));
        ST_TRY(shard_copy_range(s->wp, 0, s->arena_p, 0, s->F));
        ST_TRY(shard_copy_range(s->wg, 0, s->arena_g, 0, s->F));
    } else if (!s->padded_copy) {
        ST_TRY(shard_view(s->arena_p, 0, s->L, &s->wp));
        ST_TRY(shard_view(s->arena_g, 0, s->L, &s->wg));
    } /* balanced: W-ordered copies only if the whole-arena path runs (shard_working) */
    grown(s->dev, &mark); /* padded working copies are not model state */
    const st_partition *p = &s->p;
    s->len_p = p->params ? scope_len(s, p->params) : s->L;
    s->len_g = p->grads ? scope_len(s, p->grads) : s->L;
    s->len_o = p->optim ? scope_len(s, p->optim) : s->L;
    s->off_p = shard_offset(s->c, s->L, 0, p->params);
    s->off_o = shard_offset(s->c, s->L, 0, p->optim);
    if (p->params) {
        ST_TRY(alloc_zero(s->dev, s->len_p, &s->pshard));
        if (s->map->balanced)
            ST_TRY(shard_map_take(s, s->pshard, s->off_p, s->len_p, s->arena_p));
        else
            ST_TRY(shard_copy_range(s->pshard, 0, s->wp, s->off_p, s->len_p));
    } else {
        ST_TRY(st_tensor_ref(s->wp, &s->pshard));
    }
    s->measured.params = grown(s->dev, &mark);
    if (p->grads)
        ST_TRY(alloc_zero(s->dev, s->len_g, &s->acc));
    else
        ST_TRY(st_tensor_ref(s->wg, &s->acc));
    s->measured.grads = grown(s->dev, &mark);
    ST_TRY(alloc_zero(s->dev, s->len_o, &s->m));
    ST_TRY(alloc_zero(s->dev, s->len_o, &s->v));
    s->measured.optim = grown(s->dev, &mark);
    if (p->secondary) {
        s->len_s = scope_len(s, p->secondary);
        s->off_s = shard_offset(s->c, s->L, 0, p->secondary);
        ST_TRY(alloc_zero(s->dev, s->len_s, &s->sec));
        if (s->map->balanced)
            ST_TRY(shard_map_take(s, s->sec, s->off_s, s->len_s, s->arena_p));
        else
            ST_TRY(shard_copy_range(s->sec, 0, s->wp, s->off_s, s->len_s));
    }
    s->measured.secondary = grown(s->dev, &mark);
    int64_t one = 1;
    return st_tensor_create(s->dev, ST_F32, 1, &one, &s->scalar);
}

st_status st_shard_create(st_params *ps, st_comm *c, const st_partition *p, const st_adamw_config *cfg,
                          st_shard_state **out)
{
    if (!ps || !c || !p || !cfg || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_create: NULL argument");
    ST_TRY(st_partition_validate(p));
    ST_TRY(check_config(cfg));
    st_shard_state *s = calloc(1, sizeof *s);
    if (!s)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_shard_create: state");
    s->ps = ps;
    s->c = c;
    s->p = *p;
    s->cfg = *cfg;
    s->overlap = 1;
    st_status st = geometry(s);
    if (st == ST_OK)
        st = allocate(s);
    if (st == ST_OK)
        st = shard_quant_create(s);
    if (st != ST_OK) {
        st_shard_destroy(s);
        return st;
    }
    *out = s;
    return ST_OK;
}

void st_shard_destroy(st_shard_state *s)
{
    if (!s)
        return;
    st_tensor *all[] = {s->wp, s->wg, s->pshard, s->acc, s->m, s->v, s->sec, s->scalar};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        st_tensor_destroy(all[i]);
    shard_layers_free(s);
    shard_quant_destroy(s);
    shard_queue_free(s->q);
    shard_map_free(s->map);
    free(s);
}

st_status st_shard_set_overlap(st_shard_state *s, int on)
{
    if (!s || (on != 0 && on != 1))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_set_overlap: NULL state or a value other than 0/1");
    if (s->q)
        ST_TRY(shard_queue_wait(s->q, -1));
    s->overlap = on;
    return ST_OK;
}

int st_shard_overlap(const st_shard_state *s) { return s ? s->overlap : 0; }

st_status shard_drain(st_shard_state *s) { return s->q ? shard_queue_wait(s->q, -1) : ST_OK; }

st_status st_shard_model(const st_shard_state *s, int micro_batches, st_partition_model *out)
{
    if (!s || !out || micro_batches < 1)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_model: NULL argument or micro_batches %d < 1", micro_batches);
    out->params = (uint64_t)s->P;
    out->param_bytes = 4;
    out->grad_bytes = 4;
    out->optim_bytes = st_partition_optim_bytes(4);
    out->micro_batches = micro_batches;
    out->row = shard_row(s->ps);
    /* attached in the balanced layout: the per-unit collectives' sizes (the per-unit closed forms) */
    int units = s->lay && s->map->balanced;
    out->n_units = units ? s->map->n_units : 0;
    out->unit_numel = units ? s->map->numel : NULL;
    return ST_OK;
}

int64_t st_shard_step_count(const st_shard_state *s) { return s ? s->step : 0; }

st_status st_shard_memory(const st_shard_state *s, st_partition_memory *out)
{
    if (!s || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_memory: NULL argument");
    /* Replicated kinds live in the arena, or in the padded copy when the arena is the shorter. */
    uint64_t arena = (uint64_t)(s->L > s->F ? s->L : s->F) * sizeof(float);
    out->params = s->p.params ? s->measured.params : arena;
    out->grads = s->p.grads ? s->measured.grads : arena;
    out->optim = s->measured.optim;
    out->secondary = s->measured.secondary;
    out->total = out->params + out->grads + out->optim + out->secondary;
    return ST_OK;
}

st_status st_shard_gather(st_shard_state *s, st_phase_when when)
{
    if (!s || (when != ST_PHASE_FORWARD && when != ST_PHASE_BACKWARD))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_gather: NULL state or a phase other than forward/backward");
    if (!s->p.params || s->lay) /* attached: the graph's unit hooks gather */
        return ST_OK;
    ST_TRY(shard_working(s));
    int from_sec = when == ST_PHASE_BACKWARD && s->sec;
    st_tensor *src = from_sec ? s->sec : s->pshard;
    int scope = from_sec ? (int)s->p.secondary : (int)s->p.params;
    ST_TRY(shard_copy_range(s->wp, from_sec ? s->off_s : s->off_p, src, 0, st_tensor_numel(src)));
    ST_TRY(shard_all_gather_levels(s->c, s->wp, 0, scope));
    /* ZeRO++ hpZ: the secondary copy is this rank's slice of what forward gathered, no traffic. */
    if (when == ST_PHASE_FORWARD && s->sec)
        ST_TRY(shard_copy_range(s->sec, 0, s->wp, s->off_s, s->len_s));
    return shard_sync_arena_params(s);
}

st_status st_shard_reduce_micro(st_shard_state *s)
{
    if (!s)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_reduce_micro: NULL state");
    if (!s->p.grads || s->lay) /* attached: the graph's unit hooks reduce */
        return ST_OK;
    ST_TRY(shard_working(s));
    ST_TRY(load_working_grads(s));
    ST_TRY(shard_reduce_scatter_levels(s->c, s->wg, 0, (int)s->p.grads));
    st_tensor *mine = NULL;
    ST_TRY(shard_view(s->wg, 0, s->len_g, &mine));
    st_status st = st_add(s->acc, s->acc, mine);
    st_tensor_destroy(mine);
    ST_TRY(st);
    return st_fill(s->arena_g, 0.0);
}

/* The optim-scope shard of the world-reduced gradient, at acc[0, len_o): from the grads scope up
 * to the optim scope, then (optim narrower than the world) across the copies of the optim shard
 * the way partition_volume.c counts it: reduce-scatter to the GPU level's end, all-reduce across
 * nodes, all-gather back. */
static st_status reduce_to_optim(st_shard_state *s, st_tensor *g)
{
    int optim = (int)s->p.optim;
    if (!s->p.grads) {
        ST_TRY(shard_working(s));
        ST_TRY(load_working_grads(s));
    }
    ST_TRY(shard_reduce_scatter_levels(s->c, s->acc, (int)s->p.grads, optim));
    if (optim == ST_SHARD_WORLD)
        return ST_OK;
    ST_TRY(shard_reduce_scatter_levels(s->c, g, optim, ST_LEVEL_NODE));
    int64_t part = s->len_o;
    for (int l = optim; l < ST_LEVEL_NODE; l++)
        part /= s->c->lsize[l];
    st_tensor *head = NULL;
    ST_TRY(shard_view(g, 0, part, &head));
    st_status st = shard_all_reduce_level(s->c, head, ST_LEVEL_NODE);
    st_tensor_destroy(head);
    ST_TRY(st);
    /* The reduce-scatter left this rank's piece at the start; the all-gather wants it in place. */
    int64_t own = shard_offset(s->c, s->len_o, optim, ST_LEVEL_NODE);
    if (own != 0)
        ST_TRY(shard_copy_range(g, own, g, 0, part));
    return shard_all_gather_levels(s->c, g, optim, ST_LEVEL_NODE);
}

/* Global norm of the gradient shards, each optim shard counted once. */
static st_status shard_norm(st_shard_state *s, st_tensor *g, float *sumsq)
{
    float local = 0;
    ST_TRY(st_sumsq(s->scalar, g));
    ST_TRY(st_tensor_read(s->scalar, &local, sizeof local));
    *sumsq = shard_first_copy(s->c, (int)s->p.optim) ? local : 0.0f;
    return shard_sum_scalar(s->c, sumsq);
}

/* Fused AdamW on the part of the optim shard inside the global range [lo, hi). */
static st_status adamw_range(st_shard_state *s, st_tensor *g, int64_t lo, int64_t hi, const st_adamw_params *ap)
{
    int64_t a = lo > s->off_o ? lo : s->off_o, b = hi < s->off_o + s->len_o ? hi : s->off_o + s->len_o;
    if (a >= b)
        return ST_OK;
    st_tensor *pv = NULL, *mv = NULL, *vv = NULL, *gv = NULL;
    /* with a master copy (qw, params narrower than optim) AdamW updates it, not the params shard */
    st_status st = s->master ? shard_view(s->master, a - s->off_o, b - a, &pv)
                             : shard_view(s->pshard, a - s->off_p, b - a, &pv);
    if (st == ST_OK)
        st = shard_view(s->m, a - s->off_o, b - a, &mv);
    if (st == ST_OK)
        st = shard_view(s->v, a - s->off_o, b - a, &vv);
    if (st == ST_OK)
        st = shard_view(g, a - s->off_o, b - a, &gv);
    if (st == ST_OK)
        st = st_adamw(pv, mv, vv, gv, ap);
    st_tensor_destroy(pv);
    st_tensor_destroy(mv);
    st_tensor_destroy(vv);
    st_tensor_destroy(gv);
    return st;
}

/* The balanced layout: W's pieces of the optim shard decay where their arena offsets lie below D;
 * runs of W with the same answer are updated together. */
typedef struct decay_runs {
    st_shard_state *s;
    st_tensor *g;
    const st_adamw_params *ap;
    int64_t lo, hi;
    int decay;
} decay_runs;

static st_status decay_flush(decay_runs *x)
{
    if (x->hi <= x->lo)
        return ST_OK;
    st_adamw_params ap = *x->ap;
    ap.weight_decay = x->decay ? ap.weight_decay : 0;
    return adamw_range(x->s, x->g, x->lo, x->hi, &ap);
}

static st_status decay_piece(void *ctx, int64_t w, int64_t a, int64_t n)
{
    decay_runs *x = ctx;
    int64_t D = x->s->D, k = a >= D ? 0 : a + n <= D ? n : D - a; /* the first k decay */
    for (int part = 0; part < 2; part++) {
        int64_t lo = part ? w + k : w, hi = part ? w + n : w + k;
        if (hi <= lo)
            continue;
        int decay = part == 0;
        if (decay != x->decay || lo != x->hi) {
            ST_TRY(decay_flush(x));
            x->lo = lo;
            x->decay = decay;
        }
        x->hi = hi;
    }
    return ST_OK;
}

static st_status adamw_balanced(st_shard_state *s, st_tensor *g, const st_adamw_params *ap)
{
    decay_runs x = {s, g, ap, s->off_o, s->off_o, 1};
    ST_TRY(shard_map_each(s->map, s->off_o, s->len_o, decay_piece, &x));
    return decay_flush(&x);
}

static st_status update(st_shard_state *s, st_tensor *g, float lr, float scale)
{
    st_adamw_params ap = {lr, s->cfg.beta1, s->cfg.beta2, s->cfg.eps, s->cfg.weight_decay, scale, s->step + 1};
    if (s->map->balanced) {
        ST_TRY(adamw_balanced(s, g, &ap));
    } else {
        ST_TRY(adamw_range(s, g, 0, s->D, &ap));
        ap.weight_decay = 0;
        ST_TRY(adamw_range(s, g, s->D, s->L, &ap));
    }
    ST_TRY(shard_all_gather_levels(s->c, s->pshard, (int)s->p.params, (int)s->p.optim));
    ST_TRY(shard_quant_updated(s)); /* qw: re-quantize the updated master */
    s->step++;
    return s->p.params ? ST_OK : shard_sync_arena_params(s);
}

st_status st_shard_step(st_shard_state *s, float lr, float avg, float max_norm, float *norm)
{
    if (!s || !isfinite(lr) || !isfinite(avg) || !(avg > 0))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_step: NULL state, or lr %g / avg %g not finite and positive",
                      lr, avg);
    ST_TRY(shard_drain(s));
    st_tensor *g = NULL;
    ST_TRY(shard_view(s->acc, 0, s->len_o, &g));
    float sumsq = 0;
    st_status st = reduce_to_optim(s, g);
    if (st == ST_OK)
        st = shard_norm(s, g, &sumsq);
    /* The mean over ranks and the caller's averaging (1/A) fold into AdamW's grad_scale. */
    float k = avg / (float)s->N, nrm = k * sqrtf(sumsq);
    if (norm)
        *norm = nrm;
    if (st == ST_OK && isfinite(nrm))
        st = update(s, g, lr, k * st_grad_clip_factor(nrm, max_norm));
    st_tensor_destroy(g);
    ST_TRY(st);
    if (s->p.grads)
        ST_TRY(st_fill(s->acc, 0.0));
    return st_params_released(s->ps, 1) ? ST_OK : st_fill(s->arena_g, 0.0);
}
