/* Checks for strata-bench's output, with nothing to install:
 *   bench_check schema SCHEMA.json DOC.json   validates DOC against the subset of JSON Schema
 *                                             (2020-12) that docs/bench.schema.json uses: type,
 *                                             enum, required, properties, additionalProperties
 *                                             false, items, and $ref into #/$defs/
 *   bench_check svg FILE.svg                  the file starts with <svg and its tags balance
 *   bench_check ops DOC.json                  every op of the op table has a measured row on
 *                                             some device (its cases come from the table row)
 * Exit 0 when the check holds, 1 with every violation printed when not, 2 on bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata/ops.h"
#include "tool_json.h"

static int errors;

static void violation(const char *where, const char *what)
{
    if (errors++ < 20) fprintf(stderr, "  %s: %s\n", where[0] ? where : "(document)", what);
}

static int type_matches(const char *type, const tj_value *v)
{
    if (strcmp(type, "integer") == 0) return v->type == TJ_NUMBER && v->number == floor(v->number);
    return strcmp(type, tj_type_name(v->type)) == 0;
}

static int same_value(const tj_value *a, const tj_value *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case TJ_STRING: return strcmp(a->string, b->string) == 0;
    case TJ_NUMBER: return a->number == b->number;
    case TJ_BOOL: return a->boolean == b->boolean;
    case TJ_NULL: return 1;
    default: return 0;
    }
}

static void validate(const tj_value *root, const tj_value *schema, const tj_value *v, const char *where);

static void check_type(const tj_value *t, const tj_value *v, const char *where)
{
    int ok = 0;
    if (t->type == TJ_STRING) ok = type_matches(t->string, v);
    for (int i = 0; t->type == TJ_ARRAY && i < t->n; i++) ok |= type_matches(t->items[i].string, v);
    if (!ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "is %s, not of the schema's type", tj_type_name(v->type));
        violation(where, msg);
    }
}

static void check_object(const tj_value *root, const tj_value *schema, const tj_value *v, const char *where)
{
    const tj_value *req = tj_get(schema, "required"), *props = tj_get(schema, "properties");
    const tj_value *extra = tj_get(schema, "additionalProperties");
    char path[512], msg[256];
    for (int i = 0; req && i < req->n; i++)
        if (!tj_get(v, req->items[i].string)) {
            snprintf(msg, sizeof msg, "required member \"%s\" is missing", req->items[i].string);
            violation(where, msg);
        }
    for (int i = 0; i < v->n; i++) {
        const tj_value *sub = tj_get(props, v->items[i].key);
        snprintf(path, sizeof path, "%s.%s", where, v->items[i].key);
        if (sub) validate(root, sub, &v->items[i], path);
        else if (extra && extra->type == TJ_BOOL && !extra->boolean) violation(path, "member not in the schema");
    }
}

static void validate(const tj_value *root, const tj_value *schema, const tj_value *v, const char *where)
{
    const tj_value *ref = tj_get(schema, "$ref"), *type = tj_get(schema, "type"), *en = tj_get(schema, "enum");
    const tj_value *items = tj_get(schema, "items");
    if (ref) {
        const char *prefix = "#/$defs/";
        const tj_value *target = strncmp(ref->string, prefix, strlen(prefix)) == 0
                                     ? tj_get(tj_get(root, "$defs"), ref->string + strlen(prefix))
                                     : NULL;
        if (!target) violation(where, "schema $ref not found (only #/$defs/NAME is supported)");
        else validate(root, target, v, where);
        return;
    }
    if (type) check_type(type, v, where);
    if (en) {
        int found = 0;
        for (int i = 0; i < en->n; i++) found |= same_value(&en->items[i], v);
        if (!found) violation(where, "value not in the schema's enum");
    }
    if (v->type == TJ_OBJECT) check_object(root, schema, v, where);
    if (v->type == TJ_ARRAY && items) {
        char path[512];
        for (int i = 0; i < v->n; i++) {
            snprintf(path, sizeof path, "%s[%d]", where, i);
            validate(root, items, &v->items[i], path);
        }
    }
}

static int check_schema(const char *schema_path, const char *doc_path)
{
    char err[512];
    tj_value *schema = tj_parse_file(schema_path, err, sizeof err), *doc = NULL;
    if (schema) doc = tj_parse_file(doc_path, err, sizeof err);
    if (!schema || !doc) {
        fprintf(stderr, "bench_check: %s\n", err);
        tj_value_free(schema);
        return 1;
    }
    validate(schema, schema, doc, "");
    if (errors) fprintf(stderr, "bench_check: %s: %d violation(s) of %s\n", doc_path, errors, schema_path);
    else printf("bench_check: %s is valid against %s\n", doc_path, schema_path);
    tj_value_free(schema);
    tj_value_free(doc);
    return errors ? 1 : 0;
}

/* Tags balance: every <name ...> is closed by </name> in order, or self-closed. */
static int check_svg(const char *path)
{
    char err[256] = "", stack[64][32];
    int depth = 0, n = 0;
    FILE *f = fopen(path, "r");
    static char text[1 << 22];
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[len] = '\0';
    if (strncmp(text, "<svg", 4) != 0) snprintf(err, sizeof err, "does not start with <svg");
    for (const char *p = strchr(text, '<'); p && !err[0]; p = strchr(p + 1, '<'), n++) {
        const char *end = strchr(p, '>');
        int closing = p[1] == '/';
        char name[32];
        if (!end || sscanf(p + 1 + closing, "%31[a-zA-Z0-9_:-]", name) != 1) {
            snprintf(err, sizeof err, "malformed tag at byte %ld", (long)(p - text));
        } else if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                snprintf(err, sizeof err, "</%s> closes %s", name, depth ? stack[depth - 1] : "nothing");
            else depth--;
        } else if (end[-1] != '/') {
            if (depth == 64) snprintf(err, sizeof err, "nested too deep");
            else snprintf(stack[depth++], sizeof stack[0], "%s", name);
        }
    }
    if (!err[0] && depth) snprintf(err, sizeof err, "<%s> never closed", stack[depth - 1]);
    if (!err[0] && n == 0) snprintf(err, sizeof err, "empty");
    if (err[0]) fprintf(stderr, "bench_check: %s: %s\n", path, err);
    else printf("bench_check: %s: %d tags, balanced\n", path, n);
    return err[0] ? 1 : 0;
}

