/* BPE training's merge loop (tok_train.c feeds it the distinct pieces). See tok_train.c. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "tok_internal.h"

typedef struct pair {
    int32_t a, b;
    int64_t count;
    uint32_t *words; /* words that held the pair at some point (stale entries are skipped) */
    uint32_t nw, cw;
    uint64_t stamp;  /* last merge that touched it */
    int64_t before;  /* its count before that merge */
} pair;

typedef struct hent {
    int64_t count;
    int32_t a, b;
    uint32_t pair;
} hent;

typedef struct learner {
    tok_words *w;
    pair *p;
    uint32_t np, cp;
    uint32_t *map; /* open addressing over p: index + 1, 0 empty */
    uint64_t mask;
    hent *h;
    size_t nh, ch;
    uint64_t *wstamp;
    uint32_t *touched;
    size_t ntouched, ctouched;
    /* the vocabulary so far: token bytes, and bytes -> id */
    uint8_t *vb;
    uint64_t *voff, vlen, vcap;
    int32_t nv;
    int32_t *vmap;
    uint64_t vmask;
    int32_t (*merges)[3];
    int32_t nm;
} learner;

static int hbefore(const hent *x, const hent *y)
{
    if (x->count != y->count) return x->count > y->count;
    return x->a != y->a ? x->a < y->a : x->b < y->b;
}

static st_status hpush(learner *L, uint32_t pi)
{
    if (L->nh == L->ch) {
        size_t c = L->ch ? 2 * L->ch : 1024;
        hent *h = realloc(L->h, c * sizeof *h);
        if (!h) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer heap");
        L->h = h;
        L->ch = c;
    }
    hent e = {L->p[pi].count, L->p[pi].a, L->p[pi].b, pi};
    size_t i = L->nh++;
    while (i > 0 && hbefore(&e, &L->h[(i - 1) / 2])) {
        L->h[i] = L->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    L->h[i] = e;
    return ST_OK;
}

static hent hpop(learner *L)
{
    hent top = L->h[0], last = L->h[--L->nh];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= L->nh) break;
        if (c + 1 < L->nh && hbefore(&L->h[c + 1], &L->h[c])) c++;
        if (!hbefore(&L->h[c], &last)) break;
        L->h[i] = L->h[c];
        i = c;
    }
    L->h[i] = last;
    return top;
}

static uint64_t phash(int32_t a, int32_t b) { return tok_pair_hash(tok_pair_key(a, b)); }

/* The pair (a, b), created when new: its index in *pi. */
static st_status pair_get(learner *L, int32_t a, int32_t b, uint32_t *pi)
{
    if (2 * ((uint64_t)L->np + 1) > L->mask + 1) {
        uint64_t cap = L->map ? 2 * (L->mask + 1) : 1 << 14;
        uint32_t *m = calloc(cap, sizeof *m);
        if (!m) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer pairs");
        for (uint32_t i = 0; i < L->np; i++) {
            uint64_t j = phash(L->p[i].a, L->p[i].b) & (cap - 1);
            while (m[j]) j = (j + 1) & (cap - 1);
            m[j] = i + 1;
        }
        free(L->map);
        L->map = m;
        L->mask = cap - 1;
    }
    uint64_t j = phash(a, b) & L->mask;
    for (; L->map[j]; j = (j + 1) & L->mask) {
        pair *q = &L->p[L->map[j] - 1];
        if (q->a == a && q->b == b) {
            *pi = L->map[j] - 1;
            return ST_OK;
        }
    }
    if (L->np == L->cp) {
        uint32_t c = L->cp ? 2 * L->cp : 1024;
        pair *p = realloc(L->p, c * sizeof *p);
        if (!p) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer pairs");
        L->p = p;
        L->cp = c;
    }
    L->p[L->np] = (pair){.a = a, .b = b};
    L->map[j] = L->np + 1;
    *pi = L->np++;
    return ST_OK;
}

