/* strata-train's checkpoints. DIR (--ckpt) is a checkpoint directory (strata/ckpt_dir.h): each save
 * is written into a staging directory and committed as a whole as DIR/step-N, `latest` naming it, so
 * a crash or a full disk leaves the previous checkpoint complete. Every step directory is a Hugging
 * Face GPT-2 directory (ckpt_hf.h: config.json and model.safetensors, which
 * GPT2LMHeadModel.from_pretrained loads), and holds the trainer's state beside it: a single-process
 * run writes trainer_state.safetensors (the AdamW moments as the flat tensors "opt.m" and "opt.v" laid
 * out like the arena, wte's padding rows as "wte.pad", and the run's state in __metadata__: step,
 * seed, model config, batch shape and every hyperparameter); a multi-rank run writes the shard
 * engine's checkpoint (st_shard_save: a file per optimizer shard and index.safetensors, the same run
 * state in the index's metadata, each shard file carrying the save's step and id), and rank 0 then
 * assembles model.safetensors from it. Either kind resumes into either kind of run (ckpt_shard.c
 * converts). Step directories of the layout before Hugging Face files (model.safetensors with the
 * moments inside, names without "transformer.", wte of Vp rows) and directories written before step
 * directories (those files directly in DIR) still resume; the latter are removed after the first
 * commit into DIR. */
#ifndef STRATA_TRAIN_CKPT_H
#define STRATA_TRAIN_CKPT_H

#include "gpt2.h"
#include "strata/ckpt_dir.h"
#include "strata/shard.h"
#include "trainer.h"

#define CKPT_N_META 23
#define CKPT_STATE_FILE "trainer_state.safetensors"

/* The file holding the run's metadata in DIR for kind (CKPT_PLAIN: trainer_state.safetensors, or the
 * older layout's model.safetensors; CKPT_SHARDED: index.safetensors). */
void ckpt_entry_file(char *buf, size_t n, const char *dir, int kind);

/* The hyperparameters in f that differ from o's (a resume with other values is allowed: the schedule,
 * AdamW's constants, clipping, data order): "--beta2 0.99 (the checkpoint's: 0.95), ...". Entries
 * absent from older checkpoints compare with the values those were made with. Returns the count. */
int ckpt_meta_changes(const st_safetensors *f, const train_opts *o, char *msg, size_t len);

/* A metadata value that is a count: decimal digits only (no sign, space or empty value), within
 * int64; -1 otherwise (or for NULL). */
int64_t ckpt_parse_count(const char *s);

/* The run's state as metadata strings (format, step, seed, config, global batch, seq, accumulation,
 * whether embeddings decay, then the hyperparameters): keys, and values printed into vals. */
void ckpt_meta_fill(st_ckpt_meta *meta, char (*vals)[32], const gpt2_config *c, const train_opts *o,
                    int64_t step);

/* The entries that fix the arena and the data (format, seed, config, batch shape, decay_embeddings) must
 * equal the run's; *step receives the step. Hyperparameters are not checked here (ckpt_meta_changes).
 * Returns 0, or -1 with a message naming the entry that differs. */
int ckpt_meta_check(const st_safetensors *f, const gpt2_config *cfg, const train_opts *o, int64_t *step,
                    char *err, size_t errlen);

/* A whole single-process checkpoint on the host, laid out like the parameter arena (n elements). */
typedef struct ckpt_host {
    float *p, *m, *v;
    int64_t n, step;
} ckpt_host;

/* DIR's state (either single-process layout) into *h without checking the metadata; h->step is not set.
 * Returns 0 or -1 with err. */
int ckpt_host_read(const char *dir, st_params *ps, const gpt2_config *cfg, ckpt_host *h, char *err, size_t errlen);
/* dir/trainer_state.safetensors from h (its moments, wte's padding rows, step). Returns 0 or -1. */
int ckpt_state_write(const char *dir, const st_params *ps, const gpt2_config *cfg, const train_opts *o,
                     const ckpt_host *h, char *err, size_t errlen);

/* Reads DIR's single-process checkpoint after checking its metadata. Returns 0, 1 when there is none, or -1
 * with a message in err. *h is freed with ckpt_host_free (also safe after a failure). */
int ckpt_read(const char *dir, st_params *ps, const gpt2_config *cfg, const train_opts *o, ckpt_host *h,
              char *err, size_t errlen);
/* Writes h into the arena, AdamW's moments and its step. */
st_status ckpt_host_apply(const ckpt_host *h, st_params *ps, st_optim *opt);
void ckpt_host_free(ckpt_host *h);

/* Which checkpoint DIR holds: CKPT_NONE, CKPT_PLAIN (model.safetensors) or CKPT_SHARDED
 * (index.safetensors); with both (a directory of the layout before step directories where a run
 * was interrupted between writing one and removing the other), the one of the later step. */
