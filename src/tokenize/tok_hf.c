/* Hugging Face's GPT-2 files: vocab.json (token text -> id, bytes written as GPT-2's printable
 * stand-ins) and merges.txt ("#version" line, then "left right" per merge, highest priority
 * first). Loading, and choosing the form of a path (st_tokenizer_load). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"
#include "tok_internal.h"

/* Appends code point cp as UTF-8. */
static size_t put_utf8(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return o[0] = (uint8_t)(0xc0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
        o[2] = (uint8_t)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 63));
    o[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

/* Next code point of UTF-8 text s[*i..n); -1 for invalid UTF-8. */
static int32_t next_utf8(const uint8_t *s, size_t n, size_t *i)
{
    uint8_t c = s[(*i)++];
    if (c < 0x80) return c;
    int k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : -1;
    if (k < 0 || *i + (size_t)k > n) return -1;
    int32_t cp = c & (0x3f >> k);
    for (int j = 0; j < k; j++) {
        if ((s[*i] & 0xc0) != 0x80) return -1;
        cp = cp << 6 | (s[(*i)++] & 63);
    }
    return cp;
}

/* Text of stand-in characters -> bytes; -1 when a character is no byte's stand-in. */
static long standin_to_bytes(const uint8_t *s, size_t n, uint8_t *out)
{
    long k = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp = next_utf8(s, n, &i);
        int b = cp < 0 ? -1 : tok_char_byte((uint32_t)cp);
        if (b < 0) return -1;
        out[k++] = (uint8_t)b;
    }
    return k;
}

typedef struct jcur {
    const char *s, *path;
    size_t i, n;
} jcur;

static void jws(jcur *c)
{
    while (c->i < c->n && strchr(" \t\r\n", c->s[c->i]) && c->s[c->i]) c->i++;
}

static st_status jerr(jcur *c, const char *what)
{
    long line = 1;
    for (size_t k = 0; k < c->i && k < c->n; k++) line += c->s[k] == '\n';
    return ST_ERR(ST_ERR_FORMAT, "'%s' line %ld (byte %zu): %s", c->path, line, c->i, what);
}

/* A JSON string into out (UTF-8, at most cap bytes): its length in *len. */
static st_status jstring(jcur *c, uint8_t *out, size_t cap, size_t *len)
{
    jws(c);
    if (c->i >= c->n || c->s[c->i] != '"') return jerr(c, "expected a string");
    size_t k = 0;
    for (c->i++; c->i < c->n && c->s[c->i] != '"';) {
        uint8_t ch = (uint8_t)c->s[c->i++];
        uint32_t cp = ch;
        if (ch == '\\') {
            if (c->i >= c->n) break;
            char e = c->s[c->i++];
            const char *m = strchr("\"\\/bfnrt", e), *r = "\"\\/\b\f\n\r\t";
            if (e && m) cp = (uint8_t)r[m - "\"\\/bfnrt"];
            else if (e == 'u' && c->i + 4 <= c->n) {
                char hex[5] = {0};
                memcpy(hex, c->s + c->i, 4);
                char *end;
                cp = (uint32_t)strtoul(hex, &end, 16);
                if (end != hex + 4) return jerr(c, "bad \\u escape");
                c->i += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && c->i + 6 <= c->n && c->s[c->i] == '\\' &&
                    c->s[c->i + 1] == 'u') {
                    memcpy(hex, c->s + c->i + 2, 4);
                    uint32_t lo = (uint32_t)strtoul(hex, &end, 16);
                    if (end != hex + 4 || lo < 0xdc00 || lo >= 0xe000) return jerr(c, "bad surrogate");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    c->i += 6;
                }
            } else return jerr(c, "bad escape in a string");
            if (k + 4 > cap) return jerr(c, "string too long");
            k += put_utf8(cp, out + k);
            continue;
        }
        if (ch < 0x20) return jerr(c, "control character in a string");
        if (k + 1 > cap) return jerr(c, "string too long");
        out[k++] = ch;
    }
    if (c->i >= c->n) return jerr(c, "unterminated string");
    c->i++;
    *len = k;
    return ST_OK;
}

typedef struct ventry {
    uint8_t *text;
    size_t len;
    int64_t id;
} ventry;

static void ventries_free(ventry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i].text);
    free(v);
}

