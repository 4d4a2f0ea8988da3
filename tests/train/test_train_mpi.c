/* Data-parallel strata-train under mpirun (label mpi): K ranks with batch B give the losses,
 * gradient norms and validation losses of one process with batch K B; only rank 0 writes the log
 * and (ddp: the one optimizer shard) the checkpoint; a K-rank run stopped and resumed equals the straight run bit for bit; K ranks
 * resume from a one-process checkpoint of batch K B. argv[1]: a directory for this test (shared by
 * the ranks, emptied first). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../harness.h"
#include "trainer.h"
#include "train_mpi_util.h"

h_counts h_total;

#define STEPS 10
#define B 2

static const char PARAGRAPH[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity.\n";

/* A model shrunk for speed: L=2, H=2, C=32, context 32; validation every 5 steps. */
static train_opts small_opts(const char *data, int64_t batch, st_comm *comm)
{
    train_opts o;
    train_opts_default(&o);
    o.data = data;
    o.steps = STEPS;
    o.batch = batch;
    o.seq = 32;
    o.seq_set = 1;
    o.L = 2, o.H = 2, o.C = 32, o.ctx = 32;
    o.lr = 3e-3;
    o.eval_every = 5;
    o.eval_batches = 2;
    o.comm = comm;
    return o;
}

