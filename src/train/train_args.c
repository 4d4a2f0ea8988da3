/* strata-train's command line: every option, with its value checked before anything runs. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata/partition.h"
#include "trainer.h"

void train_opts_default(train_opts *o)
{
    *o = (train_opts){.model = "tiny", .steps = 50, .batch = 8, .grad_accum = 1,
                      .eval_batches = 4, .lr = 1e-3, .min_lr_ratio = 0.1, .weight_decay = 0.1,
                      .max_norm = 1.0, .seed = 1337, .warmup = -1, .sample_len = 64,
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
    "  --model NAME       tiny | gpt2-124m | llmc:FILE (an llm.c model file) | CKPT (a\n"
    "                     strata-train checkpoint directory or .safetensors file: its weights,\n"
    "                     from step 0); default tiny\n"
    "  --layers L --heads H --embd C --vocab V --context T   override the config\n"
    "  --steps N          optimizer steps (default 50)\n"
    "  --batch B          rows per micro-batch (default 8)\n"
    "  --seq T            tokens per row (default: the model's context)\n"
    "  --grad-accum K     micro-batches per step (default 1)\n"
    "  --lr X             peak learning rate (default 1e-3); warmup then cosine to lr/10\n"
    "  --warmup N         warmup steps (default steps/10)\n"
    "  --eval-every N     validation loss every N steps (default: at the end only)\n"
    "  --eval-batches N   batches per validation (default 4)\n"
    "  --dtype f32|bf16   compute precision; bf16: bf16 weights copy and activations, f32\n"
    "                     master weights, gradients and AdamW (default f32)\n"
    "  --seed S           initialisation and data seed (default 1337)\n"
    "  --log FILE         metrics as JSON lines\n"
    "  --ckpt DIR         save a checkpoint in DIR at the end (and every --ckpt-every N): one\n"
    "                     process: model.safetensors; several ranks: a file per optimizer shard\n"
    "                     and index.safetensors; either resumes with any rank count and scheme\n"
    "  --resume           continue from DIR's checkpoint when there is one (needs --ckpt)\n"
    "  --stop-at N        stop after step N, as if interrupted (the schedule still spans --steps)\n"
    "  --sample-every N   print a text sample every N steps (--sample-len, --temperature, --top-k)\n"
    "  --profile          time every op (synchronising after each) and print the breakdown\n"
    "  --peak-gflops X    the machine's peak for the MFU figure (e.g. strata-bench's FMA peak)\n"
    "  --partition P      model state over ranks: auto (the planner's choice; the default under\n"
    "                     mpirun), ddp, zero1, zero2, zero3, zero++, frontier3, or\n"
    "                     params=S,grads=S,optim=S[,secondary=S] with S replicated|gcd|node|world\n"
    "backend: STRATA_BACKEND (cpu, opencl, cuda, hip, auto)\n"
    "ranks: mpirun -np K strata-train ... trains data-parallel: each rank its B rows of a global\n"
    "batch of K x B, model state partitioned as --partition says (STRATA_TOPOLOGY=NxGxD emulates\n"
    "a hierarchy); rank 0 alone prints and writes the log; checkpoints record the global batch\n"
    "and --ckpt must be visible to every rank\n";

static int parse_i64(const char *s, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo) return -1;
    *out = v;
    return 0;
}

static int parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v == v)) return -1;
    *out = v;
    return 0;
}

/* Integer options: name, minimum, where it goes. */
typedef struct int_opt {
    const char *name;
    int64_t min;
    size_t off;
    int is_int; /* stored as int, not int64_t */
} int_opt;

#define I64(n, m, f) {n, m, offsetof(train_opts, f), 0}
#define INT(n, m, f) {n, m, offsetof(train_opts, f), 1}
static const int_opt INT_OPTS[] = {
    I64("--steps", 1, steps),        I64("--batch", 1, batch),        I64("--seq", 1, seq),
    I64("--grad-accum", 1, grad_accum), I64("--eval-every", 0, eval_every),
    I64("--eval-batches", 1, eval_batches), I64("--warmup", 0, warmup),
    INT("--layers", 1, L), INT("--heads", 1, H), INT("--embd", 1, C), INT("--vocab", 1, V),
    INT("--context", 1, ctx), I64("--ckpt-every", 0, ckpt_every), I64("--stop-at", 0, stop_at),
    I64("--sample-every", 0, sample_every), I64("--sample-len", 1, sample_len),
    I64("--top-k", 0, top_k),
};

static int set_int(train_opts *o, const char *opt, const char *val, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof INT_OPTS / sizeof INT_OPTS[0]; i++) {
        const int_opt *io = &INT_OPTS[i];
        if (strcmp(opt, io->name) != 0) continue;
        int64_t v;
        if (parse_i64(val, io->min, &v) || (io->is_int && v > 1 << 30)) {
            snprintf(err, errlen, "%s: '%s' is not an integer >= %" PRId64, opt, val, io->min);
            return -1;
        }
        if (io->is_int) *(int *)((char *)o + io->off) = (int)v;
        else *(int64_t *)((char *)o + io->off) = v;
        if (strcmp(opt, "--seq") == 0) o->seq_set = 1;
        return 0;
    }
    return 1;
}

static int set_other(train_opts *o, const char *opt, const char *val, char *err, size_t errlen)
{
    if (!strcmp(opt, "--data")) o->data = val;
    else if (!strcmp(opt, "--val")) o->val = val;
    else if (!strcmp(opt, "--tokenizer")) o->tokenizer = val;
    else if (!strcmp(opt, "--model")) o->model = val;
    else if (!strcmp(opt, "--log")) o->log = val;
    else if (!strcmp(opt, "--ckpt")) o->ckpt = val;
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
    else if (!strcmp(opt, "--peak-gflops")) {
        if (parse_f64(val, &o->peak_gflops) || o->peak_gflops <= 0) goto bad;
    }
    else if (!strcmp(opt, "--temperature")) {
        if (parse_f64(val, &o->temperature) || o->temperature <= 0) goto bad;
    }
    else if (!strcmp(opt, "--seed")) {
        int64_t v;
        if (parse_i64(val, 0, &v)) goto bad;
        o->seed = (uint64_t)v;
    } else if (!strcmp(opt, "--lr")) {
        if (parse_f64(val, &o->lr) || o->lr <= 0) goto bad;
    } else {
        snprintf(err, errlen, "unknown option '%s' (see --help)", opt);
        return -1;
    }
    return 0;
bad:
    snprintf(err, errlen, "%s: bad value '%s'", opt, val);
    return -1;
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
        if (i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value", opt);
            return -1;
        }
        const char *val = argv[++i];
        int r = set_int(o, opt, val, err, errlen);
        if (r == 1) r = set_other(o, opt, val, err, errlen);
        if (r) return -1;
    }
    if (!o->data) {
        snprintf(err, errlen, "--data FILE is required (see --help)");
        return -1;
    }
    if (o->resume && !o->ckpt) {
        snprintf(err, errlen, "--resume needs --ckpt DIR");
        return -1;
    }
    return 0;
}