/* Adds `delta` occurrences of (a, b) in word wi; increases are remembered for the heap. */
static st_status pair_add(learner *L, int32_t a, int32_t b, int64_t delta, uint32_t wi, uint64_t stamp)
{
    uint32_t pi = 0;
    ST_TRY(pair_get(L, a, b, &pi));
    pair *q = &L->p[pi];
    if (q->stamp != stamp) {
        q->stamp = stamp;
        q->before = q->count;
        if (L->ntouched == L->ctouched) {
            size_t c = L->ctouched ? 2 * L->ctouched : 1024;
            uint32_t *t = realloc(L->touched, c * sizeof *t);
            if (!t) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer");
            L->touched = t;
            L->ctouched = c;
        }
        L->touched[L->ntouched++] = pi;
    }
    q->count += delta;
    if (delta > 0 && (q->nw == 0 || q->words[q->nw - 1] != wi)) {
        if (q->nw == q->cw) {
            uint32_t c = q->cw ? 2 * q->cw : 4;
            uint32_t *w = realloc(q->words, c * sizeof *w);
            if (!w) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer");
            q->words = w;
            q->cw = c;
        }
        q->words[q->nw++] = wi;
    }
    return ST_OK;
}

static st_status word_pairs(learner *L, uint32_t wi, int sign, uint64_t stamp)
{
    const int32_t *s = L->w->sym + L->w->off[wi];
    for (uint32_t k = 0; k + 1 < L->w->len[wi]; k++)
        ST_TRY(pair_add(L, s[k], s[k + 1], sign * L->w->count[wi], wi, stamp));
    return ST_OK;
}

/* The id of bytes(a) + bytes(b): an existing token with those bytes, or a new one. */
static st_status vocab_join(learner *L, int32_t a, int32_t b, int32_t *id)
{
    uint64_t la = L->voff[a + 1] - L->voff[a], lb = L->voff[b + 1] - L->voff[b];
    if (L->vlen + la + lb > L->vcap) {
        uint64_t c = 2 * (L->vlen + la + lb);
        uint8_t *v = realloc(L->vb, c);
        if (!v) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer vocabulary");
        L->vb = v;
        L->vcap = c;
    }
    uint8_t *p = L->vb + L->vlen;
    memmove(p, L->vb + L->voff[a], la);
    memmove(p + la, L->vb + L->voff[b], lb);
    uint64_t h = tok_hash(p, la + lb), j = h & L->vmask;
    for (; L->vmap[j] >= 0; j = (j + 1) & L->vmask) {
        int32_t t = L->vmap[j];
        if (L->voff[t + 1] - L->voff[t] == la + lb && !memcmp(L->vb + L->voff[t], p, la + lb)) {
            *id = t;
            return ST_OK;
        }
    }
    L->vmap[j] = *id = L->nv++;
    L->vlen += la + lb;
    L->voff[L->nv] = L->vlen;
    return ST_OK;
}

/* Rewrites every word holding (a, b) with `id`, moving the pair counts. */
static st_status apply_merge(learner *L, uint32_t pi, int32_t id, uint64_t stamp)
{
    int32_t a = L->p[pi].a, b = L->p[pi].b;
    L->ntouched = 0;
    for (uint32_t k = 0; k < L->p[pi].nw; k++) {
        uint32_t wi = L->p[pi].words[k];
        if (L->wstamp[wi] == stamp) continue;
        L->wstamp[wi] = stamp;
        int32_t *s = L->w->sym + L->w->off[wi];
        uint32_t n = L->w->len[wi], hit = 0;
        for (uint32_t i = 0; i + 1 < n && !hit; i++) hit = s[i] == a && s[i + 1] == b;
        if (!hit) continue;
        ST_TRY(word_pairs(L, wi, -1, stamp));
        uint32_t o = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (i + 1 < n && s[i] == a && s[i + 1] == b) s[o++] = id, i++;
            else s[o++] = s[i];
        }
        L->w->len[wi] = o;
        ST_TRY(word_pairs(L, wi, +1, stamp));
    }
    for (size_t k = 0; k < L->ntouched; k++) {
        pair *q = &L->p[L->touched[k]];
        if (q->count > q->before) ST_TRY(hpush(L, L->touched[k]));
    }
    return ST_OK;
}

