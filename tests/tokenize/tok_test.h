/* Helpers shared by the tokenizer's test files. */
#ifndef STRATA_TOK_TEST_H
#define STRATA_TOK_TEST_H

#include <stddef.h>
#include <stdint.h>
#include "strata/strata.h"

/* Deterministic text of ASCII words, Unicode letters, numbers, spaces and some invalid UTF-8. */
size_t tt_random_text(char *out, size_t cap, uint64_t seed);
/* decode(encode(text)) == text. */
int tt_roundtrip(st_tokenizer *tok, const void *text, size_t n, unsigned flags);
/* A vocabulary trained on the text (NULL on failure, which is counted). */
st_tokenizer *tt_train(const char *text, size_t n, int32_t vocab, int64_t min_freq);

void test_token_files(st_tokenizer *tok, const char *text, size_t n);
void test_bad_files(void);
void test_bad_arguments(void);
void test_wide_token_file(void);

#endif
