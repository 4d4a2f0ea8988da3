/* strata-train's command line: every option, with its value checked before anything runs. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata/partition.h"
#include "gpt2.h"
#include "trainer.h"

void train_opts_default(train_opts *o)
{
    *o = (train_opts){.model = "tiny", .steps = 50, .batch = 8, .grad_accum = 1,
                      .eval_batches = 4, .lr = 1e-3, .min_lr_ratio = 0.1, .weight_decay = 0.1,
                      .max_norm = 1.0, .min_lr = -1, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .seed = 1337, .warmup = -1, .sample_len = 64, .ckpt_keep = 1,
                      .top_k = 40, .temperature = 1.0};
}

static const char USAGE[] =
    "usage: strata-train --data FILE [options]\n"
    "  --data FILE        training text (bytes) or llm.c token file\n"
    "  --val FILE         validation file (default: last 10% of --data)\n"
    "  --tokenizer T      BPE vocabulary (strata-tokenize: tiktoken file or Hugging Face\n"
    "                     vocab.json + merges.txt): text data is tokenized once into an llm.c\n"
    "                     token file cached in STRATA_CACHE_DIR (~/.cache/strata), the model's\n"
    "                     vocabulary is T's (named models), and samples are printed as text\n"
    "  --model NAME       tiny | gpt2-124m | llmc:FILE (an llm.c model file) | DIR or FILE: a\n"
    "                     strata-train checkpoint or a Hugging Face GPT-2 (save_pretrained's\n"
    "                     directory or a .safetensors file): its weights, from step 0; default tiny\n"
    "  --layers L --heads H --embd C --vocab V --context T   override the config\n"
    "  --steps N          optimizer steps (default 50)\n"
    "  --batch B          rows per micro-batch (default 8)\n"
    "  --seq T            tokens per row (default: the model's context)\n"
    "  --grad-accum K     micro-batches per step (default 1)\n"
    "  --lr X             peak learning rate (default 1e-3)\n"
    "  --lr-schedule S    cosine | linear | constant | wsd (default cosine): linear warmup, then\n"
    "                     decay to --min-lr at --steps (wsd: flat until 80%, then 1 - sqrt)\n"
    "  --warmup N         warmup steps (default steps/10)\n"
    "  --min-lr X         the schedule's floor (default lr x --min-lr-ratio)\n"
    "  --min-lr-ratio R   floor as a fraction of --lr (default 0.1)\n"
    "  --weight-decay X   AdamW's decoupled decay (default 0.1) on weight matrices and, unless\n"
    "                     --no-decay-embeddings, wte and wpe; never on biases or LayerNorm\n"
    "  --beta1 X --beta2 X --eps X   AdamW's (default 0.9, 0.95, 1e-8)\n"
    "  --grad-clip X      clip the global gradient norm at X (default 1.0; 0: off)\n"
    "  --data-order O     random (windows at hashed offsets, default) | sequential (llm.c's\n"
    "                     DataLoader without shuffling: consecutive B x T blocks, wrapping)\n"
    "  --eval-every N     validation loss every N steps (default: at the end only)\n"
    "  --eval-batches N   batches per validation (default 4)\n"
    "  --dtype f32|bf16   compute precision; bf16: bf16 weights copy and activations, f32\n"
    "                     master weights, gradients and AdamW (default f32)\n"
    "  --seed S           initialisation and data seed (default 1337)\n"
    "  --log FILE         metrics as JSON lines: a header with every option, then every step\n"
    "  --log-every N      a permanent progress line every N steps (default steps/50: tens of\n"
    "                     lines); on a terminal a status line shows every step in between\n"
    "  --ckpt DIR         save a checkpoint in DIR at the end (and every --ckpt-every N), each\n"
    "                     committed whole as DIR/step-N (DIR/latest names it), a Hugging Face\n"
    "                     directory (config.json, model.safetensors: from_pretrained loads it)\n"
    "                     with the trainer's state beside it (one process:\n"
    "                     trainer_state.safetensors; several ranks: a file per optimizer shard\n"
    "                     and index.safetensors); either resumes with any rank count and scheme\n"
    "  --ckpt-keep N      committed checkpoints kept in DIR, newest first (default 1)\n"
    "  --resume           continue from DIR's checkpoint when there is one (needs --ckpt)\n"
    "  --stop-at N        stop after step N, as if interrupted (the schedule still spans --steps)\n"
    "  --dry-run          check the options, data, model size and device memory, then exit\n"
    "  --sample-every N   print a text sample every N steps (--sample-len, --temperature, --top-k)\n"
    "  --profile          time every op (synchronising after each) and print the breakdown\n"
    "  --trace FILE       with --profile: a Chrome/Perfetto trace (ui.perfetto.dev,\n"
    "                     chrome://tracing) of the last step's ops and collectives; under\n"
    "                     mpirun each rank writes its own, .rankR before FILE's .json\n"
    "  --export-hf DIR    write --model (a checkpoint, llmc:FILE or Hugging Face directory) as a\n"
    "                     Hugging Face GPT-2 directory (config.json, model.safetensors), then exit\n"
    "  --peak-gflops X    the machine's peak for the MFU figure (e.g. strata-bench's FMA peak)\n"
    "  --partition P      model state over ranks: auto (the planner's choice; the default under\n"
    "                     mpirun), ddp, zero1, zero2, zero3, zero3+hpz, zero++ (hpZ + qwZ + qgZ),\n"
    "                     frontier3, frontier3q, or params=S,grads=S,optim=S[,secondary=S] with S\n"
    "                     replicated|gcd|node|world; quantization: qw=none|int8, qg=none|int8|int4,\n"
    "                     after a name (zero3,qw=int8,qg=int4) or among the keys; elements per\n"
    "                     scale: qwblock=N (default 4096), qgblock=N (default a row of the\n"
    "                     model, its --embd), qblock=N (both)\n"
    "  --overlap on|off   with sharded parameters, prefetch the next layer's gather and\n"
    "                     reduce-scatter gradients behind compute (default on; off: each\n"
    "                     collective finishes first; the same bytes and losses either way)\n"
    "backend: STRATA_BACKEND (cpu, opencl, cuda, hip, auto)\n"
    "ranks: mpirun -np K strata-train ... trains data-parallel: each rank its B rows of a global\n"
    "batch of K x B, model state partitioned as --partition says (STRATA_TOPOLOGY=NxGxD emulates\n"
    "a hierarchy); rank 0 alone prints and writes the log; checkpoints record the global batch\n"
    "and --ckpt must be visible to every rank\n"
    "signals: SIGTERM, SIGINT or SIGUSR1 finish the current step, save a checkpoint (with --ckpt;\n"
    "every rank stops after the same step) and exit with status 75; a second signal exits at once\n";

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || !(*s == '-' || (*s >= '0' && *s <= '9'))) return -1;
    *out = v;
    return 0;
}

/* A finite number; inf and nan are refused (a rate of inf trained to nan silently). */
static int parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Integer options: name, range, where it goes. Every bound keeps the products the trainer forms
 * from them (steps x accumulation, batch x seq x ranks, ...) inside int64; the model's sizes are
 * bounded again, with the parameter count, by gpt2_config_check. */
