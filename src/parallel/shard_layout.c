/* The shard engine's layout (shard_internal.h, shard_map): which parameters form each unit, the
 * units' runs of the arena's vector, and, when balanced, the permutation W -> arena that gives
 * every rank 1/N of every unit. docs/partitioning.md, "the balanced layout". */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"
#include "shard_internal.h"
#include "shard_bucket.h"

/* "<word>.<digits>." starts a layer's unit name; every other parameter is in the unit "". */
static size_t layer_prefix(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot[1] < '0' || dot[1] > '9')
        return 0;
    const char *q = dot + 1;
    while (*q >= '0' && *q <= '9')
        q++;
    return *q == '.' ? (size_t)(q + 1 - name) : 0;
}

/* Default units: the non-layer parameters form unit 0, then each layer prefix a unit in order. */
static st_status default_units(const st_params *ps, int *unit_of, int *n_units)
{
    int n = st_params_count(ps), count = 0, rest = -1;
    for (int i = 0; i < n; i++) {
        st_param_info a;
        ST_TRY(st_params_info(ps, i, &a));
        size_t k = layer_prefix(a.name);
        unit_of[i] = -1;
        for (int j = 0; j < i && unit_of[i] < 0; j++) {
            st_param_info b;
            ST_TRY(st_params_info(ps, j, &b));
            if (layer_prefix(b.name) == k && strncmp(a.name, b.name, k) == 0)
                unit_of[i] = unit_of[j];
        }
        if (unit_of[i] < 0)
            unit_of[i] = k == 0 && rest >= 0 ? rest : count++;
        if (k == 0)
            rest = unit_of[i];
    }
    *n_units = count;
    return ST_OK;
}

static st_status oom(void) { return ST_ERR(ST_ERR_OUT_OF_MEMORY, "shard layout: host allocation failed"); }

