/* hf_json.h: a scanner for the top level of one JSON object. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hf_json.h"

/* The end of the JSON value starting at p (strings, nesting and escapes followed), or NULL. */
static const char *skip_value(const char *p)
{
    int depth = 0;
    do {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1]) p++;
            if (!*p) return NULL;
            p++;
        } else if (*p == '{' || *p == '[') {
            depth++, p++;
        } else if (*p == '}' || *p == ']') {
            if (--depth < 0) return NULL;
            p++;
        } else if (*p) {
            while (*p && !strchr(",}]\"{[", *p)) p++;
        } else {
            return NULL;
        }
        while (depth > 0 && *p && isspace((unsigned char)*p)) p++;
        if (depth > 0 && *p == ',') p++;
        if (depth > 0 && *p == ':') p++;
    } while (depth > 0);
    return p;
}

static const char *ws(const char *p)
{
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

static int parse(const char *p, hf_json *j)
{
    p = ws(p);
    if (*p++ != '{') return -1;
    for (p = ws(p); *p != '}'; p = ws(p)) {
        if (*p != '"') return -1;
        const char *k = ++p, *e = skip_value(k - 1);
        if (!e) return -1;
        size_t kl = (size_t)(e - 1 - k);
        p = ws(e);
        if (*p++ != ':') return -1;
        p = ws(p);
        const char *v = p;
        if (!(e = skip_value(p))) return -1;
        size_t vl = (size_t)(e - v);
        while (vl && isspace((unsigned char)v[vl - 1])) vl--;
        if (j->n < HF_JSON_MAX) {
            snprintf(j->key[j->n], sizeof j->key[0], "%.*s", (int)(kl < 63 ? kl : 63), k);
            snprintf(j->val[j->n], sizeof j->val[0], "%.*s", (int)(vl < 127 ? vl : 127), v);
            j->n++;
        }
        p = ws(e);
        if (*p == ',') p = ws(p + 1);
        else if (*p != '}') return -1;
    }
    return *ws(p + 1) ? -1 : 0;
}

int hf_json_load(const char *path, hf_json *j, char *err, size_t errlen)
{
    j->n = 0;
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT) return 1;
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    int bad = !buf || ferror(f) || n > cap;
    fclose(f);
    if (!bad) {
        buf[n] = '\0';
        bad = parse(buf, j) != 0;
    }
    free(buf);
    if (bad) snprintf(err, errlen, "%s: not a JSON object of at most 1 MiB", path);
    return bad ? -1 : 0;
}

const char *hf_json_get(const hf_json *j, const char *key)
{
    for (int i = 0; i < j->n; i++)
        if (strcmp(j->key[i], key) == 0) return j->val[i];
    return NULL;
}
