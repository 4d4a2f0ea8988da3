/* A small streaming JSON writer shared by the tools (strata-info --json, strata-bench --json),
 * and a reader into a tree for the tools that read JSON back (strata-bench compare, tests).
 * The writer escapes strings and places commas; it does not check that the calls nest correctly. */
#ifndef STRATA_TOOL_JSON_H
#define STRATA_TOOL_JSON_H

#include <stdint.h>
#include <stdio.h>

#define TJ_MAX_DEPTH 16

typedef struct tool_json {
    FILE *f;
    int depth;
    int count[TJ_MAX_DEPTH]; /* values written so far at each depth, for the commas */
} tool_json;

void tj_init(tool_json *j, FILE *f);
/* `key` is the member name inside an object, NULL inside an array or at the top. */
void tj_object_begin(tool_json *j, const char *key);
void tj_object_end(tool_json *j);
void tj_array_begin(tool_json *j, const char *key);
void tj_array_end(tool_json *j);
/* A NULL string is written as null. */
void tj_string(tool_json *j, const char *key, const char *value);
void tj_int(tool_json *j, const char *key, int64_t value);
void tj_bool(tool_json *j, const char *key, int value);
/* NaN and infinities, which JSON cannot hold, are written as null. */
void tj_double(tool_json *j, const char *key, double value);
/* Ends the document with a newline. */
void tj_finish(tool_json *j);

/* ---- reader ---- */
typedef enum tj_type { TJ_NULL, TJ_BOOL, TJ_NUMBER, TJ_STRING, TJ_ARRAY, TJ_OBJECT } tj_type;

/* One parsed value. Arrays and objects hold their n children in `items`; an object's children
 * carry their member name in `key` (in file order, duplicates kept). */
typedef struct tj_value {
    tj_type type;
    int boolean;
    double number;
    char *string; /* TJ_STRING, NUL-terminated, \u escapes decoded to UTF-8 */
    char *key;
    struct tj_value *items;
    int n;
} tj_value;

/* Parses a whole document (trailing garbage is an error). Returns a tree owned by the caller
 * (tj_value_free), or NULL with "line L, column C: what" in err. */
tj_value *tj_parse(const char *text, char *err, size_t errlen);
/* Reads and parses a file; the message names the file on failure. */
tj_value *tj_parse_file(const char *path, char *err, size_t errlen);
void tj_value_free(tj_value *v);
/* Member `key` of an object (the first one), or NULL (also when v is not an object). */
const tj_value *tj_get(const tj_value *v, const char *key);
/* "null", "boolean", "number", "string", "array", "object". */
const char *tj_type_name(tj_type t);

#endif