/* vocab.json: one object of "text": id. */
static st_status parse_vocab(jcur *c, ventry **out, size_t *count, int64_t *max_id)
{
    size_t cap = 1024, n = 0;
    ventry *v = malloc(cap * sizeof *v);
    uint8_t *buf = malloc(1 << 16);
    st_status s = v && buf ? ST_OK : ST_ERR(ST_ERR_OUT_OF_MEMORY, "'%s'", c->path);
    *max_id = -1;
    jws(c);
    if (!s && (c->i >= c->n || c->s[c->i++] != '{')) s = jerr(c, "expected '{': not a vocab.json");
    jws(c);
    if (!s && c->i < c->n && c->s[c->i] == '}') c->i++;
    else
        while (!s) {
            size_t len = 0;
            s = jstring(c, buf, 1 << 16, &len);
            jws(c);
            if (!s && (c->i >= c->n || c->s[c->i++] != ':')) s = jerr(c, "expected ':'");
            jws(c);
            char *end = NULL;
            long long id = s ? 0 : strtoll(c->s + c->i, &end, 10);
            if (!s && (end == c->s + c->i || id < 0 || id >= ST_TOK_MAX_VOCAB))
                s = jerr(c, "expected an id in [0, 2^24)");
            if (!s && n == cap) {
                ventry *w = realloc(v, 2 * cap * sizeof *v);
                if (!w) s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "'%s'", c->path);
                else v = w, cap *= 2;
            }
            if (!s && !(v[n].text = malloc(len ? len : 1))) s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "vocab");
            if (s) break;
            memcpy(v[n].text, buf, len);
            v[n].len = len;
            v[n++].id = id;
            if (id > *max_id) *max_id = id;
            c->i = (size_t)(end - c->s);
            jws(c);
            if (c->i < c->n && c->s[c->i] == ',') c->i++;
            else if (c->i < c->n && c->s[c->i] == '}') {
                c->i++;
                break;
            } else s = jerr(c, "expected ',' or '}' (truncated file?)");
        }
    free(buf);
    if (!s && n == 0) s = jerr(c, "empty vocabulary");
    if (s) {
        ventries_free(v, n);
        return s;
    }
    *out = v;
    *count = n;
    return ST_OK;
}

/* merges.txt: each line two stand-in strings whose tokens and concatenation are in the vocabulary. */
static st_status parse_merges(st_tokenizer *tok, const char *path, const char *d, size_t len)
{
    uint8_t buf[1 << 12];
    long line = 0;
    for (size_t at = 0; at < len;) {
        line++;
        const char *eol = memchr(d + at, '\n', len - at);
        size_t end = eol ? (size_t)(eol - d) : len, e = end;
        if (e > at && d[e - 1] == '\r') e--;
        const char *l = d + at;
        size_t ll = e - at;
        at = end + 1;
        if (ll == 0 || (line == 1 && ll >= 8 && !memcmp(l, "#version", 8))) continue;
        const char *sp = memchr(l, ' ', ll);
        long ka = -1, kb = -1;
        if (sp && ll < sizeof buf) {
            ka = standin_to_bytes((const uint8_t *)l, (size_t)(sp - l), buf);
            kb = ka < 0 ? -1 : standin_to_bytes((const uint8_t *)sp + 1, ll - (size_t)(sp - l) - 1,
                                                 buf + ka);
        }
        if (ka <= 0 || kb <= 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s' line %ld: expected two tokens in GPT-2's byte "
                          "characters separated by one space, got '%.*s'", path, line,
                          (int)(ll < 60 ? ll : 60), l);
        int32_t a = tok_lookup(tok, buf, (size_t)ka, tok_hash(buf, (size_t)ka));
        int32_t b = tok_lookup(tok, buf + ka, (size_t)kb, tok_hash(buf + ka, (size_t)kb));
        int32_t r = tok_lookup(tok, buf, (size_t)(ka + kb), tok_hash(buf, (size_t)(ka + kb)));
        if (a < 0 || b < 0 || r < 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s' line %ld: merge '%.*s': %s is not in the "
                          "vocabulary", path, line, (int)(ll < 60 ? ll : 60), l,
                          a < 0 ? "its left part" : b < 0 ? "its right part" : "the merged token");
        ST_TRY(tok_add_merge(tok, a, b, r));
    }
    if (tok->n_merges == 0) return ST_ERR(ST_ERR_FORMAT, "'%s' holds no merges", path);
    return ST_OK;
}

