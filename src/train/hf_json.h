/* The top-level fields of a Hugging Face config.json, as raw JSON text: strings keep their quotes,
 * nested objects and arrays are skipped over (their text is kept but not parsed). Enough for GPT-2's
 * flat config; not a general JSON library. */
#ifndef STRATA_TRAIN_HF_JSON_H
#define STRATA_TRAIN_HF_JSON_H

#include <stddef.h>

#define HF_JSON_MAX 128

typedef struct hf_json {
    int n;
    char key[HF_JSON_MAX][64];
    char val[HF_JSON_MAX][128]; /* longer values are cut (none that is read here is long) */
} hf_json;

/* Reads path (at most 1 MiB). Returns 0, 1 when there is no such file, or -1 with a message (not a
 * JSON object, unterminated text, too large). */
int hf_json_load(const char *path, hf_json *j, char *err, size_t errlen);

/* Field `key`'s raw value, or NULL. */
const char *hf_json_get(const hf_json *j, const char *key);

#endif
