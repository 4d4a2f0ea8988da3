/* Optimizers over a parameter set: AdamW as one fused st_adamw call per arena region (decay,
 * no-decay), SGD with momentum composed from st_scale/st_add on the flat arenas; and the
 * warmup + cosine learning-rate schedule. Built on the public op API, so every backend runs it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "optim_internal.h"

enum { OPT_ADAMW, OPT_SGD };

/* Views of one arena region: parameters, gradients and the state buffers laid out alike. */
typedef struct region {
    st_tensor *p, *g, *m, *v;
    int64_t numel;
} region;

struct st_optim {
    int kind;
    st_params *ps;
    st_adamw_config adamw;
    st_sgd_config sgd;
    st_tensor *m, *v;      /* flat state arenas (NULL when the optimizer has no such buffer) */
    region r[2];           /* [0] decay region, [1] no-decay region */
    int64_t step;
};

void st_optim_destroy(st_optim *opt)
{
    if (!opt) return;
    for (int i = 0; i < 2; i++) {
        st_tensor_destroy(opt->r[i].p);
        st_tensor_destroy(opt->r[i].g);
        st_tensor_destroy(opt->r[i].m);
        st_tensor_destroy(opt->r[i].v);
    }
    st_tensor_destroy(opt->m);
    st_tensor_destroy(opt->v);
    free(opt);
}

/* A zero-filled flat state arena like the parameters' and its two region views. */
static st_status state_arena(st_optim *o, st_tensor **flat, st_tensor **dec, st_tensor **nodec)
{
    int64_t n = st_params_flat_numel(o->ps), nd = o->r[0].numel;
    ST_TRY(st_tensor_create(st_params_device(o->ps), ST_F32, 1, &n, flat));
    ST_TRY(st_fill(*flat, 0.0));
    ST_TRY(st_tensor_slice(*flat, 0, 0, nd, 1, dec));
    return st_tensor_slice(*flat, 0, nd, n - nd, 1, nodec);
}

static st_status optim_build(st_optim *o, int n_state)
{
    for (int i = 0; i < 2; i++) {
        ST_TRY(st_params_region(o->ps, i == 0, &o->r[i].p, &o->r[i].g));
        o->r[i].numel = st_tensor_numel(o->r[i].p);
    }
    if (n_state >= 1) ST_TRY(state_arena(o, &o->m, &o->r[0].m, &o->r[1].m));
    if (n_state >= 2) ST_TRY(state_arena(o, &o->v, &o->r[0].v, &o->r[1].v));
    return ST_OK;
}

static st_status optim_new(st_params *ps, int kind, int n_state, st_optim **out)
{
    st_optim *o = calloc(1, sizeof *o);
    if (!o) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "optimizer");
    o->kind = kind;
    o->ps = ps;
    st_status s = optim_build(o, n_state);
    if (s != ST_OK) {
        st_optim_destroy(o);
        return s;
    }
    *out = o;
    return ST_OK;
}

static int finite_nonneg(float x) { return isfinite(x) && x >= 0.0f; }

