/* Datasets: byte and llm.c token files, train/validation splits, deterministic shifted batches,
 * the data-parallel rank split, and the rejection of missing, empty, truncated or mislabelled
 * files. */
#include <stdint.h>
#include "../harness.h"
#include "io_test.h"

h_counts h_total;

static char dir[4096];

static void file_path(char *p, size_t cap, const char *name) { snprintf(p, cap, "%s/%s", dir, name); }

/* An llm.c token file of n tokens, token i = (i * mul) % mod; header fields overridable. */
static void write_tokens(const char *p, int32_t n, int mul, int mod, int32_t magic, int32_t version,
                         int32_t count, size_t cut)
{
    size_t bytes = 1024 + 2 * (size_t)n;
    unsigned char *buf = calloc(bytes, 1);
    int32_t hdr[3] = {magic, version, count};
    memcpy(buf, hdr, sizeof hdr);
    uint16_t *tok = (uint16_t *)(buf + 1024);
    for (int32_t i = 0; i < n; i++) tok[i] = (uint16_t)(((int64_t)i * mul) % mod);
    io_write_file(p, buf, bytes - cut);
    free(buf);
}

static void byte_file(void)
{
    char p[4200];
    file_path(p, sizeof p, "text.txt");
    unsigned char text[1000];
    for (int i = 0; i < 1000; i++) text[i] = (unsigned char)(i % 251);
    io_write_file(p, text, sizeof text);
    st_dataset *ds = NULL;
    CHECK_ST(st_dataset_open(p, NULL, &ds), ST_OK);
    CHECK(st_dataset_format(ds) == ST_DATA_BYTES && st_dataset_vocab(ds) == 256, "bytes, vocab 256");
    CHECK(st_dataset_tokens(ds, ST_SPLIT_TRAIN) == 1000 && st_dataset_tokens(ds, ST_SPLIT_VAL) == 0,
          "all tokens in train");
    enum { B = 4, T = 16 };
    int32_t in[B * T], tg[B * T], in2[B * T], tg2[B * T];
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, B, T, 1, 3, in, tg), ST_OK);
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, B, T, 1, 3, in2, tg2), ST_OK);
    CHECK(memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0, "same (seed, step)");
    int shifted = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t next = (in[b * T + t] + 1) % 251;
            shifted &= tg[b * T + t] == next && (t == T - 1 || in[b * T + t + 1] == next);
        }
    CHECK(shifted, "targets are the inputs shifted by one");
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, B, T, 1, 4, in2, tg2), ST_OK);
    CHECK(memcmp(in, in2, sizeof in) != 0, "another step gives another batch");
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, B, T, 2, 3, in2, tg2), ST_OK);
    CHECK(memcmp(in, in2, sizeof in) != 0, "another seed gives another batch");
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, 0, T, 1, 3, in, tg), ST_ERR_INVALID_ARG);
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, B, 0, 1, 3, in, tg), ST_ERR_INVALID_ARG);
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_VAL, B, T, 1, 3, in, tg), ST_ERR_INVALID_ARG);
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, B, T, 1, 3, NULL, tg), ST_ERR_INVALID_ARG);
    int32_t *big_in = malloc(1000 * sizeof *big_in), *big_tg = malloc(1000 * sizeof *big_tg);
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, 1, 1000, 1, 0, big_in, big_tg), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("1001"), "says how many tokens T needs: %s", st_last_error());
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, 1, 999, 1, 0, big_in, big_tg), ST_OK);
    int32_t last = 999 % 251;
    CHECK(big_in[0] == 0 && big_tg[998] == last, "the only window of T = n - 1");
    free(big_in);
    free(big_tg);
    int32_t r[5];
    CHECK_ST(st_dataset_read(ds, ST_SPLIT_TRAIN, 250, 5, r), ST_OK);
    CHECK(r[0] == 250 && r[1] == 0 && r[4] == 3, "read tokens");
    CHECK_ST(st_dataset_read(ds, ST_SPLIT_TRAIN, 996, 5, r), ST_ERR_INVALID_ARG);
    st_dataset_destroy(ds);
    st_dataset_options o = {.vocab_size = 100};
    CHECK_ST(st_dataset_open(p, &o, &ds), ST_ERR_INVALID_ARG);
    o.val_fraction = 1.0;
    o.vocab_size = 0;
    CHECK_ST(st_dataset_open(p, &o, &ds), ST_ERR_INVALID_ARG);
    st_dataset_destroy(NULL);
}

