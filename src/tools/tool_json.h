/* A small streaming JSON writer shared by the tools (strata-info --json, strata-bench --json).
 * It escapes strings and places commas; it does not check that the calls nest correctly. */
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

#endif
