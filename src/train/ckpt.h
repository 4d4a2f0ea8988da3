/* strata-train's checkpoints: DIR/model.safetensors with every parameter under its GPT-2 Hugging
 * Face name, the AdamW moments as the flat tensors "opt.m" and "opt.v", and the run's state in
 * __metadata__ (step, seed, model config, batch shape). Written atomically by
 * st_safetensors_write(), so a crash leaves the previous checkpoint intact. */
#ifndef STRATA_TRAIN_CKPT_H
#define STRATA_TRAIN_CKPT_H

#include "gpt2.h"
#include "trainer.h"

/* Saves the state after `step` optimizer steps. Returns 0, or -1 with a message in err. */
int ckpt_save(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t step, char *err, size_t errlen);

/* Restores parameters, moments and the optimizer's step from DIR's checkpoint, after checking
 * that its model config, seed, batch, seq and accumulation match the run's; *step receives the
 * steps already taken. Returns 0, 1 when DIR holds no checkpoint, or -1 with a message in err
 * (nothing of the run is trusted then). */
int ckpt_load(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t *step, char *err, size_t errlen);

/* --model PATH (a checkpoint directory or its .safetensors file) as a starting point: the model
 * config from its metadata (Vp from wte's rows), then only its weights into ps, made for that
 * config. Optimizer state and step are not read. Return 0, or -1 with a message in err. */
int ckpt_model_config(const char *path, gpt2_config *cfg, char *err, size_t errlen);
int ckpt_model_load(const char *path, st_params *ps, char *err, size_t errlen);

#endif
