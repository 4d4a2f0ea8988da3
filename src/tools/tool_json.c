/* The tools' JSON writer (indented two spaces a level) and reader (a recursive-descent parser
 * into a tree); see tool_json.h. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "tool_json.h"

void tj_init(tool_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->count[0] = 0;
}

static void put_escaped(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Comma, newline and indentation before a value, then its key when inside an object. */
static void lead(tool_json *j, const char *key)
{
    if (j->count[j->depth]++ > 0) fputc(',', j->f);
    if (j->depth > 0) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    if (key) {
        put_escaped(j->f, key);
        fputs(": ", j->f);
    }
}

static void nest_open(tool_json *j, const char *key, char c)
{
    lead(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < TJ_MAX_DEPTH) j->count[++j->depth] = 0;
}

static void nest_close(tool_json *j, char c)
{
    int had = j->count[j->depth] > 0;
    if (j->depth > 0) j->depth--;
    if (had) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(c, j->f);
}

void tj_object_begin(tool_json *j, const char *key) { nest_open(j, key, '{'); }
void tj_object_end(tool_json *j) { nest_close(j, '}'); }
void tj_array_begin(tool_json *j, const char *key) { nest_open(j, key, '['); }
void tj_array_end(tool_json *j) { nest_close(j, ']'); }

void tj_string(tool_json *j, const char *key, const char *value)
{
    lead(j, key);
    if (value) put_escaped(j->f, value);
    else fputs("null", j->f);
}

void tj_int(tool_json *j, const char *key, int64_t value)
{
    lead(j, key);
    fprintf(j->f, "%lld", (long long)value);
}

void tj_bool(tool_json *j, const char *key, int value)
{
    lead(j, key);
    fputs(value ? "true" : "false", j->f);
}

void tj_double(tool_json *j, const char *key, double value)
{
    lead(j, key);
    if (isfinite(value)) fprintf(j->f, "%.6g", value);
    else fputs("null", j->f);
}

void tj_finish(tool_json *j) { fputc('\n', j->f); }

/* ---- reader ---- */

/* Deeper nesting is refused rather than risking the stack on a hostile file. */
#define TJ_PARSE_MAX_DEPTH 64

typedef struct parser {
    const char *text, *p;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void perr(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(parser *ps, const char *fmt, ...)
{
    if (ps->failed) return;
    ps->failed = 1;
    int line = 1, col = 1;
    for (const char *q = ps->text; q < ps->p; q++) {
        col++;
        if (*q == '\n') line++, col = 1;
    }
    int n = snprintf(ps->err, ps->errlen, "line %d, column %d: ", line, col);
    if (n < 0 || (size_t)n >= ps->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static void skip_ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static void put_utf8(char **o, unsigned c)
{
    if (c < 0x80) {
        *(*o)++ = (char)c;
    } else if (c < 0x800) {
        *(*o)++ = (char)(0xC0 | c >> 6);
        *(*o)++ = (char)(0x80 | (c & 0x3F));
    } else {
        *(*o)++ = (char)(0xE0 | c >> 12);
        *(*o)++ = (char)(0x80 | (c >> 6 & 0x3F));
        *(*o)++ = (char)(0x80 | (c & 0x3F));
    }
}

/* A string at ps->p (the opening quote); surrogate pairs are kept as two 3-byte sequences,
 * which is enough for the ASCII the tools write. */
static char *parse_string(parser *ps)
{
    const char *q = ++ps->p;
    while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
    if (*q != '"') {
        perr(ps, "unterminated string");
        return NULL;
    }
    char *out = malloc((size_t)(q - ps->p) + 1), *o = out;
    if (!out) {
        perr(ps, "out of memory");
        return NULL;
    }
    while (ps->p < q) {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            ps->p--;
            perr(ps, "control character in a string");
            break;
        }
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        char e = *ps->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
        } else if (e == 'u') {
            char hex[5] = {0};
            memcpy(hex, ps->p, q - ps->p >= 4 ? 4 : (size_t)(q - ps->p));
            char *end;
            unsigned long cp = strtoul(hex, &end, 16);
            if (end != hex + 4) {
                perr(ps, "bad \\u escape");
                break;
            }
            put_utf8(&o, (unsigned)cp);
            ps->p += 4;
        } else {
            perr(ps, "bad escape '\\%c'", e ? e : '0');
            break;
        }
    }
    *o = '\0';
    ps->p = q + 1;
    if (ps->failed) {
        free(out);
        return NULL;
    }
    return out;
}

static int parse_value(parser *ps, tj_value *v, int depth);

/* Elements of an array or members of an object, after the opening bracket. */
static int parse_children(parser *ps, tj_value *v, char close, int depth)
{
    int cap = 0;
    skip_ws(ps);
    if (*ps->p == close) {
        ps->p++;
        return 1;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? 2 * cap : 8;
            tj_value *grown = realloc(v->items, (size_t)cap * sizeof *grown);
            if (!grown) {
                perr(ps, "out of memory");
                return 0;
            }
            v->items = grown;
        }
        tj_value *c = &v->items[v->n];
        memset(c, 0, sizeof *c);
        v->n++;
        skip_ws(ps);
        if (close == '}') {
            if (*ps->p != '"') {
                perr(ps, "expected a member name in quotes");
                return 0;
            }
            if (!(c->key = parse_string(ps))) return 0;
            skip_ws(ps);
            if (*ps->p++ != ':') {
                ps->p--;
                perr(ps, "expected ':' after member \"%s\"", c->key);
                return 0;
            }
        }
        if (!parse_value(ps, c, depth + 1)) return 0;
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
        } else if (*ps->p == close) {
            ps->p++;
            return 1;
        } else {
            perr(ps, "expected ',' or '%c'", close);
            return 0;
        }
    }
}

