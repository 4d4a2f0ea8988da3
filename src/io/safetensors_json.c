/* A strict parser for the JSON subset of safetensors headers: an object whose values are tensor
 * entries {"dtype", "shape", "data_offsets"} or the "__metadata__" object of strings. Anything
 * else — other value types, unknown or repeated fields, floats, trailing garbage — is rejected
 * with ST_ERR_FORMAT and a message naming the tensor and field. Semantic checks (sizes, offsets)
 * are the reader's. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "safetensors_json.h"

#define MSG_NAME 200 /* bytes of a name quoted in a message */

typedef struct parser {
    const char *p, *end, *start;
    const char *path;
} parser;

static const char *const dtype_names[ST_DTYPE_COUNT] = {[ST_F32] = "F32", [ST_BF16] = "BF16",
                                                        [ST_I32] = "I32", [ST_I8] = "I8"};

const char *st_st_dtype_name(st_dtype dt)
{
    return (int)dt >= 0 && dt < ST_DTYPE_COUNT ? dtype_names[dt] : NULL;
}

static st_status bad(const parser *ps, const char *what)
{
    return ST_ERR(ST_ERR_FORMAT, "'%s': bad JSON header at byte %lld: %s", ps->path,
                  (long long)(ps->p - ps->start), what);
}

static void ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Skips whitespace and consumes `c` if it is next. */
static int eat(parser *ps, char c)
{
    ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

static int hex4(const char *s, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d == 16) return 0;
        *v = *v * 16 + d;
    }
    return 1;
}

/* A \uXXXX escape (and its low surrogate), at ps->p just past the 'u', appended as UTF-8. */
static st_status unicode_escape(parser *ps, char **o)
{
    unsigned cp, lo;
    if (ps->end - ps->p < 4 || !hex4(ps->p, &cp)) return bad(ps, "bad \\u escape");
    ps->p += 4;
    if (cp >= 0xD800 && cp < 0xDC00) {
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || !hex4(ps->p + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
            return bad(ps, "unpaired surrogate in \\u escape");
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if ((cp >= 0xDC00 && cp < 0xE000) || cp == 0) {
        return bad(ps, "\\u0000 or unpaired surrogate in string");
    }
    char *q = *o;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xC0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xE0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (char)(0xF0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = q;
    return ST_OK;
}

/* A JSON string into a new NUL-terminated buffer (*out, caller frees). UTF-8 output is never
 * longer than its escaped input, so the input length bounds the buffer. */
static st_status parse_string(parser *ps, char **out)
{
    if (!eat(ps, '"')) return bad(ps, "expected a string");
    const char *close = ps->p;
    while (close < ps->end && *close != '"') close += (*close == '\\') ? 2 : 1;
    if (close >= ps->end) return bad(ps, "unterminated string");
    char *buf = malloc((size_t)(close - ps->p) + 1), *o = buf;
    if (!buf) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "JSON string of %lld bytes", (long long)(close - ps->p));
    static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
    st_status s = ST_OK;
    while (s == ST_OK && ps->p < close) {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            s = bad(ps, "control character in string");
        } else if (c != '\\') {
            *o++ = (char)c;
        } else {
            char e = *ps->p++;
            const char *k = e ? strchr(esc_in, e) : NULL;
            if (e == 'u') s = unicode_escape(ps, &o);
            else if (k) *o++ = esc_out[k - esc_in];
            else s = bad(ps, "unknown escape in string");
        }
    }
    if (s != ST_OK) {
        free(buf);
        return s;
    }
    *o = '\0';
    ps->p = close + 1;
    *out = buf;
    return ST_OK;
}

/* A JSON integer (no fraction or exponent), possibly negative, into int64. */
static st_status parse_int(parser *ps, int64_t *v, const char *tensor, const char *field)
{
    ws(ps);
    int neg = ps->p < ps->end && *ps->p == '-';
    const char *d = ps->p + neg;
    if (d >= ps->end || *d < '0' || *d > '9' || (*d == '0' && d + 1 < ps->end && d[1] >= '0' && d[1] <= '9'))
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': \"%s\" holds a non-integer", ps->path,
                      MSG_NAME, tensor, field);
    uint64_t x = 0;
    for (; d < ps->end && *d >= '0' && *d <= '9'; d++) {
        if (x > (UINT64_MAX - 9) / 10 || x * 10 + (uint64_t)(*d - '0') > (uint64_t)INT64_MAX)
            return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': \"%s\" value out of range",
                          ps->path, MSG_NAME, tensor, field);
        x = x * 10 + (uint64_t)(*d - '0');
    }
    if (d < ps->end && (*d == '.' || *d == 'e' || *d == 'E'))
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': \"%s\" holds a non-integer", ps->path,
                      MSG_NAME, tensor, field);
    ps->p = d;
    *v = neg ? -(int64_t)x : (int64_t)x;
    return ST_OK;
}

