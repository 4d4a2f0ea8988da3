/* Byte-level BPE tokenizers, GPT-2 style: training a vocabulary on text, the tiktoken and Hugging
 * Face file forms, encoding with GPT-2's pre-tokenization, decoding, and text files to llm.c token
 * files. No Python is involved anywhere.
 *
 * Vocabulary. Ids [0, vocab size). Every one of the 256 single bytes is a token, so any byte
 * string encodes; the other "normal" tokens are byte strings made by merges. Special tokens
 * (such as "<|endoftext|>") are text that BPE never produces: they come only from
 * st_tokenizer_encode with ST_TOK_SPECIAL, from the caller, or from st_tokenizer_encode_files'
 * document separator. An id may be unused (a gap in a rank file); decoding it is an error.
 *
 * Encoding. The text is split into pieces by GPT-2's pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (PCRE2 with UTF and Unicode properties; \s is Unicode White_Space, as in Rust's regex crate
 * that tiktoken uses; letters and numbers follow the Unicode tables of the installed PCRE2, 14.0
 * for Debian 12's), then each piece is merged pairwise, lowest priority first, leftmost among
 * equals. Valid UTF-8 gives exactly tiktoken's encode_ordinary (tested token for token on GPT-2's
 * vocabulary). Invalid UTF-8 still encodes losslessly: no pattern item matches an invalid byte
 * (PCRE2_MATCH_INVALID_UTF), so each maximal run of invalid bytes is a piece of its own, encoded
 * from its bytes, and it ends the piece before it as the end of the text would. (tiktoken takes
 * Python str, so it has no answer to compare with there.)
 *
 * Merge priorities depend on where the vocabulary came from, so that each file form encodes as
 * its own reference library does:
 *  - tiktoken rank files (ST_BPE_RANKS): two adjacent parts merge when their concatenation is a
 *    token; its rank (= id) is the priority.
 *  - Hugging Face vocab.json + merges.txt, and freshly trained vocabularies
 *    (ST_BPE_MERGES): only the listed merges apply, earlier lines first.
 * For GPT-2's vocabulary both give the same tokens; for other vocabularies they can differ on
 * rare pieces (a token reachable by a split that is not its merge).
 *
 * Speed: an ASCII scanner that cuts exactly where the pattern does (tested against PCRE2) splits
 * most text; PCRE2 (JIT) takes any piece whose end depends on a non-ASCII byte. A piece that is
 * a token is looked up whole under ST_BPE_RANKS (as tiktoken does); other pieces up to 24 bytes
 * are cached. `strata-tokenize bench` measures it against tiktoken.
 *
 * Threads: a tokenizer caches the tokens of recent pieces and holds the regex's match state, so
 * the functions that take a non-const st_tokenizer * must not run on one tokenizer from two
 * threads at once; load one per thread instead. The const functions may run concurrently.
 * Errors follow status.h; every file error names the file and, where one exists, the line.
 */
#ifndef STRATA_TOKENIZER_H
#define STRATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_tokenizer st_tokenizer;
typedef struct st_tok_trainer st_tok_trainer;

/* Largest vocabulary Strata accepts (ids fit in int32; llm.c files hold uint32). */
#define ST_TOK_MAX_VOCAB (1 << 24)

/* How pairs are prioritised (see above). */
typedef enum st_bpe_rule {
    ST_BPE_RANKS = 0, /* tiktoken: rank of the concatenation */
    ST_BPE_MERGES = 1 /* Hugging Face / training: index in the merge list */
} st_bpe_rule;

/* ---- Loading and saving ------------------------------------------------------------------ */

/* Loads a vocabulary, choosing the form from `path`:
 *  - a directory: its vocab.json + merges.txt (as st_tokenizer_save_hf writes them);
 *  - a file whose content starts with '{': a vocab.json whose merges.txt lies beside it
 *    (tokenizer.json is written by st_tokenizer_save_hf but not read);
 *  - any other file: a tiktoken rank file, with "<|endoftext|>" added as a special token right
 *    after the largest rank (as tiktoken's own gpt2 encoding does: id 50256 for GPT-2).
 * *out is owned by the caller (st_tokenizer_destroy).
 * Errors: ST_ERR_INVALID_ARG (NULL), ST_ERR_IO (missing or unreadable file: path and strerror),
 * ST_ERR_FORMAT (corrupt content: file, line and what is wrong; a vocabulary without all 256
 * single bytes; duplicate tokens or ids; a merge whose parts or result are not tokens; a
 * vocabulary of fewer than 256 ids), ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_tokenizer_load(const char *path, st_tokenizer **out);

/* A tiktoken rank file ("<base64 token> <rank>" per line, blank lines ignored). `specials`
 * (NULL-terminated list of strings, or NULL for {"<|endoftext|>"}; an empty list for none) get
 * the ids after the largest rank, in order. Errors as st_tokenizer_load. */
