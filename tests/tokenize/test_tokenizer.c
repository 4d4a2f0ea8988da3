/* The tokenizer library: training, encoding and decoding round trips, GPT-2's pre-tokenization
 * (the ASCII scanner against PCRE2, and hand-checked cases), special tokens, long pieces, and the
 * Hugging Face and tiktoken forms written and read back. Files and error paths:
 * test_tokenizer_files.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../harness.h"
#include "tok_test.h"

h_counts h_total;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Text from a fixed set of pieces: ASCII words, Unicode letters, numbers and spaces. */
size_t tt_random_text(char *out, size_t cap, uint64_t seed)
{
    static const char *const P[] = {"the", " cat", " sat", "it's", " they'll", " I'm", "'ve", "  ",
                                     "   ", "\n", "\n\n", "\t", " \n", "123", " 4567", ",", ".",
                                     " --", "!?", " caf\xc3\xa9", " \xce\xb1\xce\xb2", "\xe4\xb8\xad",
                                     "\xc2\xa0", "\xe3\x80\x80", "\xef\xbc\x93", " \xf0\x9f\x99\x82",
                                     "x'y", "'", " 's", "_a", "\xff", "\x80\x81", "\xe2\x80\x83x",
                                     " you'd", "'re", "don't", "'D", "'ll"};
    size_t n = 0;
    uint64_t s = seed;
    while (1) {
        const char *p = P[rng_next(&s) % (sizeof P / sizeof P[0])];
        size_t l = strlen(p);
        if (n + l + 1 > cap) break;
        memcpy(out + n, p, l);
        n += l;
    }
    out[n] = 0;
    return n;
}

int tt_roundtrip(st_tokenizer *tok, const void *text, size_t n, unsigned flags)
{
    st_token_buf b = {0};
    size_t len = 0;
    char *back = malloc(n + 1);
    int ok = back && st_tokenizer_encode(tok, text, n, flags, &b) == ST_OK &&
             st_tokenizer_decode(tok, b.ids, b.n, back, n + 1, &len) == ST_OK && len == n &&
             memcmp(back, text, n) == 0;
    free(back);
    st_token_buf_destroy(&b);
    return ok;
}

st_tokenizer *tt_train(const char *text, size_t n, int32_t vocab, int64_t min_freq)
{
    st_tok_train_options o = {.vocab_size = vocab, .min_frequency = min_freq};
    st_tok_trainer *t = NULL;
    st_tokenizer *tok = NULL;
    CHECK_ST(st_tok_trainer_create(&o, &t), ST_OK);
    CHECK_ST(st_tok_trainer_feed(t, text, n), ST_OK);
    CHECK_ST(st_tok_trainer_finish(t, &tok), ST_OK);
    st_tok_trainer_destroy(t);
    return tok;
}

/* Two token lists are the same. */
static int same_tokens(st_tokenizer *a, st_tokenizer *b, const char *text, size_t n)
{
    st_token_buf x = {0}, y = {0};
    int ok = !st_tokenizer_encode(a, text, n, 0, &x) && !st_tokenizer_encode(b, text, n, 0, &y) &&
             x.n == y.n && !memcmp(x.ids, y.ids, (size_t)x.n * sizeof *x.ids);
    st_token_buf_destroy(&x);
    st_token_buf_destroy(&y);
    return ok;
}

