/* The tools' streaming JSON writer (see tool_json.h). Output is indented two spaces a level. */
#include <math.h>
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
