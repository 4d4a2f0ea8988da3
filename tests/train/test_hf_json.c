/* config.json's scanner (src/train/hf_json.c): top-level fields of GPT-2's config, nested values
 * skipped over, and malformed text refused without reading past its end (the sanitized build checks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../harness.h"
#include "hf_json.h"

static int load_text(const char *text, hf_json *j, char *err, size_t errlen)
{
    char path[] = "/tmp/strata_hfjson_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) return -2;
    fputs(text, f);
    fclose(f);
    int rc = hf_json_load(path, j, err, errlen);
    remove(path);
    return rc;
}

void test_hf_json(void);
void test_hf_json(void)
{
    hf_json j;
    char err[512];
    const char *good = "{\n \"a\\\"b\": \"x,}]\", \"task_specific_params\": {\"t\": {\"do\": true, \"l\": [1, 2, {\"z\": \"]\"}]}},"
                       " \"n_layer\": 12 , \"n_inner\": null, \"act\": \"gelu_new\", \"eps\": 1e-05}";
    CHECK(load_text(good, &j, err, sizeof err) == 0, "a config with nested values: %s", err);
    CHECK(hf_json_get(&j, "n_layer") && !strcmp(hf_json_get(&j, "n_layer"), "12"), "n_layer '%s'",
          hf_json_get(&j, "n_layer") ? hf_json_get(&j, "n_layer") : "(none)");
    CHECK(hf_json_get(&j, "act") && !strcmp(hf_json_get(&j, "act"), "\"gelu_new\""), "strings keep their quotes");
    CHECK(hf_json_get(&j, "eps") && !strcmp(hf_json_get(&j, "eps"), "1e-05"), "numbers as written");
    CHECK(!hf_json_get(&j, "t") && !hf_json_get(&j, "z"), "nested keys are not top-level fields");
    static const char *const bad[] = {"", "{", "[]", "{\"a\": 1", "{\"a\": \"x", "{\"a\" 1}", "{\"a\": {\"b\": 1}",
                                      "{} x", "{\"a\": 1,, }", "{\"a\": [1, 2}", "{\"a\": 1}}", "\"a\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(load_text(bad[i], &j, err, sizeof err) == -1 && strstr(err, "JSON"), "'%s' refused: %s", bad[i], err);
    CHECK(hf_json_load("/nonexistent/config.json", &j, err, sizeof err) == 1, "a missing file is 'none'");
}
