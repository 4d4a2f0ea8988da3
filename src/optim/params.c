/* Parameter sets: every parameter in one flat f32 arena, every gradient in another, each one a
 * view at an aligned offset (decay region first); plus the global gradient norm and clipping.
 * Built on the public tensor/op API only, so it works on every backend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "optim_internal.h"

typedef struct param_entry {
    char *name;
    st_param_info info;
    st_tensor *param, *grad;   /* views of the arenas */
} param_entry;

struct st_params {
    st_device *dev;
    int n;
    param_entry *e;
    int64_t numel, flat_numel, decay_numel;
    st_tensor *flat_param, *flat_grad;
    st_tensor *sumsq;          /* one f32 element for st_params_grad_norm */
    int released[2];           /* st_params_release: parameter, gradient arena */
};

static int64_t align_up(int64_t x) { return (x + ST_PARAMS_ALIGN - 1) / ST_PARAMS_ALIGN * ST_PARAMS_ALIGN; }

static st_status check_spec(const st_param_spec *specs, int i)
{
    const st_param_spec *s = &specs[i];
    if (!s->name || !s->name[0]) return ST_ERR(ST_ERR_INVALID_ARG, "parameter %d: NULL or empty name", i);
    if (s->ndim < 0 || s->ndim > ST_MAX_DIMS)
        return ST_ERR(ST_ERR_SHAPE, "parameter '%s': ndim %d out of range [0, %d]", s->name, s->ndim,
                      ST_MAX_DIMS);
    for (int d = 0; d < s->ndim; d++)
        if (s->shape[d] < 0)
            return ST_ERR(ST_ERR_SHAPE, "parameter '%s': negative size %lld in dim %d", s->name,
                          (long long)s->shape[d], d);
    for (int j = 0; j < i; j++)
        if (strcmp(specs[j].name, s->name) == 0)
            return ST_ERR(ST_ERR_INVALID_ARG, "parameter name '%s' given twice (%d and %d)", s->name, j, i);
    return ST_OK;
}

/* Numel of each spec and the offsets: the decay region first, then the no-decay region, each
 * parameter's start rounded up to ST_PARAMS_ALIGN. Overflow-checked: an arena must stay within
 * what int64 element counts and size_t bytes can hold. */
static st_status plan_layout(st_params *ps, const st_param_spec *specs)
{
    const int64_t limit = INT64_MAX / 8 / ST_PARAMS_ALIGN;
    int64_t off = 0;
    for (int region = 1; region >= 0; region--) {
        for (int i = 0; i < ps->n; i++) {
            if ((specs[i].decay != 0) != region) continue;
            int64_t numel = 1;
            for (int d = 0; d < specs[i].ndim; d++) {
                if (specs[i].shape[d] && numel > limit / specs[i].shape[d])
                    return ST_ERR(ST_ERR_INVALID_ARG, "parameter '%s' is too large", specs[i].name);
                numel *= specs[i].shape[d];
            }
            st_param_info *in = &ps->e[i].info;
            in->ndim = specs[i].ndim;
            memcpy(in->shape, specs[i].shape, sizeof in->shape);
            in->decay = region;
            in->numel = numel;
            in->offset = off;
            if (numel > limit - off) return ST_ERR(ST_ERR_INVALID_ARG, "parameter set is too large");
            off = align_up(off + numel);
            ps->numel += numel;
        }
        if (region) ps->decay_numel = off;
    }
    ps->flat_numel = off;
    return ST_OK;
}

/* A view of `flat` holding elements [offset, offset + numel) with the parameter's shape. */
static st_status carve(const st_tensor *flat, const st_param_info *in, st_tensor **out)
{
    st_tensor *piece = NULL;
    ST_TRY(st_tensor_slice(flat, 0, in->offset, in->numel, 1, &piece));
    st_status s = st_tensor_reshape(piece, in->ndim, in->shape, out);
    st_tensor_destroy(piece);
    return s;
}

