/* The hyperparameter options (--weight-decay, --beta1, --beta2, --eps, --grad-clip, --min-lr,
 * --min-lr-ratio, --lr-schedule, --no-decay-embeddings, --data-order, --log-every): parsed with
 * their bounds, each schedule's shape, what decays, that they change training, and what a resume
 * with other values does (refused for the decay set, a note naming the others). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "../harness.h"
#include "gpt2.h"
#include "trainer.h"

static int parse(const char *data, train_opts *o, char *err, size_t errlen, int n, ...)
{
    char *argv[32] = {"strata-train", "--data", (char *)data};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 28; i++) argv[3 + i] = va_arg(ap, char *);
    va_end(ap);
    train_opts_default(o);
    return train_parse_args(3 + n, argv, o, NULL, err, errlen);
}

static void test_parse(const char *data)
{
    train_opts o;
    char err[512];
    CHECK(parse(data, &o, err, sizeof err, 19, "--weight-decay", "0", "--beta1", "0.8", "--beta2", "0.999", "--eps",
                "1e-6", "--grad-clip", "0", "--min-lr", "1e-5", "--lr-schedule", "wsd", "--data-order", "sequential",
                "--no-decay-embeddings", "--log-every", "7") == 0, "every option parses: %s", err);
    CHECK(o.weight_decay == 0 && o.beta1 == 0.8 && o.beta2 == 0.999 && o.eps == 1e-6 && o.max_norm == 0 &&
          o.min_lr == 1e-5 && o.lr_schedule == TRAIN_SCHED_WSD && o.data_order == TRAIN_DATA_SEQUENTIAL &&
          o.no_decay_emb && o.log_every == 7, "and lands in the options");
    static const char *const bad[][2] = {{"--beta1", "1"}, {"--beta2", "-0.1"}, {"--eps", "0"}, {"--grad-clip", "-1"},
                                         {"--weight-decay", "nan"}, {"--min-lr-ratio", "1.5"}, {"--min-lr", "1"},
                                         {"--lr-schedule", "step"}, {"--data-order", "shuffled"}, {"--log-every", "0"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(parse(data, &o, err, sizeof err, 2, bad[i][0], bad[i][1]) == -1 && strstr(err, bad[i][0]),
              "%s %s refused naming it: %s", bad[i][0], bad[i][1], err);
    CHECK(parse(data, &o, err, sizeof err, 2, "--trace", "t.json") == -1 && strstr(err, "--profile"),
          "--trace without --profile: %s", err);
}

static void test_schedules(void)
{
    train_opts o;
    train_opts_default(&o);
    o.lr = 1.0, o.min_lr = 0.1, o.steps = 100;
    o.lr_schedule = TRAIN_SCHED_CONSTANT;
    CHECK(train_lr(&o, 10, 0) == 1.0 && train_lr(&o, 10, 99) == 1.0, "constant: lr throughout, no warmup");
    o.lr_schedule = TRAIN_SCHED_LINEAR;
    CHECK(fabs(train_lr(&o, 10, 0) - 1.0 / 11) < 1e-15 && train_lr(&o, 10, 10) == 1.0 &&
          fabs(train_lr(&o, 10, 55) - 0.55) < 1e-12 && fabs(train_lr(&o, 10, 100) - 0.1) < 1e-15,
          "linear: warmup, then a straight line to min_lr: %g %g", train_lr(&o, 10, 55), train_lr(&o, 10, 100));
    o.lr_schedule = TRAIN_SCHED_WSD;
    CHECK(train_lr(&o, 10, 50) == 1.0 && train_lr(&o, 10, 79) == 1.0 && train_lr(&o, 10, 80) == 1.0 &&
          fabs(train_lr(&o, 10, 85) - (0.1 + (1 - sqrt(0.25)) * 0.9)) < 1e-12 && fabs(train_lr(&o, 10, 100) - 0.1) < 1e-15,
          "wsd: stable to 80%%, then 1 - sqrt: %g", train_lr(&o, 10, 85));
    o.lr_schedule = TRAIN_SCHED_COSINE;
    st_lr_schedule s = {1.0, 0.1, 10, 100};
    CHECK(train_lr(&o, 10, 37) == st_lr_cosine(&s, 37), "cosine is st_lr_cosine");
    o.min_lr = -1, o.min_lr_ratio = 0.25;
    CHECK(train_min_lr(&o) == 0.25, "--min-lr-ratio when --min-lr is not given");
}

/* Which parameters decay: matrices always, wte and wpe unless --no-decay-embeddings, never 1-d ones. */
static void test_decay_set(void)
{
    gpt2_config cfg = {.L = 1, .H = 2, .C = 8, .T = 8, .V = 16, .Vp = 16};
    for (int emb = 0; emb < 2; emb++) {
        st_param_spec *specs;
        int n, ok = 1;
        if (!CHECK(gpt2_param_specs(&cfg, emb, &specs, &n) == ST_OK, "specs")) return;
        for (int i = 0; i < n; i++) {
            int embedding = !strcmp(specs[i].name, "wte.weight") || !strcmp(specs[i].name, "wpe.weight");
            ok &= specs[i].decay == (embedding ? emb : specs[i].ndim == 2);
        }
        CHECK(ok, "decay flags with decay_embeddings=%d", emb);
        free(specs);
    }
}

