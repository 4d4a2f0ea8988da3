#define _GNU_SOURCE /* memmem */
/* Byte-pair merging of one piece, the cache of recent pieces, and encoding and decoding whole
 * texts. A piece starts as its bytes' tokens; the adjacent pair of lowest priority merges,
 * leftmost first among equals, until no adjacent pair is in the pair map. Short pieces scan
 * the pairs (as tiktoken does); long ones keep them in a heap, so that a megabyte without a
 * break costs n log n, not n^2. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "tok_internal.h"

#define SCAN_MAX 128 /* pieces up to this many bytes use the quadratic scan */

st_status tok_buf_push(st_token_buf *b, const int32_t *ids, int64_t n)
{
    if (b->n + n > b->cap) {
        int64_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n) cap *= 2;
        int32_t *p = realloc(b->ids, (size_t)cap * sizeof *p);
        if (!p) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "token buffer of %lld ids", (long long)cap);
        b->ids = p;
        b->cap = cap;
    }
    memcpy(b->ids + b->n, ids, (size_t)n * sizeof *ids);
    b->n += n;
    return ST_OK;
}

static uint32_t pair_prio(const st_tokenizer *tok, int32_t a, int32_t b, uint32_t max_prio,
                          int32_t *merged)
{
    const struct tok_pslot *s = tok_pmap_find(&tok->pmap, a, b);
    if (!s || s->prio >= max_prio) return UINT32_MAX;
    *merged = s->merged;
    return s->prio;
}

/* The quadratic form for short pieces: ids[] in place, returns the count. */
static size_t bpe_scan(const st_tokenizer *tok, int32_t *ids, size_t n, uint32_t max_prio)
{
    uint32_t prio[SCAN_MAX];
    int32_t res[SCAN_MAX];
    for (size_t i = 0; i + 1 < n; i++) prio[i] = pair_prio(tok, ids[i], ids[i + 1], max_prio, &res[i]);
    while (n > 1) {
        size_t bi = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (prio[i] < prio[bi]) bi = i;
        if (prio[bi] == UINT32_MAX) break;
        ids[bi] = res[bi];
        memmove(ids + bi + 1, ids + bi + 2, (n - bi - 2) * sizeof *ids);
        memmove(prio + bi + 1, prio + bi + 2, (n - bi - 2) * sizeof *prio);
        memmove(res + bi + 1, res + bi + 2, (n - bi - 2) * sizeof *res);
        n--;
        if (bi > 0) prio[bi - 1] = pair_prio(tok, ids[bi - 1], ids[bi], max_prio, &res[bi - 1]);
        if (bi + 1 < n) prio[bi] = pair_prio(tok, ids[bi], ids[bi + 1], max_prio, &res[bi]);
    }
    return n;
}

/* Heap form: nodes are byte positions; node i absorbs its right neighbour when their pair merges. */
typedef struct hent {
    uint32_t prio;
    uint32_t left, right; /* node indices */
    int32_t a, b;         /* their ids when pushed: a stale entry no longer matches */
} hent;

static int hless(const hent *x, const hent *y)
{
    return x->prio < y->prio || (x->prio == y->prio && x->left < y->left);
}