static st_status build(st_params *ps, const st_param_spec *specs)
{
    ST_TRY(plan_layout(ps, specs));
    int64_t one = 1, flat = ps->flat_numel;
    ST_TRY(st_tensor_create(ps->dev, ST_F32, 1, &flat, &ps->flat_param));
    ST_TRY(st_tensor_create(ps->dev, ST_F32, 1, &flat, &ps->flat_grad));
    ST_TRY(st_tensor_create(ps->dev, ST_F32, 1, &one, &ps->sumsq));
    ST_TRY(st_fill(ps->flat_param, 0.0));
    ST_TRY(st_fill(ps->flat_grad, 0.0));
    for (int i = 0; i < ps->n; i++) {
        size_t len = strlen(specs[i].name) + 1;
        ps->e[i].name = malloc(len);
        if (!ps->e[i].name) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "parameter names");
        memcpy(ps->e[i].name, specs[i].name, len);
        ps->e[i].info.name = ps->e[i].name;
        ST_TRY(carve(ps->flat_param, &ps->e[i].info, &ps->e[i].param));
        ST_TRY(carve(ps->flat_grad, &ps->e[i].info, &ps->e[i].grad));
    }
    return ST_OK;
}

st_status st_params_create(st_device *dev, const st_param_spec *specs, int n, st_params **out)
{
    if (!dev || !specs || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_create: NULL argument");
    if (n < 1) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_create: %d parameters (need >= 1)", n);
    for (int i = 0; i < n; i++) ST_TRY(check_spec(specs, i));
    st_params *ps = calloc(1, sizeof *ps);
    param_entry *e = calloc((size_t)n, sizeof *e);
    if (!ps || !e) {
        free(ps);
        free(e);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_params_create: %d parameters", n);
    }
    ps->dev = dev;
    ps->n = n;
    ps->e = e;
    st_status s = build(ps, specs);
    if (s != ST_OK) {
        st_params_destroy(ps);
        return s;
    }
    *out = ps;
    return ST_OK;
}

void st_params_destroy(st_params *ps)
{
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) {
        st_tensor_destroy(ps->e[i].param);
        st_tensor_destroy(ps->e[i].grad);
        free(ps->e[i].name);
    }
    free(ps->e);
    st_tensor_destroy(ps->flat_param);
    st_tensor_destroy(ps->flat_grad);
    st_tensor_destroy(ps->sumsq);
    free(ps);
}

/* A stride-0 placeholder of `like`'s shape over `one` (a one-element tensor). */
static st_status placeholder(const st_tensor *one, const st_tensor *like, st_tensor **out)
{
    int64_t shape[ST_MAX_DIMS];
    int nd = st_tensor_ndim(like);
    for (int d = 0; d < nd; d++) shape[d] = st_tensor_dim(like, d);
    if (nd == 0) return st_tensor_reshape(one, 0, shape, out);
    return st_tensor_expand(one, nd, shape, out);
}

/* Replaces the flat tensor and every view of one arena with placeholders, all or nothing. */
static st_status release_arena(st_params *ps, int grads)
{
    int n = ps->n + 1;
    st_tensor **fresh = calloc((size_t)n, sizeof *fresh), *one = NULL;
    if (!fresh) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_params_release: host allocation failed");
    int64_t len = 1;
    st_status s = st_tensor_create(ps->dev, ST_F32, 1, &len, &one);
    if (s == ST_OK) s = st_fill(one, 0.0);
    for (int i = 0; s == ST_OK && i < ps->n; i++)
        s = placeholder(one, grads ? ps->e[i].grad : ps->e[i].param, &fresh[i]);
    if (s == ST_OK) s = placeholder(one, grads ? ps->flat_grad : ps->flat_param, &fresh[ps->n]);
    st_tensor_destroy(one);
    for (int i = 0; i < n; i++) {
        st_tensor **slot = i == ps->n ? (grads ? &ps->flat_grad : &ps->flat_param)
                                      : (grads ? &ps->e[i].grad : &ps->e[i].param);
        st_tensor *old = s == ST_OK ? *slot : fresh[i];
        if (s == ST_OK) *slot = fresh[i];
        st_tensor_destroy(old);
    }
    free(fresh);
    if (s == ST_OK) ps->released[grads] = 1;
    return s;
}

st_status st_params_release(st_params *ps, int params, int grads)
{
    if (!ps) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_release: NULL set");
    if (params && !ps->released[0]) ST_TRY(release_arena(ps, 0));
    if (grads && !ps->released[1]) ST_TRY(release_arena(ps, 1));
    return ST_OK;
}

