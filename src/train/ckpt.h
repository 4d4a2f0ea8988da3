/* strata-train's checkpoints. A single-process run writes DIR/model.safetensors with every parameter under its GPT-2 Hugging
 * Face name, the AdamW moments as the flat tensors "opt.m" and "opt.v", and the run's state in
 * __metadata__ (step, seed, model config, batch shape). Written atomically by
 * st_safetensors_write(), so a crash leaves the previous checkpoint intact. A multi-rank run writes
 * the shard engine's checkpoint (st_shard_save: a file per optimizer shard and
 * DIR/index.safetensors, the same run state in the index's metadata); either kind resumes into
 * either kind of run (ckpt_shard.c converts). */
#ifndef STRATA_TRAIN_CKPT_H
#define STRATA_TRAIN_CKPT_H

#include "gpt2.h"
#include "strata/shard.h"
#include "trainer.h"

#define CKPT_N_META 11

/* The run's state as metadata strings (format, step, seed, config, global batch, seq, accumulation):
 * keys, and values printed into vals. */
void ckpt_meta_fill(st_ckpt_meta *meta, char (*vals)[32], const gpt2_config *c, const train_opts *o,
                    int64_t step);

/* Every metadata entry of f except the step must equal the run's; *step receives it. Returns 0, or
 * -1 with a message naming the entry that differs. */
int ckpt_meta_check(const st_safetensors *f, const gpt2_config *cfg, const train_opts *o, int64_t *step,
                    char *err, size_t errlen);

/* A whole single-process checkpoint on the host, laid out like the parameter arena (n elements). */
typedef struct ckpt_host {
    float *p, *m, *v;
    int64_t n, step;
} ckpt_host;

/* Reads DIR/model.safetensors after checking its metadata. Returns 0, 1 when there is none, or -1
 * with a message in err. *h is freed with ckpt_host_free (also safe after a failure). */
int ckpt_read(const char *dir, st_params *ps, const gpt2_config *cfg, const train_opts *o, ckpt_host *h,
              char *err, size_t errlen);
/* Writes h into the arena, AdamW's moments and its step. */
st_status ckpt_host_apply(const ckpt_host *h, st_params *ps, st_optim *opt);
void ckpt_host_free(ckpt_host *h);

/* Which checkpoint DIR holds: CKPT_NONE, CKPT_PLAIN (model.safetensors) or CKPT_SHARDED
 * (index.safetensors); with both (a run interrupted between writing one and removing the other),
 * the one of the later step. */
enum { CKPT_NONE, CKPT_PLAIN, CKPT_SHARDED };
int ckpt_kind(const char *dir);

/* Removes the entry file of the other kind than `kept` (a stale checkpoint of an earlier run). */
void ckpt_drop_other(const char *dir, int kept);

/* Sharded checkpoint of a multi-rank run (collective over the engine's ranks). Returns 0, or -1 with
 * a message in err on every rank. */
int ckpt_shard_save(const char *dir, st_shard_state *s, st_comm *c, const gpt2_config *cfg,
                    const train_opts *o, int64_t step, char *err, size_t errlen);

/* Resumes a multi-rank run from DIR's checkpoint of either kind, with any rank count or scheme
 * (a single-process checkpoint is converted through a one-shard sharded checkpoint in
 * DIR/from-plain, removed afterwards). Collective. Returns 0, 1 when DIR holds no checkpoint, or -1
 * with a message in err on every rank. */
int ckpt_shard_resume(const char *dir, st_shard_state *s, st_comm *c, st_params *ps, const gpt2_config *cfg,
                      const train_opts *o, int64_t *step, char *err, size_t errlen);

/* Resumes a single-process run from a sharded checkpoint: every shard file's ranges into the arena
 * and AdamW. Returns 0, or -1 with a message in err. */
int ckpt_load_sharded(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
                      const train_opts *o, int64_t *step, char *err, size_t errlen);

/* Saves the state after `step` optimizer steps. Returns 0, or -1 with a message in err. */
int ckpt_save(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t step, char *err, size_t errlen);

/* Restores parameters, moments and the optimizer's step from DIR's single-process checkpoint, after checking
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
