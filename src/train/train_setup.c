/* strata-train's setup, before the first step: the model config (every size bounded), the data,
 * a device-memory check of the run's size (so that an absurd config is an error, not an
 * out-of-memory kill), the model and optimizer, the checkpoint directory's writer, the resume, and
 * on several ranks the scheme and the shard engine, every failure agreed across ranks. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "train_dist.h"
#include "train_run.h"
#include "ckpt_hf.h"

int train_fail(run *r, st_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    if (s != ST_OK && n >= 0 && (size_t)n < r->errlen)
        snprintf(r->err + n, r->errlen - (size_t)n, ": %s", st_last_error());
    return -1;
}

static int model_from_file(run *r)
{
    const train_opts *o = r->o;
    if (strncmp(o->model, "llmc:", 5) == 0) {
        st_status s = st_llmc_open(o->model + 5, &r->llmc);
        if (!s) s = gpt2_llmc_config(r->llmc, &r->cfg);
        if (s) return train_fail(r, s, "cannot use model '%s'", o->model);
    } else {
        struct stat sb;
        if (stat(o->model, &sb) != 0)
            return train_fail(r, ST_OK, "unknown model '%s' (tiny, gpt-25m, gpt-deep, gpt2-124m, llmc:FILE, or a checkpoint "
                              "directory or .safetensors file)", o->model);
        if (ckpt_model_config(o->model, o->H, &r->cfg, r->err, r->errlen)) return -1;
        r->from_ckpt = 1;
    }
    if (o->L || (o->H && r->llmc) || o->C || o->ctx || o->V)
        return train_fail(r, ST_OK, "--layers/--heads/--embd/--context/--vocab do not apply to %s: its config is "
                          "L=%d H=%d C=%d T=%d V=%d (--heads only supplies the heads of a safetensors file "
                          "without config.json)", o->model, r->cfg.L, r->cfg.H, r->cfg.C, r->cfg.T, r->cfg.V);
    return 0;
}

/* --tokenizer: a named model takes its vocabulary (padded to 128 rows, as llm.c pads); a model
 * from a file must already have room for it. */
static int tok_vocab(run *r)
{
    int32_t V = st_tokenizer_vocab_size(r->tk.tok);
    if (r->o->V || r->llmc || r->from_ckpt) {
        if (r->cfg.V < V)
            return train_fail(r, ST_OK, "the model's vocabulary V=%d is smaller than tokenizer %s's %d ids",
                              r->cfg.V, r->o->tokenizer, V);
        return 0;
    }
    if (V != r->cfg.V) {
        r->cfg.V = V;
        r->cfg.Vp = (V + 127) / 128 * 128;
    }
    return 0;
}

static int setup_config(run *r)
{
    const train_opts *o = r->o;
    int named = gpt2_config_named(o->model, &r->cfg) == ST_OK;
    if (!named && model_from_file(r)) return -1;
    if (o->L) r->cfg.L = o->L;
    if (o->H && named) r->cfg.H = o->H;
    if (o->C) r->cfg.C = o->C;
    if (o->ctx) r->cfg.T = o->ctx;
    if (o->V) r->cfg.V = r->cfg.Vp = o->V;
    if (r->tk.tok && tok_vocab(r)) return -1;
    char why[256];
    if (gpt2_config_check(&r->cfg, why, sizeof why))
        return train_fail(r, ST_OK, "bad model config (%s): %s", o->model, why);
    r->T = o->seq_set ? o->seq : r->cfg.T;
    r->eff = *o;
    r->eff.seq = r->T;
    r->eff.batch = o->batch * r->ranks; /* checkpoints record the global batch (bounded: < 2^24 x 2^24) */
    if (r->T > r->cfg.T)
        return train_fail(r, ST_OK, "--seq %lld is longer than the model's context %d", (long long)r->T, r->cfg.T);
    return 0;
}