static void test_training(void)
{
    static char text[1 << 16];
    size_t n = tt_random_text(text, sizeof text, 1);
    st_tokenizer *tok = tt_train(text, n, 400, 0), *again = tt_train(text, n, 400, 0);
    if (!CHECK(tok && again, "training failed")) return;
    int32_t V = st_tokenizer_vocab_size(tok);
    CHECK(V > 300 && V <= 400, "vocabulary of %d ids", V);
    CHECK(st_tokenizer_eot(tok) == V - 1, "<|endoftext|> is id %d of %d", st_tokenizer_eot(tok), V);
    CHECK(st_tokenizer_rule(tok) == ST_BPE_MERGES, "trained vocabularies merge by their list");
    CHECK(tt_roundtrip(tok, text, n, 0), "training text round trip");
    st_token_buf b = {0};
    CHECK_ST(st_tokenizer_encode(tok, text, n, 0, &b), ST_OK);
    CHECK(b.n < (int64_t)n / 2, "%lld tokens for %zu bytes: the merges compress", (long long)b.n, n);
    st_token_buf_destroy(&b);
    CHECK(same_tokens(tok, again, text, n), "training is deterministic");
    for (uint64_t s = 2; s < 6; s++) {
        char other[4096];
        size_t m = tt_random_text(other, sizeof other, s);
        CHECK(tt_roundtrip(tok, other, m, 0), "unseen text round trip (seed %llu)", (unsigned long long)s);
    }
    st_tokenizer_destroy(again);
    /* every pair is rare: no merges, the bytes and the special only */
    again = tt_train(text, n, 400, 1000000);
    CHECK(again && st_tokenizer_vocab_size(again) == 257, "min_frequency above every count");
    CHECK(again && tt_roundtrip(again, text, n, 0), "bytes-only round trip");
    st_tokenizer_destroy(again);
    st_tokenizer_destroy(tok);
}

/* ---- training against a naive trainer: every pair recounted before each merge ---- */

typedef struct naive {
    int32_t *sym;            /* all pieces' ids, pieces back to back */
    size_t *start, *len;     /* per piece */
    size_t n, cap, nsym;
    const char *text;
} naive;

static int naive_piece(void *ctx, size_t start, size_t len)
{
    naive *w = ctx;
    if (w->n == w->cap) return 1;
    w->start[w->n] = w->nsym;
    w->len[w->n++] = len;
    for (size_t i = 0; i < len; i++) w->sym[w->nsym++] = (uint8_t)w->text[start + i];
    return 0;
}

/* The merges of the most frequent pair (ties: smaller left id, then right id) in order, as the
 * byte strings of the new tokens; compared with the trained tokenizer's ids 256 on. */
static void test_training_against_naive(void)
{
    enum { V = 420, MAXP = 1 << 14 };
    static char text[1 << 14];
    size_t n = tt_random_text(text, sizeof text, 77);
    st_tokenizer *tok = tt_train(text, n, V, 0);
    if (!tok) return;
    naive w = {malloc(n * sizeof(int32_t)), malloc(MAXP * sizeof(size_t)), malloc(MAXP * sizeof(size_t)),
               0, MAXP, 0, text};
    int64_t *cnt = malloc((size_t)V * V * sizeof *cnt);
    uint8_t *tb = malloc((size_t)V * 64);
    size_t tl[V];
    for (int b = 0; b < 256; b++) tb[b * 64] = (uint8_t)b, tl[b] = 1;
    CHECK_ST(st_tokenizer_pieces(tok, text, n, 0, naive_piece, &w), ST_OK);
    int32_t nv = 256, ok = 1;
    while (ok && nv < V - 1) {
        memset(cnt, 0, (size_t)V * V * sizeof *cnt);
        for (size_t p = 0; p < w.n; p++)
            for (size_t i = 0; i + 1 < w.len[p]; i++)
                cnt[w.sym[w.start[p] + i] * V + w.sym[w.start[p] + i + 1]]++;
        int64_t best = 1;
        int32_t ba = -1, bb = -1;
        for (int32_t a = 0; a < nv; a++)
            for (int32_t b = 0; b < nv; b++)
                if (cnt[a * V + b] > best) best = cnt[a * V + b], ba = a, bb = b;
        if (ba < 0) break;
        if (tl[ba] + tl[bb] > 64) break;
        memcpy(tb + nv * 64, tb + ba * 64, tl[ba]);
        memcpy(tb + nv * 64 + tl[ba], tb + bb * 64, tl[bb]);
        tl[nv] = tl[ba] + tl[bb];
        const uint8_t *p;
        size_t len;
        ok = !st_tokenizer_token(tok, nv, &p, &len, NULL) && len == tl[nv] && !memcmp(p, tb + nv * 64, len);
        CHECK(ok, "merge %d: the trained token differs from the naive trainer's", nv - 256);
        for (size_t q = 0; q < w.n; q++) { /* apply the merge, left to right */
            int32_t *s = w.sym + w.start[q];
            size_t o = 0;
            for (size_t i = 0; i < w.len[q]; i++) {
                if (i + 1 < w.len[q] && s[i] == ba && s[i + 1] == bb) s[o++] = nv, i++;
                else s[o++] = s[i];
            }
            w.len[q] = o;
        }
        nv++;
    }
    CHECK(nv + 1 == st_tokenizer_vocab_size(tok), "naive trainer made %d ids, the trainer %d", nv + 1,
          st_tokenizer_vocab_size(tok));
    free(w.sym), free(w.start), free(w.len), free(cnt), free(tb);
    st_tokenizer_destroy(tok);
}