static void llmc_file(void)
{
    char p[4200], v[4200];
    file_path(p, sizeof p, "train.bin");
    file_path(v, sizeof v, "val.bin");
    write_tokens(p, 5000, 1, 65536, 20240520, 1, 5000, 0);
    write_tokens(v, 300, 7, 6000, 20240520, 1, 300, 0);
    st_dataset *ds = NULL;
    st_dataset_options o = {.val_fraction = 0.1};
    CHECK_ST(st_dataset_open(p, &o, &ds), ST_OK);
    CHECK(st_dataset_format(ds) == ST_DATA_LLMC && st_dataset_vocab(ds) == 5000, "llm.c, vocab %d",
          st_dataset_vocab(ds));
    CHECK(st_dataset_tokens(ds, ST_SPLIT_TRAIN) == 4500 && st_dataset_tokens(ds, ST_SPLIT_VAL) == 500,
          "90/10 split");
    enum { B = 8, T = 32 };
    int32_t in[B * T], tg[B * T];
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, B, T, 9, 0, in, tg), ST_OK);
    int ok = 1;
    for (int i = 0; i < B * T; i++) ok &= tg[i] == in[i] + 1 && tg[i] < 4500;
    CHECK(ok, "train windows shifted and inside the train split");
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_VAL, B, T, 9, 0, in, tg), ST_OK);
    ok = 1;
    for (int i = 0; i < B * T; i++) ok &= tg[i] == in[i] + 1 && in[i] >= 4500;
    CHECK(ok, "validation windows inside the validation split");
    enum { K = 4, BR = 3 };
    int32_t gin[K * BR * T], gtg[K * BR * T], rin[K * BR * T], rtg[K * BR * T];
    CHECK_ST(st_dataset_batch(ds, ST_SPLIT_TRAIN, K * BR, T, 5, 17, gin, gtg), ST_OK);
    for (int r = 0; r < K; r++)
        CHECK_ST(st_dataset_batch_rank(ds, ST_SPLIT_TRAIN, BR, T, 5, 17, r, K, rin + r * BR * T,
                                       rtg + r * BR * T), ST_OK);
    CHECK(memcmp(gin, rin, sizeof gin) == 0 && memcmp(gtg, rtg, sizeof gtg) == 0,
          "K ranks of B rows = one rank of K*B rows");
    CHECK_ST(st_dataset_batch_rank(ds, ST_SPLIT_TRAIN, BR, T, 5, 17, K, K, rin, rtg), ST_ERR_INVALID_ARG);
    CHECK_ST(st_dataset_batch_rank(ds, ST_SPLIT_TRAIN, BR, T, 5, 17, 0, 0, rin, rtg), ST_ERR_INVALID_ARG);
    st_dataset_destroy(ds);

    st_dataset_options ov = {.val_path = v, .vocab_size = 7000};
    CHECK_ST(st_dataset_open(p, &ov, &ds), ST_OK);
    CHECK(st_dataset_tokens(ds, ST_SPLIT_TRAIN) == 5000 && st_dataset_tokens(ds, ST_SPLIT_VAL) == 300 &&
          st_dataset_vocab(ds) == 7000, "separate validation file, given vocab");
    int32_t r[3];
    CHECK_ST(st_dataset_read(ds, ST_SPLIT_VAL, 1, 3, r), ST_OK);
    CHECK(r[0] == 7 && r[1] == 14 && r[2] == 21, "validation tokens");
    st_dataset_destroy(ds);
    ov.vocab_size = 4000;
    CHECK_ST(st_dataset_open(p, &ov, &ds), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("4999"), "names the token: %s", st_last_error());
}