static int setup_data(run *r)
{
    const train_opts *o = r->o;
    st_dataset_options dopt = {.val_path = o->val, .vocab_size = r->cfg.V, .val_fraction = o->val ? 0.0 : 0.1};
    if (r->tk.val[0]) dopt.val_path = r->tk.val;
    st_status s = st_dataset_open(r->tk.data[0] ? r->tk.data : o->data, &dopt, &r->ds);
    if (s) return train_fail(r, s, "cannot use data '%s'", o->data);
    int64_t ntrain = st_dataset_tokens(r->ds, ST_SPLIT_TRAIN);
    int64_t nval = st_dataset_tokens(r->ds, ST_SPLIT_VAL);
    if (ntrain < r->T + 1)
        return train_fail(r, ST_OK, "training data has %lld tokens, fewer than seq + 1 = %lld", (long long)ntrain,
                          (long long)r->T + 1);
    int64_t need = o->data_order == TRAIN_DATA_SEQUENTIAL ? train_seq_block(r) + 1 : r->T + 1;
    if (ntrain < need)
        return train_fail(r, ST_OK, "--data-order sequential needs ranks x batch x seq + 1 = %lld training tokens "
                          "(llm.c's DataLoader too); there are %lld", (long long)need, (long long)ntrain);
    r->have_val = nval >= need;
    if (o->val && !r->have_val)
        return train_fail(r, ST_OK, "validation data has %lld tokens, fewer than %s + 1 = %lld", (long long)nval,
                          need == r->T + 1 ? "seq" : "ranks x batch x seq", (long long)need);
    return 0;
}

/* A lower bound of the device memory the run needs, in bytes (as a double: the factors are bounded
 * but their product need not fit in int64): f32 parameters and gradients, AdamW's moments on one
 * process, and the largest activations of one micro-batch, the attention scores of every layer
 * (B H T^2, kept for backward) and the logits with their gradient (2 B T Vp). */
static double memory_need(const run *r)
{
    double P = (double)gpt2_param_count(&r->cfg), B = (double)r->o->batch, T = (double)r->T;
    double state = (r->ranks > 1 ? 8.0 : 16.0) * P;
    double act = 4.0 * (B * r->cfg.H * T * T * r->cfg.L + 2.0 * B * T * r->cfg.Vp + 16.0 * B * T * r->cfg.C * r->cfg.L);
    return state + act;
}

/* The device, then the run's size against its memory (and against 2^50 bytes where the device does
 * not say), so that sizes that would overflow a count or exhaust memory stop here with a message. */
static int setup_device(run *r)
{
    st_status s = st_device_default(&r->dev);
    if (s) return train_fail(r, s, "no device (STRATA_BACKEND)");
    st_device_props p;
    double need = memory_need(r), have = 0;
    if (st_device_props_get(r->dev, &p) == ST_OK) have = (double)p.memory_bytes;
    if (need > 1125899906842624.0 || (have > 0 && need > have))
        return train_fail(r, ST_OK, "the model (L=%d H=%d C=%d T=%d V=%d, %lld parameters) with --batch %lld --seq %lld "
                          "needs at least %.3g GB on %s, which has %.3g GB", r->cfg.L, r->cfg.H, r->cfg.C, r->cfg.T,
                          r->cfg.V, (long long)gpt2_param_count(&r->cfg), (long long)r->o->batch, (long long)r->T,
                          need / 1e9, st_device_label(r->dev), have / 1e9);
    if (r->o->dry_run && r->progress)
        fprintf(r->progress, "dry run: model L=%d H=%d C=%d T=%d V=%d, %lld parameters, B=%lld T=%lld K=%lld, at "
                "least %.3g GB of %.3g GB on %s; data: %lld training tokens\n", r->cfg.L, r->cfg.H, r->cfg.C,
                r->cfg.T, r->cfg.V, (long long)gpt2_param_count(&r->cfg), (long long)r->o->batch, (long long)r->T,
                (long long)r->o->grad_accum, need / 1e9, have / 1e9, st_device_label(r->dev),
                (long long)st_dataset_tokens(r->ds, ST_SPLIT_TRAIN));
    return 0;
}

static int setup_params(run *r)
{
    st_param_spec *specs;
    int n;
    size_t nb = (size_t)(r->o->batch * r->T); /* < 2^48 and within the memory check */
    if (!(r->in = malloc(nb * sizeof(int32_t))) || !(r->tg = malloc(nb * sizeof(int32_t))) ||
        !(r->times = malloc(sizeof *r->times)))
        return train_fail(r, ST_OK, "out of host memory for the batch buffers (%zu tokens)", nb);
    train_times_init(r->times);
    st_status s = gpt2_param_specs(&r->cfg, !r->o->no_decay_emb, &specs, &n);
    if (s) return train_fail(r, ST_OK, "out of host memory for %d parameter specs", 4 + 12 * r->cfg.L);
    st_device_memory m0, m1;
    st_device_memory_get(r->dev, &m0);
    s = st_params_create(r->dev, specs, n, &r->ps);
    st_device_memory_get(r->dev, &m1);
    r->shard.arena_bytes = m1.current - m0.current;
    free(specs);
    if (s) return train_fail(r, s, "parameters");
    if ((s = gpt2_init(r->ps, &r->cfg, r->o->seed))) return train_fail(r, s, "initialisation");
    if (r->llmc && (s = gpt2_llmc_load(r->llmc, r->ps))) return train_fail(r, s, "loading %s", r->o->model);
    if (r->from_ckpt && ckpt_model_load(r->o->model, r->ps, r->cfg.V, r->err, r->errlen)) return -1;
    return 0;
}