static int by_offset(const void *x, const void *y)
{
    const int64_t *a = x, *b = y; /* (offset, index) pairs */
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

/* Appends [lo, hi) to unit u's runs (merged with the last when contiguous), or only counts. */
static void add_run(shard_unit_map *u, int64_t lo, int64_t hi, int fill)
{
    if (lo >= hi)
        return;
    if (u->nruns && u->numel == lo) { /* numel tracks the last run's end while building */
        if (fill)
            u->run[u->nruns - 1][1] = hi;
        u->numel = hi;
        return;
    }
    if (fill) {
        u->run[u->nruns][0] = lo;
        u->run[u->nruns][1] = hi;
    }
    u->nruns++;
    u->numel = hi;
}

/* Each parameter owns [its offset, the next parameter's offset), the last one up to L, so the
 * units' runs tile the padded vector [0, L). Two passes: count the runs, then fill them. */
static st_status build_runs(const st_shard_state *s, shard_map *m)
{
    int n = m->n_params;
    int64_t (*ord)[2] = malloc(sizeof *ord * (size_t)(n ? n : 1));
    if (!ord)
        return oom();
    for (int i = 0; i < n; i++) {
        st_param_info info;
        st_params_info(s->ps, i, &info);
        ord[i][0] = info.offset;
        ord[i][1] = i;
    }
    qsort(ord, (size_t)n, sizeof *ord, by_offset);
    st_status st = ST_OK;
    for (int pass = 0; pass < 2 && st == ST_OK; pass++) {
        for (int k = 0; k < m->n_units && st == ST_OK; k++) {
            shard_unit_map *u = &m->u[k];
            if (pass == 1) {
                u->run = malloc(sizeof *u->run * (size_t)(u->nruns ? u->nruns : 1));
                u->run_pos = malloc(sizeof *u->run_pos * (size_t)(u->nruns ? u->nruns : 1));
                if (!u->run || !u->run_pos)
                    st = oom();
            }
            u->nruns = 0;
            u->numel = -1;
        }
        for (int j = 0; j < n && st == ST_OK; j++) {
            int64_t lo = j == 0 ? 0 : ord[j][0], hi = j + 1 < n ? ord[j + 1][0] : s->L;
            add_run(&m->u[m->unit_of[ord[j][1]]], lo, hi, pass);
        }
    }
    free(ord);
    ST_TRY(st);
    for (int k = 0; k < m->n_units; k++) {
        shard_unit_map *u = &m->u[k];
        u->numel = 0;
        for (int r = 0; r < u->nruns; r++) {
            u->run_pos[r] = u->numel;
            u->numel += u->run[r][1] - u->run[r][0];
        }
    }
    for (int i = 0; i < n; i++) {
        st_param_info info;
        st_params_info(s->ps, i, &info);
        const shard_unit_map *u = &m->u[m->unit_of[i]];
        for (int r = 0; r < u->nruns; r++)
            if (info.offset >= u->run[r][0] && info.offset < u->run[r][1])
                m->pos[i] = u->run_pos[r] + info.offset - u->run[r][0];
    }
    return ST_OK;
}

/* Appends W[w, + n) = arena[a, + n), merged with the last piece when both continue it. */
typedef struct seg_list {
    shard_seg *seg;
    int n, cap;
} seg_list;

static st_status push(seg_list *l, int64_t w, int64_t a, int64_t n)
{
    if (n <= 0)
        return ST_OK;
    if (l->n && l->seg[l->n - 1].w + l->seg[l->n - 1].n == w && l->seg[l->n - 1].a + l->seg[l->n - 1].n == a) {
        l->seg[l->n - 1].n += n;
        return ST_OK;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        shard_seg *g = realloc(l->seg, sizeof *g * (size_t)cap);
        if (!g)
            return oom();
        l->seg = g;
        l->cap = cap;
    }
    l->seg[l->n++] = (shard_seg){w, a, n};
    return ST_OK;
}

/* Slot range [lo, lo + n) of unit u at W offset w, split at the unit's runs. */
static st_status push_slot(seg_list *l, const shard_unit_map *u, int64_t w, int64_t lo, int64_t n)
{
    for (int r = 0; r < u->nruns && n > 0; r++) {
        int64_t len = u->run[r][1] - u->run[r][0], p = u->run_pos[r];
        if (lo >= p + len)
            continue;
        int64_t take = p + len - lo < n ? p + len - lo : n;
        ST_TRY(push(l, w, u->run[r][0] + lo - p, take));
        w += take, lo += take, n -= take;
    }
    return ST_OK;
}

/* The balanced pieces, tails and the permutation (shard_map's comment). */
static st_status balance(const st_shard_state *s, shard_map *m)
{
    int64_t N = s->N;
    m->B = s->L / N;
    m->Q = m->R = 0;
    for (int k = 0; k < m->n_units; k++) {
        shard_unit_map *u = &m->u[k];
        u->q = u->numel / N;
        u->boff = m->Q;
        u->toff = m->R;
        m->Q += u->q;
        m->R += u->numel - N * u->q;
    }
    m->numel = malloc(sizeof(uint64_t) * (size_t)(m->n_units ? m->n_units : 1));
    if (!m->numel)
        return oom();
    for (int k = 0; k < m->n_units; k++)
        m->numel[k] = (uint64_t)m->u[k].numel;
    seg_list l = {NULL, 0, 0};
    int64_t tb = m->R / N; /* T's share of a block */
    st_status st = ST_OK;
    for (int64_t w = 0; w < N && st == ST_OK; w++) {
        int64_t at = w * m->B;
        for (int k = 0; k < m->n_units && st == ST_OK; k++) {
            st = push_slot(&l, &m->u[k], at, w * m->u[k].q, m->u[k].q);
            at += m->u[k].q;
        }
        /* T[w tb, (w + 1) tb): each unit's tail in turn */
        for (int k = 0; k < m->n_units && st == ST_OK; k++) {
            const shard_unit_map *u = &m->u[k];
            int64_t r = u->numel - N * u->q, lo = w * tb > u->toff ? w * tb : u->toff;
            int64_t hi = (w + 1) * tb < u->toff + r ? (w + 1) * tb : u->toff + r;
            if (hi > lo)
                st = push_slot(&l, u, at + lo - w * tb, N * u->q + lo - u->toff, hi - lo);
        }
    }
    m->seg = l.seg;
    m->nseg = l.n;
    return st;
}

void shard_map_free(shard_map *m)
{
    if (!m)
        return;
    for (int k = 0; m->u && k < m->n_units; k++) {
        free(m->u[k].run);
        free(m->u[k].run_pos);
    }
    free(m->u), free(m->unit_of), free(m->pos), free(m->seg), free(m->numel);
    free(m);
}

/* Each unit's elements of the padded vector (each parameter owns [its offset, the next one's),
 * the first from 0, the last up to L), as build_runs counts them. */
static st_status unit_sizes(const st_shard_state *s, const int *unit_of, int n, uint64_t *size)
{
    int np = st_params_count(s->ps);
    int64_t (*ord)[2] = malloc(sizeof *ord * (size_t)(np ? np : 1));
    if (!ord)
        return oom();
    for (int i = 0; i < np; i++) {
        st_param_info info;
        st_params_info(s->ps, i, &info);
        ord[i][0] = info.offset;
        ord[i][1] = i;
    }
    qsort(ord, (size_t)np, sizeof *ord, by_offset);
    for (int k = 0; k < n; k++)
        size[k] = 0;
    for (int j = 0; j < np; j++) {
        int64_t lo = j == 0 ? 0 : ord[j][0], hi = j + 1 < np ? ord[j + 1][0] : s->L;
        size[unit_of[ord[j][1]]] += (uint64_t)(hi > lo ? hi - lo : 0);
    }
    free(ord);
    return ST_OK;
}

/* The balanced layout's buckets (shard_bucket.h): consecutive units below s->bucket elements
 * become one unit, renumbered in order. */
static st_status bucket_units(const st_shard_state *s, int *unit_of, int *n_units)
{
    int n = *n_units, np = st_params_count(s->ps);
    if (s->bucket == 0 || n < 2)
        return ST_OK;
    uint64_t *size = malloc(sizeof *size * (size_t)n);
    int *merged = malloc(sizeof *merged * (size_t)n);
    st_status st = size && merged ? unit_sizes(s, unit_of, n, size) : oom();
    if (st == ST_OK) {
        *n_units = shard_bucket_merge(size, n, s->bucket, merged);
        for (int i = 0; i < np; i++)
            unit_of[i] = merged[unit_of[i]];
    }
    free(size), free(merged);
    return st;
}

static st_status read_units(const st_shard_state *s, const int *units, shard_map *m)
{
    int n = m->n_params;
    if (!units) {
        ST_TRY(default_units(s->ps, m->unit_of, &m->n_units));
        return m->balanced ? bucket_units(s, m->unit_of, &m->n_units) : ST_OK;
    }
    for (int i = 0; i < n; i++) {
        if (units[i] < 0 || units[i] >= n)
            return ST_ERR(ST_ERR_INVALID_ARG, "st_shard_attach_graph: unit %d of parameter %d outside [0, %d)",
                          units[i], i, n);
        m->unit_of[i] = units[i];
        m->n_units = units[i] + 1 > m->n_units ? units[i] + 1 : m->n_units;
    }
    return m->balanced ? bucket_units(s, m->unit_of, &m->n_units) : ST_OK;
}

st_status shard_map_new(st_shard_state *s, const int *units, int balanced, shard_map **out)
{
    shard_map *m = calloc(1, sizeof *m);
    if (!m)
        return oom();
    int n = m->n_params = st_params_count(s->ps);
    m->unit_of = malloc(sizeof(int) * (size_t)(n ? n : 1));
    m->pos = calloc((size_t)(n ? n : 1), sizeof(int64_t));
    m->balanced = balanced; /* read_units buckets the balanced layout's units */
    st_status st = m->unit_of && m->pos ? read_units(s, units, m) : oom();
    if (st == ST_OK) {
        m->u = calloc((size_t)(m->n_units ? m->n_units : 1), sizeof *m->u);
        st = m->u ? build_runs(s, m) : oom();
    }
    m->balanced = balanced && m->n_units > 0;
    if (st == ST_OK && m->balanced) {
        st = balance(s, m);
    } else if (st == ST_OK) {
        m->seg = malloc(sizeof *m->seg);
        st = m->seg ? ST_OK : oom();
        if (st == ST_OK)
            m->seg[0] = (shard_seg){0, 0, s->L}, m->nseg = 1;
    }
    if (st != ST_OK) {
        shard_map_free(m);
        return st;
    }
    *out = m;
    return ST_OK;
}

int shard_map_same_units(const st_shard_state *s, const shard_map *m, const int *units)
{
    int n = m->n_params, *def = malloc(sizeof(int) * (size_t)(n ? n : 1)), count = 0, same = def != NULL;
    if (same && !units) {
        same = default_units(s->ps, def, &count) == ST_OK;
    } else if (same) { /* the caller's units, bucketed as read_units does */
        for (int i = 0; i < n; i++) {
            same = same && units[i] >= 0 && units[i] < n;
            def[i] = units[i];
            count = units[i] + 1 > count ? units[i] + 1 : count;
        }
    }
    same = same && (!m->balanced || bucket_units(s, def, &count) == ST_OK);
    units = def;
    for (int i = 0; same && i < n; i++)
        same = units[i] == m->unit_of[i];
    free(def);
    return same;
}

st_status shard_map_each(const shard_map *m, int64_t w, int64_t n,
                         st_status (*fn)(void *ctx, int64_t w, int64_t a, int64_t n), void *ctx)
{
    int lo = 0, hi = m->nseg - 1; /* the last piece starting at or before w */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (m->seg[mid].w <= w)
            lo = mid;
        else
            hi = mid - 1;
    }
    for (int i = lo; i < m->nseg && n > 0; i++) {
        const shard_seg *g = &m->seg[i];
        int64_t skip = w - g->w, take = g->n - skip < n ? g->n - skip : n;
        if (take <= 0)
            continue;
        ST_TRY(fn(ctx, w, g->a + skip, take));
        w += take, n -= take;
    }
    return ST_OK;
}

