/* The corrupt-file corpus of the safetensors tests: every file here must be refused by
 * st_safetensors_open with ST_ERR_FORMAT, without crashing (run under the sanitizer build too). */
#include <stdint.h>
#include <time.h>
#include "../harness.h"
#include "io_test.h"

static char path[4200];

/* Writes 8-byte length `hlen` + `json` + `data` zero bytes, then expects ST_ERR_FORMAT. */
static void expect_bad_len(uint64_t hlen, const char *json, size_t data, const char *why)
{
    size_t jl = strlen(json);
    unsigned char *buf = calloc(8 + jl + data + 1, 1);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)(hlen >> (8 * k));
    memcpy(buf + 8, json, jl);
    io_write_file(path, buf, 8 + jl + data);
    free(buf);
    st_safetensors *f = NULL;
    st_status s = st_safetensors_open(path, &f);
    CHECK(s == ST_ERR_FORMAT && f == NULL, "%s: got %s (%s)", why, st_status_string(s), st_last_error());
    st_safetensors_destroy(f);
}

static void expect_bad(const char *json, size_t data, const char *why)
{
    expect_bad_len(strlen(json), json, data, why);
}

static void expect_good(const char *json, size_t data, const char *why)
{
    size_t jl = strlen(json);
    unsigned char *buf = calloc(8 + jl + data + 1, 1);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)jl >> (8 * k));
    memcpy(buf + 8, json, jl);
    io_write_file(path, buf, 8 + jl + data);
    free(buf);
    st_safetensors *f = NULL;
    st_status s = st_safetensors_open(path, &f);
    CHECK(s == ST_OK, "%s: got %s (%s)", why, st_status_string(s), st_last_error());
    st_safetensors_destroy(f);
}

#define T4(name, off) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" off "}"

static void crafted(void)
{
    expect_good("{" T4("a", "[0,4]") "}", 4, "reference file");
    expect_good(" { \"__metadata__\" : {\"k\":\"v\\u00e9\\ud83d\\ude00\"} ,\n" T4("a\\u0041", "[0,4]") " }   ", 4, "whitespace and escapes");
    expect_good("{}", 0, "no tensors");
    expect_bad("", 0, "empty header");
    expect_bad("{", 0, "unclosed object");
    expect_bad("[]", 0, "array at the top");
    expect_bad("{" T4("a", "[0,4]") "}x", 4, "trailing garbage");
    expect_bad("{" T4("a", "[0,4]") ",}", 4, "trailing comma");
    expect_bad("{\"a\" {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing colon");
    expect_bad("{'a':{}}", 0, "single quotes");
    expect_bad("{\"a:{}}", 0, "unterminated string");
    expect_bad("{\"a\\q\":{}}", 0, "bad escape");
    expect_bad("{\"a\\u12\":{}}", 0, "short unicode escape");
    expect_bad("{\"a\\ud800\":{}}", 0, "lone surrogate");
    expect_bad("{\"a\\u0000\":{}}", 0, "NUL escape");
    expect_bad("{\"a\tb\":{}}", 0, "control character in a string");
    expect_bad("{\"a\":\"F32\"}", 0, "entry not an object");
    expect_bad("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "unsupported dtype");
    expect_bad("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    expect_bad("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype not a string");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "float in shape");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "leading zero");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, "exponent");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "negative dim");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4, "dim overflows int64");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "shape product overflows");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "nine dims");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "shape/size mismatch");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "three offsets");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "one offset");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "negative offset");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "end before begin");
    expect_bad("{" T4("a", "[0,4]") "}", 8, "data area not covered (trailing bytes)");
    expect_bad("{" T4("a", "[4,8]") "}", 4, "offsets out of range");
    expect_bad("{" T4("a", "[0,4]") "," T4("b", "[8,12]") "}", 12, "gap");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," T4("b", "[4,8]") "}", 8, "overlap");
    expect_bad("{" T4("a", "[0,4]") "," T4("a", "[4,8]") "}", 8, "duplicate name");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "repeated field");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown field");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing shape");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, "metadata value not a string");
    expect_bad("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate metadata key");
    expect_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "metadata twice");
    expect_bad("{\"__metadata__\":[]}", 0, "metadata not an object");
    expect_bad("{" T4("", "[0,4]") "}", 4, "empty tensor name (the writer refuses one)");
    const char *ok = "{" T4("a", "[0,4]") "}";
    expect_bad_len(strlen(ok) + 1, ok, 0, "header length one past the file");
    expect_bad_len((uint64_t)1 << 40, ok, 4, "header length 2^40");
    expect_bad_len(UINT64_MAX, ok, 4, "header length 2^64-1");
    expect_bad_len(0, ok, 4, "header length 0");
}