ST_API st_status st_tokenizer_load_tiktoken(const char *path, const char *const *specials,
                                            st_tokenizer **out);

/* Hugging Face's two-file form (GPT-2's vocab.json and merges.txt). Entries of vocab.json that
 * are neither single bytes nor the result of a merge are special tokens. Errors as
 * st_tokenizer_load. */
ST_API st_status st_tokenizer_load_hf(const char *vocab_json, const char *merges_txt,
                                      st_tokenizer **out);

/* Writes the tiktoken rank file of the normal tokens (rank = id), atomically. Special tokens are
 * not part of the form: loading the file back adds "<|endoftext|>" after the largest rank, which
 * is where Strata's trainer puts it. Errors: ST_ERR_INVALID_ARG, ST_ERR_IO. */
ST_API st_status st_tokenizer_save_tiktoken(const st_tokenizer *tok, const char *path);

/* Writes vocab.json, merges.txt and tokenizer.json into directory `dir` (created if missing),
 * each atomically, as Hugging Face's GPT-2 tokenizer has them: transformers'
 * GPT2TokenizerFast.from_pretrained(dir) and tokenizers' Tokenizer.from_file load them. A
 * vocabulary from a rank file gets its merge list derived once (each token's bytes encoded with
 * the lower ranks only give its two parts; kept in the tokenizer, which is why it is not const);
 * a token that no merge reaches is an ST_ERR_UNSUPPORTED error naming it. Errors:
 * ST_ERR_INVALID_ARG, ST_ERR_IO (also: `dir` exists and is not a directory), ST_ERR_UNSUPPORTED,
 * ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_tokenizer_save_hf(st_tokenizer *tok, const char *dir);

/* NULL is a no-op. */
ST_API void st_tokenizer_destroy(st_tokenizer *tok);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_tokenizer_destroy") void st_tokenizer_free(st_tokenizer *tok);

/* ---- Properties ---------------------------------------------------------------------------- */

/* One past the largest id (0 for NULL): the vocabulary size a model needs. */
ST_API int32_t st_tokenizer_vocab_size(const st_tokenizer *tok);

/* Number of merges in the priority list (ST_BPE_MERGES) or of multi-byte normal tokens. */
ST_API int32_t st_tokenizer_merges(const st_tokenizer *tok);

/* The merge rule in use; ST_BPE_RANKS for NULL. */
ST_API st_bpe_rule st_tokenizer_rule(const st_tokenizer *tok);

/* Id of the special token whose text is `name`, or -1 (also for NULL arguments). */
ST_API int32_t st_tokenizer_special(const st_tokenizer *tok, const char *name);

/* Id of "<|endoftext|>", or -1 when the vocabulary has none. */
ST_API int32_t st_tokenizer_eot(const st_tokenizer *tok);

/* The bytes of token `id` (borrowed, valid until st_tokenizer_destroy; not NUL-terminated) and
 * whether it is special. Errors: ST_ERR_INVALID_ARG (NULL, id outside the vocabulary or unused:
 * the message names it). */
ST_API st_status st_tokenizer_token(const st_tokenizer *tok, int32_t id, const uint8_t **bytes,
                                    size_t *len, int *is_special);

/* ---- Encoding and decoding ---------------------------------------------------------------- */

/* A growing array of token ids. Start from a zeroed struct; the library reallocates `ids`;
 * release with st_token_buf_destroy. */
typedef struct st_token_buf {
    int32_t *ids;
    int64_t n, cap;
} st_token_buf;

/* Frees b->ids and zeroes *b. NULL is a no-op. */
ST_API void st_token_buf_destroy(st_token_buf *b);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_token_buf_destroy") void st_token_buf_free(st_token_buf *b);

/* Flags of st_tokenizer_encode. */
#define ST_TOK_SPECIAL 1u      /* special tokens' text becomes their id (tiktoken's
                                * allowed_special="all"); without it, it is ordinary text */
#define ST_TOK_REGEX_ONLY 2u   /* split every piece with PCRE2, skipping the ASCII scanner
                                * (same result, slower: for verification) */

/* Appends the tokens of `n` bytes of `text` (any bytes) to `out`. On error `out` may hold part of
 * the tokens. Errors: ST_ERR_INVALID_ARG (NULL with n > 0, unknown flags),
 * ST_ERR_OUT_OF_MEMORY, ST_ERR_INTERNAL (PCRE2 failed: its message). */
ST_API st_status st_tokenizer_encode(st_tokenizer *tok, const void *text, size_t n, unsigned flags,
                                     st_token_buf *out);

/* Calls piece(ctx, start, len) for each pre-token of `text` in order (the pieces tile the text).
 * flags: 0 or ST_TOK_REGEX_ONLY. A non-zero return from `piece` ends the walk early (still
 * ST_OK). Errors as st_tokenizer_encode. */
ST_API st_status st_tokenizer_pieces(st_tokenizer *tok, const void *text, size_t n, unsigned flags,
                                     int (*piece)(void *ctx, size_t start, size_t len), void *ctx);

