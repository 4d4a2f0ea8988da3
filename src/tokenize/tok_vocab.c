/* The vocabulary of a tokenizer: token bytes by id, the bytes -> id map, the pair map that drives
 * BPE (from the merge list or from the ranks), and the read-only queries of tokenizer.h.
 * Loading files and encoding live elsewhere (tok_tiktoken.c, tok_hf*.c, tok_bpe.c). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "tok_internal.h"

st_status tok_alloc(int32_t n_vocab, st_tokenizer **out)
{
    if (n_vocab < 256 || n_vocab > ST_TOK_MAX_VOCAB)
        return ST_ERR(ST_ERR_FORMAT, "vocabulary of %d ids: must be in [256, %d]", n_vocab,
                      ST_TOK_MAX_VOCAB);
    st_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "tokenizer");
    t->n_vocab = n_vocab;
    t->kind = calloc((size_t)n_vocab, 1);
    t->off = calloc((size_t)n_vocab + 1, sizeof *t->off);
    t->rule = ST_BPE_RANKS;
    if (!t->kind || !t->off) {
        st_tokenizer_destroy(t);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "tokenizer of %d ids", n_vocab);
    }
    *out = t;
    return ST_OK;
}

/* Token bytes are appended to one arena in the order they are set; off[id] holds the start and
 * off[id + 1] is rewritten in tok_finish, so ids may be set in any order. Until then the length
 * is kept in a side table: `off` holds start << 24 | length (lengths < 16 MiB). */
st_status tok_set(st_tokenizer *tok, int32_t id, const uint8_t *bytes, size_t len, int kind,
                  const char *src)
{
    if (id < 0 || id >= tok->n_vocab)
        return ST_ERR(ST_ERR_FORMAT, "'%s': id %d outside [0, %d)", src, id, tok->n_vocab);
    if (tok->packed) return ST_ERR(ST_ERR_INTERNAL, "tok_set after tok_index");
    if (tok->kind[id] != TOK_ABSENT)
        return ST_ERR(ST_ERR_FORMAT, "'%s': id %d given twice", src, id);
    if (len == 0 || len >= (1u << 24))
        return ST_ERR(ST_ERR_FORMAT, "'%s': token %d has %zu bytes (must be 1 .. 16M)", src, id,
                      len);
    if (tok->bytes_len + len > tok->bytes_cap) {
        uint64_t cap = tok->bytes_cap ? tok->bytes_cap : 1 << 16;
        while (cap < tok->bytes_len + len) cap *= 2;
        uint8_t *p = realloc(tok->bytes, cap);
        if (!p) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "token bytes");
        tok->bytes = p;
        tok->bytes_cap = cap;
    }
    memcpy(tok->bytes + tok->bytes_len, bytes, len);
    tok->off[id] = tok->bytes_len << 24 | len;
    tok->bytes_len += len;
    tok->kind[id] = (uint8_t)kind;
    return ST_OK;
}

/* Lays the arena out in id order so that off[id + 1] - off[id] is the length. */
static st_status tok_pack(st_tokenizer *tok)
{
    if (tok->packed) return ST_OK;
    uint8_t *packed = malloc(tok->bytes_len ? tok->bytes_len : 1);
    if (!packed) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "token bytes");
    uint64_t at = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        uint64_t start = tok->off[id] >> 24, len = tok->off[id] & 0xffffff;
        if (tok->kind[id] == TOK_ABSENT) len = 0;
        memcpy(packed + at, tok->bytes + start, len);
        tok->off[id] = at;
        at += len;
    }
    tok->off[tok->n_vocab] = at;
    free(tok->bytes);
    tok->bytes = packed;
    tok->bytes_cap = tok->bytes_len = at;
    tok->packed = 1;
    return ST_OK;
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t c = 16;
    while (c < n) c *= 2;
    return c;
}

int32_t tok_lookup(const st_tokenizer *tok, const uint8_t *p, size_t len, uint64_t h)
{
    const tok_bmap *m = &tok->bmap;
    uint32_t hh = (uint32_t)(h >> 32);
    for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const struct tok_bslot *s = &m->s[i];
        if (s->id < 0) return -1;
        if (s->h == hh && tok->off[s->id + 1] - tok->off[s->id] == len &&
            memcmp(tok->bytes + tok->off[s->id], p, len) == 0)
            return s->id;
    }
}