static st_status learn(learner *L, int32_t n_normal, int64_t min_freq)
{
    for (uint32_t wi = 0; wi < L->w->n; wi++) ST_TRY(word_pairs(L, wi, +1, 1));
    for (uint32_t pi = 0; pi < L->np; pi++) ST_TRY(hpush(L, pi));
    uint64_t stamp = 1;
    while (L->nv < n_normal && L->nh) {
        hent e = hpop(L);
        pair *q = &L->p[e.pair];
        if (e.count != q->count) { /* stale: a lower count is re-queued, a higher one is queued */
            if (q->count < e.count && q->count >= min_freq) ST_TRY(hpush(L, e.pair));
            continue;
        }
        if (e.count < min_freq) break;
        int32_t id = -1;
        ST_TRY(vocab_join(L, e.a, e.b, &id));
        int32_t(*m)[3] = realloc(L->merges, ((size_t)L->nm + 1) * sizeof *m);
        if (!m) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "merge list");
        L->merges = m;
        m[L->nm][0] = e.a, m[L->nm][1] = e.b, m[L->nm][2] = id;
        L->nm++;
        ST_TRY(apply_merge(L, e.pair, id, ++stamp));
    }
    return ST_OK;
}

static st_status build(learner *L, const char *const *specials, int nsp, st_tokenizer **out)
{
    st_tokenizer *tok = NULL;
    st_status s = tok_alloc(L->nv + nsp, &tok);
    for (int32_t id = 0; !s && id < L->nv; id++)
        s = tok_set(tok, id, L->vb + L->voff[id], L->voff[id + 1] - L->voff[id], TOK_NORMAL,
                    "training");
    for (int i = 0; !s && i < nsp; i++)
        s = tok_set(tok, L->nv + i, (const uint8_t *)specials[i], strlen(specials[i]), TOK_SPECIAL,
                    "training");
    if (!s) tok->rule = ST_BPE_MERGES;
    for (int32_t k = 0; !s && k < L->nm; k++)
        s = tok_add_merge(tok, L->merges[k][0], L->merges[k][1], L->merges[k][2]);
    if (!s) s = tok_finish(tok, "training");
    if (s) {
        st_tokenizer_destroy(tok);
        return s;
    }
    *out = tok;
    return ST_OK;
}

st_status tok_learn_merges(tok_words *w, int32_t n_normal, int64_t min_freq,
                           const char *const *specials, int nsp, st_tokenizer **out)
{
    learner L = {.w = w};
    st_status s = ST_OK;
    L.vcap = 1 << 16;
    L.vb = malloc(L.vcap);
    L.voff = malloc(((size_t)n_normal + 1) * sizeof *L.voff);
    for (L.vmask = 1; L.vmask < 2 * (uint64_t)n_normal; L.vmask *= 2) {}
    L.vmap = malloc(L.vmask * sizeof *L.vmap);
    L.vmask--;
    L.wstamp = calloc(w->n + 1, sizeof *L.wstamp);
    if (!L.vb || !L.voff || !L.vmap || !L.wstamp)
        s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer for %d tokens", n_normal);
    for (uint64_t j = 0; !s && j <= L.vmask; j++) L.vmap[j] = -1;
    for (int32_t b = 0; !s && b < 256; b++) { /* the bytes are ids 0..255 */
        uint8_t one = (uint8_t)b;
        L.vb[b] = one;
        L.voff[b] = (uint64_t)b;
        uint64_t j = tok_hash(&one, 1) & L.vmask;
        while (L.vmap[j] >= 0) j = (j + 1) & L.vmask;
        L.vmap[j] = b;
    }
    L.nv = 256;
    L.vlen = 256;
    if (!s) L.voff[256] = 256;
    if (!s) s = learn(&L, n_normal, min_freq);
    if (!s) s = build(&L, specials, nsp, out);
    for (uint32_t i = 0; i < L.np; i++) free(L.p[i].words);
    free(L.p), free(L.map), free(L.h), free(L.wstamp), free(L.touched);
    free(L.vb), free(L.voff), free(L.vmap), free(L.merges);
    return s;
}