typedef struct int_opt {
    const char *name;
    int64_t min, max;
    size_t off;
    int is_int; /* stored as int, not int64_t */
} int_opt;

#define I64(n, lo, hi, f) {n, lo, hi, offsetof(train_opts, f), 0}
#define INT(n, lo, hi, f) {n, lo, hi, offsetof(train_opts, f), 1}
static const int_opt INT_OPTS[] = {
    I64("--steps", 1, TRAIN_MAX_STEPS, steps),
    I64("--batch", 1, TRAIN_MAX_BATCH, batch),
    I64("--seq", 1, GPT2_MAX_CONTEXT, seq),
    I64("--grad-accum", 1, TRAIN_MAX_ACCUM, grad_accum),
    I64("--eval-every", 0, TRAIN_MAX_STEPS, eval_every),
    I64("--eval-batches", 1, TRAIN_MAX_ACCUM, eval_batches),
    I64("--warmup", 0, TRAIN_MAX_STEPS, warmup),
    INT("--layers", 1, GPT2_MAX_LAYERS, L),
    INT("--heads", 1, GPT2_MAX_HEADS, H),
    INT("--embd", 1, GPT2_MAX_EMBD, C),
    INT("--vocab", 1, GPT2_MAX_VOCAB, V),
    INT("--context", 1, GPT2_MAX_CONTEXT, ctx),
    I64("--ckpt-every", 0, TRAIN_MAX_STEPS, ckpt_every),
    I64("--ckpt-keep", 1, 1000, ckpt_keep),
    I64("--stop-at", 0, TRAIN_MAX_STEPS, stop_at),
    I64("--sample-every", 0, TRAIN_MAX_STEPS, sample_every),
    I64("--sample-len", 1, 1024, sample_len),
    I64("--top-k", 0, GPT2_MAX_VOCAB, top_k),
    I64("--seed", 0, INT64_MAX, seed),
    I64("--log-every", 1, TRAIN_MAX_STEPS, log_every),
};