/* [i, j, ...] with at most `max` entries. */
static st_status parse_int_array(parser *ps, int64_t *vals, int max, int *n, const char *tensor,
                                 const char *field)
{
    *n = 0;
    if (!eat(ps, '['))
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': \"%s\" is not an array", ps->path,
                      MSG_NAME, tensor, field);
    if (eat(ps, ']')) return ST_OK;
    do {
        if (*n == max)
            return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': \"%s\" has more than %d entries",
                          ps->path, MSG_NAME, tensor, field, max);
        ST_TRY(parse_int(ps, &vals[(*n)++], tensor, field));
    } while (eat(ps, ','));
    if (!eat(ps, ']')) return bad(ps, "expected ',' or ']' in an array");
    return ST_OK;
}

static st_status parse_dtype(parser *ps, st_st_entry *e)
{
    char *s = NULL;
    ST_TRY(parse_string(ps, &s));
    int found = -1;
    for (int d = 0; d < ST_DTYPE_COUNT; d++)
        if (strcmp(s, dtype_names[d]) == 0) found = d;
    st_status st = ST_OK;
    if (found < 0)
        st = ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': dtype \"%.32s\" unknown or unsupported "
                    "(F32, BF16, I32, I8)", ps->path, MSG_NAME, e->name, s);
    e->dtype = (st_dtype)found;
    free(s);
    return st;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, each field exactly once. */
static st_status parse_entry(parser *ps, st_st_entry *e)
{
    int seen[3] = {0, 0, 0};
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    if (!eat(ps, '{'))
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': entry is not an object", ps->path,
                      MSG_NAME, e->name);
    int first = 1;
    while (!eat(ps, '}')) {
        if (!first && !eat(ps, ',')) return bad(ps, "expected ',' or '}' in a tensor entry");
        first = 0;
        char *key = NULL;
        ST_TRY(parse_string(ps, &key));
        int f = 0;
        while (f < 3 && strcmp(key, fields[f]) != 0) f++;
        st_status s = f == 3 || seen[f]
            ? ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': %s field \"%.64s\"", ps->path,
                     MSG_NAME, e->name, f == 3 ? "unknown" : "repeated", key)
            : eat(ps, ':') ? ST_OK : bad(ps, "expected ':'");
        free(key);
        ST_TRY(s);
        seen[f] = 1;
        int64_t off[3];
        int n;
        if (f == 0) {
            ST_TRY(parse_dtype(ps, e));
        } else if (f == 1) {
            ST_TRY(parse_int_array(ps, e->shape, ST_CKPT_MAX_DIMS, &e->ndim, e->name, "shape"));
        } else {
            ST_TRY(parse_int_array(ps, off, 3, &n, e->name, "data_offsets"));
            if (n != 2)
                return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': \"data_offsets\" has %d "
                              "entries, expected 2", ps->path, MSG_NAME, e->name, n);
            e->begin = off[0];
            e->end = off[1];
        }
    }
    for (int f = 0; f < 3; f++)
        if (!seen[f])
            return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.*s': missing \"%s\"", ps->path,
                          MSG_NAME, e->name, fields[f]);
    return ST_OK;
}

/* Duplicate keys are found by the reader once the whole object is read, in n log n: a header
 * may hold millions of entries (a check per insertion took 12 s for 100k keys). */
