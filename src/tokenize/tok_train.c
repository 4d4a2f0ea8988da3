/* Training a byte-level BPE vocabulary. Feeding pre-tokenizes the text and counts each distinct
 * piece; finishing learns the merges on the distinct pieces ("words", weighted by their counts):
 * the most frequent adjacent pair (ties to the smaller left id, then right id) becomes a token,
 * every word holding it is rewritten, and only the pairs of those words change count. Pairs
 * sit in a max-heap whose stale entries are recognised when they surface. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "tok_internal.h"

typedef struct wslot { /* distinct piece: bytes at arena[off, off + len) */
    uint64_t h;
    uint64_t off;
    uint32_t len;
    int64_t count; /* 0: empty slot */
} wslot;

struct st_tok_trainer {
    int32_t vocab_size;
    int64_t min_freq;
    char **specials;
    int nsp;
    tok_regex rx;
    wslot *w;
    uint64_t wmask, nw;
    uint8_t *arena;
    uint64_t alen, acap;
};

static void trainer_free_specials(st_tok_trainer *t)
{
    for (int i = 0; i < t->nsp; i++) free(t->specials[i]);
    free(t->specials);
}

void st_tok_trainer_destroy(st_tok_trainer *t)
{
    if (!t) return;
    trainer_free_specials(t);
    tok_regex_free(&t->rx);
    free(t->w);
    free(t->arena);
    free(t);
}

static st_status copy_specials(st_tok_trainer *t, const char *const *sp)
{
    static const char *const dflt[] = {"<|endoftext|>", NULL};
    if (!sp) sp = dflt;
    while (sp[t->nsp]) t->nsp++;
    t->specials = calloc((size_t)t->nsp + 1, sizeof *t->specials);
    if (!t->specials) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer");
    for (int i = 0; i < t->nsp; i++) {
        if (!sp[i][0]) return ST_ERR(ST_ERR_INVALID_ARG, "special token %d is empty", i);
        for (int j = 0; j < i; j++)
            if (!strcmp(sp[i], sp[j]))
                return ST_ERR(ST_ERR_INVALID_ARG, "special token '%s' given twice", sp[i]);
        if (!(t->specials[i] = strdup(sp[i]))) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer");
    }
    return ST_OK;
}

st_status st_tok_trainer_create(const st_tok_train_options *opt, st_tok_trainer **out)
{
    if (!opt || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_tok_trainer_create: NULL");
    st_tok_trainer *t = calloc(1, sizeof *t);
    if (!t) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer");
    st_status s = copy_specials(t, opt->specials);
    if (!s && (opt->vocab_size < 256 + t->nsp || opt->vocab_size > ST_TOK_MAX_VOCAB))
        s = ST_ERR(ST_ERR_INVALID_ARG, "vocabulary size %d: must be in [%d, %d] (256 bytes and "
                   "%d special tokens at least)", opt->vocab_size, 256 + t->nsp, ST_TOK_MAX_VOCAB,
                   t->nsp);
    if (!s && opt->min_frequency < 0)
        s = ST_ERR(ST_ERR_INVALID_ARG, "minimum frequency %lld is negative",
                   (long long)opt->min_frequency);
    t->vocab_size = opt->vocab_size;
    t->min_freq = opt->min_frequency ? opt->min_frequency : 2;
    if (!s) s = tok_regex_init(&t->rx);
    if (s) {
        st_tok_trainer_destroy(t);
        return s;
    }
    *out = t;
    return ST_OK;
}

static st_status grow_words(st_tok_trainer *t)
{
    uint64_t cap = t->w ? 2 * (t->wmask + 1) : 1 << 12, old = t->w ? t->wmask + 1 : 0;
    wslot *w = calloc(cap, sizeof *w), *o = t->w;
    if (!w) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer: %llu distinct pieces", (unsigned long long)t->nw);
    for (uint64_t i = 0; i < old; i++) {
        if (!o[i].count) continue;
        uint64_t j = o[i].h & (cap - 1);
        while (w[j].count) j = (j + 1) & (cap - 1);
        w[j] = o[i];
    }
    free(o);
    t->w = w;
    t->wmask = cap - 1;
    return ST_OK;
}

static st_status count_piece(st_tok_trainer *t, const uint8_t *p, size_t len)
{
    if (len >= UINT32_MAX) return ST_ERR(ST_ERR_INVALID_ARG, "a piece of %zu bytes", len);
    if (!t->w || 2 * (t->nw + 1) > t->wmask + 1) ST_TRY(grow_words(t));
    uint64_t h = tok_hash(p, len), i = h & t->wmask;
    for (; t->w[i].count; i = (i + 1) & t->wmask)
        if (t->w[i].h == h && t->w[i].len == len && !memcmp(t->arena + t->w[i].off, p, len)) {
            t->w[i].count++;
            return ST_OK;
        }
    if (t->alen + len > t->acap) {
        uint64_t cap = t->acap ? t->acap : 1 << 16;
        while (cap < t->alen + len) cap *= 2;
        uint8_t *a = realloc(t->arena, cap);
        if (!a) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer: piece text");
        t->arena = a;
        t->acap = cap;
    }
    memcpy(t->arena + t->alen, p, len);
    t->w[i] = (wslot){h, t->alen, (uint32_t)len, 1};
    t->alen += len;
    t->nw++;
    return ST_OK;
}

st_status st_tok_trainer_feed(st_tok_trainer *t, const void *text, size_t n)
{
    if (!t || (!text && n)) return ST_ERR(ST_ERR_INVALID_ARG, "st_tok_trainer_feed: NULL");
    const uint8_t *p = text;
    for (size_t pos = 0, end; pos < n; pos = end) {
        ST_TRY(tok_next_piece(&t->rx, p, n, pos, 0, &end));
        ST_TRY(count_piece(t, p + pos, end - pos));
    }
    return ST_OK;
}

st_status st_tok_trainer_feed_file(st_tok_trainer *t, const char *path)
{
    if (!t || !path) return ST_ERR(ST_ERR_INVALID_ARG, "st_tok_trainer_feed_file: NULL");
    tok_map m;
    ST_TRY(tok_map_file(path, &m));
    st_status s = st_tok_trainer_feed(t, m.data, m.len);
    tok_unmap_file(&m);
    return s;
}

/* The merge learning itself lives in tok_train_merge.c. */
st_status st_tok_trainer_finish(st_tok_trainer *t, st_tokenizer **out)
{
    if (!t || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_tok_trainer_finish: NULL");
    tok_words words = {0};
    st_status s = ST_OK;
    words.n = t->nw;
    words.off = malloc((t->nw + 1) * sizeof *words.off);
    words.len = malloc((t->nw + 1) * sizeof *words.len);
    words.count = malloc((t->nw + 1) * sizeof *words.count);
    words.sym = malloc((t->alen + 1) * sizeof *words.sym);
    if (!words.off || !words.len || !words.count || !words.sym)
        s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "trainer: %llu pieces", (unsigned long long)t->nw);
    uint64_t k = 0, at = 0;
    for (uint64_t i = 0; !s && t->w && i <= t->wmask; i++) {
        if (!t->w[i].count) continue;
        words.off[k] = at;
        words.len[k] = t->w[i].len;
        words.count[k] = t->w[i].count;
        for (uint32_t j = 0; j < t->w[i].len; j++) words.sym[at++] = t->arena[t->w[i].off + j];
        k++;
    }
    if (!s)
        s = tok_learn_merges(&words, t->vocab_size - t->nsp, t->min_freq,
                             (const char *const *)t->specials, t->nsp, out);
    free(words.off), free(words.len), free(words.count), free(words.sym);
    return s;
}