static int set_int(train_opts *o, const char *opt, const char *val, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof INT_OPTS / sizeof INT_OPTS[0]; i++) {
        const int_opt *io = &INT_OPTS[i];
        if (strcmp(opt, io->name) != 0) continue;
        int64_t v;
        if (parse_i64(val, &v) || v < io->min || v > io->max) {
            snprintf(err, errlen, "%s: '%s' is not an integer in [%" PRId64 ", %" PRId64 "]", opt, val,
                     io->min, io->max);
            return -1;
        }
        if (io->is_int) *(int *)((char *)o + io->off) = (int)v;
        else *(int64_t *)((char *)o + io->off) = v;
        if (strcmp(opt, "--seq") == 0) o->seq_set = 1;
        return 0;
    }
    return 1;
}

/* Real-valued options: name, [lo, hi] (open at lo when lo_open), where it goes. */
typedef struct real_opt {
    const char *name;
    double lo, hi;
    int lo_open, hi_open;
    size_t off;
} real_opt;

#define REAL(n, lo, lo_open, hi, hi_open, f) {n, lo, hi, lo_open, hi_open, offsetof(train_opts, f)}
static const real_opt REAL_OPTS[] = {
    REAL("--lr", 0, 1, 1e3, 0, lr),
    REAL("--min-lr", 0, 0, 1e3, 0, min_lr),
    REAL("--min-lr-ratio", 0, 0, 1, 0, min_lr_ratio),
    REAL("--weight-decay", 0, 0, 1e3, 0, weight_decay),
    REAL("--beta1", 0, 0, 1, 1, beta1),
    REAL("--beta2", 0, 0, 1, 1, beta2),
    REAL("--eps", 0, 1, 1, 0, eps),
    REAL("--grad-clip", 0, 0, 1e30, 0, max_norm),
    REAL("--temperature", 0, 1, 1e30, 0, temperature),
    REAL("--peak-gflops", 0, 1, 1e30, 0, peak_gflops),
};

static int set_real(train_opts *o, const char *opt, const char *val, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof REAL_OPTS / sizeof REAL_OPTS[0]; i++) {
        const real_opt *ro = &REAL_OPTS[i];
        if (strcmp(opt, ro->name) != 0) continue;
        double v;
        if (parse_f64(val, &v) || (ro->lo_open ? v <= ro->lo : v < ro->lo) || (ro->hi_open ? v >= ro->hi : v > ro->hi)) {
            snprintf(err, errlen, "%s: '%s' is not a number in %c%g, %g%c", opt, val, ro->lo_open ? '(' : '[', ro->lo,
                     ro->hi, ro->hi_open ? ')' : ']');
            return -1;
        }
        *(double *)((char *)o + ro->off) = v;
        return 0;
    }
    return 1;
}

/* NAME's index in names[n], or -1 with a message listing them. */
static int choose(const char *opt, const char *val, const char *const *names, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (strcmp(val, names[i]) == 0) return i;
    int at = snprintf(err, errlen, "%s %s: one of", opt, val);
    for (int i = 0; i < n && at > 0 && (size_t)at < errlen; i++)
        at += snprintf(err + at, errlen - (size_t)at, " %s", names[i]);
    return -1;
}