static st_status add_meta(st_st_header *h, char *key, char *val)
{
    if (h->nm == h->cap_m) {
        int cap = h->cap_m ? 2 * h->cap_m : 8;
        char **k = realloc(h->meta_key, (size_t)cap * sizeof *k);
        if (k) h->meta_key = k;
        char **v = k ? realloc(h->meta_val, (size_t)cap * sizeof *v) : NULL;
        if (v) h->meta_val = v;
        if (!k || !v) {
            free(key);
            free(val);
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "metadata table of %d entries", cap);
        }
        h->cap_m = cap;
    }
    h->meta_key[h->nm] = key;
    h->meta_val[h->nm++] = val;
    return ST_OK;
}

static st_status parse_meta(parser *ps, st_st_header *h)
{
    if (!eat(ps, '{')) return bad(ps, "__metadata__ is not an object");
    int first = 1;
    while (!eat(ps, '}')) {
        if (!first && !eat(ps, ',')) return bad(ps, "expected ',' or '}' in __metadata__");
        first = 0;
        char *key = NULL, *val = NULL;
        ST_TRY(parse_string(ps, &key));
        st_status s = eat(ps, ':') ? ST_OK : bad(ps, "expected ':'");
        ws(ps);
        if (s == ST_OK && (ps->p >= ps->end || *ps->p != '"'))
            s = ST_ERR(ST_ERR_FORMAT, "'%s': __metadata__: value of \"%.*s\" is not a string",
                       ps->path, MSG_NAME, key);
        if (s == ST_OK) s = parse_string(ps, &val);
        if (s != ST_OK) {
            free(key);
            return s;
        }
        ST_TRY(add_meta(h, key, val));
    }
    return ST_OK;
}

static st_status new_entry(st_st_header *h, char *name, st_st_entry **e)
{
    if (h->nt == h->cap_t) {
        int cap = h->cap_t ? 2 * h->cap_t : 64;
        st_st_entry *t = realloc(h->t, (size_t)cap * sizeof *t);
        if (!t) {
            free(name);
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "tensor table of %d entries", cap);
        }
        h->t = t;
        h->cap_t = cap;
    }
    *e = &h->t[h->nt++];
    memset(*e, 0, sizeof **e);
    (*e)->name = name;
    return ST_OK;
}

static st_status parse_member(parser *ps, st_st_header *h, int *seen_meta)
{
    char *name = NULL;
    ST_TRY(parse_string(ps, &name));
    if (!name[0]) {
        free(name);
        return ST_ERR(ST_ERR_FORMAT, "'%s': a tensor has an empty name", ps->path);
    }
    if (!eat(ps, ':')) {
        free(name);
        return bad(ps, "expected ':'");
    }
    if (strcmp(name, "__metadata__") == 0) {
        free(name);
        if ((*seen_meta)++) return bad(ps, "__metadata__ appears twice");
        return parse_meta(ps, h);
    }
    st_st_entry *e = NULL;
    ST_TRY(new_entry(h, name, &e));
    return parse_entry(ps, e);
}

st_status st_st_parse(const char *json, size_t len, const char *path, st_st_header *h)
{
    parser ps = {json, json + len, json, path};
    int seen_meta = 0, first = 1;
    if (!eat(&ps, '{')) return bad(&ps, "header does not start with '{'");
    while (!eat(&ps, '}')) {
        if (!first && !eat(&ps, ',')) return bad(&ps, "expected ',' or '}' after a tensor");
        first = 0;
        ST_TRY(parse_member(&ps, h, &seen_meta));
    }
    ws(&ps);
    if (ps.p != ps.end) return bad(&ps, "bytes after the closing '}'");
    return ST_OK;
}

void st_st_header_free(st_st_header *h)
{
    for (int i = 0; i < h->nt; i++) free(h->t[i].name);
    for (int i = 0; i < h->nm; i++) {
        free(h->meta_key[i]);
        free(h->meta_val[i]);
    }
    free(h->t);
    free(h->meta_key);
    free(h->meta_val);
    memset(h, 0, sizeof *h);
}
