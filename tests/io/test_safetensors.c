/* safetensors: round trips of every dtype (0-sized and 0-dim tensors included), atomic writes
 * that fail without touching the previous file, and a corpus of corrupt files each rejected with
 * ST_ERR_FORMAT (truncations, lengths, JSON, dtypes, shapes, offsets, names, byte flips). */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../harness.h"
#include "io_test.h"

h_counts h_total;

static char dir[4096];

static st_ckpt_tensor tensor(const char *name, st_dtype dt, int ndim, const int64_t *shape,
                             const void *data)
{
    st_ckpt_tensor t = {name, dt, ndim, {0}, data};
    for (int d = 0; d < ndim && d < ST_CKPT_MAX_DIMS; d++) t.shape[d] = shape[d];
    return t;
}

/* Number of leftover temporary files in the scratch directory. */
static int temp_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static void round_trip(void)
{
    float f[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
    uint16_t b[4] = {0x3F80, 0xC000, 0x7F80, 0x0001};
    int32_t i0 = -42, big[2 * 3 * 1 * 2 * 1 * 1 * 1 * 2];
    int8_t q[5] = {-127, 0, 127, -8, 0x7f}; /* quantized payloads, dtype "I8" */
    for (int k = 0; k < 24; k++) big[k] = k * 1000 - 7;
    int64_t s23[] = {2, 3}, s4[] = {4}, s302[] = {3, 0, 2}, s0[] = {0},
            s8[] = {2, 3, 1, 2, 1, 1, 1, 2}, s5[] = {5};
    st_ckpt_tensor t[] = {
        tensor("h.0.attn.c_attn.weight", ST_F32, 2, s23, f),
        tensor("bf", ST_BF16, 1, s4, b),
        tensor("scalar", ST_I32, 0, NULL, &i0),
        tensor("empty \"q\" \\ \n \xc3\xa9", ST_F32, 3, s302, NULL),
        tensor("empty_i32", ST_I32, 1, s0, NULL),
        tensor("eight_dims", ST_I32, 8, s8, big),
        tensor("q", ST_I8, 1, s5, q),
    };
    st_ckpt_meta meta[] = {{"step", "10"}, {"rng \"state\"", "123\n456"}, {"", ""}};
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_ST(st_safetensors_write(path, t, 7, meta, 3), ST_OK);
    size_t fsize;
    unsigned char *raw = io_read_file(path, &fsize);
    uint64_t hlen = 0;
    for (int k = 7; raw && k >= 0; k--) hlen = hlen << 8 | raw[k];
    int aligned = (8 + hlen) % 8 == 0;
    CHECK(raw && aligned && fsize == 8 + hlen + 24 + 8 + 4 + 96 + 5, "size %zu hlen %llu",
          fsize, (unsigned long long)hlen);
    free(raw);
    st_safetensors *r = NULL;
    CHECK_ST(st_safetensors_open(path, &r), ST_OK);
    CHECK(st_safetensors_count(r) == 7, "count %d", st_safetensors_count(r));
    for (int k = 0; k < 7 && r; k++) {
        st_ckpt_info info;
        CHECK_ST(st_safetensors_find(r, t[k].name, &info), ST_OK);
        CHECK(info.dtype == t[k].dtype && info.ndim == t[k].ndim, "tensor %d dtype/ndim", k);
        for (int d = 0; d < t[k].ndim; d++) CHECK(info.shape[d] == t[k].shape[d], "%d dim %d", k, d);
        unsigned char buf[128] = {0};
        CHECK_ST(st_safetensors_read(r, t[k].name, buf, info.bytes), ST_OK);
        CHECK(info.bytes == 0 || memcmp(buf, t[k].data, info.bytes) == 0, "tensor %d data", k);
    }
    st_ckpt_info info;
    CHECK_ST(st_safetensors_info(r, 0, &info), ST_OK);
    CHECK(strcmp(info.name, t[0].name) == 0, "first in file order: %s", info.name);
    CHECK_ST(st_safetensors_info(r, 7, &info), ST_ERR_INVALID_ARG);
    float small[5];
    CHECK_ST(st_safetensors_read(r, t[0].name, small, sizeof small), ST_ERR_INVALID_ARG);
    CHECK_ST(st_safetensors_read(r, "nope", small, sizeof small), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("nope"), "names the missing tensor: %s", st_last_error());
    const char *v = st_safetensors_meta(r, "rng \"state\"");
    CHECK(v && strcmp(v, "123\n456") == 0, "metadata value %s", v ? v : "NULL");
    CHECK(st_safetensors_meta(r, "absent") == NULL && st_safetensors_meta_count(r) == 3, "meta");
    const char *k0, *v0;
    CHECK_ST(st_safetensors_meta_at(r, 0, &k0, &v0), ST_OK);
    CHECK(strcmp(k0, "step") == 0 && strcmp(v0, "10") == 0, "meta_at 0");
    st_safetensors_destroy(r);
    st_safetensors_destroy(NULL);
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    CHECK_ST(st_safetensors_write(path, NULL, 0, NULL, 0), ST_OK);
    CHECK_ST(st_safetensors_open(path, &r), ST_OK);
    CHECK(st_safetensors_count(r) == 0, "no tensors");
    st_safetensors_destroy(r);
}

/* A failing write leaves the previous file byte-identical and no temporary behind. */
static void atomicity(void)
{
    char path[4200], missing[4200];
    snprintf(path, sizeof path, "%s/atomic.safetensors", dir);
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", dir);
    float f[4] = {1, 2, 3, 4};
    int64_t s4[] = {4}, neg[] = {-1};
    st_ckpt_tensor good = tensor("w", ST_F32, 1, s4, f), nine = good;
    nine.name = "x";
    nine.ndim = 9;
    CHECK_ST(st_safetensors_write(path, &good, 1, NULL, 0), ST_OK);
    size_t n0, n1;
    unsigned char *before = io_read_file(path, &n0);
    st_ckpt_tensor bad[][2] = {
        {good, tensor("w", ST_F32, 1, s4, f)},            /* duplicate name */
        {good, tensor("x", ST_F32, 1, neg, f)},           /* negative dim */
        {good, tensor("x", ST_F32, 1, s4, NULL)},         /* NULL data */
        {good, tensor("x", (st_dtype)7, 1, s4, f)},       /* bad dtype */
        {good, tensor("__metadata__", ST_F32, 1, s4, f)}, /* reserved name */
        {good, tensor("", ST_F32, 1, s4, f)},             /* empty name */
        {good, nine},                                     /* too many dims */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECK_ST(st_safetensors_write(path, bad[k], 2, NULL, 0), ST_ERR_INVALID_ARG);
    st_ckpt_meta dup[] = {{"a", "1"}, {"a", "2"}};
    CHECK_ST(st_safetensors_write(path, &good, 1, dup, 2), ST_ERR_INVALID_ARG);
    CHECK_ST(st_safetensors_write(missing, &good, 1, NULL, 0), ST_ERR_IO);
    CHECK(h_msg_has("no/such/dir"), "names the path: %s", st_last_error());

    /* A write that fails half way: the file size limit makes fwrite fail with EFBIG. */
    static float huge[1 << 16];
    int64_t sh[] = {1 << 16};
    st_ckpt_tensor t = tensor("huge", ST_F32, 1, sh, huge);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        st_status s = st_safetensors_write(path, &t, 1, NULL, 0);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(s == ST_ERR_IO, "mid-write failure gave %s: %s", st_status_string(s), st_last_error());
    } else {
        h_skip("cannot lower RLIMIT_FSIZE");
    }
    if (geteuid() != 0) {
        char ro[4200], rop[4300];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        snprintf(rop, sizeof rop, "%s/x.safetensors", ro);
        mkdir(ro, 0755);
        CHECK_ST(st_safetensors_write(rop, &good, 1, NULL, 0), ST_OK);
        chmod(ro, 0555);
        CHECK_ST(st_safetensors_write(rop, &t, 1, NULL, 0), ST_ERR_IO);
        chmod(ro, 0755);
    } else {
        h_skip("read-only directory test: running as root");
    }
    unsigned char *after = io_read_file(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "old file untouched");
    CHECK(temp_files() == 0, "%d temporary files left", temp_files());
    free(before);
    free(after);
}

/* test_safetensors_corrupt.c */
void corrupt_files(const char *dir);

int main(void)
{
    if (!io_scratch_dir(dir, sizeof dir, "st")) {
        printf("cannot create a scratch directory under %s\n", IO_TEST_DIR);
        return 1;
    }
    round_trip();
    atomicity();
    corrupt_files(dir);
    return h_finish();
}