static int set_other(train_opts *o, const char *opt, const char *val, char *err, size_t errlen)
{
    if (!strcmp(opt, "--data")) o->data = val;
    else if (!strcmp(opt, "--val")) o->val = val;
    else if (!strcmp(opt, "--tokenizer")) o->tokenizer = val;
    else if (!strcmp(opt, "--model")) o->model = val;
    else if (!strcmp(opt, "--log")) o->log = val;
    else if (!strcmp(opt, "--ckpt")) o->ckpt = val;
    else if (!strcmp(opt, "--trace")) o->trace = val;
    else if (!strcmp(opt, "--export-hf")) o->export_hf = val;
    else if (!strcmp(opt, "--lr-schedule")) {
        if ((o->lr_schedule = choose(opt, val, TRAIN_SCHED_NAMES, 4, err, errlen)) < 0) return -1;
    }
    else if (!strcmp(opt, "--data-order")) {
        if ((o->data_order = choose(opt, val, TRAIN_DATA_ORDER_NAMES, 2, err, errlen)) < 0) return -1;
    }
    else if (!strcmp(opt, "--overlap")) {
        if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) {
            snprintf(err, errlen, "--overlap %s: on or off", val);
            return -1;
        }
        o->no_overlap = !strcmp(val, "off");
    }
    else if (!strcmp(opt, "--partition")) {
        st_partition p;
        if (strcmp(val, "auto") != 0 && st_partition_parse(val, &p) != ST_OK) {
            snprintf(err, errlen, "--partition %s: %s", val, st_last_error());
            return -1;
        }
        o->partition = val;
    }
    else if (!strcmp(opt, "--dtype")) {
        if (strcmp(val, "f32") != 0 && strcmp(val, "bf16") != 0) {
            snprintf(err, errlen, "--dtype %s: f32 or bf16", val);
            return -1;
        }
        o->bf16 = strcmp(val, "bf16") == 0;
    }
    else {
        snprintf(err, errlen, "unknown option '%s' (see --help)", opt);
        return -1;
    }
    return 0;
}

void train_usage(FILE *out)
{
    fputs(USAGE, out);
}

int train_parse_args(int argc, char **argv, train_opts *o, FILE *out, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
            if (out) fputs(USAGE, out);
            return 1;
        }
        if (strncmp(opt, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", opt);
            return -1;
        }
        if (!strcmp(opt, "--resume")) {
            o->resume = 1;
            continue;
        }
        if (!strcmp(opt, "--profile")) {
            o->profile = 1;
            continue;
        }
        if (!strcmp(opt, "--dry-run")) {
            o->dry_run = 1;
            continue;
        }
        if (!strcmp(opt, "--no-decay-embeddings")) {
            o->no_decay_emb = 1;
            continue;
        }
        if (i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value", opt);
            return -1;
        }
        const char *val = argv[++i];
        int r = set_int(o, opt, val, err, errlen);
        if (r == 1) r = set_real(o, opt, val, err, errlen);
        if (r == 1) r = set_other(o, opt, val, err, errlen);
        if (r) return -1;
    }
    if (!o->data && !o->export_hf) {
        snprintf(err, errlen, "--data FILE is required (see --help)");
        return -1;
    }
    if (o->resume && !o->ckpt) {
        snprintf(err, errlen, "--resume needs --ckpt DIR");
        return -1;
    }
    return train_check_opts(o, err, errlen);
}

int train_check_opts(const train_opts *o, char *err, size_t errlen)
{
    if (o->warmup > o->steps) {
        snprintf(err, errlen, "--warmup %lld is longer than --steps %lld (the schedule spans --steps)",
                 (long long)o->warmup, (long long)o->steps);
        return -1;
    }
    if (o->stop_at > o->steps) {
        snprintf(err, errlen, "--stop-at %lld is past --steps %lld", (long long)o->stop_at, (long long)o->steps);
        return -1;
    }
    if (!(o->lr > 0 && o->lr <= 1e3 && isfinite(o->lr))) {
        snprintf(err, errlen, "--lr %g is not in (0, 1000]", o->lr);
        return -1;
    }
    if (train_min_lr(o) > o->lr) {
        snprintf(err, errlen, "--min-lr %g is above --lr %g", train_min_lr(o), o->lr);
        return -1;
    }
    if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0 && o->weight_decay >= 0 &&
          o->max_norm >= 0 && isfinite(o->eps) && isfinite(o->weight_decay) && isfinite(o->max_norm))) {
        snprintf(err, errlen, "AdamW: beta1 %g and beta2 %g must be in [0, 1), eps %g > 0, weight decay %g and "
                 "grad clip %g >= 0", o->beta1, o->beta2, o->eps, o->weight_decay, o->max_norm);
        return -1;
    }
    if (o->lr_schedule < 0 || o->lr_schedule > TRAIN_SCHED_WSD || o->data_order < 0 ||
        o->data_order > TRAIN_DATA_SEQUENTIAL) {
        snprintf(err, errlen, "unknown schedule %d or data order %d", o->lr_schedule, o->data_order);
        return -1;
    }
    if (o->trace && !o->profile) {
        snprintf(err, errlen, "--trace %s needs --profile (the trace is of profiled ops)", o->trace);
        return -1;
    }
    return 0;
}