int st_params_released(const st_params *ps, int grads) { return ps ? ps->released[grads != 0] : 0; }

int st_params_count(const st_params *ps) { return ps ? ps->n : 0; }
int64_t st_params_numel(const st_params *ps) { return ps ? ps->numel : 0; }
st_device *st_params_device(const st_params *ps) { return ps ? ps->dev : NULL; }

st_status st_params_index(const st_params *ps, const char *name, int *index)
{
    if (!ps || !name || !index) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_index: NULL argument");
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->e[i].name, name) == 0) {
            *index = i;
            return ST_OK;
        }
    return ST_ERR(ST_ERR_INVALID_ARG, "no parameter named '%s' in the set (%d parameters)", name, ps->n);
}

st_status st_params_get(const st_params *ps, int i, st_tensor **param, st_tensor **grad)
{
    if (!ps) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_get: NULL set");
    if (i < 0 || i >= ps->n)
        return ST_ERR(ST_ERR_INVALID_ARG, "parameter index %d out of range [0, %d)", i, ps->n);
    if (param) *param = ps->e[i].param;
    if (grad) *grad = ps->e[i].grad;
    return ST_OK;
}

st_status st_params_get_by_name(const st_params *ps, const char *name, st_tensor **param, st_tensor **grad)
{
    int i;
    ST_TRY(st_params_index(ps, name, &i));
    return st_params_get(ps, i, param, grad);
}

st_status st_params_info(const st_params *ps, int i, st_param_info *out)
{
    if (!out) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_info: NULL out");
    ST_TRY(st_params_get(ps, i, NULL, NULL));
    *out = ps->e[i].info;
    return ST_OK;
}

st_status st_params_flat(const st_params *ps, st_tensor **params, st_tensor **grads, int64_t *decay_numel)
{
    if (!ps) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_flat: NULL set");
    if (params) *params = ps->flat_param;
    if (grads) *grads = ps->flat_grad;
    if (decay_numel) *decay_numel = ps->decay_numel;
    return ST_OK;
}

st_status st_params_zero_grad(st_params *ps)
{
    if (!ps) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_zero_grad: NULL set");
    return st_fill(ps->flat_grad, 0.0);
}

st_status st_params_grad_norm(st_params *ps, float *norm)
{
    if (!ps || !norm) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_grad_norm: NULL argument");
    float ss;
    ST_TRY(st_sumsq(ps->sumsq, ps->flat_grad));
    ST_TRY(st_tensor_read(ps->sumsq, &ss, sizeof ss));
    *norm = sqrtf(ss);
    return ST_OK;
}

float st_grad_clip_factor(float norm, float max_norm)
{
    if (!(max_norm > 0.0f)) return 1.0f;
    float f = max_norm / (norm + 1e-6f);
    return isnan(f) || f < 1.0f ? f : 1.0f;
}

st_status st_params_grad_scale(st_params *ps, float avg, float max_norm, float *norm, float *scale)
{
    if (!ps) return ST_ERR(ST_ERR_INVALID_ARG, "st_params_grad_scale: NULL set");
    if (!isfinite(avg) || avg <= 0.0f)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_params_grad_scale: averaging factor %g must be finite and > 0",
                      (double)avg);
    float raw;
    ST_TRY(st_params_grad_norm(ps, &raw));
    float n = avg * raw;
    if (norm) *norm = n;
    if (scale) *scale = avg * st_grad_clip_factor(n, max_norm);
    return ST_OK;
}

st_status st_params_region(const st_params *ps, int decay, st_tensor **param, st_tensor **grad)
{
    int64_t start = decay ? 0 : ps->decay_numel;
    int64_t len = decay ? ps->decay_numel : ps->flat_numel - ps->decay_numel;
    *param = *grad = NULL;
    ST_TRY(st_tensor_slice(ps->flat_param, 0, start, len, 1, param));
    st_status s = st_tensor_slice(ps->flat_grad, 0, start, len, 1, grad);
    if (s != ST_OK) {
        st_tensor_destroy(*param);
        *param = NULL;
    }
    return s;
}

int64_t st_params_flat_numel(const st_params *ps) { return ps->flat_numel; }
