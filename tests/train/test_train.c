/* Tests of strata-train's training loop: the tiny GPT-2 learns a small text, writes its metrics,
 * trains the same on opencl as on cpu (skipped when opencl is absent), tracks f32 in bf16 mixed
 * precision, resumes from a checkpoint bit-identically on cpu (and refuses another batch shape),
 * starts a new run from a checkpoint's weights, and reports its figures and op profile. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../harness.h"
#include "trainer.h"

h_counts h_total;

static const char PARAGRAPH[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity.\n";

/* A text of the paragraph repeated, at path. */
static int write_text(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < 60; i++) fputs(PARAGRAPH, f);
    return fclose(f);
}

static train_opts tiny_opts(const char *data, int64_t steps)
{
    train_opts o;
    train_opts_default(&o);
    o.data = data;
    o.steps = steps;
    o.batch = 4;
    o.seq = 32;
    o.seq_set = 1;
    o.lr = 3e-3;
    return o;
}

/* dir's committed checkpoint file `name` into buf (the step directory `latest` names). */
static int committed(const char *dir, const char *name, char *buf, size_t len)
{
    st_ckpt_found f;
    int found = 0;
    if (st_ckpt_dir_find(dir, &f, &found) != ST_OK || !found) return -1;
    snprintf(buf, len, "%s/%s", f.path, name);
    return 0;
}

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) printf("note: could not remove %s\n", path);
}