/* One (name, value) pair of train_must_agree, its text in buf at *at. */
static void agree_add(const char **names, const char **vals, int *n, int max, char *buf, size_t buflen,
                      size_t *at, const char *name, const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static void agree_add(const char **names, const char **vals, int *n, int max, char *buf, size_t buflen,
                      size_t *at, const char *name, const char *fmt, ...)
{
    if (*n >= max || *at >= buflen) return;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf + *at, buflen - *at, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= buflen - *at) return;
    names[*n] = name;
    vals[(*n)++] = buf + *at;
    *at += (size_t)len + 1;
}

int train_must_agree(const train_opts *o, const char **names, const char **vals, int max, char *buf,
                     size_t buflen)
{
    int n = 0;
    size_t at = 0;
#define AGREE(name, fmt, ...) agree_add(names, vals, &n, max, buf, buflen, &at, name, fmt, __VA_ARGS__)
    AGREE("--model", "%s", o->model);
    AGREE("--tokenizer", "%s", o->tokenizer ? o->tokenizer : "(none: bytes or token files)");
    AGREE("--layers", "%d", o->L);
    AGREE("--heads", "%d", o->H);
    AGREE("--embd", "%d", o->C);
    AGREE("--vocab", "%d", o->V);
    AGREE("--context", "%d", o->ctx);
    AGREE("--steps", "%lld", (long long)o->steps);
    AGREE("--batch", "%lld", (long long)o->batch);
    if (o->seq_set) AGREE("--seq", "%lld", (long long)o->seq);
    else AGREE("--seq", "%s", "(the model's context)");
    AGREE("--grad-accum", "%lld", (long long)o->grad_accum);
    AGREE("--lr", "%.17g", o->lr);
    AGREE("--warmup", "%lld", (long long)o->warmup);
    AGREE("--lr-schedule", "%s", TRAIN_SCHED_NAMES[o->lr_schedule & 3]);
    AGREE("--min-lr", "%.17g", train_min_lr(o));
    AGREE("--weight-decay", "%.17g", o->weight_decay);
    AGREE("--beta1", "%.17g", o->beta1);
    AGREE("--beta2", "%.17g", o->beta2);
    AGREE("--eps", "%.17g", o->eps);
    AGREE("--grad-clip", "%.17g", o->max_norm);
    AGREE("--no-decay-embeddings", "%s", o->no_decay_emb ? "yes" : "no");
    AGREE("--data-order", "%s", TRAIN_DATA_ORDER_NAMES[o->data_order & 1]);
    AGREE("--profile", "%s", o->profile ? "yes" : "no");
    AGREE("--export-hf", "%s", o->export_hf ? o->export_hf : "(none)");
    AGREE("--eval-every", "%lld", (long long)o->eval_every);
    AGREE("--eval-batches", "%lld", (long long)o->eval_batches);
    AGREE("--dtype", "%s", o->bf16 ? "bf16" : "f32");
    AGREE("--seed", "%llu", (unsigned long long)o->seed);
    AGREE("--ckpt", "%s", o->ckpt ? o->ckpt : "(none)");
    AGREE("--ckpt-every", "%lld", (long long)o->ckpt_every);
    AGREE("--ckpt-keep", "%lld", (long long)o->ckpt_keep);
    AGREE("--resume", "%s", o->resume ? "yes" : "no");
    AGREE("--stop-at", "%lld", (long long)o->stop_at);
    AGREE("--sample-every", "%lld", (long long)o->sample_every);
    AGREE("--sample-len", "%lld", (long long)o->sample_len);
    AGREE("--top-k", "%lld", (long long)o->top_k);
    AGREE("--temperature", "%.17g", o->temperature);
    AGREE("--partition", "%s", o->partition ? o->partition : "(default)");
    AGREE("--dry-run", "%s", o->dry_run ? "yes" : "no");
    AGREE("--overlap", "%s", o->no_overlap ? "off" : "on");
#undef AGREE
    return n;
}