/* Decodes n ids into buf (capacity cap bytes), snprintf-style: *len is set to the full decoded
 * length; when it exceeds cap only the first cap bytes were written. buf may be NULL when cap is
 * 0 (to size a buffer). The result is the bytes of the tokens, concatenated: not necessarily
 * valid UTF-8 (a character may span tokens). Errors: ST_ERR_INVALID_ARG (NULL arguments, an id
 * outside the vocabulary or unused: the message gives its position and value). */
ST_API st_status st_tokenizer_decode(const st_tokenizer *tok, const int32_t *ids, int64_t n,
                                     void *buf, size_t cap, size_t *len);

/* ---- Files ---------------------------------------------------------------------------------- */

typedef struct st_tok_file_options {
    /* Before each input file, the "<|endoftext|>" token (as llm.c's data scripts put it before
     * each document); the tokenizer must have one. */
    int eot_before_each;
    /* Bytes encoded at a time (the text is cut only where the pattern always splits, so the
     * tokens do not depend on it); 0 for 4 MiB. */
    size_t chunk_bytes;
} st_tok_file_options;

typedef struct st_tok_file_stats {
    int64_t bytes_in;    /* text bytes read */
    int64_t tokens_out;  /* tokens written, separators included */
    int token_bytes;     /* 2 or 4: the width written */
    double seconds;      /* wall time of reading and encoding */
} st_tok_file_stats;

/* Encodes the files `paths[0..n)` one after another into one llm.c token file at `out_path`
 * (data.h: a header of 256 int32, then the tokens; magic 20240520 / version 1 and uint16 tokens
 * when the vocabulary has at most 65536 ids, else llm.c's 20240801 / version 7 and uint32),
 * written atomically. Invalid UTF-8 is encoded too (see above).
 * `opt` and `stats` may be NULL. Errors: ST_ERR_INVALID_ARG (NULL, n < 1, eot_before_each
 * without an "<|endoftext|>"), ST_ERR_IO (an input unreadable, the output unwritable),
 * ST_ERR_FORMAT (more tokens than an llm.c header counts, or none), ST_ERR_OUT_OF_MEMORY; on
 * error no output file is left behind. */
ST_API st_status st_tokenizer_encode_files(st_tokenizer *tok, const char *const *paths, int n,
                                           const char *out_path, const st_tok_file_options *opt,
                                           st_tok_file_stats *stats);

/* ---- Training -------------------------------------------------------------------------------- */

typedef struct st_tok_train_options {
    /* Total ids wanted: the 256 bytes, the merges, and the special tokens. >= 256 + specials. */
    int32_t vocab_size;
    /* A pair merges only while it occurs at least this often; 0 means 2. */
    int64_t min_frequency;
    /* NULL-terminated special tokens, given the last ids; NULL for {"<|endoftext|>"}. */
    const char *const *specials;
} st_tok_train_options;

/* Starts a training run. Text is fed with st_tok_trainer_feed / _feed_file (pre-tokenized and
 * counted as it comes, so any amount of text needs memory only for its distinct pieces), then
 * st_tok_trainer_finish learns the merges: most frequent pair first, ties to the smaller
 * (left id, right id), so the result depends only on the text and the options. Ids: bytes are
 * 0..255 (id = byte value), then one id per new token in merge order, then the specials.
 * *out is owned by the caller (st_tok_trainer_destroy).
 * Errors: ST_ERR_INVALID_ARG (NULL, vocab_size outside [256 + specials, ST_TOK_MAX_VOCAB],
 * duplicate or empty specials), ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_tok_trainer_create(const st_tok_train_options *opt, st_tok_trainer **out);

/* Adds n bytes of text. Pieces never span two calls. Errors: ST_ERR_INVALID_ARG,
 * ST_ERR_OUT_OF_MEMORY, ST_ERR_INTERNAL (PCRE2). */
ST_API st_status st_tok_trainer_feed(st_tok_trainer *t, const void *text, size_t n);

/* Adds a whole file (memory-mapped; cut into chunks where the pattern always splits).
 * Errors: as st_tok_trainer_feed, and ST_ERR_IO naming the path. */
ST_API st_status st_tok_trainer_feed_file(st_tok_trainer *t, const char *path);

/* Learns the merges and returns the tokenizer (rule ST_BPE_MERGES). When the text runs out of
 * pairs occurring min_frequency times first, the vocabulary is smaller than asked:
 * st_tokenizer_vocab_size tells. The trainer may be fed again and finished again.
 * Errors: ST_ERR_INVALID_ARG, ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_tok_trainer_finish(st_tok_trainer *t, st_tokenizer **out);

/* NULL is a no-op. */
ST_API void st_tok_trainer_destroy(st_tok_trainer *t);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_tok_trainer_destroy") void st_tok_trainer_free(st_tok_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