st_status st_optim_adamw_create(st_params *ps, const st_adamw_config *cfg, st_optim **out)
{
    if (!ps || !cfg || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_optim_adamw_create: NULL argument");
    if (!finite_nonneg(cfg->beta1) || cfg->beta1 >= 1.0f || !finite_nonneg(cfg->beta2) || cfg->beta2 >= 1.0f)
        return ST_ERR(ST_ERR_INVALID_ARG, "adamw: betas (%g, %g) must lie in [0, 1)", (double)cfg->beta1,
                      (double)cfg->beta2);
    if (!isfinite(cfg->eps) || cfg->eps <= 0.0f)
        return ST_ERR(ST_ERR_INVALID_ARG, "adamw: eps %g must be finite and > 0", (double)cfg->eps);
    if (!finite_nonneg(cfg->weight_decay))
        return ST_ERR(ST_ERR_INVALID_ARG, "adamw: weight decay %g must be finite and >= 0",
                      (double)cfg->weight_decay);
    st_optim *o = NULL;
    ST_TRY(optim_new(ps, OPT_ADAMW, 2, &o));
    o->adamw = *cfg;
    *out = o;
    return ST_OK;
}

st_status st_optim_sgd_create(st_params *ps, const st_sgd_config *cfg, st_optim **out)
{
    if (!ps || !cfg || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_optim_sgd_create: NULL argument");
    if (!finite_nonneg(cfg->momentum) || cfg->momentum >= 1.0f)
        return ST_ERR(ST_ERR_INVALID_ARG, "sgd: momentum %g must lie in [0, 1)", (double)cfg->momentum);
    if (!finite_nonneg(cfg->weight_decay))
        return ST_ERR(ST_ERR_INVALID_ARG, "sgd: weight decay %g must be finite and >= 0",
                      (double)cfg->weight_decay);
    st_optim *o = NULL;
    ST_TRY(optim_new(ps, OPT_SGD, cfg->momentum > 0.0f ? 1 : 0, &o));
    o->sgd = *cfg;
    *out = o;
    return ST_OK;
}

const char *st_optim_name(const st_optim *opt)
{
    if (!opt) return "?";
    return opt->kind == OPT_ADAMW ? "adamw" : "sgd";
}

static st_status adamw_step(st_optim *o, float lr, float grad_scale)
{
    for (int i = 0; i < 2; i++) {
        region *r = &o->r[i];
        if (r->numel == 0) continue;
        st_adamw_params p = {
            .lr = lr, .beta1 = o->adamw.beta1, .beta2 = o->adamw.beta2, .eps = o->adamw.eps,
            .weight_decay = i == 0 ? o->adamw.weight_decay : 0.0f, .grad_scale = grad_scale,
            .step = o->step + 1,
        };
        ST_TRY(st_adamw(r->p, r->m, r->v, r->g, &p));
    }
    return ST_OK;
}

/* Without momentum p - lr (s g + wd p) = (1 - lr wd) p - lr s g: a scale of the decay region's
 * parameters, one scale of the gradients and one add, no buffer. With momentum the weight-decay
 * term has to enter the buffer, and the gradient arena (spent once added in) holds wd p and
 * then -lr b, so no scratch arena is needed. */
static st_status sgd_step(st_optim *o, float lr, float s)
{
    st_tensor *P, *G;
    ST_TRY(st_params_flat(o->ps, &P, &G, NULL));
    region *d = &o->r[0];
    float wd = o->sgd.weight_decay, mu = o->sgd.momentum;
    if (mu == 0.0f) {
        if (wd != 0.0f && d->numel) ST_TRY(st_scale(d->p, d->p, 1.0f - lr * wd, 0.0f));
        ST_TRY(st_scale(G, G, -lr * s, 0.0f));
        return st_add(P, P, G);
    }
    ST_TRY(st_scale(o->m, o->m, mu, 0.0f));
    if (s != 1.0f) ST_TRY(st_scale(G, G, s, 0.0f));
    ST_TRY(st_add(o->m, o->m, G));
    if (wd != 0.0f && d->numel) {
        ST_TRY(st_scale(d->g, d->p, wd, 0.0f));
        ST_TRY(st_add(d->m, d->m, d->g));
    }
    ST_TRY(st_scale(G, o->m, -lr, 0.0f));
    return st_add(P, P, G);
}

st_status st_optim_step(st_optim *opt, float lr, float grad_scale)
{
    if (!opt) return ST_ERR(ST_ERR_INVALID_ARG, "st_optim_step: NULL optimizer");
    if (!isfinite(lr) || !isfinite(grad_scale))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_optim_step: lr %g and grad_scale %g must be finite", (double)lr,
                      (double)grad_scale);
    ST_TRY(opt->kind == OPT_ADAMW ? adamw_step(opt, lr, grad_scale) : sgd_step(opt, lr, grad_scale));
    opt->step++;
    return ST_OK;
}

st_status st_optim_state_get(const st_optim *opt, st_optim_state *out)
{
    if (!opt || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_optim_state_get: NULL argument");
    out->m = opt->m;
    out->v = opt->v;
    out->step = opt->step;
    return ST_OK;
}

st_status st_optim_set_step(st_optim *opt, int64_t step)
{
    if (!opt) return ST_ERR(ST_ERR_INVALID_ARG, "st_optim_set_step: NULL optimizer");
    if (step < 0) return ST_ERR(ST_ERR_INVALID_ARG, "st_optim_set_step: step %lld < 0", (long long)step);
    opt->step = step;
    return ST_OK;
}

double st_lr_cosine(const st_lr_schedule *s, int64_t step)
{
    if (!s) return 0.0;
    /* In double throughout: warmup_steps + 1 or total - warmup in int64 overflow at the extremes
     * (a warmup of INT64_MAX once gave a negative rate). */
    double st = step < 0 ? 0.0 : (double)step, w = s->warmup_steps < 0 ? 0.0 : (double)s->warmup_steps;
    double total = (double)s->total_steps;
    if (st < w) return s->max_lr * (st + 1.0) / (w + 1.0);
    if (st > total || total <= w) return s->min_lr;
    double r = (st - w) / (total - w);
    return s->min_lr + 0.5 * (1.0 + cos(3.14159265358979323846 * r)) * (s->max_lr - s->min_lr);
}