static int setup_model(run *r)
{
    st_status s;
    if (setup_params(r)) return -1;
    r->adamw = (st_adamw_config){.beta1 = (float)r->o->beta1, .beta2 = (float)r->o->beta2,
                                 .eps = (float)r->o->eps, .weight_decay = (float)r->o->weight_decay};
    if (r->ranks == 1 && (s = st_optim_adamw_create(r->ps, &r->adamw, &r->opt))) return train_fail(r, s, "AdamW");
    if ((s = gpt2_graph_create(&r->m, &r->cfg, r->ps, r->o->batch, r->T, r->o->bf16 ? ST_BF16 : ST_F32)))
        return train_fail(r, s, "building the model graph");
    r->have_graph = 1;
    if (r->o->profile && (s = st_graph_set_profile(r->m.plan, 1))) return train_fail(r, s, "profiling");
    if (train_trace_open(r)) return -1;
    r->warmup = r->o->warmup >= 0 ? r->o->warmup : r->o->steps / 10;
    return 0;
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

/* FNV-1a of the resolved checkpoint, 62 bits (dist_same compares int64 values of that size). */
static int64_t source_hash(const ckpt_source *src)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)src->kind;
    for (const char *p = src->path; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (int64_t)(h >> 2);
}

/* Where the run resumes from, the same on every rank (a --ckpt that is not shared shows up here). */
static int locate(run *r, ckpt_source *src)
{
    int rc = ckpt_locate(r->o->ckpt, src, r->err, r->errlen), same = 1;
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (dist_same(r->comm, source_hash(src), &same) != ST_OK || !same)
        return train_fail(r, ST_OK, "ranks see different checkpoints in %s (this one: %s): --ckpt must be a "
                          "directory every rank sees", r->o->ckpt, src->kind ? src->path : "none");
    if (*src->note && r->progress) fprintf(r->progress, "note: %s\n", src->note);
    return 0;
}

/* A resume with other hyperparameters than the checkpoint's goes on, with a note naming them. */
static void report_changes(run *r, const ckpt_source *src)
{
    char path[4200], msg[2048];
    st_safetensors *f;
    ckpt_entry_file(path, sizeof path, src->path, src->kind);
    if (!r->progress || st_safetensors_open(path, &f) != ST_OK) return;
    if (ckpt_meta_changes(f, &r->eff, msg, sizeof msg))
        fprintf(r->progress, "note: resuming with hyperparameters that differ from the checkpoint's: %s\n", msg);
    st_safetensors_destroy(f);
}

/* Resumes from --ckpt: the committed checkpoint (or the older layout), every kind into every run. */
static int resume(run *r)
{
    const train_opts *o = r->o;
    ckpt_source src;
    if (locate(r, &src)) return -1;
    int rc;
    if (r->ranks > 1)
        rc = ckpt_shard_resume(o->ckpt, &src, r->shard.s, r->comm, r->ps, &r->cfg, &r->eff, &r->start, r->err,
                               r->errlen);
    else if (src.kind == CKPT_SHARDED)
        rc = ckpt_load_sharded(src.path, r->ps, r->opt, &r->cfg, &r->eff, &r->start, r->err, r->errlen);
    else if (src.kind == CKPT_PLAIN)
        rc = ckpt_load(src.path, r->ps, r->opt, &r->cfg, &r->eff, &r->start, r->err, r->errlen);
    else
        rc = 1;
    if (rc == 0 && r->start > o->steps)
        rc = train_fail(r, ST_OK, "the checkpoint in %s is at step %lld, past --steps %lld", src.path,
                        (long long)r->start, (long long)o->steps);
    if (rc == 0 && r->progress) fprintf(r->progress, "resumed from step %lld (%s)\n", (long long)r->start, src.path);
    if (rc == 0 && src.kind != CKPT_NONE) report_changes(r, &src);
    return rc == 1 ? 0 : rc;
}