/* A valid file with metadata, cut at every length, then with bytes of its header flipped. */
static void truncations_and_flips(const char *dir)
{
    char good[4200];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    float w[6] = {1, 2, 3, 4, 5, 6};
    int32_t ids[3] = {7, 8, 9};
    st_ckpt_tensor t[2] = {{"w", ST_F32, 2, {2, 3}, w}, {"ids", ST_I32, 1, {3}, ids}};
    st_ckpt_meta m[1] = {{"step", "5"}};
    CHECK_ST(st_safetensors_write(good, t, 2, m, 1), ST_OK);
    size_t n;
    unsigned char *raw = io_read_file(good, &n);
    if (!raw) return;
    int bad = 0;
    for (size_t cut = 0; cut < n; cut++) {
        io_write_file(path, raw, cut);
        st_safetensors *f = NULL;
        st_status s = st_safetensors_open(path, &f);
        if (s != ST_ERR_FORMAT || f) bad++, printf("cut at %zu: %s\n", cut, st_status_string(s));
        st_safetensors_destroy(f);
    }
    CHECK(bad == 0, "%d truncations of %zu not rejected", bad, n);
    static const unsigned char flips[] = {0, '"', '{', '}', '[', ']', ',', ':', '-', '9', 0xff, ' ', '\\'};
    int opened = 0, rejected = 0, other = 0;
    for (size_t at = 0; at < n - 36; at++)
        for (size_t k = 0; k < sizeof flips; k++) {
            unsigned char keep = raw[at];
            raw[at] = flips[k];
            io_write_file(path, raw, n);
            raw[at] = keep;
            st_safetensors *f = NULL;
            st_status s = st_safetensors_open(path, &f);
            opened += s == ST_OK;
            rejected += s == ST_ERR_FORMAT;
            other += s != ST_OK && s != ST_ERR_FORMAT;
            for (int i = 0; s == ST_OK && i < st_safetensors_count(f); i++) {
                st_ckpt_info info;
                unsigned char *buf = NULL;
                if (st_safetensors_info(f, i, &info) == ST_OK && (buf = malloc(info.bytes + 1)))
                    st_safetensors_read(f, info.name, buf, info.bytes);
                free(buf);
            }
            st_safetensors_destroy(f);
        }
    CHECK(other == 0 && rejected > 0, "byte flips: %d opened, %d rejected, %d other", opened, rejected, other);
    free(raw);
}

/* A header of n metadata keys "k0".."k{n-1}" (and, with dup, "k0" once more at the end). */
static char *many_keys(int n, int dup)
{
    size_t cap = (size_t)n * 24 + 64, at = 0;
    char *json = malloc(cap);
    at += (size_t)snprintf(json + at, cap - at, "{\"__metadata__\":{");
    for (int i = 0; i < n; i++) at += (size_t)snprintf(json + at, cap - at, "%s\"k%d\":\"%d\"", i ? "," : "", i, i);
    if (dup) at += (size_t)snprintf(json + at, cap - at, ",\"k0\":\"again\"");
    snprintf(json + at, cap - at, "}}");
    return json;
}

/* 400k metadata keys: duplicates are found by sorting, not by comparing every pair (a check per
 * insertion took 12 s for 100k keys, and the 100 MB header limit allows ~8M), and lookups are
 * binary searches. The time bound is loose (a quadratic check takes minutes here). */
static void many_metadata_keys(void)
{
    enum { N = 400000 };
    char *json = many_keys(N, 1);
    clock_t t0 = clock();
    expect_bad(json, 0, "400k keys with one duplicate");
    CHECK(h_msg_has("duplicate key \"k0\""), "the duplicate is named: %s", st_last_error());
    free(json);
    json = many_keys(N, 0);
    expect_good(json, 0, "400k distinct keys");
    free(json);
    st_safetensors *f = NULL;
    if (CHECK(st_safetensors_open(path, &f) == ST_OK, "reopen: %s", st_last_error())) {
        const char *v = st_safetensors_meta(f, "k123456");
        CHECK(v && strcmp(v, "123456") == 0 && st_safetensors_meta(f, "k400000") == NULL &&
                  st_safetensors_meta_count(f) == N, "lookups among 400k keys: %s", v ? v : "(none)");
        const char *k = NULL, *val = NULL;
        CHECK_ST(st_safetensors_meta_at(f, 7, &k, &val), ST_OK);
        CHECK(k && strcmp(k, "k7") == 0, "entry 7 in file order: %s", k ? k : "(none)");
        st_safetensors_destroy(f);
    }
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(s < 20, "400k-key headers took %.1f s", s);
}

void corrupt_files(const char *dir);
void corrupt_files(const char *dir)
{
    snprintf(path, sizeof path, "%s/corrupt.safetensors", dir);
    crafted();
    truncations_and_flips(dir);
    many_metadata_keys();
}
