/* Parameter sets, optimizers (AdamW, SGD with momentum), the learning-rate schedule, gradient
 * clipping by global norm and gradient accumulation.
 *
 * Memory layout (llm.c's): a parameter set keeps ALL its parameters in one f32 allocation on one
 * device, all gradients in a second one, and an optimizer keeps each state buffer (AdamW m and v,
 * SGD momentum) in one more, laid out exactly like the parameters. Each parameter and gradient is
 * a view (slice + reshape) of its flat tensor at an offset aligned to ST_PARAMS_ALIGN elements.
 * Parameters flagged for weight decay come first (the "decay region"), the others after it (the
 * "no-decay region"), each in the caller's order; the gaps of alignment padding hold zeros and
 * stay zero through every optimizer step. So an optimizer step is a fixed handful of ops on flat
 * tensors whatever the number of parameters, and collectives can move the flat tensors whole.
 *
 * Gradient accumulation over K micro-batches: call st_params_zero_grad() once per optimizer step,
 * let each micro-batch's backward ADD its gradient into the gradient views (the sum of K
 * micro-batch gradients builds up in the arena), then pass the averaging factor 1/K to
 * st_params_grad_scale(), which folds it and the clipping factor into the single grad_scale that
 * st_optim_step() applies (no extra pass over the gradients for AdamW):
 *
 *     st_params_zero_grad(ps);
 *     for (k = 0; k < K; k++) forward_backward(micro_batch k);   // grads += d loss_k / d params
 *     st_params_grad_scale(ps, 1.0f / K, max_norm, &norm, &scale); // norm of the mean gradient
 *     st_optim_step(opt, st_lr_cosine(&sched, step), scale);
 *
 * Every handle here is created and destroyed by the caller; tensors handed out by a set or an
 * optimizer are borrowed (owned by it, valid until it is destroyed; do not st_tensor_destroy them).
 * A set and the optimizers built on it are used from one thread at a time.
 */
#ifndef STRATA_OPTIM_H
#define STRATA_OPTIM_H

#include <stdint.h>
#include "strata/status.h"
#include "strata/device.h"
#include "strata/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every parameter's offset in the flat tensors, in elements (64 f32 = 256 bytes:
 * a cache line multiple on CPUs and the allocation granule of CUDA/HIP, so views of the arena
 * start where a separately allocated tensor would). */
#define ST_PARAMS_ALIGN 64

typedef struct st_params st_params;
typedef struct st_optim st_optim;

/* One parameter as the caller declares it. */
typedef struct st_param_spec {
    const char *name;            /* unique, non-empty; copied */
    int ndim;                    /* 0 .. ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS];  /* sizes >= 0 */
    int decay;                   /* nonzero: weight decay applies (GPT-2 convention: matrices and
                                    embeddings yes; biases and LayerNorm gains/offsets no) */
} st_param_spec;

/* What st_params_info() reports about parameter i. */
typedef struct st_param_info {
    const char *name;            /* owned by the set */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t offset;              /* element offset of the parameter (and its gradient) in the flat
                                    tensors; a multiple of ST_PARAMS_ALIGN */
    int64_t numel;
    int decay;                   /* 0 or 1 */
} st_param_info;

/* ---- parameter sets ---- */

/* Creates a set of n >= 1 f32 parameters on `dev` from their specs. Parameters and gradients are
 * zero-filled (initialise parameters through their views, e.g. with st_rand_normal()).
 * Errors: ST_ERR_INVALID_ARG (NULL dev/specs/out, n < 1, NULL or empty or duplicate name, decay
 * region or set too large), ST_ERR_SHAPE (ndim out of range, negative size), ST_ERR_OUT_OF_MEMORY,
 * backend errors. On error *out is untouched and nothing is left allocated. */
ST_API st_status st_params_create(st_device *dev, const st_param_spec *specs, int n, st_params **out);

/* Frees the set and its arenas. Optimizers built on it must be destroyed first. NULL is a no-op. */
ST_API void st_params_destroy(st_params *ps);

/* Number of parameters (0 for NULL). */
ST_API int st_params_count(const st_params *ps);

/* Total elements of all parameters, padding excluded (0 for NULL). */
ST_API int64_t st_params_numel(const st_params *ps);

