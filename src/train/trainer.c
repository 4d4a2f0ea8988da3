/* strata-train's run: opens the data, builds GPT-2 in an st_params arena, and trains it with
 * AdamW (warmup + cosine, clipping at the global norm, gradient accumulation), printing one
 * progress line per step and writing metrics as JSON lines; over several ranks, each its rows of
 * the global batch, with the model state partitioned by the shard engine (shard.h) as --partition
 * says (ddp included). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ctype.h>
#include <sys/stat.h>
#include "ckpt.h"
#include "gpt2.h"
#include "train_dist.h"
#include "train_shard.h"
#include "train_stats.h"

typedef struct run {
    const train_opts *o;
    st_comm *comm;               /* o->comm: NULL or one rank for a plain run */
    int rank, ranks;             /* st_comm_rank, st_comm_size */
    train_opts eff;              /* o with seq = the sequence length used (for checkpoints) */
    int64_t start;               /* steps taken before this run (resume) */
    gpt2_config cfg;
    int64_t T;
    st_device *dev;
    st_dataset *ds;
    st_llmc_model *llmc;         /* --model llmc:FILE, open from config to weights */
    int from_ckpt;               /* --model is a strata-train checkpoint (weights only) */
    st_params *ps;
    st_optim *opt;               /* single-process runs; multi-rank runs step through `shard` */
    train_shard shard;
    st_adamw_config adamw;
    gpt2_graph m;
    int have_graph, have_val;
    FILE *log, *progress;
    int32_t *in, *tg;
    st_lr_schedule sched;
    double *step_ms;             /* this run's step times, for the median */
    double opt_ms, timed_ms;     /* --profile: optimizer and whole-step time of the timed steps */
    double comm_ms;              /* --profile: the engine's gathers and reduce-scatters of the timed steps */
    uint64_t step_bytes[ST_LEVEL_COUNT]; /* model-state bytes this rank sent in the last step */
    double step_comm_s[ST_LEVEL_COUNT];  /* and the seconds it spent in those collectives */
    int64_t timed_steps;
    char *err;
    size_t errlen;
} run;

