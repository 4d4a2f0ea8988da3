/* strata-train --tokenizer: text data tokenized on the fly into a cached llm.c token file, and
 * samples decoded to text. */
#ifndef STRATA_TRAIN_TRAIN_TOK_H
#define STRATA_TRAIN_TRAIN_TOK_H

#include <stdio.h>
#include "strata/tokenizer.h"
#include "trainer.h"

typedef struct train_tok {
    st_tokenizer *tok;        /* NULL without --tokenizer */
    char data[4200], val[4200]; /* the token files to train on (empty: use the option as given) */
} train_tok;

/* Without o->tokenizer, nothing. With it: loads the tokenizer, and for --data and --val each,
 * when it is text (not an llm.c token file), finds or writes its token file in the cache
 * directory (STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else ~/.cache/strata; $TMPDIR or
 * /tmp when none can be made): "tokens-NAME-HASH.bin", HASH of the vocabulary and of the text's
 * path, size and modification time; <|endoftext|> before the text when the vocabulary has one,
 * as llm.c's data scripts do. A cached file is reused; it is written atomically, so ranks racing
 * to write it are harmless. Progress lines go to `progress` (may be NULL). Returns 0, or -1
 * with a message in err. */
int train_tok_prepare(const train_opts *o, train_tok *t, FILE *progress, char *err, size_t errlen);

/* Prints n sampled ids as text: the tokens' bytes, with control characters other than newline
 * and tab shown as '?'. */
void train_tok_print(const train_tok *t, const int32_t *ids, int n, FILE *out);

void train_tok_free(train_tok *t);

#endif