static void hpush(hent *h, size_t *n, hent e)
{
    size_t i = (*n)++;
    while (i > 0 && hless(&e, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static hent hpop(hent *h, size_t *n)
{
    hent top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && hless(&h[c + 1], &h[c])) c++;
        if (!hless(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static void heap_offer(const st_tokenizer *tok, hent *h, size_t *nh, const int32_t *ids,
                       uint32_t l, uint32_t r, uint32_t max_prio)
{
    int32_t m;
    uint32_t p = pair_prio(tok, ids[l], ids[r], max_prio, &m);
    if (p != UINT32_MAX) hpush(h, nh, (hent){p, l, r, ids[l], ids[r]});
}

static st_status bpe_heap(const st_tokenizer *tok, int32_t *ids, size_t n, uint32_t max_prio,
                          size_t *out_n)
{
    uint32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
    hent *h = malloc(3 * n * sizeof *h); /* n - 1 pairs, then at most two per merge */
    if (!next || !prev || !h) {
        free(next), free(prev), free(h);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "merging a piece of %zu bytes", n);
    }
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)(i - 1); /* UINT32_MAX for the first */
        if (i + 1 < n) heap_offer(tok, h, &nh, ids, (uint32_t)i, (uint32_t)i + 1, max_prio);
    }
    while (nh) {
        hent e = hpop(h, &nh);
        if (ids[e.left] != e.a || next[e.left] != e.right || ids[e.right] != e.b) continue;
        int32_t m = -1;
        pair_prio(tok, e.a, e.b, max_prio, &m);
        ids[e.left] = m;
        ids[e.right] = -1;
        next[e.left] = next[e.right];
        if (next[e.left] < n) prev[next[e.left]] = e.left;
        if (prev[e.left] != UINT32_MAX) heap_offer(tok, h, &nh, ids, prev[e.left], e.left, max_prio);
        if (next[e.left] < n) heap_offer(tok, h, &nh, ids, e.left, next[e.left], max_prio);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i = next[i]) ids[k++] = ids[i];
    free(next), free(prev), free(h);
    *out_n = k;
    return ST_OK;
}

/* BPE of p[0..len) into ids (len entries of room); the count in *out_n. */
static st_status bpe(const st_tokenizer *tok, const uint8_t *p, size_t len, uint32_t max_prio,
                     int32_t *ids, size_t *out_n)
{
    for (size_t i = 0; i < len; i++) ids[i] = tok->byte_id[p[i]];
    if (len <= SCAN_MAX) {
        *out_n = bpe_scan(tok, ids, len, max_prio);
        return ST_OK;
    }
    return bpe_heap(tok, ids, len, max_prio, out_n);
}

size_t tok_bpe_limited(const st_tokenizer *tok, const uint8_t *p, size_t len, uint32_t max_prio,
                       int32_t *out, size_t cap)
{
    int32_t *ids = malloc((len ? len : 1) * sizeof *ids);
    size_t n = 0;
    if (!ids || bpe(tok, p, len, max_prio, ids, &n)) n = 0; /* 0: no answer (out of memory) */
    if (n) memcpy(out, ids, (n < cap ? n : cap) * sizeof *ids);
    free(ids);
    return n;
}

/* ---- the piece cache: direct-mapped, pieces up to CACHE_KEY bytes ---- */

#define CACHE_SLOTS (1u << 16)
#define CACHE_KEY 24
#define CACHE_TOK 12

typedef struct cslot {
    uint64_t h;
    uint8_t klen, ntok;
    uint8_t key[CACHE_KEY];
    int32_t tok[CACHE_TOK];
} cslot;

void tok_cache_free(tok_cache *c)
{
    free(c->s);
    c->s = NULL;
}

st_status tok_encode_piece(st_tokenizer *tok, const uint8_t *p, size_t len, st_token_buf *out)
{
    if (len == 1) return tok_buf_push(out, &tok->byte_id[p[0]], 1);
    uint64_t h = tok_hash(p, len);
    if (tok->rule == ST_BPE_RANKS) { /* a piece that is a token is that token (tiktoken) */
        int32_t id = tok_lookup(tok, p, len, h);
        if (id >= 0) return tok_buf_push(out, &id, 1);
    }
    cslot *slot = NULL;
    if (len <= CACHE_KEY) {
        if (!tok->cache.s && !(tok->cache.s = calloc(CACHE_SLOTS, sizeof(cslot))))
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "tokenizer cache");
        slot = (cslot *)tok->cache.s + (h & (CACHE_SLOTS - 1));
        if (slot->ntok && slot->h == h && slot->klen == len && !memcmp(slot->key, p, len))
            return tok_buf_push(out, slot->tok, slot->ntok);
    }
    int32_t small[SCAN_MAX], *ids = len <= SCAN_MAX ? small : malloc(len * sizeof *ids);
    if (!ids) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "merging a piece of %zu bytes", len);
    size_t n;
    st_status s = bpe(tok, p, len, UINT32_MAX, ids, &n);
    if (!s) s = tok_buf_push(out, ids, (int64_t)n);
    if (!s && slot && n <= CACHE_TOK) {
        slot->h = h;
        slot->klen = (uint8_t)len;
        slot->ntok = (uint8_t)n;
        memcpy(slot->key, p, len);
        memcpy(slot->tok, ids, n * sizeof *ids);
    }
    if (ids != small) free(ids);
    return s;
}

