/* Fuzz target: the JSON reader of strata-bench's compare and roofline (src/tools/tool_json.c). */
#include "fuzz.h"
#include "tool_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[256];
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tj_value_free(tj_parse(text, err, sizeof err));
    tj_value_free(tj_parse_file(fuzz_file("in.json", data, size), err, sizeof err));
    free(text);
    return 0;
}