/* Device of the set (NULL for NULL). */
ST_API st_device *st_params_device(const st_params *ps);

/* Index of the parameter called `name`. Errors: ST_ERR_INVALID_ARG (NULL argument, unknown name:
 * the message names it). */
ST_API st_status st_params_index(const st_params *ps, const char *name, int *index);

/* Borrowed views of parameter i and of its gradient (either out may be NULL).
 * Errors: ST_ERR_INVALID_ARG (NULL set, index out of range). */
ST_API st_status st_params_get(const st_params *ps, int i, st_tensor **param, st_tensor **grad);

/* Same, by name. Errors: ST_ERR_INVALID_ARG (NULL argument, unknown name). */
ST_API st_status st_params_get_by_name(const st_params *ps, const char *name, st_tensor **param,
                                       st_tensor **grad);

/* Name, shape, offset and decay flag of parameter i. Errors: ST_ERR_INVALID_ARG. */
ST_API st_status st_params_info(const st_params *ps, int i, st_param_info *out);

/* Borrowed 1-d flat tensors holding every parameter / every gradient, padding included (either
 * out may be NULL). Their length is the same and a multiple of ST_PARAMS_ALIGN; elements
 * [0, decay_numel) are the decay region. For collectives and checkpoints.
 * Errors: ST_ERR_INVALID_ARG (NULL set). */
ST_API st_status st_params_flat(const st_params *ps, st_tensor **params, st_tensor **grads,
                                int64_t *decay_numel);

/* Frees the parameter arena (params != 0) and/or the gradient arena (grads != 0) for an engine
 * that keeps that state elsewhere (st_shard_attach_graph: sharded parameters and gradients live in
 * per-unit working slots). The views and flat tensors st_params_get()/st_params_flat() hand out
 * afterwards keep their shapes but are placeholders of stride 0 over a single element: reading
 * them gives no parameter, writing them is meaningless (st_params_zero_grad() and
 * st_params_grad_norm() still run). The memory is returned to the device once no other handle
 * (a graph's, a plan's) refers to it. Idempotent; the set stays valid for st_params_info() and
 * destroy. Errors: ST_ERR_INVALID_ARG (NULL), ST_ERR_OUT_OF_MEMORY, backend errors (the set is
 * then unchanged for the arena that failed). */
ST_API st_status st_params_release(st_params *ps, int params, int grads);

/* Whether the parameter (grads = 0) or gradient (grads != 0) arena was released. 0 for NULL. */
ST_API int st_params_released(const st_params *ps, int grads);

/* Sets every gradient (the whole gradient arena) to zero: one fill. */
ST_API st_status st_params_zero_grad(st_params *ps);

/* Global L2 norm of all gradients: sqrt(sumsq(flat gradients)), one st_sumsq on the flat tensor,
 * then a read of its one-element result (so this waits for queued work). */
ST_API st_status st_params_grad_norm(st_params *ps, float *norm);

/* Clipping factor for a gradient of global norm `norm` clipped at `max_norm`:
 * min(1, max_norm / (norm + 1e-6)) (PyTorch's clip_grad_norm_). max_norm <= 0 means no clipping
 * (returns 1). A NaN or infinite norm gives a NaN or 0 factor: check the norm with isfinite()
 * and skip the step. Pure function. */
ST_API float st_grad_clip_factor(float norm, float max_norm);

/* The grad_scale for st_optim_step() after accumulating gradients: with g the gradient arena and
 * `avg` the averaging factor (1/K for K micro-batches, 1 for none),
 *   *norm  = avg * ||g||                        (pre-clip norm of the averaged gradient, for logs)
 *   *scale = avg * st_grad_clip_factor(*norm, max_norm).
 * Either out may be NULL. Errors: ST_ERR_INVALID_ARG (NULL set, avg not finite or <= 0). */
ST_API st_status st_params_grad_scale(st_params *ps, float avg, float max_norm, float *norm,
                                      float *scale);

/* ---- optimizers ---- */

typedef struct st_adamw_config {
    float beta1, beta2, eps;     /* 0.9, 0.95, 1e-8 in GPT-2 training (nanoGPT, llm.c) */
    float weight_decay;          /* decoupled, applied to the decay region only (0.1 in GPT-2) */
} st_adamw_config;