enum { CKPT_NONE, CKPT_PLAIN, CKPT_SHARDED };
int ckpt_kind(const char *dir);

/* Where a run resumes from: DIR's committed step directory, or DIR itself when it holds a
 * checkpoint of the layout before step directories. */
typedef struct ckpt_source {
    char path[4096];  /* the directory holding model.safetensors or index.safetensors */
    int kind;         /* CKPT_NONE when DIR holds no checkpoint at all */
    int64_t commit;   /* step of the committed directory, -1 for the older layout or none */
    char note[640];   /* "" or why the committed checkpoint is not the one `latest` names */
} ckpt_source;

/* Resolves DIR (st_ckpt_dir_find, then the older layout). Returns 0, or -1 with a message when DIR
 * holds step directories of which none is complete. */
int ckpt_locate(const char *dir, ckpt_source *src, char *err, size_t errlen);

/* The writer of DIR for a run (one process: rank 0): st_ckpt_dir_open, which takes DIR's lock and
 * removes what dead writers left. Returns 0 or -1 with err. */
int ckpt_writer_open(const char *dir, int keep, st_ckpt_dir **out, char *err, size_t errlen);

/* The staging directory of `step` into `staging`: created by the writer (d not NULL, rank 0),
 * only named by the other ranks (d NULL). Returns 0 or -1 with err. */
int ckpt_stage(st_ckpt_dir *d, const char *dir, int64_t step, char *staging, size_t len, char *err,
               size_t errlen);

/* Commits the staged checkpoint of `step` (its files: model.safetensors, or the index and every
 * shard the index counts), then removes the files of the older layout from DIR. Returns 0 or -1. */
int ckpt_commit(st_ckpt_dir *d, const char *dir, const char *staging, int64_t step, int sharded, char *err,
                size_t errlen);

/* Sharded checkpoint of a multi-rank run (collective over the engine's ranks), then on rank 0 the
 * Hugging Face files assembled from its shards. Returns 0, or -1 with
 * a message in err on every rank. */
int ckpt_shard_save(const char *dir, st_shard_state *s, st_comm *c, st_params *ps, const gpt2_config *cfg,
                    const train_opts *o, int64_t step, char *err, size_t errlen);

/* Resumes a multi-rank run from src (ckpt_locate of ROOT, the --ckpt directory) of either kind,
 * with any rank count or scheme (a single-process checkpoint is converted through a one-shard
 * sharded checkpoint in ROOT/.partial-from-plain, removed afterwards). Collective. Returns 0, 1 when
 * there is no checkpoint, or -1 with a message in err on every rank. */
int ckpt_shard_resume(const char *root, const ckpt_source *src, st_shard_state *s, st_comm *c, st_params *ps,
                      const gpt2_config *cfg, const train_opts *o, int64_t *step, char *err, size_t errlen);

/* Resumes a single-process run from a sharded checkpoint in dir: every shard file's ranges into the
 * arena and AdamW, each shard checked against the index (P, count, step, index, first element and
 * the save's id). Returns 0, or -1 with a message in err. */
int ckpt_load_sharded(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
                      const train_opts *o, int64_t *step, char *err, size_t errlen);

/* The parameters of dir's sharded checkpoint (every shard, checked against the index) into h, a host
 * buffer laid out like the arena of ps. Returns 0 or -1 with err. */
int ckpt_sharded_params(const char *dir, st_params *ps, float *h, char *err, size_t errlen);

/* Saves the state after `step` optimizer steps as dir/model.safetensors (dir: a staging
 * directory). Returns 0, or -1 with a message in err. */
int ckpt_save(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t step, char *err, size_t errlen);

/* Restores parameters, moments and the optimizer's step from dir's model.safetensors, after checking
 * that its model config, seed, batch, seq and accumulation match the run's; *step receives the
 * steps already taken. Returns 0, 1 when DIR holds no checkpoint, or -1 with a message in err
 * (nothing of the run is trusted then). */
int ckpt_load(const char *dir, st_params *ps, st_optim *opt, const gpt2_config *cfg,
              const train_opts *o, int64_t *step, char *err, size_t errlen);

/* --model PATH (a checkpoint directory, resolved as ckpt_locate does, a Hugging Face directory, or a
 * .safetensors file) as a starting point: the model config (hf_model_config: config.json, metadata or
 * tensors; heads > 0 supplies or overrides n_head), then only its weights into ps, made for that
 * config. Optimizer state and step are not read. Return 0, or -1 with a message in err. */
int ckpt_model_config(const char *path, int heads, gpt2_config *cfg, char *err, size_t errlen);
int ckpt_model_load(const char *path, st_params *ps, int V, char *err, size_t errlen);

#endif
