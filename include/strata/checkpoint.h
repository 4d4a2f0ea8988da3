/* Checkpoints: named host tensors in safetensors files, and import of llm.c model files.
 *
 * safetensors layout: an 8-byte little-endian header length N, N bytes of JSON, then the data
 * area. The JSON object maps each tensor name to {"dtype": "F32"|"BF16"|"I32"|"I8", "shape": [...],
 * "data_offsets": [begin, end]} (offsets relative to the data area), plus an optional
 * "__metadata__" object of string values. Data is row-major, little-endian.
 *
 * Training state beyond tensors (step, RNG seed, data position, schedule) is meant to go in the
 * "__metadata__" strings of the same file: one file is written atomically, so the tensors and
 * the state that goes with them can never disagree, and no sidecar file is needed. Optimizer
 * moments are ordinary tensors (e.g. "opt.m.h.0.ln_1.weight").
 *
 * Only F32, BF16, I32 and I8 are supported; a file holding any other dtype is rejected. This code
 * assumes a little-endian host (x86-64, AArch64), like the format.
 */
#ifndef STRATA_CHECKPOINT_H
#define STRATA_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"
#include "strata/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimensions a checkpoint tensor may have. */
#define ST_CKPT_MAX_DIMS 8

/* A tensor to write. All pointers are borrowed for the duration of the call. */
typedef struct st_ckpt_tensor {
    const char *name;   /* non-empty, unique, not "__metadata__" */
    st_dtype dtype;
    int ndim;           /* 0..ST_CKPT_MAX_DIMS; 0 is a scalar */
    int64_t shape[ST_CKPT_MAX_DIMS];
    const void *data;   /* numel * dtype-size bytes, row-major; may be NULL when numel is 0 */
} st_ckpt_tensor;

/* One "__metadata__" entry. Both strings borrowed; any UTF-8 text. */
typedef struct st_ckpt_meta {
    const char *key;
    const char *value;
} st_ckpt_meta;

/* A tensor's description as read from a file. `name` is owned by the file handle it came from
 * and valid until that handle is closed. */
typedef struct st_ckpt_info {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_CKPT_MAX_DIMS];
    size_t bytes;       /* numel * dtype size */
} st_ckpt_info;

/* --- Writing --- */

/* Writes `n` tensors and `nmeta` metadata entries (meta may be NULL when nmeta is 0) to `path`,
 * atomically: everything goes to a temporary file in the same directory, which is flushed,
 * fsync'd and renamed over `path`, and the directory is fsync'd. On any error the temporary file
 * is removed and an existing file at `path` is left untouched (one exception: when the final
 * fsync of the directory fails, the rename has happened and the new file is in place, but its
 * durability is unknown; that is still reported as ST_ERR_IO). Tensors are stored in the order
 * given; the header is padded with spaces to a multiple of 8 bytes so that the data is aligned.
 * Errors: ST_ERR_INVALID_ARG (NULL path, n < 0, a tensor with an empty, duplicate or reserved
 * name, bad dtype, ndim or negative dim, NULL data with numel > 0, duplicate or NULL metadata
 * key; the message names the tensor), ST_ERR_IO (create/write/fsync/rename failed: path and
 * strerror), ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_safetensors_write(const char *path, const st_ckpt_tensor *tensors, int n,
                                      const st_ckpt_meta *meta, int nmeta);

/* --- Reading --- */

typedef struct st_safetensors st_safetensors;

/* Opens a safetensors file and validates all of its header: header length against the file
 * size, JSON syntax (strict), each entry's fields (dtype known and supported, shape of
 * non-negative integers, data_offsets of two integers), shape * dtype size == offsets span,
 * offsets inside the data area, tensors neither overlapping nor leaving gaps and covering the
 * data area exactly, no duplicate tensor or metadata names, metadata values strings.
 * Tensor data is not read until asked for. *out is owned by the caller (st_safetensors_destroy).
 * Errors: ST_ERR_INVALID_ARG (NULL), ST_ERR_IO (open/read failed: path and strerror),
 * ST_ERR_FORMAT (anything inconsistent; the message names the tensor and field),
 * ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_safetensors_open(const char *path, st_safetensors **out);

/* Closes the file and frees the handle (and every name it handed out). NULL is a no-op. */
ST_API void st_safetensors_destroy(st_safetensors *f);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_safetensors_destroy") void st_safetensors_close(st_safetensors *f);

/* Number of tensors; 0 for NULL. */
ST_API int st_safetensors_count(const st_safetensors *f);

/* Tensor i (0 <= i < count), in the order of their data in the file.
 * Errors: ST_ERR_INVALID_ARG (NULL, i out of range). */
ST_API st_status st_safetensors_info(const st_safetensors *f, int i, st_ckpt_info *out);

/* The tensor called `name`. Errors: ST_ERR_INVALID_ARG (NULL, no such tensor: the message names
 * it). */
ST_API st_status st_safetensors_find(const st_safetensors *f, const char *name, st_ckpt_info *out);