typedef struct pieces {
    size_t end[4096];
    int n;
} pieces;

static int collect(void *ctx, size_t start, size_t len)
{
    pieces *p = ctx;
    if (p->n < 4096) p->end[p->n++] = start + len;
    return 0;
}

/* The ASCII scanner cuts exactly where PCRE2 does. */
static void test_scanner_matches_regex(st_tokenizer *tok)
{
    static pieces a, b;
    char text[8192];
    int same = 1;
    for (uint64_t s = 10; s < 60 && same; s++) {
        size_t n = tt_random_text(text, sizeof text, s);
        a.n = b.n = 0;
        CHECK_ST(st_tokenizer_pieces(tok, text, n, 0, collect, &a), ST_OK);
        CHECK_ST(st_tokenizer_pieces(tok, text, n, ST_TOK_REGEX_ONLY, collect, &b), ST_OK);
        same = a.n == b.n && !memcmp(a.end, b.end, (size_t)a.n * sizeof a.end[0]);
        CHECK(same, "seed %llu: scanner %d pieces, PCRE2 %d", (unsigned long long)s, a.n, b.n);
    }
}

/* Pieces by hand from the pattern's definition ('|' separates the expected pieces). */
static void test_pieces_by_hand(st_tokenizer *tok)
{
    static const char *const cases[][2] = {
        {"Hello world", "Hello| world"},
        {"a   b", "a|  | b"},
        {"it's they'll", "it|'s| they|'ll"},
        {"x\n\ny", "x|\n|\n|y"},
        {"x  \n  y", "x|  \n | y"},
        {"a?!  ", "a|?!|  "},
        {" 123abc", " 123|abc"},
        {"x'y 's", "x|'|y| '|s"},
        {"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87", "caf\xc3\xa9| \xe4\xb8\xad\xe6\x96\x87"},
        {"a\xc2\xa0\x62", "a|\xc2\xa0|b"},
        {"a \xff\xfe b", "a| |\xff\xfe| b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pieces p = {.n = 0};
        const char *t = cases[i][0], *want = cases[i][1];
        CHECK_ST(st_tokenizer_pieces(tok, t, strlen(t), 0, collect, &p), ST_OK);
        char got[256];
        size_t k = 0, start = 0;
        for (int j = 0; j < p.n; j++) {
            if (j) got[k++] = '|';
            memcpy(got + k, t + start, p.end[j] - start);
            k += p.end[j] - start;
            start = p.end[j];
        }
        got[k] = 0;
        CHECK(!strcmp(got, want), "case %zu: pieces '%s', expected '%s'", i, got, want);
    }
}

static void test_specials_and_long_pieces(st_tokenizer *tok)
{
    int32_t eot = st_tokenizer_eot(tok);
    const char *t = "ab<|endoftext|>cd";
    st_token_buf b = {0};
    CHECK_ST(st_tokenizer_encode(tok, t, strlen(t), ST_TOK_SPECIAL, &b), ST_OK);
    int found = 0;
    for (int64_t i = 0; i < b.n; i++) found += b.ids[i] == eot;
    CHECK(found == 1, "ST_TOK_SPECIAL: <|endoftext|> appears %d times", found);
    b.n = 0;
    CHECK_ST(st_tokenizer_encode(tok, t, strlen(t), 0, &b), ST_OK);
    found = 0;
    for (int64_t i = 0; i < b.n; i++) found += b.ids[i] == eot;
    CHECK(found == 0, "without ST_TOK_SPECIAL the special's text is ordinary text");
    st_token_buf_destroy(&b);
    CHECK(tt_roundtrip(tok, t, strlen(t), ST_TOK_SPECIAL), "special round trip");
    CHECK(st_tokenizer_special(tok, "<|endoftext|>") == eot && st_tokenizer_special(tok, "x") == -1,
          "special lookup");
    size_t n = 20000;
    char *longp = malloc(n);
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++) longp[i] = i < n / 2 ? 'a' : (char)('a' + rng_next(&s) % 5);
    CHECK(tt_roundtrip(tok, longp, n, 0), "a 20000-byte piece (the heap path) round trip");
    free(longp);
    CHECK(tt_roundtrip(tok, "", 0, 0), "empty text");
}

