/* Hugging Face GPT-2 directories (ckpt_hf.c): what save_pretrained writes and from_pretrained reads
 * for GPT2LMHeadModel: config.json (the true vocabulary size, n_positions, n_embd, n_layer, n_head,
 * model_type gpt2, tied word embeddings) and model.safetensors (f32, names "transformer.<name>",
 * wte cut to the V real rows, lm_head left out: tied; metadata {"format": "pt"}, which transformers
 * requires). */
#ifndef STRATA_TRAIN_CKPT_HF_H
#define STRATA_TRAIN_CKPT_HF_H

#include <stddef.h>
#include "gpt2.h"

/* Writes dir/model.safetensors and dir/config.json (each atomically; dir created when missing) from
 * p, a host copy of the arena of ps. Returns 0 or -1 with err. */
int hf_write_dir(const char *dir, st_params *ps, const gpt2_config *cfg, const float *p, char *err, size_t errlen);

/* The config of the model in `file` (a safetensors file, with or without the "transformer." prefix):
 * from dir/config.json when dir is not NULL and has one (--model gives the file's directory), else from strata-train's metadata in the file,
 * else from the tensors (L from the h.N blocks, C and V from wte, T from wpe; H only from `heads`).
 * heads > 0 supplies H where neither says it (and must agree where one does). Vp: wte's rows when they exceed V (strata-train's older checkpoints), else V
 * padded to a multiple of 128. Returns 0 or -1 with err (a config.json setting this model cannot
 * honour: another activation, LayerNorm epsilon, untied embeddings, n_inner, ...). */
int hf_model_config(const char *dir, const char *file, int heads, gpt2_config *cfg, char *err, size_t errlen);

/* strata-train's own metadata (checkpoints before this layout, the engine's index): n_layer, n_head,
 * n_embd, n_ctx, vocab_size into the fields of c that are still 0. */
void hf_meta_config(const st_safetensors *f, gpt2_config *c);

/* Every parameter of ps from `file` into h (a host buffer laid out like the arena; wte's rows past the
 * file's stay as they are). f32 or bf16 tensors; lm_head.weight, when present, must equal wte's first V
 * rows. Returns 0 or -1 with err naming the tensor. */
int hf_model_load(const char *file, const st_params *ps, int V, float *h, char *err, size_t errlen);

#endif
