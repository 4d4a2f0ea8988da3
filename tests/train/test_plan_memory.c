/* The planner's memory model against what strata-train allocates: for several GPT shapes (layer
 * activations dominating, the embedding's gradient temporary dominating, bf16 compute), one
 * training step's device peak (the "summary" line's peak_bytes) and st_plan_evaluate's memory for
 * the same model on one rank (ddp) agree within 10%, as docs/partitioning.md claims. Multi-rank
 * schemes are compared by strata-bench train (and bench/results/). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gpt2.h"
#include "harness.h"
#include "trainer.h"

h_counts h_total;

typedef struct shape {
    const char *what;
    int L, H, C, T, V, B, bf16;
} shape;

static uint64_t measured_peak(const shape *s, const char *data, int64_t *n_params)
{
    char log[] = "/tmp/strata-plan-memory-log-XXXXXX", err[512] = "";
    int fd = mkstemp(log);
    if (fd < 0) return 0;
    close(fd);
    train_opts o;
    train_stats st;
    train_opts_default(&o);
    o.data = data, o.log = log, o.model = "tiny", o.steps = 1, o.batch = s->B, o.seq = s->T, o.seq_set = 1;
    o.L = s->L, o.H = s->H, o.C = s->C, o.ctx = s->T, o.V = s->V, o.bf16 = s->bf16, o.stats = &st;
    uint64_t peak = 0;
    st_device *dev = NULL;
    if (st_device_default(&dev) == ST_OK) st_device_memory_reset_peak(dev); /* the previous shape's */
    if (train_run(&o, NULL, NULL, err, sizeof err) == 0) {
        FILE *f = fopen(log, "r");
        char line[4096];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "\"peak_bytes\": ");
            if (p) peak = strtoull(p + 14, NULL, 10);
        }
        if (f) fclose(f);
        *n_params = st.n_params;
    } else {
        fprintf(stderr, "%s: %s\n", s->what, err);
    }
    unlink(log);
    return peak;
}

static void check_shape(const shape *s, const char *data)
{
    int64_t n = 0;
    uint64_t peak = measured_peak(s, data, &n);
    CHECK(peak > 0, "%s: a training step ran", s->what);
    if (!peak) return;
    st_plan_input in;
    st_plan_input_init(&in);
    in.model = (st_plan_model){.params = (uint64_t)n, .layers = s->L, .hidden = s->C, .heads = s->H, .seq = s->T,
                               .vocab = s->V};
    in.param_bytes = in.grad_bytes = 4;
    in.optim_bytes = st_partition_optim_bytes(4);
    in.act_bytes = s->bf16 ? 2 : 4;
    in.micro_batch_size = s->B;
    st_partition ddp;
    st_plan_row r;
    CHECK_ST(st_partition_parse("ddp", &ddp), ST_OK);
    CHECK_ST(st_plan_evaluate(&in, &ddp, &r), ST_OK);
    double err = ((double)r.memory - (double)peak) / (double)peak;
    printf("%-34s trainer peak %10.2f MiB, planner %10.2f MiB (state %.2f + activations %.2f): %+.2f%%\n", s->what,
           peak / 1048576.0, r.memory / 1048576.0, r.state.total / 1048576.0, r.activations / 1048576.0, 100 * err);
    CHECK(fabs(err) <= 0.10, "%s: planner %llu bytes vs trainer %llu (%.1f%%)", s->what,
          (unsigned long long)r.memory, (unsigned long long)peak, 100 * err);
}

int main(void)
{
    char data[] = "/tmp/strata-plan-memory-data-XXXXXX";
    int fd = mkstemp(data);
    CHECK(fd >= 0, "temporary data file");
    if (fd < 0) return h_finish();
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 20000; i++) fputc("abcdefgh ijklmnop\n"[i % 18], f);
    fclose(f);
    static const shape shapes[] = {
        {"tiny (2 x 64, B 8, T 64)", 2, 4, 64, 64, 256, 8, 0},
        {"layers dominate (6 x 256, B 4, T 64)", 6, 4, 256, 64, 256, 4, 0},
        {"embedding gradient (2 x 128, V 8192)", 2, 4, 128, 32, 8192, 2, 0},
        {"bf16 compute (4 x 256, B 4, T 64)", 4, 4, 256, 64, 256, 4, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(&shapes[i], data);
    unlink(data);
    st_shutdown();
    return h_finish();
}
