/* Host mirrors of device tensors: layouts (views) built through the public API, with the
 * logical-to-storage index map computed here independently, and values kept in double exactly as
 * the device stores them. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"

#define SENTINEL (-1024.0)

const char *layout_name(layout l)
{
    static const char *const names[] = {"contig", "trans", "step", "swap12", "bcast"};
    return names[l];
}

/* bf16 by its definition (round to nearest even, NaN kept), written again for the tests. */
static uint16_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static double bf16_value(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

double conf_round(st_dtype dt, double x)
{
    switch (dt) {
    case ST_F32: return (float)x;
    case ST_BF16: return bf16_value(bf16_bits((float)x));
    case ST_I8: return x != x ? 0.0 : x >= 127.0 ? 127.0 : x <= -128.0 ? -128.0 : (double)(int8_t)x;
    default: return (double)(int32_t)x;
    }
}

double conf_decode(st_dtype dt, const void *buf, int64_t i)
{
    return dt == ST_F32    ? ((const float *)buf)[i]
           : dt == ST_BF16 ? bf16_value(((const uint16_t *)buf)[i])
           : dt == ST_I8   ? ((const int8_t *)buf)[i]
                           : ((const int32_t *)buf)[i];
}

/* Base shape and the view map of a layout. Layouts that need more dims fall back to contig. */
static layout plan(ht *h, layout l, int64_t *bshape)
{
    int nd = h->ndim;
    if ((l == L_TRANS && nd < 2) || ((l == L_STEP || l == L_BCAST) && nd < 1) ||
        (l == L_SWAP12 && nd < 3))
        l = L_CONTIG;
    for (int i = 0; i < nd; i++) bshape[i] = h->shape[i];
    int a = l == L_TRANS ? nd - 2 : 1, b = l == L_TRANS ? nd - 1 : 2;
    if (l == L_TRANS || l == L_SWAP12) {
        bshape[a] = h->shape[b];
        bshape[b] = h->shape[a];
    }
    if (l == L_STEP) bshape[nd - 1] = 2 * h->shape[nd - 1] + 1;
    if (l == L_BCAST) bshape[0] = 1;
    int64_t bstride[ST_MAX_DIMS] = {0}, s = 1;
    h->bn = 1;
    for (int i = nd - 1; i >= 0; i--) {
        bstride[i] = s;
        s *= bshape[i];
        h->bn *= bshape[i];
    }
    for (int i = 0; i < nd; i++) h->stride[i] = bstride[i];
    h->offset = 0;
    if (l == L_TRANS || l == L_SWAP12) {
        h->stride[a] = bstride[b];
        h->stride[b] = bstride[a];
    }
    if (l == L_STEP) {
        h->stride[nd - 1] = 2;
        h->offset = 1;
    }
    if (l == L_BCAST) h->stride[0] = 0;
    return l;
}

/* Storage index of logical element i. */
static int64_t map_index(const ht *h, int64_t i)
{
    int64_t off = h->offset;
    for (int d = h->ndim - 1; d >= 0; d--) {
        int64_t sz = h->shape[d];
        off += (i % sz) * h->stride[d];
        i /= sz;
    }
    return off;
}

static int make_view(check *k, ht *h, layout l)
{
    st_status s = ST_OK;
    int nd = h->ndim;
    if (l == L_CONTIG) s = st_tensor_ref(h->base, &h->t);
    else if (l == L_TRANS) s = st_tensor_transpose(h->base, nd - 2, nd - 1, &h->t);
    else if (l == L_SWAP12) s = st_tensor_transpose(h->base, 1, 2, &h->t);
    else if (l == L_BCAST) s = st_tensor_expand(h->base, nd, h->shape, &h->t);
    else s = st_tensor_slice(h->base, nd - 1, 1, h->shape[nd - 1], 2, &h->t);
    if (!check_ok(k, s, "making the input view")) return 0;
    for (int i = 0; i < nd; i++)
        if (st_tensor_dim(h->t, i) != h->shape[i] ||
            (h->shape[i] > 1 && st_tensor_stride(h->t, i) != h->stride[i])) {
            check_fail(k, "%s view: dim %d is %lld stride %lld, expected %lld stride %lld",
                       layout_name(l), i, (long long)st_tensor_dim(h->t, i),
                       (long long)st_tensor_stride(h->t, i), (long long)h->shape[i],
                       (long long)h->stride[i]);
            return 0;
        }
    return 1;
}

static int alloc_ht(conf *c, check *k, ht *h, st_dtype dt, int ndim, const int64_t *shape, layout l)
{
    int64_t bshape[ST_MAX_DIMS];
    memset(h, 0, sizeof *h);
    h->dt = dt;
    h->ndim = ndim;
    h->n = 1;
    for (int i = 0; i < ndim; i++) {
        h->shape[i] = shape[i];
        h->n *= shape[i];
    }
    l = plan(h, l, bshape);
    h->v = calloc((size_t)h->n + 1, sizeof(double));
    h->bv = calloc((size_t)h->bn + 1, sizeof(double));
    if (!h->v || !h->bv) {
        check_fail(k, "out of host memory");
        return 0;
    }
    if (!check_ok(k, st_tensor_create(c->dev, dt, ndim, bshape, &h->base), "st_tensor_create"))
        return 0;
    return make_view(k, h, l);
}

static int write_base(check *k, ht *h)
{
    size_t es = st_dtype_size(h->dt);
    unsigned char *buf = malloc(es * (size_t)h->bn + 1);
    if (!buf) {
        check_fail(k, "out of host memory");
        return 0;
    }
    for (int64_t i = 0; i < h->bn; i++) {
        if (h->dt == ST_F32) ((float *)buf)[i] = (float)h->bv[i];
        else if (h->dt == ST_BF16) ((uint16_t *)buf)[i] = bf16_bits((float)h->bv[i]);
        else if (h->dt == ST_I8) ((int8_t *)buf)[i] = (int8_t)h->bv[i];
        else ((int32_t *)buf)[i] = (int32_t)h->bv[i];
    }
    int ok = check_ok(k, st_tensor_write(h->base, buf, es * (size_t)h->bn), "st_tensor_write");
    free(buf);
    return ok;
}

int ht_set(check *k, ht *h, const double *vals)
{
    for (int64_t i = 0; i < h->n; i++) h->bv[map_index(h, i)] = conf_round(h->dt, vals[i]);
    /* a broadcast view maps several elements to one: the last one written is what is stored */
    for (int64_t i = 0; i < h->n; i++) h->v[i] = h->bv[map_index(h, i)];
    return write_base(k, h);
}

int ht_rand(conf *c, check *k, ht *h, st_dtype dt, int ndim, const int64_t *shape, layout l,
            double lo, double hi)
{
    if (!alloc_ht(c, k, h, dt, ndim, shape, l)) return 0;
    for (int64_t i = 0; i < h->bn; i++) {
        double x = conf_rand(c, lo, hi);
        h->bv[i] = conf_round(dt, dt == ST_I32 || dt == ST_I8 ? floor(x) : x);
    }
    for (int64_t i = 0; i < h->n; i++) h->v[i] = h->bv[map_index(h, i)];
    return write_base(k, h);
}

int ht_from(conf *c, check *k, ht *h, st_dtype dt, int ndim, const int64_t *shape, layout l,
            const double *vals)
{
    if (!alloc_ht(c, k, h, dt, ndim, shape, l)) return 0;
    for (int64_t i = 0; i < h->bn; i++) h->bv[i] = conf_round(dt, SENTINEL);
    return ht_set(k, h, vals);
}

int ht_out(conf *c, check *k, ht *h, st_dtype dt, int ndim, const int64_t *shape, layout l)
{
    if (!alloc_ht(c, k, h, dt, ndim, shape, l)) return 0;
    for (int64_t i = 0; i < h->bn; i++) h->bv[i] = conf_round(dt, SENTINEL);
    for (int64_t i = 0; i < h->n; i++) h->v[i] = conf_round(dt, SENTINEL);
    return write_base(k, h);
}

int ht_fetch(check *k, ht *h)
{
    size_t es = st_dtype_size(h->dt);
    unsigned char *buf = malloc(es * (size_t)h->bn + 1);
    char *inside = calloc((size_t)h->bn + 1, 1);
    int ok = buf && inside;
    if (!ok) check_fail(k, "out of host memory");
    ok = ok && check_ok(k, st_tensor_read(h->base, buf, es * (size_t)h->bn), "st_tensor_read");
    for (int64_t i = 0; ok && i < h->n; i++) inside[map_index(h, i)] = 1;
    for (int64_t i = 0; ok && i < h->bn; i++) {
        double x = conf_decode(h->dt, buf, i);
        if (!inside[i] && x != h->bv[i] && !(isnan(x) && isnan(h->bv[i]))) {
            check_fail(k, "storage element %lld outside the view changed from %g to %g",
                       (long long)i, h->bv[i], x);
            ok = 0;
        }
        h->bv[i] = x;
    }
    for (int64_t i = 0; ok && i < h->n; i++) h->v[i] = h->bv[map_index(h, i)];
    free(buf);
    free(inside);
    return ok;
}

int ht_close(check *k, ht *h, const char *what, const double *ref, const double *scale, double floor)
{
    return ht_fetch(k, h) && check_close(k, what, h->v, ref, scale, h->n, floor);
}

void ht_free(ht *h)
{
    st_tensor_destroy(h->t);
    st_tensor_destroy(h->base);
    free(h->v);
    free(h->bv);
    memset(h, 0, sizeof *h);
}