static train_opts small(const char *data)
{
    train_opts o;
    train_opts_default(&o);
    o.data = data, o.steps = 3, o.batch = 2, o.seq = 16, o.seq_set = 1, o.L = 1, o.lr = 1e-2;
    return o;
}

/* Each option changes training, and a resume with other values: refused for what orders the arena,
 * a note naming the rest. */
static void test_effects_and_resume(const char *data, const char *dir)
{
    char err[1024];
    float base[3], other[3];
    train_opts o = small(data);
    if (!CHECK(train_run(&o, NULL, base, err, sizeof err) == 0, "%s", err)) return;
    const char *names[] = {"--beta2", "--grad-clip", "--weight-decay", "--lr-schedule", "--data-order", "--beta1", "--eps"};
    for (int k = 0; k < 7; k++) {
        train_opts p = small(data);
        if (k == 0) p.beta2 = 0.5;
        if (k == 1) p.max_norm = 1e-3;
        if (k == 2) p.weight_decay = 100;
        if (k == 3) p.lr_schedule = TRAIN_SCHED_CONSTANT;
        if (k == 4) p.data_order = TRAIN_DATA_SEQUENTIAL;
        if (k == 5) p.beta1 = 0.0;
        if (k == 6) p.eps = 1.0;
        int r = train_run(&p, NULL, other, err, sizeof err);
        /* the data order changes the first loss; the others only what follows the first step */
        CHECK(r == 0 && (k == 4 ? other[0] != base[0] : other[0] == base[0] && other[2] != base[2]),
              "%s changes training: %d %g/%g %g/%g %s", names[k], r, other[0], base[0], other[2], base[2], err);
    }
    char ck[600], out[700];
    snprintf(ck, sizeof ck, "%s/hyper-ck", dir);
    snprintf(out, sizeof out, "%s/hyper-out", dir);
    o.ckpt = ck, o.stop_at = 1;
    if (!CHECK(train_run(&o, NULL, NULL, err, sizeof err) == 0, "%s", err)) return;
    train_opts r = o;
    r.stop_at = 0, r.resume = 1, r.no_decay_emb = 1;
    CHECK(train_run(&r, NULL, NULL, err, sizeof err) == -1 && strstr(err, "--no-decay-embeddings"),
          "a resume that changes the decay set is refused naming it: %s", err);
    r.no_decay_emb = 0, r.beta2 = 0.99, r.max_norm = 0.5;
    FILE *f = fopen(out, "w+");
    int rc = f ? train_run(&r, f, NULL, err, sizeof err) : -1;
    char text[8192] = "";
    if (f) {
        rewind(f);
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
    }
    CHECK(rc == 0 && strstr(text, "note: resuming with hyperparameters") && strstr(text, "--beta2 0.99 (the checkpoint's: 0.95)") &&
          strstr(text, "--grad-clip 0.5 (the checkpoint's: 1)"), "a resume with other values goes on with a note: %d %s %s",
          rc, err, text);
}

void test_hyperparameters(const char *data);
void test_hyperparameters(const char *data)
{
    char dir[] = "/tmp/strata_hyper_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL, "scratch directory")) return;
    test_parse(data);
    test_schedules();
    test_decay_set();
    test_effects_and_resume(data, dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("note: '%s' failed\n", cmd);
}
