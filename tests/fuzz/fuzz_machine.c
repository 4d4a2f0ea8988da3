/* Fuzz target: planner machine files (st_plan_machine_load, and st_plan_machine_parse in memory). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_plan_machine m;
    st_plan_machine_get("local", &m);
    st_plan_machine_load(fuzz_file("in.machine", data, size), &m);
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    st_plan_machine_get("local", &m);
    st_plan_machine_parse(text, "fuzz", &m);
    free(text);
    return 0;
}