/* The partition, the engine and the resume; on several ranks every step is agreed on. */
static int setup_state(run *r)
{
    const train_opts *o = r->o;
    st_partition part;
    int rc = dist_partition(r->comm, o->partition, &r->cfg, st_params_numel(r->ps), o->batch, o->grad_accum,
                            r->progress, &part, r->err, r->errlen);
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (r->ranks > 1) { /* collective from here: the engine, and the resume through it */
        rc = train_shard_create(&r->shard, r->ps, r->comm, &part, &r->adamw, r->err, r->errlen);
        if (!rc && st_shard_set_overlap(r->shard.s, !o->no_overlap) != ST_OK)
            rc = train_fail(r, ST_OK, "--overlap: %s", st_last_error());
        if (!rc && r->progress) train_shard_describe(&r->shard, r->progress);
        if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    }
    /* rank 0 holds --ckpt's lock for the run, and clears what dead writers left before any read */
    rc = o->ckpt && r->rank == 0 ? ckpt_writer_open(o->ckpt, o->ckpt_keep > 0 ? (int)o->ckpt_keep : 1, &r->ckdir,
                                                   r->err, r->errlen)
                                 : 0;
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    rc = o->resume ? resume(r) : 0;
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (r->ranks > 1) { /* after the resume, which still reads and writes the full arenas */
        rc = train_shard_attach(&r->shard, r->m.plan, r->dev, r->err, r->errlen);
        if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    }
    int same;
    st_status s = dist_same(r->comm, r->start, &same);
    if (s) return train_fail(r, s, "comparing the resume step across ranks");
    if (!same)
        return train_fail(r, ST_OK, "ranks would resume from different steps (this one: %lld): every rank must see "
                          "rank 0's checkpoint in %s", (long long)r->start, o->ckpt);
    return 0;
}

/* --export-hf DIR: the model (--model's weights, or a new one) as a Hugging Face directory. Returns 1
 * (nothing trained) or -1. */
static int export_hf(run *r)
{
    int rc = 0;
    if (r->rank == 0) {
        rc = setup_params(r);
        st_tensor *flat;
        st_params_flat(r->ps, &flat, NULL, NULL);
        int64_t n = st_tensor_numel(flat);
        float *h = rc ? NULL : malloc(sizeof(float) * (size_t)(n + 1));
        if (!rc && (!h || st_tensor_read(flat, h, sizeof(float) * (size_t)n) != ST_OK))
            rc = train_fail(r, ST_OK, "reading the model for --export-hf: %s", h ? st_last_error() : "out of memory");
        if (!rc) rc = hf_write_dir(r->o->export_hf, r->ps, &r->cfg, h, r->err, r->errlen);
        free(h);
        if (!rc && r->progress)
            fprintf(r->progress, "exported %s (L=%d H=%d C=%d T=%d V=%d) to %s: config.json, model.safetensors\n",
                    r->o->model, r->cfg.L, r->cfg.H, r->cfg.C, r->cfg.T, r->cfg.V, r->o->export_hf);
    }
    return dist_agree(r->comm, rc, r->err, r->errlen) ? -1 : 1;
}

int train_setup(run *r)
{
    const train_opts *o = r->o;
    int rc = train_check_opts(o, r->err, r->errlen);
    if (!rc && !o->export_hf) rc = train_tok_prepare(o, &r->tk, r->progress, r->err, r->errlen);
    if (!rc) rc = setup_config(r);
    if (!rc && !o->export_hf) rc = setup_data(r);
    if (!rc) rc = setup_device(r);
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (o->export_hf) return export_hf(r);
    if (o->dry_run) return 1;
    rc = setup_model(r);
    if (!rc) print_header(r);
    if (dist_agree(r->comm, rc, r->err, r->errlen)) return -1;
    if (setup_state(r)) return -1;
    int64_t ntrain = st_dataset_tokens(r->ds, ST_SPLIT_TRAIN), same = 1;
    int sm;
    /* node-local copies of the data may have different paths, not different contents */
    if (dist_same(r->comm, ntrain, &sm) != ST_OK || !(same = sm))
        rc = train_fail(r, ST_OK, "ranks read different training data (%lld tokens here): --data must hold the "
                        "same tokens on every rank", (long long)ntrain);
    if (!rc && r->rank == 0 && o->log && !(r->log = fopen(o->log, r->start ? "a" : "w")))
        rc = train_fail(r, ST_OK, "cannot write log '%s'", o->log);
    if (!rc && r->log) train_log_header(r);
    return dist_agree(r->comm, rc, r->err, r->errlen);
}