st_status tok_index(st_tokenizer *tok, const char *src)
{
    ST_TRY(tok_pack(tok));
    free(tok->bmap.s);
    uint64_t cap = pow2_at_least(2 * (uint64_t)tok->n_vocab);
    tok->bmap.s = malloc(cap * sizeof *tok->bmap.s);
    if (!tok->bmap.s) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "token map");
    tok->bmap.mask = cap - 1;
    for (uint64_t i = 0; i < cap; i++) tok->bmap.s[i].id = -1;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (tok->kind[id] != TOK_NORMAL) continue;
        const uint8_t *p = tok->bytes + tok->off[id];
        size_t len = tok->off[id + 1] - tok->off[id];
        uint64_t h = tok_hash(p, len);
        int32_t dup = tok_lookup(tok, p, len, h);
        if (dup >= 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s': ids %d and %d are the same %zu bytes", src, dup,
                          id, len);
        uint64_t i = h & tok->bmap.mask;
        while (tok->bmap.s[i].id >= 0) i = (i + 1) & tok->bmap.mask;
        tok->bmap.s[i].h = (uint32_t)(h >> 32);
        tok->bmap.s[i].id = id;
    }
    return ST_OK;
}

/* Inserts or overwrites a pair (a later merge line wins, as in Hugging Face's tokenizers). */
static st_status pmap_put(tok_pmap *m, int32_t a, int32_t b, uint32_t prio, int32_t merged)
{
    if (2 * (m->n + 1) > m->mask + 1 || !m->s) {
        uint64_t cap = m->s ? 2 * (m->mask + 1) : 1024;
        struct tok_pslot *s = malloc(cap * sizeof *s), *old = m->s;
        if (!s) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "pair map");
        for (uint64_t i = 0; i < cap; i++) s[i].key = UINT64_MAX;
        uint64_t old_cap = old ? m->mask + 1 : 0;
        m->s = s;
        m->mask = cap - 1;
        for (uint64_t i = 0; i < old_cap; i++) {
            if (old[i].key == UINT64_MAX) continue;
            uint64_t j = tok_pair_hash(old[i].key) & m->mask;
            while (s[j].key != UINT64_MAX) j = (j + 1) & m->mask;
            s[j] = old[i];
        }
        free(old);
    }
    uint64_t key = tok_pair_key(a, b), i = tok_pair_hash(key) & m->mask;
    while (m->s[i].key != UINT64_MAX && m->s[i].key != key) i = (i + 1) & m->mask;
    if (m->s[i].key == UINT64_MAX) m->n++;
    m->s[i].key = key;
    m->s[i].prio = prio;
    m->s[i].merged = merged;
    return ST_OK;
}

/* tiktoken's rule: any split of a token into two tokens is a pair that makes it. */
static st_status pairs_from_ranks(st_tokenizer *tok)
{
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (tok->kind[id] != TOK_NORMAL) continue;
        const uint8_t *p = tok->bytes + tok->off[id];
        size_t len = tok->off[id + 1] - tok->off[id];
        for (size_t k = 1; k < len; k++) {
            int32_t a = tok_lookup(tok, p, k, tok_hash(p, k));
            if (a < 0) continue;
            int32_t b = tok_lookup(tok, p + k, len - k, tok_hash(p + k, len - k));
            if (b >= 0) ST_TRY(pmap_put(&tok->pmap, a, b, (uint32_t)id, id));
        }
    }
    return ST_OK;
}

st_status tok_add_merge(st_tokenizer *tok, int32_t a, int32_t b, int32_t result)
{
    if ((tok->n_merges & (tok->n_merges - 1)) == 0) {
        size_t cap = tok->n_merges ? 2 * (size_t)tok->n_merges : 256;
        void *p = realloc(tok->merges, cap * sizeof *tok->merges);
        if (!p) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "merge list");
        tok->merges = p;
    }
    tok->merges[tok->n_merges][0] = a;
    tok->merges[tok->n_merges][1] = b;
    tok->merges[tok->n_merges][2] = result;
    tok->n_merges++;
    return ST_OK;
}