/* Which vocab.json entries are special: neither a single byte nor a merge's result. */
static st_status mark_specials(st_tokenizer *tok, const ventry *v, size_t n, uint8_t *is_result)
{
    for (int32_t k = 0; k < tok->n_merges; k++) is_result[tok->merges[k][2]] = 1;
    for (size_t i = 0; i < n; i++)
        if (tok->kind[v[i].id] == TOK_NORMAL && !is_result[v[i].id] &&
            tok->off[v[i].id + 1] - tok->off[v[i].id] > 1)
            tok->kind[v[i].id] = TOK_SPECIAL;
    return ST_OK;
}

static st_status load_hf(const char *vocab_json, const char *merges_txt, st_tokenizer **out)
{
    char *vd = NULL, *md = NULL;
    size_t vl, ml, n = 0;
    ventry *v = NULL;
    int64_t max_id = -1;
    st_tokenizer *tok = NULL;
    uint8_t *flags = NULL, bytes[1 << 16];
    st_status s = tok_read_file(vocab_json, &vd, &vl);
    if (!s) s = tok_read_file(merges_txt, &md, &ml);
    jcur c = {vd, vocab_json, 0, vl};
    if (!s) s = parse_vocab(&c, &v, &n, &max_id);
    if (!s) s = tok_alloc((int32_t)max_id + 1, &tok);
    for (size_t i = 0; !s && i < n; i++) {
        long k = standin_to_bytes(v[i].text, v[i].len, bytes);
        s = k > 0 ? tok_set(tok, (int32_t)v[i].id, bytes, (size_t)k, TOK_NORMAL, vocab_json)
                  : tok_set(tok, (int32_t)v[i].id, v[i].text, v[i].len, TOK_SPECIAL, vocab_json);
    }
    if (!s) s = tok_index(tok, vocab_json);
    if (!s) {
        tok->rule = ST_BPE_MERGES;
        s = parse_merges(tok, merges_txt, md, ml);
    }
    if (!s && !(flags = calloc((size_t)tok->n_vocab, 1))) s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "vocab");
    if (!s) s = mark_specials(tok, v, n, flags);
    if (!s) s = tok_finish(tok, vocab_json);
    free(flags);
    ventries_free(v, n);
    free(vd);
    free(md);
    if (s) {
        st_tokenizer_destroy(tok);
        return s;
    }
    *out = tok;
    return ST_OK;
}

st_status st_tokenizer_load_hf(const char *vocab_json, const char *merges_txt, st_tokenizer **out)
{
    if (!vocab_json || !merges_txt || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_load_hf: NULL");
    return load_hf(vocab_json, merges_txt, out);
}

st_status st_tokenizer_load(const char *path, st_tokenizer **out)
{
    if (!path || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_load: NULL");
    char a[4200], b[4200];
    struct stat sb;
    if (stat(path, &sb) != 0) return ST_ERR(ST_ERR_IO, "cannot open '%s': no such file or directory", path);
    if (S_ISDIR(sb.st_mode)) {
        snprintf(a, sizeof a, "%s/vocab.json", path);
        snprintf(b, sizeof b, "%s/merges.txt", path);
        if (stat(a, &sb) != 0 || stat(b, &sb) != 0)
            return ST_ERR(ST_ERR_IO, "'%s' is a directory without vocab.json and merges.txt", path);
        return load_hf(a, b, out);
    }
    if (!S_ISREG(sb.st_mode))
        return ST_ERR(ST_ERR_IO, "cannot read '%s': not a regular file or directory", path);
    FILE *fp = fopen(path, "rb");
    int first = fp ? fgetc(fp) : EOF;
    while (first == ' ' || first == '\n' || first == '\t' || first == '\r') first = fgetc(fp);
    if (fp) fclose(fp);
    if (first != '{') return st_tokenizer_load_tiktoken(path, NULL, out);
    const char *slash = strrchr(path, '/');
    snprintf(b, sizeof b, "%.*smerges.txt", slash ? (int)(slash - path + 1) : 0, path);
    if (stat(b, &sb) != 0)
        return ST_ERR(ST_ERR_IO, "'%s' is JSON, so a vocab.json, but '%s' is missing beside it "
                      "(tokenizer.json files are not read: give the directory of vocab.json and "
                      "merges.txt, or a tiktoken file)", path, b);
    return load_hf(path, b, out);
}
