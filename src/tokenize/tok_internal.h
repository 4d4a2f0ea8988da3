/* The tokenizer's insides, shared by the files of src/tokenize: the vocabulary arrays and their
 * hash maps, the pre-tokenizer, BPE and the piece cache. Internal to libstrata. */
#ifndef STRATA_TOK_INTERNAL_H
#define STRATA_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "strata/tokenizer.h"

enum { TOK_ABSENT = 0, TOK_NORMAL = 1, TOK_SPECIAL = 2 };

/* bytes -> id of the normal tokens: open addressing, the hash's high half kept to skip most
 * byte comparisons. */
typedef struct tok_bmap {
    struct tok_bslot {
        uint32_t h;
        int32_t id; /* -1: empty */
    } *s;
    uint64_t mask;
} tok_bmap;

/* (left id, right id) -> (priority, merged id). key UINT64_MAX: empty. */
typedef struct tok_pmap {
    struct tok_pslot {
        uint64_t key;
        uint32_t prio;
        int32_t merged;
    } *s;
    uint64_t mask, n;
} tok_pmap;

/* GPT-2's pattern compiled by PCRE2, with its match state. */
typedef struct tok_regex {
    pcre2_code *re;
    pcre2_match_data *md;
} tok_regex;

/* Tokens of recently seen multi-token pieces (tok_bpe.c): a direct-mapped table, allocated on
 * first use. */
typedef struct tok_cache {
    void *s;
} tok_cache;

struct st_tokenizer {
    int32_t n_vocab;
    uint8_t *kind;      /* TOK_* per id */
    uint64_t *off;      /* n_vocab + 1: token id's bytes are bytes[off[id], off[id + 1]) */
    uint8_t *bytes;
    uint64_t bytes_len, bytes_cap;
    int packed;         /* off[] holds offsets in id order (tok_index has run) */
    int32_t byte_id[256];
    st_bpe_rule rule;
    int32_t (*merges)[3]; /* (left, right, result) in priority order; NULL under ST_BPE_RANKS */
    int32_t n_merges;
    int32_t *specials;    /* ids of the special tokens, by id */
    int n_specials;
    tok_bmap bmap;
    tok_pmap pmap;
    tok_regex rx;
    tok_cache cache;
};

/* 64-bit hash of a short byte string (8 bytes per step, then a final mix). */
static inline uint64_t tok_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static inline uint64_t tok_pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static inline uint64_t tok_pair_hash(uint64_t key)
{
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 29);
}

