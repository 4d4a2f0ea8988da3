/* llm.c model import: a tiny synthetic checkpoint (L=2, NH=2, C=8, V=10, Vp=16, maxT=4) whose
 * every parameter holds its own index, checked for names, shapes and values; bad headers and
 * sizes rejected. */
#include <stdint.h>
#include "../harness.h"
#include "io_test.h"

h_counts h_total;

enum { MAXT = 4, V = 10, L = 2, NH = 2, C = 8, VP = 16 };

static char path[4200];

/* Sizes of llm.c's 16 arrays, written out independently of the library. */
static const int64_t sizes[16] = {VP * C, MAXT * C, L * C, L * C, L * 3 * C * C, L * 3 * C,
                                  L * C * C, L * C, L * C, L * C, L * 4 * C * C, L * 4 * C,
                                  L * C * 4 * C, L * C, C, C};

static int64_t total(void)
{
    int64_t n = 0;
    for (int k = 0; k < 16; k++) n += sizes[k];
    return n;
}

/* Writes the model with header fields h[0..7] and `extra` floats more (negative: fewer). */
static void write_model(const int32_t h8[8], int64_t extra)
{
    int64_t n = total() + extra;
    size_t bytes = 1024 + 4 * (size_t)n;
    unsigned char *buf = calloc(bytes, 1);
    memcpy(buf, h8, 8 * sizeof *h8);
    float *p = (float *)(buf + 1024);
    for (int64_t i = 0; i < n; i++) p[i] = (float)i;
    io_write_file(path, buf, bytes);
    free(buf);
}

static void good_model(void)
{
    int32_t h[8] = {20240326, 3, MAXT, V, L, NH, C, VP};
    write_model(h, 0);
    st_llmc_model *m = NULL;
    CHECK_ST(st_llmc_open(path, &m), ST_OK);
    st_llmc_config cfg;
    CHECK_ST(st_llmc_config_get(m, &cfg), ST_OK);
    CHECK(cfg.max_seq_len == MAXT && cfg.vocab_size == V && cfg.num_layers == L &&
          cfg.num_heads == NH && cfg.channels == C && cfg.padded_vocab_size == VP, "config");
    CHECK(st_llmc_num_params(m) == total(), "%lld params", (long long)st_llmc_num_params(m));
    CHECK(st_llmc_param_count(m) == 4 + 12 * L, "%d named", st_llmc_param_count(m));
    struct { int index; const char *name; int ndim; int64_t d0, d1; int64_t first; } want[] = {
        {0, "wte.weight", 2, VP, C, 0},
        {1, "wpe.weight", 2, MAXT, C, VP * C},
        {2, "h.0.ln_1.weight", 1, C, 0, VP * C + MAXT * C},
        {3, "h.1.ln_1.weight", 1, C, 0, VP * C + MAXT * C + C},
        {4, "h.0.ln_1.bias", 1, C, 0, VP * C + MAXT * C + 2 * C},
        {7, "h.1.attn.c_attn.weight", 2, 3 * C, C, VP * C + MAXT * C + 4 * C + 3 * C * C},
        {9, "h.1.attn.c_attn.bias", 1, 3 * C, 0, 0},
        {10, "h.0.attn.c_proj.weight", 2, C, C, 0},
        {14, "h.0.ln_2.weight", 1, C, 0, 0},
        {18, "h.0.mlp.c_fc.weight", 2, 4 * C, C, 0},
        {21, "h.1.mlp.c_fc.bias", 1, 4 * C, 0, 0},
        {23, "h.1.mlp.c_proj.weight", 2, C, 4 * C, 0},
        {25, "h.1.mlp.c_proj.bias", 1, C, 0, total() - 3 * C},
        {26, "ln_f.weight", 1, C, 0, total() - 2 * C},
        {27, "ln_f.bias", 1, C, 0, total() - C},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        st_ckpt_info info;
        CHECK_ST(st_llmc_param_info(m, want[k].index, &info), ST_OK);
        CHECK(strcmp(info.name, want[k].name) == 0, "param %d is %s, expected %s", want[k].index,
              info.name, want[k].name);
        CHECK(info.dtype == ST_F32 && info.ndim == want[k].ndim && info.shape[0] == want[k].d0 &&
              (info.ndim == 1 || info.shape[1] == want[k].d1), "%s shape", want[k].name);
        float *buf = malloc(info.bytes);
        CHECK_ST(st_llmc_read(m, want[k].name, buf, info.bytes), ST_OK);
        if (want[k].first || k == 0)
            CHECK(buf[0] == (float)want[k].first && buf[info.bytes / 4 - 1] ==
                  (float)(want[k].first + (int64_t)info.bytes / 4 - 1), "%s values", want[k].name);
        free(buf);
    }
    int64_t sum = 0;
    for (int i = 0; i < st_llmc_param_count(m); i++) {
        st_ckpt_info info;
        st_llmc_param_info(m, i, &info);
        sum += (int64_t)info.bytes / 4;
    }
    CHECK(sum == total(), "named parameters cover the file");
    float *qkvw = malloc(4 * sizes[4]);
    CHECK_ST(st_llmc_read(m, "qkvw", qkvw, 4 * sizes[4]), ST_OK);
    int64_t qoff = VP * C + MAXT * C + 4 * C;
    CHECK(qkvw[0] == (float)qoff && qkvw[sizes[4] - 1] == (float)(qoff + sizes[4] - 1), "stacked array");
    CHECK_ST(st_llmc_read(m, "qkvw", qkvw, 4 * sizes[4] - 4), ST_ERR_INVALID_ARG);
    CHECK_ST(st_llmc_read(m, "h.2.ln_1.weight", qkvw, 4 * C), ST_ERR_INVALID_ARG);
    st_ckpt_info info;
    CHECK_ST(st_llmc_param_info(m, 28, &info), ST_ERR_INVALID_ARG);
    free(qkvw);
    st_llmc_destroy(m);
    st_llmc_destroy(NULL);
}

