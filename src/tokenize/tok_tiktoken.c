/* tiktoken's rank files: one "<base64 of the token's bytes> <rank>" per line, rank = id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "tok_internal.h"

static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with padding; the decoded length, or -1 when s[0..n) is not base64. */
static long b64_decode(const char *s, size_t n, uint8_t *out)
{
    if (n == 0 || n % 4) return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    long k = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = (i + j >= n - pad) ? 0 : b64_value((uint8_t)s[i + j]);
            if (d < 0) return -1;
            v = v << 6 | (uint32_t)d;
        }
        out[k++] = (uint8_t)(v >> 16);
        if (i + 4 < n || pad < 2) out[k++] = (uint8_t)(v >> 8);
        if (i + 4 < n || pad < 1) out[k++] = (uint8_t)v;
    }
    return k;
}

static void b64_encode(const uint8_t *p, size_t n, char *out)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[k++] = A[v >> 18];
        out[k++] = A[(v >> 12) & 63];
        out[k++] = i + 1 < n ? A[(v >> 6) & 63] : '=';
        out[k++] = i + 2 < n ? A[v & 63] : '=';
    }
    out[k] = 0;
}

typedef struct rank_line {
    size_t b64, b64_len; /* offset and length of the token's base64 in the file */
    int64_t rank;
    long line;
} rank_line;

/* First pass: every line's fields, checked for syntax; the largest rank in *max_rank. */
static st_status parse_lines(const char *path, const char *d, size_t len, rank_line **out,
                             size_t *count, int64_t *max_rank)
{
    size_t cap = 1024, n = 0;
    rank_line *v = malloc(cap * sizeof *v);
    if (!v) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "'%s'", path);
    *max_rank = -1;
    long line = 0;
    for (size_t at = 0; at < len;) {
        line++;
        const char *eol = memchr(d + at, '\n', len - at);
        size_t end = eol ? (size_t)(eol - d) : len, e = end;
        if (e > at && d[e - 1] == '\r') e--;
        size_t sp = at;
        while (sp < e && d[sp] != ' ') sp++;
        if (e > at) {
            char *stop;
            const char *num = d + sp + 1;
            long long r = sp + 1 < e && num[0] >= '0' && num[0] <= '9' ? strtoll(num, &stop, 10) : -1;
            if (sp == e || sp == at || r < 0 || stop != d + e || r >= ST_TOK_MAX_VOCAB) {
                free(v);
                return ST_ERR(ST_ERR_FORMAT, "'%s' line %ld: expected '<base64 token> <rank>' with "
                              "a rank in [0, %d), got '%.*s'%s", path, line, ST_TOK_MAX_VOCAB,
                              (int)(e - at < 60 ? e - at : 60), d + at, e - at > 60 ? "..." : "");
            }
            if (n == cap) {
                rank_line *w = realloc(v, 2 * cap * sizeof *v);
                if (!w) {
                    free(v);
                    return ST_ERR(ST_ERR_OUT_OF_MEMORY, "'%s'", path);
                }
                v = w;
                cap *= 2;
            }
            v[n++] = (rank_line){at, sp - at, r, line};
            if (r > *max_rank) *max_rank = r;
        }
        at = end + 1;
    }
    if (n == 0) {
        free(v);
        return ST_ERR(ST_ERR_FORMAT, "'%s' holds no tokens: not a tiktoken rank file", path);
    }
    *out = v;
    *count = n;
    return ST_OK;
}