st_status tok_finish(st_tokenizer *tok, const char *src)
{
    ST_TRY(tok_pack(tok));
    for (int b = 0; b < 256; b++) tok->byte_id[b] = -1;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (tok->kind[id] == TOK_SPECIAL) tok->n_specials++;
        if (tok->kind[id] == TOK_NORMAL && tok->off[id + 1] - tok->off[id] == 1)
            tok->byte_id[tok->bytes[tok->off[id]]] = id;
    }
    for (int b = 0; b < 256; b++)
        if (tok->byte_id[b] < 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s': no token for byte 0x%02x: not a byte-level BPE "
                          "vocabulary", src, b);
    ST_TRY(tok_index(tok, src));
    if (tok->rule == ST_BPE_RANKS) ST_TRY(pairs_from_ranks(tok));
    for (int32_t k = 0; tok->rule == ST_BPE_MERGES && k < tok->n_merges; k++)
        ST_TRY(pmap_put(&tok->pmap, tok->merges[k][0], tok->merges[k][1], (uint32_t)k,
                        tok->merges[k][2]));
    if (!tok->pmap.s) ST_TRY(pmap_put(&tok->pmap, -1, -1, 0, -1)); /* an empty map to search */
    tok->specials = malloc((size_t)(tok->n_specials ? tok->n_specials : 1) * sizeof(int32_t));
    if (!tok->specials) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "special tokens");
    int n = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++)
        if (tok->kind[id] == TOK_SPECIAL) tok->specials[n++] = id;
    return tok_regex_init(&tok->rx);
}

st_status tok_derive_merges(st_tokenizer *tok)
{
    if (tok->rule != ST_BPE_RANKS || tok->merges) return ST_OK;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        const uint8_t *p = tok->bytes + tok->off[id];
        size_t len = tok->off[id + 1] - tok->off[id];
        if (tok->kind[id] != TOK_NORMAL || len < 2) continue;
        int32_t parts[3];
        size_t n = tok_bpe_limited(tok, p, len, (uint32_t)id, parts, 3);
        if (n != 2) {
            free(tok->merges);
            tok->merges = NULL;
            tok->n_merges = 0;
            return ST_ERR(ST_ERR_UNSUPPORTED, "token %d (%zu bytes) is reached by no merge of "
                          "lower-ranked tokens (they give %zu parts), so Hugging Face's merge "
                          "list cannot express it", id, len, n);
        }
        ST_TRY(tok_add_merge(tok, parts[0], parts[1], id));
    }
    return ST_OK;
}

void st_tokenizer_destroy(st_tokenizer *tok)
{
    if (!tok) return;
    free(tok->kind);
    free(tok->off);
    free(tok->bytes);
    free(tok->merges);
    free(tok->specials);
    free(tok->bmap.s);
    free(tok->pmap.s);
    tok_regex_free(&tok->rx);
    tok_cache_free(&tok->cache);
    free(tok);
}

int32_t st_tokenizer_vocab_size(const st_tokenizer *tok) { return tok ? tok->n_vocab : 0; }

st_bpe_rule st_tokenizer_rule(const st_tokenizer *tok) { return tok ? tok->rule : ST_BPE_RANKS; }

int32_t st_tokenizer_merges(const st_tokenizer *tok)
{
    if (!tok) return 0;
    if (tok->merges) return tok->n_merges;
    int32_t n = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++)
        n += tok->kind[id] == TOK_NORMAL && tok->off[id + 1] - tok->off[id] > 1;
    return n;
}

int32_t st_tokenizer_special(const st_tokenizer *tok, const char *name)
{
    if (!tok || !name) return -1;
    size_t len = strlen(name);
    for (int i = 0; i < tok->n_specials; i++) {
        int32_t id = tok->specials[i];
        if (tok->off[id + 1] - tok->off[id] == len && memcmp(tok->bytes + tok->off[id], name, len) == 0)
            return id;
    }
    return -1;
}

int32_t st_tokenizer_eot(const st_tokenizer *tok) { return st_tokenizer_special(tok, "<|endoftext|>"); }

st_status st_tokenizer_token(const st_tokenizer *tok, int32_t id, const uint8_t **bytes,
                             size_t *len, int *is_special)
{
    if (!tok || !bytes || !len) return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_token: NULL");
    if (id < 0 || id >= tok->n_vocab || tok->kind[id] == TOK_ABSENT)
        return ST_ERR(ST_ERR_INVALID_ARG, "token id %d is %s", id,
                      id < 0 || id >= tok->n_vocab ? "outside the vocabulary" : "unused");
    *bytes = tok->bytes + tok->off[id];
    *len = tok->off[id + 1] - tok->off[id];
    if (is_special) *is_special = tok->kind[id] == TOK_SPECIAL;
    return ST_OK;
}

void st_token_buf_destroy(st_token_buf *b)
{
    if (!b) return;
    free(b->ids);
    memset(b, 0, sizeof *b);
}
