/* strata-train's run: opens the data, builds GPT-2 in an st_params arena, and trains it with
 * AdamW (warmup + cosine, clipping at the global norm, gradient accumulation), printing one
 * progress line per step and writing metrics as JSON lines; over several ranks, each its rows of
 * the global batch, with the model state partitioned by the shard engine (shard.h) as --partition
 * says (ddp included). */
#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "train_dist.h"
#include "train_run.h"

#define fail train_fail

#define now_ms train_now_ms

/* The engine's gather before forward or backward, or (ST_PHASE_STEP) its reduction after backward,
 * timed for --profile. */
static st_status engine_call(run *r, st_shard_state *sh, st_phase_when when)
{
    double t0 = now_ms();
    st_status s = when == ST_PHASE_STEP ? st_shard_reduce_micro(sh) : st_shard_gather(sh, when);
    double t1 = now_ms();
    r->comm_ms += t1 - t0;
    train_trace_add(r, when == ST_PHASE_STEP ? "reduce-scatter (micro-batch)" : when == ST_PHASE_FORWARD
                    ? "gather (forward)" : "gather (backward)", "collective", t0, t1);
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
        double t0 = r->trace ? now_ms() : 0;
        if (!s) s = train_batch(r, ST_SPLIT_TRAIN, o->seed, micro, r->in, r->tg);
        if (r->trace) train_trace_add(r, "batch", "data", t0, now_ms());
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
    *lr = (float)train_lr(o, r->warmup, step);
    double t0 = now_ms();
    if (!e) e = st_shard_step(r->shard.s, *lr, 1.0f / (float)o->grad_accum, (float)o->max_norm, norm);
    r->opt_ms += now_ms() - t0;
    train_trace_add(r, "optimizer step (reductions, clip, adamw, gathers)", "collective", t0, now_ms());
    dist_level_bytes(r->comm, r->step_bytes);
    dist_level_seconds(r->comm, r->step_comm_s);
    int rc = s || e ? fail(r, s ? s : e, "training step %lld", (long long)step + 1) : 0;
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    /* a stop request (a signal on any rank) rides with the loss: every rank stops after this step */
    float v[2] = {*loss, o->stop && *o->stop ? 1.0f : 0.0f};
    t0 = now_ms();
    if ((s = dist_sum(r->comm, v, 2))) return fail(r, s, "averaging the loss over %d ranks", r->ranks);
    train_trace_add(r, "loss all-reduce", "collective", t0, now_ms());
    *loss = v[0] / (float)r->ranks;
    r->stopping = v[1] > 0;
    return 0;
}

