/* Training data: a token file memory-mapped read-only, split into train/validation, and
 * deterministic batches drawn from it.
 *
 * Formats (st_data_format):
 *  - bytes: any file; each byte is a token (vocab 256).
 *  - llm.c token file: a header of 256 little-endian int32 (magic 20240520, version 1, token
 *    count, the rest unused) followed by `count` uint16 tokens; the file size must be exactly
 *    1024 + 2 * count. llm.c's wide form (magic 20240801, version 7: uint32 tokens, 1024 +
 *    4 * count bytes; strata-tokenize writes it for vocabularies over 65536 ids) is read too.
 * ST_DATA_AUTO picks llm.c when the file starts with the magic and bytes otherwise; name
 * ST_DATA_LLMC to insist on a token file (a wrong magic is then an error).
 *
 * Batches: row b of the batch for (seed, step) starts at a position drawn from a splitmix64 hash
 * of (seed, step, b) — a counter, not a stream — so any step can be recomputed without replaying
 * the ones before it (a resumed run sees the same data), and row b does not depend on the batch
 * size (data-parallel ranks can each draw their own rows of one global batch).
 *
 * Tokens are exposed as int32. The dataset is immutable after opening: any number of threads may
 * call the const functions on one dataset at once.
 */
#ifndef STRATA_DATA_H
#define STRATA_DATA_H

#include <stdint.h>
#include "strata/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_dataset st_dataset;

typedef enum st_data_format {
    ST_DATA_AUTO = 0, /* llm.c if the file starts with its magic, else bytes */
    ST_DATA_BYTES,    /* byte-level tokens, vocab 256 */
    ST_DATA_LLMC      /* llm.c token file (uint16: magic 20240520 v1; uint32: 20240801 v7) */
} st_data_format;

typedef enum st_split {
    ST_SPLIT_TRAIN = 0,
    ST_SPLIT_VAL = 1
} st_split;

/* Options of st_dataset_open. A zeroed struct (or NULL) means: auto-detect, no validation split,
 * vocab derived from the data. */
typedef struct st_dataset_options {
    st_data_format format;
    /* Fraction in [0, 1) of the tokens, taken from the end of the file, that form the validation
     * split; the train split is the rest. Ignored when val_path is set. */
    double val_fraction;
    /* A separate validation file (same format as the training file); NULL for none. */
    const char *val_path;
    /* Vocabulary size to report; 0 derives it (256 for bytes, max token + 1 for llm.c files).
     * Every token in the data must be below it. */
    int32_t vocab_size;
} st_dataset_options;

/* Opens `path` (and opt->val_path) read-only and memory-maps it. `opt` may be NULL. Opening
 * reads every token once, to find the largest (the vocabulary check).
 * On success *out is a new dataset owned by the caller, freed with st_dataset_destroy().
 * Errors: ST_ERR_INVALID_ARG (NULL path/out, val_fraction outside [0, 1), a vocab_size that a
 * token exceeds), ST_ERR_IO (file missing or unreadable: the message names the path and gives
 * strerror), ST_ERR_FORMAT (empty file; llm.c header with a wrong magic or version, a count that
 * disagrees with the file size — a truncated file — or files of different formats),
 * ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_dataset_open(const char *path, const st_dataset_options *opt, st_dataset **out);

/* Unmaps and frees the dataset. NULL is a no-op. */
ST_API void st_dataset_destroy(st_dataset *ds);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_dataset_destroy") void st_dataset_close(st_dataset *ds);

/* Format of the opened data (never ST_DATA_AUTO); ST_DATA_AUTO for NULL. */
ST_API st_data_format st_dataset_format(const st_dataset *ds);

/* Vocabulary size (see st_dataset_options.vocab_size); 0 for NULL. */
ST_API int32_t st_dataset_vocab(const st_dataset *ds);

/* Number of tokens in a split; 0 for NULL or an invalid split. */
ST_API int64_t st_dataset_tokens(const st_dataset *ds, st_split split);

/* Copies tokens [start, start + n) of a split into `out` (n int32), e.g. for a sampling prompt
 * or a sequential evaluation pass.
 * Errors: ST_ERR_INVALID_ARG (NULL, bad split, range outside the split). */
ST_API st_status st_dataset_read(const st_dataset *ds, st_split split, int64_t start, int64_t n,
                                 int32_t *out);

/* Fills inputs (B, T) and targets (B, T), row-major int32, with B windows of the split: for row
 * b starting at position p, inputs[b][t] = tok[p + t] and targets[b][t] = tok[p + t + 1]. The
 * positions depend only on (seed, step, b) and the split's size, so the same arguments always
 * give the same batch.
 * Errors: ST_ERR_INVALID_ARG (NULL, bad split, B or T < 1, T + 1 tokens do not fit in the
 * split, B * T overflows). Outputs are untouched on error. */
ST_API st_status st_dataset_batch(const st_dataset *ds, st_split split, int64_t B, int64_t T,
                                  uint64_t seed, uint64_t step, int32_t *inputs, int32_t *targets);

/* Data-parallel form: rank `rank` of `world` fills its B rows of the global batch of world * B
 * rows, namely global rows [rank * B, (rank + 1) * B). The K ranks' outputs concatenated in
 * rank order equal st_dataset_batch(..., K * B, ...) exactly; rank 0 of 1 is st_dataset_batch.
 * Errors: as st_dataset_batch, plus ST_ERR_INVALID_ARG for world < 1 or rank outside
 * [0, world). */
ST_API st_status st_dataset_batch_rank(const st_dataset *ds, st_split split, int64_t B, int64_t T,
                                       uint64_t seed, uint64_t step, int rank, int world,
                                       int32_t *inputs, int32_t *targets);

#ifdef __cplusplus
}
#endif
#endif
