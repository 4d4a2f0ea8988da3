/* The GPT-2 model of strata-train: configuration, parameters in one st_params arena (Hugging
 * Face names and (in, out) matrix layout, as HF's Conv1D stores them), GPT-2 initialisation, and
 * the training graph built with graph.h. Not a public API: the trainer's own model code. */
#ifndef STRATA_TRAIN_GPT2_H
#define STRATA_TRAIN_GPT2_H

#include <stddef.h>
#include <stdint.h>
#include "strata/strata.h"

/* L layers, H heads, C channels, T context (maximum sequence length), V vocabulary and Vp the
 * vocabulary padded for the embedding table (rows V..Vp-1 never win: their logits are cut). */
typedef struct gpt2_config {
    int L, H, C, T, V, Vp;
} gpt2_config;

/* Bounds of every size, wherever it comes from (the command line, a checkpoint's metadata, an
 * llm.c header): far above any real model, low enough that every count and byte size the trainer
 * computes from them fits in int64 (and the parameter list's length in int). */
#define GPT2_MAX_LAYERS 65536
#define GPT2_MAX_HEADS 65536
#define GPT2_MAX_EMBD (1 << 20)
#define GPT2_MAX_CONTEXT (1 << 24)
#define GPT2_MAX_VOCAB (1 << 24)          /* token ids are int32 */
#define GPT2_MAX_PARAMS (INT64_C(1) << 42) /* 4.4e12 parameters, 70 TB of f32 state (p, g, m, v) */

/* The named configs "tiny", "gpt-25m", "gpt-deep" and "gpt2-124m". Errors: ST_ERR_INVALID_ARG for another name. */
st_status gpt2_config_named(const char *name, gpt2_config *out);
/* Sizes in [1, GPT2_MAX_*], C divisible by H, V <= Vp, and the parameter count (checked arithmetic)
 * at most GPT2_MAX_PARAMS. Returns 0, or -1 with a message naming the field and its bound. */
int gpt2_config_check(const gpt2_config *cfg, char *err, size_t errlen);
/* Every parameter of the config (wte's Vp rows included), 0 when a count overflows int64. */
int64_t gpt2_param_count(const gpt2_config *cfg);

/* Parameter specs in the order of the arena: 2 + 12 L + 2 entries. *specs is malloc'ed (names
 * too, in one block with it): free(*specs). Weight decay applies to the weight matrices and, when
 * decay_embeddings, to wte and wpe; never to biases and LayerNorm (the decay flag also orders the
 * arena: decayed parameters first). */
st_status gpt2_param_specs(const gpt2_config *cfg, int decay_embeddings, st_param_spec **specs, int *n);

/* Initialises every parameter of `ps` (made from gpt2_param_specs) like GPT-2: weights
 * Normal(0, 0.02), residual projections (attn.c_proj, mlp.c_proj) Normal(0, 0.02 / sqrt(2 L)),
 * biases 0, LayerNorm gains 1. Each parameter draws from its own Philox offset. */
st_status gpt2_init(st_params *ps, const gpt2_config *cfg, uint64_t seed);

/* A compiled training graph for batches of B rows of T' <= T tokens. */
typedef struct gpt2_graph {
    st_graph *g;
    st_graph_plan *plan;
    st_node idx, pos, targets, logits, loss;  /* logits (B, T', V), loss a scalar (mean CE) */
    st_tensor *idx_t, *pos_t, *tgt_t;         /* bound input tensors, owned */
    int64_t B, T;
} gpt2_graph;

/* Builds and compiles the model on the device of `ps`, for (B, T) batches, computing in dt: f32,
 * or bf16 (weights cast from the f32 parameters each forward, bf16 activations, f32 gradients
 * into ps). Errors: ST_ERR_INVALID_ARG (B or T < 1, T above cfg->T, another dt), graph
 * build/compile errors. */
st_status gpt2_graph_create(gpt2_graph *m, const gpt2_config *cfg, st_params *ps, int64_t B,
                            int64_t T, st_dtype dt);
void gpt2_graph_destroy(gpt2_graph *m);
/* Uploads one batch (inputs and targets, B*T int32 each) and runs the forward; *loss receives the
 * mean cross-entropy. */
st_status gpt2_forward(gpt2_graph *m, const int32_t *inputs, const int32_t *targets, float *loss);

/* Generates n <= T-1 tokens after `first` into out with row 0 of the graph's batch: softmax at
 * temperature `temp` over the top_k largest logits (0: all), random draws from `seed`. The
 * graph's gradients are not touched (forward only); the loss node's value is overwritten. */
/* The config of an llm.c model file, and its weights loaded into ps (made for that config):
 * weight matrices transposed from llm.c's (out, in) to (in, out). Errors: llm.c read errors. */
st_status gpt2_llmc_config(const st_llmc_model *f, gpt2_config *out);
st_status gpt2_llmc_load(const st_llmc_model *f, st_params *ps);

st_status gpt2_sample(gpt2_graph *m, int V, int32_t first, int n, float temp, int top_k,
                      uint64_t seed, int32_t *out);

#endif