/* One optimizer step over K micro-batches on every rank; *loss is their mean over the ranks. */
static int train_step(run *r, int64_t step, float *loss, float *norm, float *lr)
{
    const train_opts *o = r->o;
    if (r->shard.s) return shard_step(r, step, loss, norm, lr);
    st_status e, s = micro_batches(r, step, loss, &e);
    r->stopping = o->stop && *o->stop;
    if (s) return fail(r, s, "training step %lld", (long long)step + 1);
    float scale;
    double t0 = o->profile ? now_ms() : 0;
    s = st_params_grad_scale(r->ps, 1.0f / (float)o->grad_accum, (float)o->max_norm, norm, &scale);
    *lr = (float)train_lr(o, r->warmup, step);
    if (!s && isfinite(*norm)) s = st_optim_step(r->opt, *lr, scale);
    if (o->profile && !s) { /* the graph synchronised after its last node; clipping reads the norm */
        s = st_device_sync(r->dev);
        r->opt_ms += now_ms() - t0;
        train_trace_add(r, "optimizer (clip + adamw)", "optimizer", t0, now_ms());
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
        st_status s = train_batch(r, ST_SPLIT_VAL, seed, (uint64_t)i, r->in, r->tg);
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
    if (train_out(r)) fprintf(r->progress, "step %lld: val loss %.4f\n", (long long)step, val);
    if (r->log) fprintf(r->log, "{\"step\": %lld, \"val_loss\": %.9g}\n", (long long)step, val);
    return 0;
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
    if (!train_out(r)) return 0;
    fprintf(r->progress, "step %lld: sample: ", (long long)step);
    if (r->tk.tok) train_tok_print(&r->tk, out, n, r->progress);
    for (int i = 0; i < n && !r->tk.tok; i++) {
        if (r->cfg.V > 256) fprintf(r->progress, "%d ", out[i]);
        else fputc(isprint(out[i]) || out[i] == '\n' ? out[i] : '?', r->progress);
    }
    fputc('\n', r->progress);
    return 0;
}

/* The checkpoint after `done` steps, staged and committed as a whole (ckpt.h): rank 0 creates the
 * staging directory, every rank writes its part (a multi-rank run's shards), rank 0 commits. A
 * failure anywhere stops every rank, and leaves the previous checkpoint the committed one. */
static int save_checkpoint(run *r, int64_t done)
{
    const train_opts *o = r->o;
    char staging[4200];
    int rc = ckpt_stage(r->ckdir, o->ckpt, done, staging, sizeof staging, r->err, r->errlen);
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (r->shard.s)
        rc = ckpt_shard_save(staging, r->shard.s, r->comm, r->ps, &r->cfg, &r->eff, done, r->err, r->errlen);
    else if (r->rank == 0)
        rc = ckpt_save(staging, r->ps, r->opt, &r->cfg, &r->eff, done, r->err, r->errlen);
    char note[4600] = "";
    if (!rc && r->rank == 0)
        rc = ckpt_commit(r->ckdir, o->ckpt, staging, done, r->shard.s != NULL, r->err, r->errlen, note, sizeof note);
    /* no rank runs ahead of the save, and a failed save stops every rank */
    rc = dist_agree(r->comm, rc, r->err, r->errlen);
    if (!rc && train_out(r)) {
        st_ckpt_found found;
        int have = 0;
        if (st_ckpt_dir_find(o->ckpt, &found, &have) != ST_OK || !have) snprintf(found.path, sizeof found.path, "%s", o->ckpt);
        fprintf(r->progress, "step %lld: checkpoint in %s\n", (long long)done, found.path);
        if (note[0]) fprintf(r->progress, "%s\n", note);
    }
    return rc;
}

/* Evaluation, sampling and checkpoints after `done` steps; not part of the profile. A run told to
 * stop only saves: Slurm's grace period is for the checkpoint. */
static int after_step(run *r, int64_t done, int last)
{
    const train_opts *o = r->o;
    if (o->profile) st_graph_set_profile(r->m.plan, 0);
    int rc = 0;
    if (!r->stopping && r->have_val && ((o->eval_every && done % o->eval_every == 0) || last))
        rc = maybe_eval(r, done);
    if (!rc && !r->stopping && o->sample_every && done % o->sample_every == 0) {
        st_status s = full_params(r);
        rc = s ? fail(r, s, "gathering the parameters to sample") : maybe_sample(r, done);
        rc = dist_agree(r->comm, rc, r->err, r->errlen);
    }
    if (!rc && o->ckpt && (last || r->stopping || (o->ckpt_every && done % o->ckpt_every == 0)))
        rc = save_checkpoint(r, done);
    if (o->profile) st_graph_set_profile(r->m.plan, 1);
    return rc;
}

static void report_stop(run *r, int64_t done)
{
    const train_opts *o = r->o;
    if (!train_out(r)) return;
    int n = o->stop ? *o->stop : 0;
    const char *sig = n == SIGTERM ? "SIGTERM" : n == SIGINT ? "SIGINT" : n == SIGUSR1 ? "SIGUSR1"
                    : n ? "a signal" : "a signal to another rank";
    fprintf(r->progress, "stopped after step %lld of %lld (%s)", (long long)done, (long long)o->steps, sig);
    if (o->ckpt) fprintf(r->progress, ": resume with --ckpt %s --resume\n", o->ckpt);
    else fprintf(r->progress, ": no --ckpt, nothing saved\n");
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
        train_trace_step(r, step);
        if (train_step(r, step, &loss, &norm, &lr)) return -1;
        double ms = now_ms() - t0;
        total_ms += ms;
        train_times_add(r->times, ms);
        if (o->profile && step == r->start && end - step > 1) { /* leave the warm-up step out */
            st_graph_profile_reset(r->m.plan);
            r->opt_ms = r->comm_ms = 0;
        } else {
            r->timed_ms += ms;
            r->timed_steps++;
        }
        if (losses) losses[step] = loss;
        train_report_step(r, step, end, loss, lr, norm, ms, total_ms / (double)(step - r->start + 1));
        /* st_shard_step and the single-process step both skip an update whose gradient norm is
         * not finite (a NaN or inf gradient, or a quantized block whose scale is): say so */
        FILE *out = isfinite(norm) ? NULL : train_out(r);
        if (out)
            fprintf(out, "step %lld: gradient norm is %g, not finite: update skipped, weights unchanged\n",
                    (long long)step + 1, norm);
        if (!isfinite(loss)) return fail(r, ST_OK, "loss is %f at step %lld", loss, (long long)step + 1);
        if (after_step(r, step + 1, step + 1 == end)) return -1;
        if (r->stopping && step + 1 < end) {
            report_stop(r, step + 1);
            return train_trace_write(r) ? -1 : TRAIN_STOPPED;
        }
    }
    return train_trace_write(r);
}

/* The run's figures (trainer.h): FLOPs per token, median step, and with --profile the graph's
 * per-op times, the optimizer's, and the rest of the step (data, zero_grad, loss read). */
static void fill_stats(run *r, train_stats *st)
{
    const gpt2_config *c = &r->cfg;
    *st = (train_stats){.n_params = st_params_numel(r->ps)};
    st->flops_per_token = 6.0 * (double)st->n_params + 12.0 * c->L * c->C * (double)r->T;
    st->ms_median = train_times_median(r->times);
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
    train_out(r); /* a status line left on the terminal ends here */
    train_trace_close(r);
    train_shard_destroy(&r->shard); /* first: an attached engine unhooks itself from the plan */
    if (r->have_graph) gpt2_graph_destroy(&r->m);
    st_optim_destroy(r->opt);
    st_params_destroy(r->ps);
    st_dataset_destroy(r->ds);
    st_llmc_destroy(r->llmc);
    train_tok_free(&r->tk);
    free(r->in);
    free(r->tg);
    free(r->times);
    st_ckpt_dir_destroy(r->ckdir);
    if (r->log) fclose(r->log);
}

int train_run(const train_opts *o, FILE *progress, float *losses, char *err, size_t errlen)
{
    run r = {.o = o, .comm = o->comm, .rank = st_comm_rank(o->comm), .ranks = st_comm_size(o->comm),
             .progress = progress, .err = err, .errlen = errlen};
    if (r.rank != 0) r.progress = NULL;
    int rc = train_setup(&r);
    if (rc == 1) { /* dry run: checked, nothing trained */
        cleanup(&r);
        return 0;
    }
    if (!rc) rc = train_loop(&r, losses);
    if (rc >= 0) train_shard_report(&r.shard, r.dev, train_out(&r), r.log);
    if (rc >= 0 && o->stats) fill_stats(&r, o->stats);
    cleanup(&r);
    return rc;
}