static int file_has(const char *path, const char *needle)
{
    char buf[1 << 14];
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static void test_loss_falls(const char *data, const char *log)
{
    float loss[30];
    char err[1024] = "";
    train_opts o = tiny_opts(data, 30);
    o.eval_every = 10;
    o.log = log;
    setenv("STRATA_BACKEND", "cpu", 1);
    if (!CHECK(train_run(&o, NULL, loss, err, sizeof err) == 0, "%s", err)) return;
    float last = (loss[27] + loss[28] + loss[29]) / 3;
    CHECK(fabsf(loss[0] - logf(256.0f)) < 0.1f, "first loss %f near ln 256", loss[0]);
    CHECK(last < loss[0] - 1.5f, "loss falls: %f -> %f", loss[0], last);
    CHECK(file_has(log, "\"tokens_per_s\""), "step metrics in %s", log);
    CHECK(file_has(log, "\"val_loss\""), "evaluation metrics in %s", log);
}

static void test_opencl_matches_cpu(const char *data)
{
    st_device *dev;
    if (st_device_get("opencl", 0, &dev) != ST_OK) {
        h_skip("opencl: %s", st_last_error());
        return;
    }
    float cpu[20], ocl[20];
    char err[1024] = "";
    train_opts o = tiny_opts(data, 20);
    setenv("STRATA_BACKEND", "cpu", 1);
    if (!CHECK(train_run(&o, NULL, cpu, err, sizeof err) == 0, "cpu: %s", err)) return;
    setenv("STRATA_BACKEND", "opencl", 1);
    if (!CHECK(train_run(&o, NULL, ocl, err, sizeof err) == 0, "opencl: %s", err)) return;
    for (int i = 0; i < 20; i++)
        CHECK(fabsf(cpu[i] - ocl[i]) <= 1e-4f * fabsf(cpu[i]), "step %d: cpu %.7f opencl %.7f",
              i + 1, cpu[i], ocl[i]);
}

/* 10 steps, stop, resume for 10 more: the same losses, bit for bit, as 20 straight steps. */
static void test_resume(const char *data, const char *dir)
{
    float straight[20], resumed[20];
    char err[1024] = "";
    train_opts o = tiny_opts(data, 20);
    setenv("STRATA_BACKEND", "cpu", 1);
    if (!CHECK(train_run(&o, NULL, straight, err, sizeof err) == 0, "%s", err)) return;
    o.ckpt = dir;
    o.stop_at = 10;
    if (!CHECK(train_run(&o, NULL, resumed, err, sizeof err) == 0, "first half: %s", err)) return;
    o.stop_at = 0;
    o.resume = 1;
    if (!CHECK(train_run(&o, NULL, resumed, err, sizeof err) == 0, "second half: %s", err)) return;
    CHECK(memcmp(straight, resumed, sizeof straight) == 0, "resumed losses bit-identical (step 20: %.9g vs %.9g)",
          straight[19], resumed[19]);
    /* another run shape is refused, naming both values: the data position would not match */
    o.batch = 2;
    CHECK(train_run(&o, NULL, resumed, err, sizeof err) == -1 && strstr(err, "batch=4") &&
          strstr(err, "has 2"), "%s", err);
    o.batch = 4;
    o.grad_accum = 2;
    CHECK(train_run(&o, NULL, resumed, err, sizeof err) == -1 && strstr(err, "grad_accum=1") &&
          strstr(err, "has 2"), "%s", err);
    o.grad_accum = 1;
    o.seq = 16;
    CHECK(train_run(&o, NULL, resumed, err, sizeof err) == -1 && strstr(err, "seq=32") &&
          strstr(err, "has 16"), "%s", err);
}

/* bf16 compute (f32 masters, gradients and AdamW): losses within 2e-2 of f32's at every step,
 * not bit-identical (bf16 really ran), and falling. On opencl too when present. */
static void test_bf16(const char *data)
{
    float f32[20], bf[20];
    char err[1024] = "";
    train_opts o = tiny_opts(data, 20);
    setenv("STRATA_BACKEND", "cpu", 1);
    if (!CHECK(train_run(&o, NULL, f32, err, sizeof err) == 0, "f32: %s", err)) return;
    o.bf16 = 1;
    st_device *dev;
    const char *backends[2] = {"cpu", st_device_get("opencl", 0, &dev) == ST_OK ? "opencl" : NULL};
    for (int b = 0; b < 2 && backends[b]; b++) {
        setenv("STRATA_BACKEND", backends[b], 1);
        if (!CHECK(train_run(&o, NULL, bf, err, sizeof err) == 0, "%s bf16: %s", backends[b], err)) return;
        int differ = 0;
        for (int i = 0; i < 20; i++) {
            differ |= bf[i] != f32[i];
            CHECK(fabsf(bf[i] - f32[i]) <= 2e-2f * fabsf(f32[i]), "%s step %d: f32 %.6f bf16 %.6f",
                  backends[b], i + 1, f32[i], bf[i]);
        }
        CHECK(differ, "%s: bf16 losses differ from f32 somewhere (else bf16 did not run)", backends[b]);
        CHECK((bf[17] + bf[18] + bf[19]) / 3 < bf[0] - 1.0f, "%s bf16 loss falls: %f -> %f", backends[b],
              bf[0], bf[19]);
    }
    setenv("STRATA_BACKEND", "cpu", 1);
}

/* --model CKPT: the trained weights of the resume test's checkpoint start a new run at step 0
 * (first loss far below ln 256), whose own checkpoint then says step 2; both the directory and
 * the file name work; overriding the checkpoint's config is refused. */
static void test_model_from_ckpt(const char *data, const char *dir, const char *file, const char *dir2)
{
    float loss[2] = {0, 0};
    char err[1024] = "";
    train_opts o = tiny_opts(data, 2);
    o.lr = 1e-6;
    o.model = dir;
    o.ckpt = dir2;
    if (!CHECK(train_run(&o, NULL, loss, err, sizeof err) == 0, "--model %s: %s", dir, err)) return;
    CHECK(loss[0] > 0 && loss[0] < 4.0f, "first loss from the checkpoint's weights: %f", loss[0]);
    char path[4200] = "";
    CHECK(committed(dir2, "trainer_state.safetensors", path, sizeof path) == 0, "a committed checkpoint in %s", dir2);
    st_safetensors *f;
    if (CHECK(st_safetensors_open(path, &f) == ST_OK, "%s: %s", path, st_last_error())) {
        const char *step = st_safetensors_meta(f, "step");
        CHECK(step && strcmp(step, "2") == 0, "the new run counts from 0: step %s", step ? step : "(none)");
        st_safetensors_destroy(f);
    }
    rm_rf(dir2);
    o.model = file;
    o.ckpt = NULL;
    float again[2];
    CHECK(train_run(&o, NULL, again, err, sizeof err) == 0 && again[0] == loss[0],
          "--model FILE gives the same start: %f vs %f (%s)", again[0], loss[0], err);
    o.H = 2;
    CHECK(train_run(&o, NULL, again, err, sizeof err) == -1 && strstr(err, "H=4"), "%s", err);
}

/* train_opts.stats: FLOPs per token by the stated formula, a step time, and with profile a
 * per-op table whose entries add up to about the timed steps. */
static void test_stats(const char *data)
{
    train_stats st;
    char err[1024] = "";
    train_opts o = tiny_opts(data, 4);
    o.profile = 1;
    o.stats = &st;
    if (!CHECK(train_run(&o, NULL, NULL, err, sizeof err) == 0, "%s", err)) return;
    double want = 6.0 * (double)st.n_params + 12.0 * 2 * 64 * 32;
    CHECK(st.n_params == 120576 && st.flops_per_token == want, "%lld parameters, %g FLOP/token",
          (long long)st.n_params, st.flops_per_token);
    CHECK(st.ms_median > 0 && st.tokens_per_s > 0 && st.timed_steps == 3, "median %f ms, %f tok/s, %lld timed",
          st.ms_median, st.tokens_per_s, (long long)st.timed_steps);
    int has_matmul = 0, has_bwd = 0, has_opt = 0;
    for (int i = 0; i < st.n_op_times; i++) {
        has_matmul |= !strcmp(st.op_times[i].op, "matmul") && st.op_times[i].calls == 3 * 9;
        has_bwd |= !strcmp(st.op_times[i].op, "attention.bwd") && st.op_times[i].calls == 3 * 2;
        has_opt |= !strncmp(st.op_times[i].op, "optimizer", 9) && st.op_times[i].ms > 0;
        if (i) CHECK(st.op_times[i].ms <= st.op_times[i - 1].ms, "sorted by time at %d", i);
    }
    CHECK(has_matmul && has_bwd && has_opt, "profile has matmul (9 per step), attention.bwd (2 per "
          "step) and the optimizer (%d entries)", st.n_op_times);
}

/* The tensors of an llm.c model file, in its order; `flip`: stored (out, in), ours (in, out). */
static const struct { const char *name; int flip; } LLMC_ORDER[16] = {
    {"wte.weight", 0}, {"wpe.weight", 0}, {"ln_1.weight", 0}, {"ln_1.bias", 0},
    {"attn.c_attn.weight", 1}, {"attn.c_attn.bias", 0}, {"attn.c_proj.weight", 1},
    {"attn.c_proj.bias", 0}, {"ln_2.weight", 0}, {"ln_2.bias", 0}, {"mlp.c_fc.weight", 1},
    {"mlp.c_fc.bias", 0}, {"mlp.c_proj.weight", 1}, {"mlp.c_proj.bias", 0},
    {"ln_f.weight", 0}, {"ln_f.bias", 0},
};

/* Appends checkpoint tensor `name` to f, transposed when flip. */
static int put_tensor(const st_safetensors *ck, const char *name, int flip, FILE *f)
{
    st_ckpt_info in;
    if (st_safetensors_find(ck, name, &in) != ST_OK) return -1;
    float *a = malloc(in.bytes), *b = malloc(in.bytes);
    int rc = a && b && st_safetensors_read(ck, name, a, in.bytes) == ST_OK ? 0 : -1;
    int64_t rows = in.shape[0], cols = in.ndim == 2 ? in.shape[1] : 1;
    for (int64_t r = 0; !rc && r < rows; r++)
        for (int64_t c = 0; c < cols; c++) b[c * rows + r] = a[r * cols + c];
    if (!rc && fwrite(flip ? b : a, 1, in.bytes, f) != in.bytes) rc = -1;
    free(a), free(b);
    return rc;
}

/* An llm.c model file (L=2, H=4, C=64, T=64, V=Vp=256) of the tiny checkpoint at ckpt. */
static int write_llmc(const char *ckpt, const char *path)
{
    st_safetensors *ck;
    if (st_safetensors_open(ckpt, &ck) != ST_OK) return -1;
    FILE *f = fopen(path, "wb");
    int32_t h[256] = {20240326, 3, 64, 256, 2, 4, 64, 256};
    int rc = f && fwrite(h, sizeof h, 1, f) == 1 ? 0 : -1;
    for (int k = 0; !rc && k < 16; k++) {
        char name[64];
        int layered = k >= 2 && k < 14;
        for (int l = 0; !rc && l < (layered ? 2 : 1); l++) {
            if (layered) snprintf(name, sizeof name, "transformer.h.%d.%s", l, LLMC_ORDER[k].name);
            else snprintf(name, sizeof name, "transformer.%s", LLMC_ORDER[k].name);
            rc = put_tensor(ck, name, LLMC_ORDER[k].flip, f);
        }
    }
    if (f && fclose(f)) rc = -1;
    st_safetensors_destroy(ck);
    return rc;
}

/* Training from an llm.c export of a trained checkpoint starts at its loss, not at ln 256. */
static void test_llmc_import(const char *data, const char *ckpt, const char *path)
{
    if (!CHECK(write_llmc(ckpt, path) == 0, "llm.c export of %s: %s", ckpt, st_last_error())) return;
    char model[128], err[1024] = "";
    float loss[2];
    snprintf(model, sizeof model, "llmc:%s", path);
    train_opts o = tiny_opts(data, 2);
    o.model = model;
    o.lr = 1e-6;
    CHECK(train_run(&o, NULL, loss, err, sizeof err) == 0 && loss[0] < 4.0f,
          "imported model's first loss %f (%s)", loss[0], err);
    o.L = 3;
    CHECK(train_run(&o, NULL, loss, err, sizeof err) == -1 && strstr(err, "L=2"), "%s", err);
}

int main(void)
{
    char data[] = "/tmp/strata_train_XXXXXX";
    int fd = mkstemp(data);
    if (!CHECK(fd >= 0 && write_text(data) == 0, "temporary text")) return h_finish();
    char log[64];
    snprintf(log, sizeof log, "%s.jsonl", data);
    test_loss_falls(data, log);
    test_opencl_matches_cpu(data);
    char dir[80], model[4200] = "";
    snprintf(dir, sizeof dir, "%s.ckpt", data);
    test_resume(data, dir);
    CHECK(committed(dir, "model.safetensors", model, sizeof model) == 0, "a committed checkpoint in %s", dir);
    test_bf16(data);
    char dir2[80];
    snprintf(dir2, sizeof dir2, "%s.ckpt2", data);
    test_model_from_ckpt(data, dir, model, dir2);
    test_stats(data);
    char llmc[80];
    snprintf(llmc, sizeof llmc, "%s.bin", data);
    test_llmc_import(data, model, llmc);
    remove(llmc);
    rm_rf(dir);
    remove(data);
    remove(log);
    st_shutdown();
    return h_finish();
}