/* Records the failure; with a library status, appends st_last_error(). Returns -1. */
static int fail(run *r, st_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(run *r, st_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    if (s != ST_OK && n >= 0 && (size_t)n < r->errlen)
        snprintf(r->err + n, r->errlen - (size_t)n, ": %s", st_last_error());
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int setup_config(run *r)
{
    const train_opts *o = r->o;
    if (strncmp(o->model, "llmc:", 5) == 0) {
        st_status s = st_llmc_open(o->model + 5, &r->llmc);
        if (!s) s = gpt2_llmc_config(r->llmc, &r->cfg);
        if (s) return fail(r, s, "cannot use model '%s'", o->model);
        if (o->L || o->H || o->C || o->ctx || o->V)
            return fail(r, ST_OK, "--layers/--heads/--embd/--context/--vocab do not apply to %s: its "
                        "config is L=%d H=%d C=%d T=%d V=%d", o->model, r->cfg.L, r->cfg.H,
                        r->cfg.C, r->cfg.T, r->cfg.V);
    } else if (gpt2_config_named(o->model, &r->cfg) != ST_OK) {
        struct stat sb;
        if (stat(o->model, &sb) != 0)
            return fail(r, ST_OK, "unknown model '%s' (tiny, gpt-25m, gpt2-124m, llmc:FILE, or a checkpoint "
                        "directory or .safetensors file)", o->model);
        if (ckpt_model_config(o->model, &r->cfg, r->err, r->errlen)) return -1;
        r->from_ckpt = 1;
        if (o->L || o->H || o->C || o->ctx || o->V)
            return fail(r, ST_OK, "--layers/--heads/--embd/--context/--vocab do not apply to the "
                        "checkpoint %s: its config is L=%d H=%d C=%d T=%d V=%d", o->model, r->cfg.L,
                        r->cfg.H, r->cfg.C, r->cfg.T, r->cfg.V);
    }
    if (o->L) r->cfg.L = o->L;
    if (o->H) r->cfg.H = o->H;
    if (o->C) r->cfg.C = o->C;
    if (o->ctx) r->cfg.T = o->ctx;
    if (o->V) r->cfg.V = r->cfg.Vp = o->V;
    if (gpt2_config_check(&r->cfg) != ST_OK)
        return fail(r, ST_OK, "bad model config: L=%d H=%d C=%d T=%d V=%d (C must divide by H)",
                    r->cfg.L, r->cfg.H, r->cfg.C, r->cfg.T, r->cfg.V);
    r->T = o->seq_set ? o->seq : r->cfg.T;
    r->eff = *o;
    r->eff.seq = r->T;
    r->eff.batch = o->batch * r->ranks; /* checkpoints record the global batch */
    if (r->T > r->cfg.T)
        return fail(r, ST_OK, "--seq %lld is longer than the model's context %d", (long long)r->T,
                    r->cfg.T);
    return 0;
}

static int setup_data(run *r)
{
    const train_opts *o = r->o;
    st_dataset_options dopt = {.val_path = o->val, .vocab_size = r->cfg.V,
                               .val_fraction = o->val ? 0.0 : 0.1};
    st_status s = st_dataset_open(o->data, &dopt, &r->ds);
    if (s) return fail(r, s, "cannot use data '%s'", o->data);
    int64_t ntrain = st_dataset_tokens(r->ds, ST_SPLIT_TRAIN);
    int64_t nval = st_dataset_tokens(r->ds, ST_SPLIT_VAL);
    if (ntrain < r->T + 1)
        return fail(r, ST_OK, "training data has %lld tokens, fewer than seq + 1 = %lld",
                    (long long)ntrain, (long long)r->T + 1);
    r->have_val = nval >= r->T + 1;
    if (o->val && !r->have_val)
        return fail(r, ST_OK, "validation data has %lld tokens, fewer than seq + 1", (long long)nval);
    size_t n = (size_t)(o->batch * r->T);
    r->in = malloc(n * sizeof(int32_t));
    r->tg = malloc(n * sizeof(int32_t));
    if (!r->in || !r->tg) return fail(r, ST_ERR_OUT_OF_MEMORY, "batch buffers");
    return 0;
}

static int setup_model(run *r)
{
    st_param_spec *specs;
    int n;
    st_status s = st_device_default(&r->dev);
    if (s) return fail(r, s, "no device (STRATA_BACKEND)");
    if ((s = gpt2_param_specs(&r->cfg, &specs, &n))) return fail(r, s, "parameter specs");
    st_device_memory m0, m1;
    st_device_memory_get(r->dev, &m0);
    s = st_params_create(r->dev, specs, n, &r->ps);
    st_device_memory_get(r->dev, &m1);
    r->shard.arena_bytes = m1.current - m0.current;
    free(specs);
    if (s) return fail(r, s, "parameters");
    if ((s = gpt2_init(r->ps, &r->cfg, r->o->seed))) return fail(r, s, "initialisation");
    if (r->llmc && (s = gpt2_llmc_load(r->llmc, r->ps))) return fail(r, s, "loading %s", r->o->model);
    if (r->from_ckpt && ckpt_model_load(r->o->model, r->ps, r->err, r->errlen)) return -1;
    r->adamw = (st_adamw_config){.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                                 .weight_decay = (float)r->o->weight_decay};
    if (r->ranks == 1 && (s = st_optim_adamw_create(r->ps, &r->adamw, &r->opt))) return fail(r, s, "AdamW");
    if ((s = gpt2_graph_create(&r->m, &r->cfg, r->ps, r->o->batch, r->T, r->o->bf16 ? ST_BF16 : ST_F32)))
        return fail(r, s, "building the model graph");
    r->have_graph = 1;
    if (r->o->profile && (s = st_graph_set_profile(r->m.plan, 1))) return fail(r, s, "profiling");
    if (!(r->step_ms = calloc((size_t)r->o->steps, sizeof(double))))
        return fail(r, ST_ERR_OUT_OF_MEMORY, "step times");
    int64_t warm = r->o->warmup >= 0 ? r->o->warmup : r->o->steps / 10;
    r->sched = (st_lr_schedule){.max_lr = r->o->lr, .min_lr = r->o->lr * r->o->min_lr_ratio,
                                .warmup_steps = warm, .total_steps = r->o->steps};
    return 0;
}

/* The engine's gather before forward or backward, or (ST_PHASE_STEP) its reduction after backward,
 * timed for --profile. */
static st_status engine_call(run *r, st_shard_state *sh, st_phase_when when)
{
    double t0 = now_ms();
    st_status s = when == ST_PHASE_STEP ? st_shard_reduce_micro(sh) : st_shard_gather(sh, when);
    r->comm_ms += now_ms() - t0;
    return s;
}

/* This rank's K micro-batches (its rows of each global batch): gradients summed (into the engine's
 * state when there is one), *loss their mean. The engine's calls are collective: a rank whose own
 * work failed (status in the return value) keeps making them, so that no rank waits for it, and
 * the failure is agreed on after the step; *engine receives the first engine error, after which
 * this rank stops calling it. */
static st_status micro_batches(run *r, int64_t step, float *loss, st_status *engine)
{
    const train_opts *o = r->o;
    st_shard_state *sh = r->shard.s;
    /* With sharded gradients attached per layer, the set holds none: the engine hands backward
     * zeroed slots. */
    st_status s = st_params_released(r->ps, 1) ? ST_OK : st_params_zero_grad(r->ps), e = ST_OK;
    double sum = 0;
    for (int64_t k = 0; !e && (sh || !s) && k < o->grad_accum; k++) {
        float l = 0;
        uint64_t micro = (uint64_t)(step * o->grad_accum + k);
        if (!s) s = st_dataset_batch_rank(r->ds, ST_SPLIT_TRAIN, o->batch, r->T, o->seed, micro, r->rank,
                                          r->ranks, r->in, r->tg);
        if (sh) e = engine_call(r, sh, ST_PHASE_FORWARD);
        if (!s && !e) s = gpt2_forward(&r->m, r->in, r->tg, &l);
        if (sh && !e) e = engine_call(r, sh, ST_PHASE_BACKWARD);
        if (!s && !e) s = st_graph_backward(r->m.plan);
        if (sh && !e) e = engine_call(r, sh, ST_PHASE_STEP);
        sum += l;
    }
    *loss = (float)(sum / (double)o->grad_accum);
    *engine = e;
    return s;
}

/* A multi-rank step: the micro-batches and the engine's optimizer step, the step's model-state
 * bytes per level read before anything else is sent (the error agreement and the loss all-reduce
 * are not model state and stay out of them), then the agreement and the mean loss. */
static int shard_step(run *r, int64_t step, float *loss, float *norm, float *lr)
{
    const train_opts *o = r->o;
    st_status e, s = micro_batches(r, step, loss, &e);
    *lr = (float)st_lr_cosine(&r->sched, step);
    double t0 = now_ms();
    if (!e) e = st_shard_step(r->shard.s, *lr, 1.0f / (float)o->grad_accum, (float)o->max_norm, norm);
    r->opt_ms += now_ms() - t0;
    dist_level_bytes(r->comm, r->step_bytes);
    dist_level_seconds(r->comm, r->step_comm_s);
    int rc = s || e ? fail(r, s ? s : e, "training step %lld", (long long)step + 1) : 0;
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if ((s = dist_sum(r->comm, loss, 1))) return fail(r, s, "averaging the loss over %d ranks", r->ranks);
    *loss /= (float)r->ranks;
    return 0;
}

/* One optimizer step over K micro-batches on every rank; *loss is their mean over the ranks. */
static int train_step(run *r, int64_t step, float *loss, float *norm, float *lr)
{
    const train_opts *o = r->o;
    if (r->shard.s) return shard_step(r, step, loss, norm, lr);
    st_status e, s = micro_batches(r, step, loss, &e);
    if (s) return fail(r, s, "training step %lld", (long long)step + 1);
    float scale;
    double t0 = o->profile ? now_ms() : 0;
    s = st_params_grad_scale(r->ps, 1.0f / (float)o->grad_accum, (float)o->max_norm, norm, &scale);
    *lr = (float)st_lr_cosine(&r->sched, step);
    if (!s && isfinite(*norm)) s = st_optim_step(r->opt, *lr, scale);
    if (o->profile && !s) { /* the graph synchronised after its last node; clipping reads the norm */
        s = st_device_sync(r->dev);
        r->opt_ms += now_ms() - t0;
    }
    return s ? fail(r, s, "training step %lld", (long long)step + 1) : 0;
}

/* Mean loss over eval_batches validation batches, the same ones at every evaluation: like
 * training, each rank takes its rows of global batches of ranks x B rows. */
static st_status evaluate(run *r, float *val)
{
    double sum = 0;
    uint64_t seed = r->o->seed ^ 0x5eed5eedull;
    for (int64_t i = 0; i < r->o->eval_batches; i++) {
        float l;
        st_status s = st_dataset_batch_rank(r->ds, ST_SPLIT_VAL, r->o->batch, r->T, seed, (uint64_t)i,
                                            r->rank, r->ranks, r->in, r->tg);
        if (!s) s = gpt2_forward(&r->m, r->in, r->tg, &l);
        if (s) return s;
        sum += l;
    }
    *val = (float)(sum / (double)r->o->eval_batches);
    return ST_OK;
}

/* The full parameters in the arena on every rank (collective), for evaluation and sampling. */
static st_status full_params(run *r)
{
    return r->shard.s ? st_shard_gather(r->shard.s, ST_PHASE_FORWARD) : ST_OK;
}

static int maybe_eval(run *r, int64_t step)
{
    float val;
    st_status s = full_params(r);
    if (!s) s = evaluate(r, &val);
    int rc = s ? fail(r, s, "evaluation at step %lld", (long long)step) : 0;
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if ((s = dist_sum(r->comm, &val, 1))) return fail(r, s, "averaging the validation loss");
    val /= (float)r->ranks;
    if (r->progress) fprintf(r->progress, "step %lld: val loss %.4f\n", (long long)step, val);
    if (r->log) fprintf(r->log, "{\"step\": %lld, \"val_loss\": %.6f}\n", (long long)step, val);
    return 0;
}

/* The progress line and the JSON line of a step; with several ranks also the model-state bytes rank
 * 0 sent at each level during the step (comm.h's ring convention: it received as many). */
static void report_step(run *r, int64_t step, float loss, float lr, float norm, double ms, double avg_ms)
{
    const train_opts *o = r->o;
    double tps = (double)(r->ranks * o->batch * r->T * o->grad_accum) / (ms / 1e3);
    double eta = avg_ms * (double)(o->steps - step - 1) / 1e3;
    const uint64_t *b = r->step_bytes;
    if (r->progress) {
        fprintf(r->progress,
                "step %5lld/%lld | loss %.4f | lr %.2e | norm %.3f | %.1f ms | %.0f tok/s | ETA %.0fs",
                (long long)step + 1, (long long)o->steps, loss, lr, norm, ms, tps, eta);
        if (r->ranks > 1)
            fprintf(r->progress, " | ranks %d | MB sent gcd/gpu/node %.2f/%.2f/%.2f", r->ranks,
                    b[ST_LEVEL_GCD] / 1e6, b[ST_LEVEL_GPU] / 1e6, b[ST_LEVEL_NODE] / 1e6);
        fputc('\n', r->progress);
    }
    if (!r->log) return;
    fprintf(r->log,
            "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6e, \"grad_norm\": %.6f, \"ms\": %.3f, "
            "\"tokens_per_s\": %.1f, \"ranks\": %d",
            (long long)step + 1, loss, lr, norm, ms, tps, r->ranks);
    const double *cs = r->step_comm_s;
    if (r->ranks > 1)
        fprintf(r->log, ", \"bytes_gcd\": %llu, \"bytes_gpu\": %llu, \"bytes_node\": %llu, \"comm_ms_gcd\": %.3f, "
                "\"comm_ms_gpu\": %.3f, \"comm_ms_node\": %.3f",
                (unsigned long long)b[ST_LEVEL_GCD], (unsigned long long)b[ST_LEVEL_GPU],
                (unsigned long long)b[ST_LEVEL_NODE], cs[ST_LEVEL_GCD] * 1e3, cs[ST_LEVEL_GPU] * 1e3,
                cs[ST_LEVEL_NODE] * 1e3);
    fputs("}\n", r->log);
}

/* Prints a sample from the first training token: bytes as text for a byte vocabulary. */
static int maybe_sample(run *r, int64_t step)
{
    const train_opts *o = r->o;
    if (r->rank != 0) return 0; /* every rank holds the same weights */
    int32_t first, out[1024];
    int n = (int)(o->sample_len < 1024 ? o->sample_len : 1024);
    st_status s = st_dataset_read(r->ds, ST_SPLIT_TRAIN, 0, 1, &first);
    if (!s) s = gpt2_sample(&r->m, r->cfg.V, first, n, (float)o->temperature, (int)o->top_k,
                            o->seed + (uint64_t)step, out);
    if (s) return fail(r, s, "sampling at step %lld", (long long)step);
    if (n > r->T - 1) n = (int)r->T - 1;
    if (!r->progress) return 0;
    fprintf(r->progress, "step %lld: sample: ", (long long)step);
    for (int i = 0; i < n; i++) {
        if (r->cfg.V > 256) fprintf(r->progress, "%d ", out[i]);
        else fputc(isprint(out[i]) || out[i] == '\n' ? out[i] : '?', r->progress);
    }
    fputc('\n', r->progress);
    return 0;
}

/* Evaluation, sampling and checkpoints after `done` steps; not part of the profile. */
static int after_step(run *r, int64_t done, int last)
{
    const train_opts *o = r->o;
    if (o->profile) st_graph_set_profile(r->m.plan, 0);
    int rc = 0;
    if (r->have_val && ((o->eval_every && done % o->eval_every == 0) || last)) rc = maybe_eval(r, done);
    if (!rc && o->sample_every && done % o->sample_every == 0) {
        st_status s = full_params(r);
        rc = s ? fail(r, s, "gathering the parameters to sample") : maybe_sample(r, done);
        rc = dist_agree(r->comm, rc, r->err, r->errlen);
    }
    if (!rc && o->ckpt && (last || (o->ckpt_every && done % o->ckpt_every == 0))) {
        if (r->shard.s)
            rc = ckpt_shard_save(o->ckpt, r->shard.s, r->comm, &r->cfg, &r->eff, done, r->err, r->errlen);
        else if (r->rank == 0)
            rc = ckpt_save(o->ckpt, r->ps, r->opt, &r->cfg, &r->eff, done, r->err, r->errlen);
        /* no rank runs ahead of the save, and a failed save stops every rank */
        rc = dist_agree(r->comm, rc, r->err, r->errlen);
        if (!rc && r->progress) fprintf(r->progress, "step %lld: checkpoint in %s\n", (long long)done, o->ckpt);
    }
    if (o->profile) st_graph_set_profile(r->m.plan, 1);
    return rc;
}

static int train_loop(run *r, float *losses)
{
    const train_opts *o = r->o;
    double total_ms = 0;
    int64_t end = o->stop_at && o->stop_at < o->steps ? o->stop_at : o->steps;
    for (int64_t step = r->start; step < end; step++) {
        float loss = 0, norm = 0, lr = 0;
        double t0 = now_ms();
        st_comm_bytes_reset(r->comm);
        if (train_step(r, step, &loss, &norm, &lr)) return -1;
        double ms = now_ms() - t0;
        total_ms += ms;
        r->step_ms[step - r->start] = ms;
        if (o->profile && step == r->start && end - step > 1) { /* leave the warm-up step out */
            st_graph_profile_reset(r->m.plan);
            r->opt_ms = r->comm_ms = 0;
        } else {
            r->timed_ms += ms;
            r->timed_steps++;
        }
        if (losses) losses[step] = loss;
        report_step(r, step, loss, lr, norm, ms, total_ms / (double)(step - r->start + 1));
        if (!isfinite(loss)) return fail(r, ST_OK, "loss is %f at step %lld", loss, (long long)step + 1);
        if (after_step(r, step + 1, step + 1 == end)) return -1;
    }
    return 0;
}

/* The run's figures (trainer.h): FLOPs per token, median step, and with --profile the graph's
 * per-op times, the optimizer's, and the rest of the step (data, zero_grad, loss read). */
static void fill_stats(run *r, train_stats *st, int64_t steps_run)
{
    const gpt2_config *c = &r->cfg;
    *st = (train_stats){.n_params = st_params_numel(r->ps)};
    st->flops_per_token = 6.0 * (double)st->n_params + 12.0 * c->L * c->C * (double)r->T;
    st->ms_median = train_median(r->step_ms, steps_run);
    double tokens = (double)(r->ranks * r->o->batch * r->T * r->o->grad_accum);
    st->tokens_per_s = st->ms_median > 0 ? tokens / (st->ms_median / 1e3) : 0;
    if (!r->o->profile || !r->timed_steps) return;
    st->timed_steps = r->timed_steps;
    int n = st_graph_profile(r->m.plan, st->op_times, TRAIN_MAX_OP_TIMES - 3);
    st->n_op_times = n < TRAIN_MAX_OP_TIMES - 3 ? n : TRAIN_MAX_OP_TIMES - 3;
    double rest = r->timed_ms - r->opt_ms - r->comm_ms;
    for (int i = 0; i < st->n_op_times; i++) rest -= st->op_times[i].ms;
    train_stats_add(st, r->ranks > 1 ? "optimizer step (reductions, clip, adamw, gathers)" : "optimizer (clip + adamw)",
                    r->opt_ms, r->timed_steps);
    if (r->ranks > 1) train_stats_add(st, "gathers, reduce-scatters (micro-batches)", r->comm_ms, r->timed_steps);
    train_stats_add(st, "other (data, zero_grad)", rest > 0 ? rest : 0, r->timed_steps);
    train_stats_sort(st);
}

static void cleanup(run *r)
{
    train_shard_destroy(&r->shard); /* first: an attached engine unhooks itself from the plan */
    if (r->have_graph) gpt2_graph_destroy(&r->m);
    st_optim_destroy(r->opt);
    st_params_destroy(r->ps);
    st_dataset_destroy(r->ds);
    st_llmc_destroy(r->llmc);
    free(r->in);
    free(r->tg);
    free(r->step_ms);
    if (r->log) fclose(r->log);
}

static void print_header(run *r)
{
    const train_opts *o = r->o;
    if (!r->progress) return;
    fprintf(r->progress, "model L=%d H=%d C=%d T=%d V=%d (%lld parameters) on %s, B=%lld T=%lld K=%lld, %s",
            r->cfg.L, r->cfg.H, r->cfg.C, r->cfg.T, r->cfg.V, (long long)st_params_numel(r->ps),
            st_device_label(r->dev), (long long)o->batch, (long long)r->T, (long long)o->grad_accum,
            o->bf16 ? "bf16 compute, f32 master weights" : "f32");
    if (r->ranks > 1)
        fprintf(r->progress, ", %d ranks (global batch %lld)", r->ranks, (long long)(r->ranks * o->batch));
    fputc('\n', r->progress);
}

/* Everything before the first step, agreed across ranks: every rank reads the checkpoint, and all
 * must resume from the same step (a checkpoint directory that is not shared shows up here). */
static int setup(run *r)
{
    const train_opts *o = r->o;
    int rc = setup_config(r);
    if (!rc) rc = setup_data(r);
    if (!rc) rc = setup_model(r);
    if (!rc) print_header(r);
    st_partition part;
    if (!rc) rc = dist_partition(r->comm, o->partition, &r->cfg, st_params_numel(r->ps), o->batch,
                                 o->grad_accum, r->progress, &part, r->err, r->errlen);
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (r->ranks > 1) { /* collective from here: the engine, and the resume through it */
        rc = train_shard_create(&r->shard, r->ps, r->comm, &part, &r->adamw, r->err, r->errlen);
        if (!rc && r->progress) train_shard_describe(&r->shard, r->progress);
        if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
        if (o->resume)
            rc = ckpt_shard_resume(o->ckpt, r->shard.s, r->comm, r->ps, &r->cfg, &r->eff, &r->start, r->err,
                                   r->errlen);
    } else if (o->resume) {
        rc = ckpt_kind(o->ckpt) == CKPT_SHARDED
                 ? ckpt_load_sharded(o->ckpt, r->ps, r->opt, &r->cfg, &r->eff, &r->start, r->err, r->errlen)
                 : ckpt_load(o->ckpt, r->ps, r->opt, &r->cfg, &r->eff, &r->start, r->err, r->errlen);
    }
    if (rc == 1) rc = 0;
    else if (!rc && o->resume && r->progress) fprintf(r->progress, "resumed from step %lld\n", (long long)r->start);
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (r->ranks > 1) { /* after the resume, which still reads and writes the full arenas */
        rc = train_shard_attach(&r->shard, r->m.plan, r->dev, r->err, r->errlen);
        if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    }
    int same;
    st_status s = dist_same(r->comm, r->start, &same);
    if (s) return fail(r, s, "comparing the resume step across ranks");
    if (!same)
        return fail(r, ST_OK, "ranks would resume from different steps (this one: %lld): every rank "
                    "must see rank 0's checkpoint in %s", (long long)r->start, o->ckpt);
    if (r->rank == 0 && o->log && !(r->log = fopen(o->log, r->start ? "a" : "w")))
        rc = fail(r, ST_OK, "cannot write log '%s'", o->log);
    return dist_agree(r->comm, rc, r->err, r->errlen);
}

int train_run(const train_opts *o, FILE *progress, float *losses, char *err, size_t errlen)
{
    run r = {.o = o, .comm = o->comm, .rank = st_comm_rank(o->comm), .ranks = st_comm_size(o->comm),
             .progress = progress, .err = err, .errlen = errlen};
    if (r.rank != 0) r.progress = NULL;
    int rc = setup(&r);
    if (!rc) rc = train_loop(&r, losses);
    if (!rc) train_shard_report(&r.shard, r.dev, r.progress, r.log);
    if (!rc && o->stats) {
        int64_t end = o->stop_at && o->stop_at < o->steps ? o->stop_at : o->steps;
        fill_stats(&r, o->stats, end > r.start ? end - r.start : 0);
    }
    cleanup(&r);
    return rc;
}