/* Looks up a pair: its slot or NULL. */
static inline const struct tok_pslot *tok_pmap_find(const tok_pmap *m, int32_t a, int32_t b)
{
    uint64_t key = tok_pair_key(a, b);
    for (uint64_t i = tok_pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        const struct tok_pslot *s = &m->s[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

/* ---- tok_vocab.c: building and querying the vocabulary ---- */

/* A tokenizer with n_vocab unused ids and nothing else. */
st_status tok_alloc(int32_t n_vocab, st_tokenizer **out);
/* Gives id its bytes and kind. ST_ERR_FORMAT (naming src) when the id is already taken. */
st_status tok_set(st_tokenizer *tok, int32_t id, const uint8_t *bytes, size_t len, int kind,
                  const char *src);
/* Builds the bytes -> id map over the normal tokens; ST_ERR_FORMAT on duplicate bytes. Lays the
 * bytes out in id order first, after which tok_set is refused. */
st_status tok_index(st_tokenizer *tok, const char *src);
/* Id of a normal token with these bytes, or -1 (tok_index must have run). */
int32_t tok_lookup(const st_tokenizer *tok, const uint8_t *p, size_t len, uint64_t h);
/* Completes a tokenizer whose tokens (and merges, under ST_BPE_MERGES) are set: checks the 256
 * bytes, indexes, builds the pair map and the special list, compiles the pattern. */
st_status tok_finish(st_tokenizer *tok, const char *src);
/* Appends a merge (a, b) -> result; under ST_BPE_MERGES the order is the priority. */
st_status tok_add_merge(st_tokenizer *tok, int32_t a, int32_t b, int32_t result);
/* Under ST_BPE_RANKS: the merge list of Hugging Face's form, derived from the ranks. */
st_status tok_derive_merges(st_tokenizer *tok);

/* ---- tok_pretok.c: GPT-2's pre-tokenization ---- */

st_status tok_regex_init(tok_regex *rx);
void tok_regex_free(tok_regex *rx);
/* End of the piece that starts at pos < n. A piece depends on the text after it through one
 * character of look-ahead, and never on text past n. regex_only: PCRE2 for every piece. */
st_status tok_next_piece(tok_regex *rx, const uint8_t *text, size_t n, size_t pos, int regex_only,
                         size_t *end);
/* An offset in (from, n] at or after from + want where the text may be cut without changing its
 * pieces: a space after an ASCII character that is not white space (that character's piece
 * ends there, and the space starts the next piece whatever follows). n when there is none. */
size_t tok_safe_cut(const uint8_t *text, size_t n, size_t from, size_t want);

/* ---- tok_bpe.c: merging one piece, the cache ---- */

/* Appends the tokens of one piece. */
st_status tok_encode_piece(st_tokenizer *tok, const uint8_t *p, size_t len, st_token_buf *out);
/* BPE of a byte string with only merges of priority < max_prio (tok_derive_merges); writes at
 * most `cap` ids to out and returns how many there are (0 when out of memory). */
size_t tok_bpe_limited(const st_tokenizer *tok, const uint8_t *p, size_t len, uint32_t max_prio,
                       int32_t *out, size_t cap);
void tok_cache_free(tok_cache *c);
st_status tok_buf_push(st_token_buf *b, const int32_t *ids, int64_t n);

/* ---- tok_train_merge.c: the merge loop of training ---- */

/* The distinct pieces: word i is sym[off[i], off[i] + len[i]) (ids; bytes at first), seen
 * count[i] times. The merge loop rewrites sym and len. */
typedef struct tok_words {
    uint64_t n;
    uint64_t *off;
    uint32_t *len;
    int64_t *count;
    int32_t *sym;
} tok_words;

/* Learns merges until n_normal normal tokens exist or no pair occurs min_freq times; the
 * tokenizer gets the specials after the normal tokens. */
st_status tok_learn_merges(tok_words *w, int32_t n_normal, int64_t min_freq,
                           const char *const *specials, int nsp, st_tokenizer **out);

/* ---- tok_io.c: files ---- */

typedef struct tok_map {
    uint8_t *data;
    size_t len;
} tok_map;

/* A regular file memory-mapped read-only (data NULL when empty). ST_ERR_IO naming the path. */
st_status tok_map_file(const char *path, tok_map *m);
void tok_unmap_file(tok_map *m);
/* The whole file, NUL-terminated, in a malloc'd buffer. ST_ERR_IO naming the path. */
st_status tok_read_file(const char *path, char **data, size_t *len);

/* A file written atomically: a temporary beside `path`, renamed over it by tok_out_commit. */
typedef struct tok_out {
    FILE *fp;
    const char *path;
    char tmp[4200];
} tok_out;

st_status tok_out_open(tok_out *o, const char *path);
st_status tok_out_write(tok_out *o, const void *p, size_t n);
/* Flushes, fsyncs, closes and renames; on failure the temporary is removed. */
st_status tok_out_commit(tok_out *o);
/* Closes and removes the temporary. */
void tok_out_abort(tok_out *o);

/* GPT-2's printable stand-in for each byte (bytes_to_unicode), as a code point. */
uint32_t tok_byte_char(uint8_t b);
/* Inverse: the byte for a code point, or -1 when it is no byte's stand-in. */
int tok_char_byte(uint32_t cp);

#endif