static void expect_bad(const int32_t h[8], int64_t extra, const char *needle, const char *why)
{
    write_model(h, extra);
    st_llmc_model *m = NULL;
    st_status s = st_llmc_open(path, &m);
    CHECK(s == ST_ERR_FORMAT && m == NULL && h_msg_has(needle), "%s: %s (%s)", why,
          st_status_string(s), st_last_error());
    st_llmc_destroy(m);
}

static void bad_models(void)
{
    int32_t h[8] = {20240326, 3, MAXT, V, L, NH, C, VP};
    int32_t bad[8];
    memcpy(bad, h, sizeof bad);
    bad[0] = 20240520;
    expect_bad(bad, 0, "magic", "token-file magic");
    memcpy(bad, h, sizeof bad);
    bad[1] = 5;
    expect_bad(bad, 0, "version", "bf16 version");
    expect_bad(h, 1, "trailing", "one float too many");
    expect_bad(h, -1, "truncated", "one float short");
    expect_bad(h, -total(), "truncated", "header only");
    memcpy(bad, h, sizeof bad);
    bad[6] = 7;
    expect_bad(bad, 0, "multiple", "C % NH != 0");
    memcpy(bad, h, sizeof bad);
    bad[7] = 8;
    expect_bad(bad, 0, "Vp", "Vp < V");
    memcpy(bad, h, sizeof bad);
    bad[4] = -2;
    expect_bad(bad, 0, "L = -2", "negative L");
    memcpy(bad, h, sizeof bad);
    bad[6] = 0;
    expect_bad(bad, 0, "C = 0", "zero C");
    memcpy(bad, h, sizeof bad);
    bad[4] = 1 << 30;
    bad[6] = 1 << 30;
    expect_bad(bad, 0, "", "huge sizes");
    io_write_file(path, h, sizeof h);
    st_llmc_model *m = NULL;
    CHECK_ST(st_llmc_open(path, &m), ST_ERR_FORMAT);
    char missing[4300];
    snprintf(missing, sizeof missing, "%s.missing", path);
    CHECK_ST(st_llmc_open(missing, &m), ST_ERR_IO);
    CHECK(m == NULL && h_msg_has(".missing"), "names the path: %s", st_last_error());
}

int main(void)
{
    char dir[4096];
    if (!io_scratch_dir(dir, sizeof dir, "llmc")) {
        printf("cannot create a scratch directory under %s\n", IO_TEST_DIR);
        return 1;
    }
    snprintf(path, sizeof path, "%s/model.bin", dir);
    good_model();
    bad_models();
    return h_finish();
}