/* Ordinary text: pieces, each merged. */
static st_status encode_ordinary(st_tokenizer *tok, const uint8_t *t, size_t n, int regex_only,
                                 st_token_buf *out)
{
    for (size_t pos = 0, end; pos < n; pos = end) {
        ST_TRY(tok_next_piece(&tok->rx, t, n, pos, regex_only, &end));
        ST_TRY(tok_encode_piece(tok, t + pos, end - pos, out));
    }
    return ST_OK;
}

/* The first special token's text at or after pos: its id and start, or -1. */
static int32_t find_special(const st_tokenizer *tok, const uint8_t *t, size_t n, size_t pos,
                            size_t *at)
{
    int32_t best = -1;
    size_t best_at = n;
    for (int i = 0; i < tok->n_specials; i++) {
        int32_t id = tok->specials[i];
        size_t len = tok->off[id + 1] - tok->off[id];
        /* a hit that starts before best_at ends before best_at - 1 + len */
        size_t lim = best_at < n && best_at + len - 1 < n ? best_at + len - 1 : n;
        const uint8_t *hit = memmem(t + pos, lim - pos, tok->bytes + tok->off[id], len);
        if (hit && (size_t)(hit - t) < best_at) {
            best_at = (size_t)(hit - t);
            best = id;
        }
    }
    *at = best_at;
    return best;
}

st_status st_tokenizer_encode(st_tokenizer *tok, const void *text, size_t n, unsigned flags,
                              st_token_buf *out)
{
    if (!tok || !out || (!text && n) || (flags & ~(ST_TOK_SPECIAL | ST_TOK_REGEX_ONLY)))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_encode: NULL argument or unknown flags");
    const uint8_t *t = text;
    int rx_only = (flags & ST_TOK_REGEX_ONLY) != 0;
    if (!(flags & ST_TOK_SPECIAL) || !tok->n_specials) return encode_ordinary(tok, t, n, rx_only, out);
    size_t pos = 0;
    while (pos < n) {
        size_t at;
        int32_t id = find_special(tok, t, n, pos, &at);
        ST_TRY(encode_ordinary(tok, t + pos, at - pos, rx_only, out));
        if (id < 0) break;
        ST_TRY(tok_buf_push(out, &id, 1));
        pos = at + (tok->off[id + 1] - tok->off[id]);
    }
    return ST_OK;
}

st_status st_tokenizer_decode(const st_tokenizer *tok, const int32_t *ids, int64_t n, void *buf,
                              size_t cap, size_t *len)
{
    if (!tok || !len || n < 0 || (!ids && n) || (!buf && cap))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_decode: NULL argument or negative count");
    size_t at = 0;
    uint8_t *b = buf;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_vocab || tok->kind[id] == TOK_ABSENT)
            return ST_ERR(ST_ERR_INVALID_ARG, "token %lld is id %d, %s (vocabulary of %d)",
                          (long long)i, id,
                          id < 0 || id >= tok->n_vocab ? "outside the vocabulary" : "unused",
                          tok->n_vocab);
        size_t l = tok->off[id + 1] - tok->off[id];
        if (at < cap) memcpy(b + at, tok->bytes + tok->off[id], at + l <= cap ? l : cap - at);
        at += l;
    }
    *len = at;
    return ST_OK;
}