typedef struct st_sgd_config {
    float momentum;              /* 0 <= momentum < 1; 0: plain SGD (no momentum buffer) */
    float weight_decay;          /* L2 (coupled, PyTorch's SGD), decay region only; >= 0 */
} st_sgd_config;

/* AdamW on set `ps`: m and v arenas allocated on the set's device, zero-filled, step count 0.
 * One step is two fused st_adamw calls on the flat tensors: the decay region with
 * cfg->weight_decay, the no-decay region with 0; the update is exactly the one st_adamw documents.
 * The set must outlive the optimizer. Errors: ST_ERR_INVALID_ARG (NULL argument, betas outside
 * [0, 1), eps <= 0, weight decay < 0 or not finite), ST_ERR_OUT_OF_MEMORY, backend errors. */
ST_API st_status st_optim_adamw_create(st_params *ps, const st_adamw_config *cfg, st_optim **out);

/* SGD with momentum (PyTorch's torch.optim.SGD with dampening 0, nesterov off), composed from
 * st_scale and st_add on the flat tensors. With g = grad_scale * grad, p the parameters, b the
 * momentum buffer (zero at the start) and wd applied in the decay region only:
 *   d = g + wd p;   b = momentum b + d (when momentum > 0, else b = d);   p -= lr b.
 * The gradient arena serves as scratch: after a step the gradients are unspecified (zero them
 * before the next accumulation, as usual). Errors: as st_optim_adamw_create(). */
ST_API st_status st_optim_sgd_create(st_params *ps, const st_sgd_config *cfg, st_optim **out);

/* Frees the optimizer and its state arenas (not the set). NULL is a no-op. */
ST_API void st_optim_destroy(st_optim *opt);

/* "adamw" or "sgd" ("?" for NULL): the kind, for checkpoint sidecars. */
ST_API const char *st_optim_name(const st_optim *opt);

/* One optimizer step over the whole set at learning rate `lr`, the gradients multiplied by
 * `grad_scale` first (clipping and averaging, see st_params_grad_scale(); 1 for none).
 * Increments the step count first, so AdamW's bias correction uses t = 1 on the first step.
 * Errors: ST_ERR_INVALID_ARG (NULL, lr or grad_scale not finite), backend errors. The step count
 * is incremented only when the step succeeded. */
ST_API st_status st_optim_step(st_optim *opt, float lr, float grad_scale);

/* Optimizer state for checkpoints: borrowed 1-d flat tensors laid out like st_params_flat()'s.
 * To save: read m, v and step. To restore: write saved values into m and v (st_tensor_write or
 * st_tensor_copy) and call st_optim_set_step(). */
typedef struct st_optim_state {
    st_tensor *m;                /* AdamW first moment, or SGD momentum buffer; NULL for SGD
                                    without momentum */
    st_tensor *v;                /* AdamW second moment; NULL for SGD */
    int64_t step;                /* steps taken so far */
} st_optim_state;

/* Fills *out with the optimizer's state. Errors: ST_ERR_INVALID_ARG (NULL). */
ST_API st_status st_optim_state_get(const st_optim *opt, st_optim_state *out);

/* Sets the number of steps taken (when restoring). Errors: ST_ERR_INVALID_ARG (NULL, step < 0). */
ST_API st_status st_optim_set_step(st_optim *opt, int64_t step);

/* ---- learning-rate schedule ---- */

/* Linear warmup then cosine decay, nanoGPT's get_lr(it) exactly:
 *   step <  warmup_steps:  max_lr * (step + 1) / (warmup_steps + 1)
 *   step >  total_steps:   min_lr
 *   otherwise:             r = (step - warmup_steps) / (total_steps - warmup_steps)
 *                          min_lr + 0.5 (1 + cos(pi r)) (max_lr - min_lr)
 * (total_steps is nanoGPT's lr_decay_iters.) When total_steps <= warmup_steps every step past the
 * warmup gets min_lr; a negative step or warmup counts as 0. Computed in double, so that any int64
 * values give a rate between min_lr and max_lr (never an overflowed one). */
typedef struct st_lr_schedule {
    double max_lr, min_lr;
    int64_t warmup_steps, total_steps;
} st_lr_schedule;

/* Learning rate at `step` (0-based) under schedule `s`; 0 for NULL. Pure function. */
ST_API double st_lr_cosine(const st_lr_schedule *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