static int parse_literal(parser *ps, tj_value *v)
{
    static const struct { const char *word; tj_type type; int value; } lits[] = {
        {"null", TJ_NULL, 0}, {"true", TJ_BOOL, 1}, {"false", TJ_BOOL, 0}};
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t len = strlen(lits[i].word);
        if (strncmp(ps->p, lits[i].word, len) == 0) {
            v->type = lits[i].type;
            v->boolean = lits[i].value;
            ps->p += len;
            return 1;
        }
    }
    if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
        char *end;
        errno = 0;
        v->number = strtod(ps->p, &end);
        if (end == ps->p || errno == ERANGE) {
            perr(ps, "bad number");
            return 0;
        }
        v->type = TJ_NUMBER;
        ps->p = end;
        return 1;
    }
    if (*ps->p) perr(ps, "unexpected character '%c'", *ps->p);
    else perr(ps, "unexpected end of input");
    return 0;
}

static int parse_value(parser *ps, tj_value *v, int depth)
{
    skip_ws(ps);
    if (depth > TJ_PARSE_MAX_DEPTH) {
        perr(ps, "nested deeper than %d", TJ_PARSE_MAX_DEPTH);
        return 0;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? TJ_OBJECT : TJ_ARRAY;
        ps->p++;
        return parse_children(ps, v, c == '{' ? '}' : ']', depth);
    }
    if (c == '"') {
        v->type = TJ_STRING;
        return (v->string = parse_string(ps)) != NULL;
    }
    return parse_literal(ps, v);
}

static void free_children(tj_value *v)
{
    for (int i = 0; i < v->n; i++) free_children(&v->items[i]);
    free(v->items);
    free(v->string);
    free(v->key);
}

void tj_value_free(tj_value *v)
{
    if (!v) return;
    free_children(v);
    free(v);
}

tj_value *tj_parse(const char *text, char *err, size_t errlen)
{
    parser ps = {text, text, err, errlen, 0};
    tj_value *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (parse_value(&ps, v, 0)) {
        skip_ws(&ps);
        if (*ps.p) perr(&ps, "trailing characters after the document");
    }
    if (ps.failed) {
        tj_value_free(v);
        return NULL;
    }
    return v;
}

/* Opens a regular file for reading without waiting on a FIFO (which fopen would, forever). */
static FILE *open_regular(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

tj_value *tj_parse_file(const char *path, char *err, size_t errlen)
{
    FILE *f = open_regular(path, err, errlen);
    if (!f) return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *grown = realloc(text, cap + 1);
            if (!grown) {
                free(text);
                text = NULL;
                break;
            }
            text = grown;
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    int bad = ferror(f) || !text;
    fclose(f);
    if (bad) {
        free(text);
        snprintf(err, errlen, "%s: cannot read", path);
        return NULL;
    }
    text[len] = '\0';
    char msg[256];
    tj_value *v = strlen(text) == len ? tj_parse(text, msg, sizeof msg) : NULL;
    if (!v) snprintf(err, errlen, "%s: not valid JSON: %s", path, strlen(text) == len ? msg : "NUL byte");
    free(text);
    return v;
}

const tj_value *tj_get(const tj_value *v, const char *key)
{
    if (!v || v->type != TJ_OBJECT) return NULL;
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->items[i].key, key) == 0) return &v->items[i];
    return NULL;
}

const char *tj_type_name(tj_type t)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}