/* Every op of the table (st_op_info_get) appears as "op" of a row that ran (ok true). */
static int check_ops(const char *doc_path)
{
    char err[512];
    tj_value *doc = tj_parse_file(doc_path, err, sizeof err);
    const tj_value *res = doc ? tj_get(doc, "results") : NULL;
    if (!res || res->type != TJ_ARRAY) {
        fprintf(stderr, "bench_check: %s: %s\n", doc_path, doc ? "no \"results\" array" : err);
        tj_value_free(doc);
        return 1;
    }
    int missing = 0;
    for (int op = 0; op < ST_OP_COUNT; op++) {
        const char *name = st_op_info_get((st_op)op)->name;
        int found = 0;
        for (int i = 0; i < res->n && !found; i++) {
            const tj_value *o = tj_get(&res->items[i], "op"), *ok = tj_get(&res->items[i], "ok");
            found = o && o->type == TJ_STRING && strcmp(o->string, name) == 0 && ok && ok->boolean;
        }
        if (!found) {
            fprintf(stderr, "bench_check: op %s: no measured row in %s (a row of the op table without a "
                            "benchmark case, or its case failed)\n", name, doc_path);
            missing++;
        }
    }
    if (!missing) printf("bench_check: %s: every op of the table (%d) measured\n", doc_path, (int)ST_OP_COUNT);
    tj_value_free(doc);
    return missing ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "schema") == 0) return check_schema(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "svg") == 0) return check_svg(argv[2]);
    if (argc == 3 && strcmp(argv[1], "ops") == 0) return check_ops(argv[2]);
    fprintf(stderr, "usage: bench_check schema SCHEMA.json DOC.json | bench_check svg FILE.svg | bench_check ops DOC.json\n");
    return 2;
}