static int count_lines_with(const char *path, const char *needle)
{
    char line[512];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Entries of the current directory besides . and .. */
static int cwd_entries(void)
{
    DIR *d = opendir(".");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

/* K ranks x B rows against rank 0's single process with K B rows: losses within 1e-5 relative at
 * every step, the same validation losses; files only in rank 0's directory. */
static void test_equivalence(st_comm *c, const char *data, const char *ckpt, float *dp)
{
    int rank = st_comm_rank(c), K = st_comm_size(c);
    char err[1024] = "";
    train_opts o = small_opts(data, B, c);
    o.log = "log.jsonl";
    o.ckpt = ckpt;
    if (!CHECK(train_run(&o, NULL, dp, err, sizeof err) == 0, "rank %d: %s", rank, err)) return;
    if (rank != 0) { /* only rank 0 writes the log; the checkpoint is in the shared directory */
        CHECK(cwd_entries() == 0, "rank %d created %d files", rank, cwd_entries());
        return;
    }
    char want[32];
    snprintf(want, sizeof want, "\"ranks\": %d, \"bytes_gcd\"", K);
    CHECK(count_lines_with("log.jsonl", want) == STEPS, "log has %d step lines with %s", STEPS, want);
    st_ckpt_found found;
    int have = 0;
    struct stat sb;
    char index[4200] = "";
    if (st_ckpt_dir_find(ckpt, &found, &have) == ST_OK && have)
        snprintf(index, sizeof index, "%s/index.safetensors", found.path);
    CHECK(have && found.step == STEPS && stat(index, &sb) == 0, "a committed checkpoint of step %d with its index in %s",
          STEPS, ckpt);
    float ref[STEPS];
    train_opts r = small_opts(data, (int64_t)K * B, NULL);
    r.log = "ref.jsonl";
    if (!CHECK(train_run(&r, NULL, ref, err, sizeof err) == 0, "reference: %s", err)) return;
    double worst = 0;
    for (int i = 0; i < STEPS; i++) {
        CHECK(fabsf(dp[i] - ref[i]) <= 1e-5f * fabsf(ref[i]), "step %d: %d ranks x %d %.8f, 1 x %d %.8f",
              i + 1, K, B, dp[i], K * B, ref[i]);
        worst = fmax(worst, fabs((double)dp[i] - ref[i]) / fabs((double)ref[i]));
    }
    printf("%d ranks x %d rows against 1 x %d: largest relative loss difference %.2e\n", K, B, K * B, worst);
    /* the averaged gradient's norm too (AdamW alone would not tell a sum from a mean) */
    double v1[STEPS], v2[STEPS];
    int n1 = log_values("log.jsonl", "grad_norm", v1, STEPS), n2 = log_values("ref.jsonl", "grad_norm", v2, STEPS);
    CHECK(n1 == STEPS && n2 == STEPS, "gradient norms in both logs: %d, %d", n1, n2);
    for (int i = 0; i < n1 && i < n2; i++)
        CHECK(fabs(v1[i] - v2[i]) <= 1e-5 * fabs(v2[i]), "step %d norm: %.6f vs %.6f", i + 1, v1[i], v2[i]);
    n1 = log_values("log.jsonl", "val_loss", v1, STEPS), n2 = log_values("ref.jsonl", "val_loss", v2, STEPS);
    CHECK(n1 == 2 && n2 == 2, "two evaluations each: %d, %d", n1, n2);
    for (int i = 0; i < n1 && i < n2; i++)
        CHECK(fabs(v1[i] - v2[i]) <= 1e-5 * fabs(v2[i]), "val loss %d: %.6f vs %.6f", i, v1[i], v2[i]);
}

/* --data-order sequential over K ranks (llm.c's DataLoader: rank r reads B T + 1 tokens from r B T into
 * each sample of K B T) against one process with K B rows: the same losses, and other ones than the
 * random order's. */
static void test_sequential(st_comm *c, const char *data, const float *random_order)
{
    int rank = st_comm_rank(c), K = st_comm_size(c);
    char err[1024] = "";
    float dp[STEPS], ref[STEPS];
    train_opts o = small_opts(data, B, c);
    o.data_order = TRAIN_DATA_SEQUENTIAL;
    if (!CHECK(train_run(&o, NULL, dp, err, sizeof err) == 0, "rank %d: sequential: %s", rank, err) || rank != 0) return;
    train_opts r = small_opts(data, (int64_t)K * B, NULL);
    r.data_order = TRAIN_DATA_SEQUENTIAL;
    if (!CHECK(train_run(&r, NULL, ref, err, sizeof err) == 0, "sequential reference: %s", err)) return;
    double worst = 0;
    for (int i = 0; i < STEPS; i++) {
        CHECK(fabsf(dp[i] - ref[i]) <= 1e-5f * fabsf(ref[i]), "sequential step %d: %d ranks x %d %.8f, 1 x %d %.8f",
              i + 1, K, B, dp[i], K * B, ref[i]);
        worst = fmax(worst, fabs((double)dp[i] - ref[i]) / fabs((double)ref[i]));
    }
    CHECK(dp[0] != random_order[0], "the sequential order reads other rows than the random one");
    printf("sequential order: %d ranks x %d rows against 1 x %d: largest relative loss difference %.2e\n", K, B, K * B,
           worst);
}

/* 5 steps with a checkpoint in the shared directory, resumed by every rank for 5 more: the
 * straight run's losses, bit for bit. */
static void test_resume(st_comm *c, const char *data, const char *ckpt, const float *straight)
{
    int rank = st_comm_rank(c);
    float got[STEPS];
    char err[1024] = "";
    train_opts o = small_opts(data, B, c);
    o.ckpt = ckpt;
    o.stop_at = 5;
    if (!CHECK(train_run(&o, NULL, got, err, sizeof err) == 0, "rank %d, first half: %s", rank, err)) return;
    o.stop_at = 0;
    o.resume = 1;
    if (!CHECK(train_run(&o, NULL, got, err, sizeof err) == 0, "rank %d, resumed: %s", rank, err)) return;
    CHECK(memcmp(got, straight, sizeof got) == 0, "rank %d: resumed losses bit-identical (step 10: %.9g vs %.9g)",
          rank, got[STEPS - 1], straight[STEPS - 1]);
}

/* A one-process checkpoint of batch K B (the same global batch) resumed by K ranks of batch B. */
static void test_resume_from_one(st_comm *c, const char *data, const char *ckpt, const float *straight)
{
    int rank = st_comm_rank(c), K = st_comm_size(c);
    char err[1024] = "";
    float got[STEPS];
    if (rank == 0) {
        train_opts r = small_opts(data, (int64_t)K * B, NULL);
        r.ckpt = ckpt;
        r.stop_at = 5;
        CHECK(train_run(&r, NULL, got, err, sizeof err) == 0, "one process, 5 steps: %s", err);
    }
    barrier(c);
    train_opts o = small_opts(data, B, c);
    o.ckpt = ckpt;
    o.resume = 1;
    if (!CHECK(train_run(&o, NULL, got, err, sizeof err) == 0, "rank %d: %s", rank, err)) return;
    for (int i = 5; i < STEPS; i++)
        CHECK(fabsf(got[i] - straight[i]) <= 1e-5f * fabsf(straight[i]), "rank %d step %d: %.8f vs %.8f",
              rank, i + 1, got[i], straight[i]);
}

int main(int argc, char **argv)
{
    st_comm *c;
    if (argc < 2 || st_comm_init_world(&c) != ST_OK) {
        printf("usage: test_train_mpi DIR, under mpirun (%s)\n", st_last_error());
        return 1;
    }
    setenv("STRATA_BACKEND", "cpu", 1);
    int rank = st_comm_rank(c);
    char data[512], own[512], ck[512], ck0[512], ck1[512], cmd[1200];
    snprintf(data, sizeof data, "%s/text", argv[1]);
    snprintf(own, sizeof own, "%s/rank%d", argv[1], rank);
    snprintf(ck, sizeof ck, "%s/ck", argv[1]);
    snprintf(ck1, sizeof ck1, "%s/ck1", argv[1]);
    snprintf(ck0, sizeof ck0, "%s/ck0", argv[1]);
    if (rank == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", argv[1], argv[1]);
        FILE *f = system(cmd) == 0 ? fopen(data, "w") : NULL;
        for (int i = 0; f && i < 60; i++) fputs(PARAGRAPH, f);
        CHECK(f && fclose(f) == 0, "writing %s", data);
    }
    barrier(c);
    CHECK(mkdir(own, 0777) == 0 && chdir(own) == 0, "rank %d: own directory %s", rank, own);
    float straight[STEPS];
    test_equivalence(c, data, ck0, straight);
    barrier(c);
    test_resume(c, data, ck, straight);
    barrier(c);
    test_resume_from_one(c, data, ck1, straight);
    barrier(c);
    test_sequential(c, data, straight);
    barrier(c);
    st_comm_destroy(c);
    st_shutdown();
    return h_finish();
}
