/* Every integer and number option of strata-train fed its extreme values: each is refused with a
 * message naming the option or accepted, and an accepted one then runs (a dry run for the sizes:
 * options, data, model size and device memory) without overflow or crash, which the sanitized
 * build checks. The reproducers of issue 15 in particular: --layers 357913942 (a heap overflow),
 * --warmup/--batch INT64_MAX (a negative rate, a signed overflow), --grad-accum 2^62 (accepted),
 * a checkpoint whose metadata says n_layer 1073741824. Then every metadata field of a checkpoint
 * at its extremes, used as --model and through --resume, plain and sharded. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../harness.h"
#include "trainer.h"

h_counts h_total;

static const char *const INT_OPTIONS[] = {
    "--steps", "--batch", "--seq", "--grad-accum", "--eval-every", "--eval-batches", "--warmup", "--layers",
    "--heads", "--embd", "--vocab", "--context", "--ckpt-every", "--ckpt-keep", "--stop-at", "--sample-every",
    "--sample-len", "--top-k", "--seed", "--log-every"};
static const char *const EXTREMES[] = {
    "-1", "0", "1", "65537", "1073741824", "2147483647", "2147483648", "4294967296", "357913942", "1073741825",
    "4611686018427387904", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "99999999999999999999999", "1e3", "0x10", "", " 7", "7 ", "+7", "abc", "1.5"};
static const char *const REAL_OPTIONS[] = {"--lr", "--temperature", "--peak-gflops", "--min-lr", "--min-lr-ratio",
                                           "--weight-decay", "--beta1", "--beta2", "--eps", "--grad-clip"};
static const char *const REAL_EXTREMES[] = {"0",   "-1",   "1e-320", "1e308", "1e309", "inf", "-inf",
                                            "nan", "1e3", "0x1p3",  "",      "abc",   "2e3"};

static char data[64];

/* Parses --data DATA OPT VAL [--dry-run]; when accepted, runs it (a dry run) and checks the outcome
 * is success or an error with a message. Returns the parse result. */
static int try_option(const char *opt, const char *val)
{
    char *argv[] = {"strata-train", "--data", data, (char *)opt, (char *)val, "--dry-run", NULL};
    train_opts o;
    char err[1024] = "";
    train_opts_default(&o);
    int r = train_parse_args(6, argv, &o, NULL, err, sizeof err);
    if (r != 0) {
        CHECK(r == -1 && strstr(err, opt), "%s '%s' refused naming the option: %s", opt, val, err);
        return r;
    }
    r = train_run(&o, NULL, NULL, err, sizeof err);
    size_t n = strlen(err);
    CHECK(r == 0 || (r == -1 && n > 2 && strcmp(err + n - 2, ": ") != 0), "%s '%s': a dry run succeeds or says why: "
          "%d '%s'", opt, val, r, err);
    return 0;
}

static void test_extremes(void)
{
    int accepted = 0, refused = 0;
    for (size_t i = 0; i < sizeof INT_OPTIONS / sizeof *INT_OPTIONS; i++)
        for (size_t k = 0; k < sizeof EXTREMES / sizeof *EXTREMES; k++)
            *(try_option(INT_OPTIONS[i], EXTREMES[k]) == 0 ? &accepted : &refused) += 1;
    for (size_t i = 0; i < sizeof REAL_OPTIONS / sizeof *REAL_OPTIONS; i++)
        for (size_t k = 0; k < sizeof REAL_EXTREMES / sizeof *REAL_EXTREMES; k++)
            *(try_option(REAL_OPTIONS[i], REAL_EXTREMES[k]) == 0 ? &accepted : &refused) += 1;
    printf("extremes: %d accepted (dry runs), %d refused\n", accepted, refused);
    static const char *const must_refuse[][2] = {
        {"--layers", "357913942"}, {"--warmup", "9223372036854775807"}, {"--batch", "9223372036854775807"},
        {"--grad-accum", "4611686018427387904"}, {"--lr", "inf"}, {"--lr", "nan"}, {"--steps", "9223372036854775807"}};
    for (size_t i = 0; i < sizeof must_refuse / sizeof *must_refuse; i++)
        CHECK(try_option(must_refuse[i][0], must_refuse[i][1]) == -1, "%s %s is refused", must_refuse[i][0],
              must_refuse[i][1]);
    /* across options: a warmup or stop-at past the steps */
    char *argv[] = {"strata-train", "--data", data, "--steps", "10", "--warmup", "11", NULL};
    train_opts o;
    char err[512];
    train_opts_default(&o);
    CHECK(train_parse_args(7, argv, &o, NULL, err, sizeof err) == -1 && strstr(err, "--warmup"), "%s", err);
    st_lr_schedule s = {1e-3, 1e-4, INT64_MAX, INT64_MAX};
    double lr0 = st_lr_cosine(&s, 0), lr1 = st_lr_cosine(&s, INT64_MAX - 1);
    CHECK(lr0 > 0 && lr0 <= 1e-3 && lr1 > 0 && lr1 <= 1e-3, "a warmup of INT64_MAX keeps the rate in (0, max]: %g %g",
          lr0, lr1);
}

/* Accepted extremes that are cheap to train: a step or two each, real runs. */
static void test_accepted_runs(void)
{
    static const char *const runs[][4] = {
        {"--steps", "1099511627776", "--stop-at", "1"}, {"--warmup", "1099511627776", "--steps", "1099511627776"},
        {"--seed", "9223372036854775807", "--stop-at", "1"}, {"--top-k", "16777216", "--sample-every", "1"},
        {"--ckpt-every", "1099511627776", "--sample-len", "1024"}, {"--eval-every", "1099511627776", "--eval-batches", "1"}};
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        char *argv[] = {"strata-train", "--data", data, "--model", "tiny", "--layers", "1", "--batch", "1", "--seq",
                        "8", "--steps", "2", (char *)runs[i][0], (char *)runs[i][1], (char *)runs[i][2],
                        (char *)runs[i][3], "--stop-at", "1", NULL};
        int argc = 19;
        train_opts o;
        char err[1024] = "";
        train_opts_default(&o);
        int r = train_parse_args(argc, argv, &o, NULL, err, sizeof err);
        if (!CHECK(r == 0, "%s %s %s %s parses: %s", runs[i][0], runs[i][1], runs[i][2], runs[i][3], err)) continue;
        float loss[2] = {0, 0};
        r = train_run(&o, NULL, o.steps <= 2 ? loss : NULL, err, sizeof err);
        CHECK(r == 0, "%s %s %s %s trains a step: %s", runs[i][0], runs[i][1], runs[i][2], runs[i][3], err);
    }
}

int main(void)
{
    snprintf(data, sizeof data, "/tmp/strata_args_XXXXXX");
    int fd = mkstemp(data);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    for (int i = 0; f && i < 200; i++) fputs("extreme values for every option of strata-train.\n", f);
    if (!CHECK(f && fclose(f) == 0, "writing %s", data)) return h_finish();
    setenv("STRATA_BACKEND", "cpu", 1);
    test_extremes();
    test_accepted_runs();
    void test_hf_json(void);
    test_hf_json();
    void test_hyperparameters(const char *data);
    test_hyperparameters(data);
    void test_metadata_extremes(const char *data);
    test_metadata_extremes(data);
    remove(data);
    st_shutdown();
    return h_finish();
}