/* Copies between a W buffer and the arena, piece by piece; the arena stops at F. */
typedef struct permute_ctx {
    const st_shard_state *s;
    st_tensor *arena, *w;
    int to_arena;
    int64_t w0; /* where w's first element sits in W */
} permute_ctx;

static st_status permute_piece(void *ctx, int64_t w, int64_t a, int64_t n)
{
    permute_ctx *p = ctx;
    int64_t F = p->s->F;
    if (a >= F)
        return ST_OK;
    n = a + n > F ? F - a : n;
    w -= p->w0;
    return p->to_arena ? shard_copy_range(p->arena, a, p->w, w, n) : shard_copy_range(p->w, w, p->arena, a, n);
}

st_status shard_map_to_arena(const st_shard_state *s, st_tensor *arena, st_tensor *w)
{
    permute_ctx p = {s, arena, w, 1, 0};
    return shard_map_each(s->map, 0, s->L, permute_piece, &p);
}

st_status shard_map_from_arena(const st_shard_state *s, st_tensor *w, st_tensor *arena)
{
    if (s->L > s->F)
        ST_TRY(st_fill(w, 0.0));
    permute_ctx p = {s, arena, w, 0, 0};
    return shard_map_each(s->map, 0, s->L, permute_piece, &p);
}

st_status shard_map_take(const st_shard_state *s, st_tensor *dst, int64_t w, int64_t n, st_tensor *arena)
{
    permute_ctx p = {s, arena, dst, 0, w};
    return shard_map_each(s->map, w, n, permute_piece, &p);
}