/* Reads tensor `name` into `dst`, which holds `bytes` bytes; `bytes` must equal the tensor's
 * size. Errors: ST_ERR_INVALID_ARG (NULL, no such tensor, size mismatch: both sizes given),
 * ST_ERR_IO (read failed or the file shrank since it was opened). */
ST_API st_status st_safetensors_read(const st_safetensors *f, const char *name, void *dst,
                                     size_t bytes);

/* Value of metadata `key`, or NULL when absent (or f/key NULL). Owned by the handle. */
ST_API const char *st_safetensors_meta(const st_safetensors *f, const char *key);

/* Number of metadata entries, and entry i (strings owned by the handle).
 * Errors: ST_ERR_INVALID_ARG (NULL, i out of range). */
ST_API int st_safetensors_meta_count(const st_safetensors *f);
ST_API st_status st_safetensors_meta_at(const st_safetensors *f, int i, const char **key,
                                        const char **value);

/* --- llm.c model checkpoints (gpt2_124M.bin and the like) ---
 *
 * Layout: a header of 256 little-endian int32 (magic 20240326, version 3, maxT, V, L, NH, C,
 * Vp = padded V), then every parameter as f32 in this order, each array stacked over the L
 * layers:
 *   wte (Vp, C), wpe (maxT, C), ln1w (L, C), ln1b (L, C), qkvw (L, 3C, C), qkvb (L, 3C),
 *   attprojw (L, C, C), attprojb (L, C), ln2w (L, C), ln2b (L, C), fcw (L, 4C, C), fcb (L, 4C),
 *   fcprojw (L, C, 4C), fcprojb (L, C), lnfw (C), lnfb (C).
 *
 * Parameters are listed in that order with GPT-2 Hugging Face names, one entry per layer slice:
 *   "wte.weight", "wpe.weight", then "h.{l}.ln_1.weight" for l = 0..L-1, then
 *   "h.{l}.ln_1.bias", "h.{l}.attn.c_attn.weight", "h.{l}.attn.c_attn.bias",
 *   "h.{l}.attn.c_proj.weight", "h.{l}.attn.c_proj.bias", "h.{l}.ln_2.weight",
 *   "h.{l}.ln_2.bias", "h.{l}.mlp.c_fc.weight", "h.{l}.mlp.c_fc.bias",
 *   "h.{l}.mlp.c_proj.weight", "h.{l}.mlp.c_proj.bias", "ln_f.weight", "ln_f.bias".
 * Shapes are llm.c's, which differ from Hugging Face's files in two ways:
 *  - weight matrices are (out, in), e.g. c_attn.weight (3C, C); HF's GPT-2 uses Conv1D and
 *    stores the transpose (in, out), (C, 3C). Transpose when converting between the two.
 *  - wte.weight has Vp rows (padded vocabulary, rows V..Vp-1 unused); HF's has V.
 * The llm.c array names ("wte", "qkvw", ...) also work with st_llmc_read and give the whole
 * stacked array. */

typedef struct st_llmc_model st_llmc_model;

typedef struct st_llmc_config {
    int32_t max_seq_len;  /* maxT */
    int32_t vocab_size;   /* V */
    int32_t num_layers;   /* L */
    int32_t num_heads;    /* NH */
    int32_t channels;     /* C */
    int32_t padded_vocab_size; /* Vp */
} st_llmc_config;

/* Opens an llm.c model file and validates its header: magic, version 3, positive sizes,
 * C % NH == 0, Vp >= V, and file size == 1024 + 4 * (parameter count computed from the sizes).
 * *out is owned by the caller (st_llmc_destroy).
 * Errors: ST_ERR_INVALID_ARG (NULL), ST_ERR_IO (path and strerror), ST_ERR_FORMAT (the field
 * and its value, or expected and actual sizes), ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_llmc_open(const char *path, st_llmc_model **out);

/* Closes the file and frees the handle. NULL is a no-op. */
ST_API void st_llmc_destroy(st_llmc_model *m);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_llmc_destroy") void st_llmc_close(st_llmc_model *m);

/* The model's sizes. Errors: ST_ERR_INVALID_ARG (NULL). */
ST_API st_status st_llmc_config_get(const st_llmc_model *m, st_llmc_config *out);

/* Total number of f32 parameters (including the padded wte rows); 0 for NULL. */
ST_API int64_t st_llmc_num_params(const st_llmc_model *m);

/* Number of named parameters: 4 + 12 * L; 0 for NULL. */
ST_API int st_llmc_param_count(const st_llmc_model *m);

/* Named parameter i, in file order (dtype ST_F32, llm.c shape).
 * Errors: ST_ERR_INVALID_ARG (NULL, i out of range). */
ST_API st_status st_llmc_param_info(const st_llmc_model *m, int i, st_ckpt_info *out);

/* Reads the parameter called `name` (a Hugging Face name as listed above, or an llm.c array
 * name for the stacked array) into `dst`, which holds exactly `bytes` bytes.
 * Errors: ST_ERR_INVALID_ARG (NULL, unknown name, size mismatch), ST_ERR_IO. */
ST_API st_status st_llmc_read(const st_llmc_model *m, const char *name, float *dst, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