static st_status fill_tokens(st_tokenizer *tok, const char *path, const char *d,
                             const rank_line *v, size_t n)
{
    uint8_t *buf = malloc(1 << 16);
    if (!buf) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "'%s'", path);
    st_status s = ST_OK;
    for (size_t i = 0; i < n && !s; i++) {
        long k = v[i].b64_len < (1 << 16) ? b64_decode(d + v[i].b64, v[i].b64_len, buf) : -1;
        if (k <= 0)
            s = ST_ERR(ST_ERR_FORMAT, "'%s' line %ld: '%.*s' is not a base64 token", path,
                       v[i].line, (int)(v[i].b64_len < 60 ? v[i].b64_len : 60), d + v[i].b64);
        else if (tok->kind[v[i].rank] != TOK_ABSENT)
            s = ST_ERR(ST_ERR_FORMAT, "'%s' line %ld: rank %lld given twice", path, v[i].line,
                       (long long)v[i].rank);
        else
            s = tok_set(tok, (int32_t)v[i].rank, buf, (size_t)k, TOK_NORMAL, path);
    }
    free(buf);
    return s;
}

/* Adds the specials after the largest id: checks they are new text. */
static st_status add_specials(st_tokenizer *tok, int32_t first, const char *const *specials,
                              int n, const char *path)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(specials[i]);
        for (int j = 0; j < i; j++)
            if (!strcmp(specials[i], specials[j]))
                return ST_ERR(ST_ERR_INVALID_ARG, "special token '%s' given twice", specials[i]);
        ST_TRY(tok_set(tok, first + i, (const uint8_t *)specials[i], len, TOK_SPECIAL, path));
    }
    return ST_OK;
}

st_status st_tokenizer_load_tiktoken(const char *path, const char *const *specials,
                                     st_tokenizer **out)
{
    static const char *const gpt2_specials[] = {"<|endoftext|>", NULL};
    if (!path || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_load_tiktoken: NULL");
    if (!specials) specials = gpt2_specials;
    int nsp = 0;
    while (specials[nsp]) {
        if (!specials[nsp][0]) return ST_ERR(ST_ERR_INVALID_ARG, "empty special token");
        nsp++;
    }
    char *d;
    size_t len, n = 0;
    ST_TRY(tok_read_file(path, &d, &len));
    rank_line *v = NULL;
    int64_t max_rank = -1;
    st_tokenizer *tok = NULL;
    st_status s = parse_lines(path, d, len, &v, &n, &max_rank);
    if (!s && max_rank + 1 + nsp > ST_TOK_MAX_VOCAB)
        s = ST_ERR(ST_ERR_FORMAT, "'%s': rank %lld and %d specials exceed %d ids", path,
                   (long long)max_rank, nsp, ST_TOK_MAX_VOCAB);
    if (!s) s = tok_alloc((int32_t)(max_rank + 1 + nsp), &tok);
    if (!s) s = fill_tokens(tok, path, d, v, n);
    if (!s) s = add_specials(tok, (int32_t)max_rank + 1, specials, nsp, path);
    if (!s) s = tok_finish(tok, path);
    free(v);
    free(d);
    if (s) {
        st_tokenizer_destroy(tok);
        return s;
    }
    *out = tok;
    return ST_OK;
}

st_status st_tokenizer_save_tiktoken(const st_tokenizer *tok, const char *path)
{
    if (!tok || !path) return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_save_tiktoken: NULL");
    tok_out o;
    ST_TRY(tok_out_open(&o, path));
    size_t cap = 0;
    char *b64 = NULL;
    st_status s = ST_OK;
    for (int32_t id = 0; id < tok->n_vocab && !s; id++) {
        if (tok->kind[id] != TOK_NORMAL) continue;
        size_t len = tok->off[id + 1] - tok->off[id];
        if (4 * (len / 3 + 1) + 1 > cap) {
            cap = 2 * (4 * (len / 3 + 1) + 1);
            char *p = realloc(b64, cap);
            if (!p) {
                s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "saving '%s'", path);
                break;
            }
            b64 = p;
        }
        b64_encode(tok->bytes + tok->off[id], len, b64);
        if (fprintf(o.fp, "%s %d\n", b64, id) < 0)
            s = ST_ERR(ST_ERR_IO, "cannot write '%s'", o.tmp);
    }
    free(b64);
    if (s) {
        tok_out_abort(&o);
        return s;
    }
    return tok_out_commit(&o);
}
