/* strata-tokenize's pieces shared by its files: the parsed command line and the commands. */
#ifndef STRATA_TOOLS_STRATA_TOKENIZE_H
#define STRATA_TOOLS_STRATA_TOKENIZE_H

#include <stdint.h>
#include "strata/tokenizer.h"

#define TK_MAX_FILES 256
#define TK_MAX_SPECIALS 16

typedef struct tk_opts {
    const char *tokenizer, *out, *hf, *python;
    int32_t vocab_size;
    int64_t min_freq;
    int eot;          /* encode: <|endoftext|> before each file */
    int special;      /* text: special tokens' text becomes their ids */
    int repeat;       /* bench: timed passes, the best is reported */
    const char *specials[TK_MAX_SPECIALS];
    int nspecials;
    const char *files[TK_MAX_FILES];
    int nfiles;
} tk_opts;

/* Prints "strata-tokenize: error: WHAT: <st_last_error()>" and returns 1. */
int tk_fail(const char *what);
/* Loads o->tokenizer: 0, 1 (error printed) or 2 (no --tokenizer). */
int tk_load(const tk_opts *o, st_tokenizer **tok);
/* The bench command (strata_tokenize_bench.c). */
int tk_bench(const tk_opts *o);

#endif