static void expect_format(const char *p, st_data_format fmt, const char *needle, const char *why)
{
    st_dataset *ds = NULL;
    st_dataset_options o = {.format = fmt};
    st_status s = st_dataset_open(p, &o, &ds);
    CHECK(s == ST_ERR_FORMAT && ds == NULL && h_msg_has(needle), "%s: %s (%s)", why,
          st_status_string(s), st_last_error());
    st_dataset_destroy(ds);
}

static void bad_files(void)
{
    char p[4200], t[4200];
    file_path(p, sizeof p, "bad.bin");
    write_tokens(p, 100, 1, 100, 20240520, 1, 100, 1);
    expect_format(p, ST_DATA_AUTO, "truncated", "token file one byte short");
    write_tokens(p, 100, 1, 100, 20240520, 1, 100, 150);
    expect_format(p, ST_DATA_AUTO, "truncated", "token file half missing");
    write_tokens(p, 100, 1, 100, 20240520, 1, 100, 1000);
    expect_format(p, ST_DATA_AUTO, "truncated", "token file header cut");
    write_tokens(p, 100, 1, 100, 20240520, 1, 90, 0);
    expect_format(p, ST_DATA_AUTO, "trailing", "count smaller than the file");
    write_tokens(p, 100, 1, 100, 20240520, 2, 100, 0);
    expect_format(p, ST_DATA_AUTO, "version", "wrong version");
    write_tokens(p, 0, 1, 100, 20240520, 1, 0, 0);
    expect_format(p, ST_DATA_AUTO, "count", "zero tokens");
    write_tokens(p, 100, 1, 100, 20240521, 1, 100, 0);
    expect_format(p, ST_DATA_LLMC, "magic", "wrong magic with llm.c requested");
    st_dataset *ds = NULL;
    st_dataset_options bytes = {.format = ST_DATA_BYTES};
    CHECK_ST(st_dataset_open(p, NULL, &ds), ST_OK); /* without the magic, AUTO reads bytes */
    CHECK(st_dataset_format(ds) == ST_DATA_BYTES, "auto: bytes");
    st_dataset_destroy(ds);
    write_tokens(p, 100, 1, 100, 20240520, 1, 100, 1);
    CHECK_ST(st_dataset_open(p, &bytes, &ds), ST_OK); /* forced bytes ignores the magic */
    st_dataset_destroy(ds);
    file_path(t, sizeof t, "empty.txt");
    io_write_file(t, "", 0);
    expect_format(t, ST_DATA_AUTO, "empty", "empty file");
    file_path(t, sizeof t, "missing.txt");
    ds = NULL;
    CHECK_ST(st_dataset_open(t, NULL, &ds), ST_ERR_IO);
    CHECK(ds == NULL && h_msg_has("missing.txt") && h_msg_has("No such file"), "names path and cause: %s",
          st_last_error());
    CHECK_ST(st_dataset_open(dir, NULL, &ds), ST_ERR_IO);
    char txt[4200], tok[4200];
    file_path(txt, sizeof txt, "text.txt");
    file_path(tok, sizeof tok, "train.bin");
    st_dataset_options mixed = {.val_path = txt};
    CHECK_ST(st_dataset_open(tok, &mixed, &ds), ST_ERR_FORMAT);
    CHECK_ST(st_dataset_open(NULL, NULL, &ds), ST_ERR_INVALID_ARG);
}

int main(void)
{
    if (!io_scratch_dir(dir, sizeof dir, "data")) {
        printf("cannot create a scratch directory under %s\n", IO_TEST_DIR);
        return 1;
    }
    byte_file();
    llmc_file();
    bad_files();
    return h_finish();
}