static void test_hf_and_tiktoken_forms(st_tokenizer *tok, const char *text, size_t n)
{
    char dir[512], rank[512];
    snprintf(dir, sizeof dir, "%s/trained-hf", TOK_TEST_DIR);
    snprintf(rank, sizeof rank, "%s/trained.tiktoken", TOK_TEST_DIR);
    CHECK_ST(st_tokenizer_save_hf(tok, dir), ST_OK);
    CHECK_ST(st_tokenizer_save_tiktoken(tok, rank), ST_OK);
    st_tokenizer *hf = NULL, *tk = NULL;
    CHECK_ST(st_tokenizer_load(dir, &hf), ST_OK);
    CHECK_ST(st_tokenizer_load(rank, &tk), ST_OK);
    if (!hf || !tk) return;
    CHECK(st_tokenizer_vocab_size(hf) == st_tokenizer_vocab_size(tok) &&
          st_tokenizer_merges(hf) == st_tokenizer_merges(tok) && st_tokenizer_eot(hf) == st_tokenizer_eot(tok),
          "Hugging Face files keep the vocabulary, merges and specials");
    CHECK(same_tokens(tok, hf, text, n), "Hugging Face files encode as the trained tokenizer");
    CHECK(st_tokenizer_vocab_size(tk) == st_tokenizer_vocab_size(tok) &&
          st_tokenizer_eot(tk) == st_tokenizer_eot(tok), "a rank file keeps the ids");
    int same = 1;
    for (int32_t id = 0; id < st_tokenizer_vocab_size(tok) && same; id++) {
        const uint8_t *p, *q;
        size_t lp, lq;
        same = !st_tokenizer_token(tok, id, &p, &lp, NULL) && !st_tokenizer_token(tk, id, &q, &lq, NULL) &&
               lp == lq && !memcmp(p, q, lp);
    }
    CHECK(same, "a rank file keeps every token's bytes");
    CHECK(tt_roundtrip(tk, text, n, 0), "rank-file round trip");
    /* the rank file written as Hugging Face files: merges derived from the ranks */
    snprintf(dir, sizeof dir, "%s/from-ranks-hf", TOK_TEST_DIR);
    CHECK_ST(st_tokenizer_save_hf(tk, dir), ST_OK);
    st_tokenizer *back = NULL;
    CHECK_ST(st_tokenizer_load(dir, &back), ST_OK);
    CHECK(back && same_tokens(tk, back, text, n), "merges derived from ranks encode as the ranks");
    st_tokenizer_destroy(back);
    st_tokenizer_destroy(hf);
    st_tokenizer_destroy(tk);
}

int main(void)
{
    static char text[1 << 16];
    size_t n = tt_random_text(text, sizeof text, 1);
    test_training();
    test_training_against_naive();
    st_tokenizer *tok = tt_train(text, n, 500, 0);
    if (tok) {
        test_scanner_matches_regex(tok);
        test_pieces_by_hand(tok);
        test_specials_and_long_pieces(tok);
        test_hf_and_tiktoken_forms(tok, text, n);
        test_token_files(tok, text, n);
    }
    st_tokenizer_destroy(tok);
    test_bad_files();
    test_bad_arguments();
    test_wide_token_file();
    return h_finish();
}
