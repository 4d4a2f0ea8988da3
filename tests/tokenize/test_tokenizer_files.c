/* The tokenizer's files: llm.c token files (uint16 and uint32) read back by st_dataset, and the
 * errors of corrupt, truncated or inconsistent vocabularies and of bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../harness.h"
#include "tok_test.h"

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", TOK_TEST_DIR, name);
    return buf[k];
}

static const char *write_file(const char *name, const void *data, size_t n)
{
    const char *p = tpath(name);
    FILE *fp = fopen(p, "wb");
    if (fp) {
        fwrite(data, 1, n, fp);
        fclose(fp);
    }
    return p;
}

static const char *write_str(const char *name, const char *s) { return write_file(name, s, strlen(s)); }

static int read_header(const char *path, int32_t hdr[3], long *size)
{
    FILE *fp = fopen(path, "rb");
    int ok = fp && fread(hdr, 4, 3, fp) == 3 && fseek(fp, 0, SEEK_END) == 0;
    *size = ok ? ftell(fp) : -1;
    if (fp) fclose(fp);
    return ok;
}

/* The file's tokens equal `want` (n ids). */
static int dataset_equals(const char *path, const int32_t *want, int64_t n)
{
    st_dataset *ds = NULL;
    st_dataset_options o = {.format = ST_DATA_LLMC};
    if (st_dataset_open(path, &o, &ds)) return 0;
    int32_t *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    int ok = got && st_dataset_tokens(ds, ST_SPLIT_TRAIN) == n &&
             !st_dataset_read(ds, ST_SPLIT_TRAIN, 0, n, got) &&
             !memcmp(got, want, (size_t)n * sizeof *got);
    free(got);
    st_dataset_destroy(ds);
    return ok;
}

void test_token_files(st_tokenizer *tok, const char *text, size_t n)
{
    const char *in = write_file("text.txt", text, n), *out = tpath("text.bin");
    const char *paths[] = {in, in};
    st_tok_file_options fo = {.eot_before_each = 1, .chunk_bytes = 1000}; /* many chunks */
    st_tok_file_stats st;
    CHECK_ST(st_tokenizer_encode_files(tok, paths, 2, out, &fo, &st), ST_OK);
    st_token_buf want = {0};
    int32_t eot = st_tokenizer_eot(tok);
    for (int i = 0; i < 2; i++) {
        st_token_buf one = {0};
        CHECK_ST(st_tokenizer_encode(tok, text, n, 0, &one), ST_OK);
        int32_t *p = realloc(want.ids, (size_t)(want.n + one.n + 1) * sizeof *p);
        if (!p) return;
        want.ids = p;
        want.ids[want.n++] = eot;
        memcpy(want.ids + want.n, one.ids, (size_t)one.n * sizeof *p);
        want.n += one.n;
        st_token_buf_destroy(&one);
    }
    CHECK(st.tokens_out == want.n && st.bytes_in == 2 * (int64_t)n && st.token_bytes == 2,
          "stats: %lld tokens, %lld bytes, width %d", (long long)st.tokens_out, (long long)st.bytes_in,
          st.token_bytes);
    int32_t hdr[3];
    long size;
    CHECK(read_header(out, hdr, &size) && hdr[0] == 20240520 && hdr[1] == 1 && hdr[2] == want.n &&
          size == 1024 + 2 * want.n, "llm.c uint16 header");
    CHECK(dataset_equals(out, want.ids, want.n), "st_dataset reads the tokens back, chunking changes nothing");
    st_token_buf_destroy(&want);
    /* failures leave no output behind */
    const char *missing[] = {tpath("no-such-file.txt")}, *out2 = tpath("never.bin");
    CHECK_ST(st_tokenizer_encode_files(tok, missing, 1, out2, NULL, NULL), ST_ERR_IO);
    CHECK(h_msg_has("no-such-file.txt") && access(out2, F_OK) != 0, "names the file, leaves nothing: %s",
          st_last_error());
    const char *empty[] = {write_str("empty.txt", "")};
    CHECK_ST(st_tokenizer_encode_files(tok, empty, 1, out2, NULL, NULL), ST_ERR_FORMAT);
    CHECK(access(out2, F_OK) != 0, "no output for an empty input");
    CHECK_ST(st_tokenizer_encode_files(tok, paths, 1, tpath("no-dir/x.bin"), NULL, NULL), ST_ERR_IO);
}

/* 256 lines, one per byte, in tiktoken's form. */
static size_t byte_lines(char *out)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (int b = 0; b < 256; b++)
        k += (size_t)sprintf(out + k, "%c%c== %d\n", A[b >> 2], A[(b & 3) << 4], b);
    return k;
}

static void bad_rank_file(const char *name, const char *tail, st_status want, const char *needle)
{
    char buf[8192];
    size_t k = byte_lines(buf);
    snprintf(buf + k, sizeof buf - k, "%s", tail);
    st_tokenizer *tok = NULL;
    CHECK_ST(st_tokenizer_load(write_str(name, buf), &tok), want);
    CHECK(tok == NULL && h_msg_has(needle), "%s: message '%s' lacks '%s'", name, st_last_error(), needle);
    st_tokenizer_destroy(tok);
}

static void bad_hf(void)
{
    static char text[1 << 14];
    size_t n = tt_random_text(text, sizeof text, 3);
    st_tokenizer *tok = tt_train(text, n, 300, 0), *back = NULL;
    if (!tok) return;
    const char *dir = tpath("bad-hf");
    CHECK_ST(st_tokenizer_save_hf(tok, dir), ST_OK);
    char vocab[600], merges[600], *vd = NULL;
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    FILE *fp = fopen(vocab, "rb");
    vd = malloc(1 << 20);
    size_t vl = fp && vd ? fread(vd, 1, 1 << 20, fp) : 0;
    if (fp) fclose(fp);
    write_file("trunc-vocab.json", vd, vl / 2);
    write_str("merges.txt", "#version: 0.2\n");
    CHECK_ST(st_tokenizer_load(tpath("trunc-vocab.json"), &back), ST_ERR_FORMAT);
    CHECK(h_msg_has("trunc-vocab.json"), "truncated vocab.json: %s", st_last_error());
    CHECK_ST(st_tokenizer_load_hf(vocab, write_str("m1.txt", "#version: 0.2\na \xc4\xa0zzqqxx\n"), &back),
             ST_ERR_FORMAT);
    CHECK(h_msg_has("line 2") && h_msg_has("not in the vocabulary"), "unknown merge: %s", st_last_error());
    CHECK_ST(st_tokenizer_load_hf(vocab, write_str("m2.txt", "ab\n"), &back), ST_ERR_FORMAT);
    CHECK(h_msg_has("line 1") && h_msg_has("two tokens"), "malformed merge: %s", st_last_error());
    CHECK_ST(st_tokenizer_load_hf(vocab, write_str("m3.txt", "#version: 0.2\n"), &back), ST_ERR_FORMAT);
    CHECK_ST(st_tokenizer_load_hf(vocab, tpath("no-merges.txt"), &back), ST_ERR_IO);
    CHECK_ST(st_tokenizer_load_hf(write_str("v.json", "{\"a\": 0, \"b\": }"), merges, &back), ST_ERR_FORMAT);
    CHECK_ST(st_tokenizer_load(merges, &back), ST_ERR_FORMAT); /* merges.txt is no rank file */
    CHECK(back == NULL, "no tokenizer on error");
    free(vd);
    st_tokenizer_destroy(tok);
}

void test_bad_files(void)
{
    bad_rank_file("r1.tiktoken", "!!!! 256\n", ST_ERR_FORMAT, "line 257");
    bad_rank_file("r2.tiktoken", "QUI=\n", ST_ERR_FORMAT, "<base64 token> <rank>");
    bad_rank_file("r3.tiktoken", "QUI= x\n", ST_ERR_FORMAT, "line 257");
    bad_rank_file("r4.tiktoken", "QUI= 5\n", ST_ERR_FORMAT, "rank 5 given twice");
    bad_rank_file("r5.tiktoken", "QQ== 256\n", ST_ERR_FORMAT, "same");
    bad_rank_file("r6.tiktoken", "QU", ST_ERR_FORMAT, "line 257"); /* cut in the middle of a line */
    bad_rank_file("r7.tiktoken", "QUI= 99999999999\n", ST_ERR_FORMAT, "rank in");
    bad_rank_file("r8.tiktoken", "QUI=  256\n", ST_ERR_FORMAT, "line 257");
    st_tokenizer *tok = NULL;
    CHECK_ST(st_tokenizer_load(write_str("few.tiktoken", "QQ== 0\nQg== 300\n"), &tok), ST_ERR_FORMAT);
    CHECK(h_msg_has("no token for byte 0x00"), "missing bytes: %s", st_last_error());
    CHECK_ST(st_tokenizer_load(write_str("tiny.tiktoken", "QQ== 0\nQg== 1\n"), &tok), ST_ERR_FORMAT);
    CHECK(h_msg_has("vocabulary of 3 ids"), "too small: %s", st_last_error());
    CHECK_ST(st_tokenizer_load(write_str("empty.tiktoken", "\n\n"), &tok), ST_ERR_FORMAT);
    CHECK(h_msg_has("no tokens"), "empty: %s", st_last_error());
    CHECK_ST(st_tokenizer_load(tpath("absent.tiktoken"), &tok), ST_ERR_IO);
    CHECK_ST(st_tokenizer_load("/dev/null", &tok), ST_ERR_IO); /* not a regular file: no read */
    CHECK_ST(st_tokenizer_load(TOK_TEST_DIR, &tok), ST_ERR_IO);
    CHECK(h_msg_has("vocab.json"), "directory without vocab.json: %s", st_last_error());
    CHECK(tok == NULL, "no tokenizer on error");
    bad_hf();
}

void test_bad_arguments(void)
{
    st_tok_trainer *t = NULL;
    st_tok_train_options o = {.vocab_size = 256};
    CHECK_ST(st_tok_trainer_create(&o, &t), ST_ERR_INVALID_ARG); /* no room for <|endoftext|> */
    const char *dup[] = {"<a>", "<a>", NULL}, *none[] = {NULL};
    o = (st_tok_train_options){.vocab_size = 300, .specials = dup};
    CHECK_ST(st_tok_trainer_create(&o, &t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tok_trainer_create(NULL, &t), ST_ERR_INVALID_ARG);
    o = (st_tok_train_options){.vocab_size = 300, .specials = none};
    CHECK_ST(st_tok_trainer_create(&o, &t), ST_OK);
    st_tokenizer *tok = NULL;
    CHECK_ST(st_tok_trainer_feed(t, "hello hello hello", 17), ST_OK);
    CHECK_ST(st_tok_trainer_feed_file(t, tpath("absent.txt")), ST_ERR_IO);
    CHECK_ST(st_tok_trainer_finish(t, &tok), ST_OK);
    st_tok_trainer_destroy(t);
    if (!tok) return;
    CHECK(st_tokenizer_eot(tok) == -1, "no specials asked, none made");
    const char *in[] = {write_str("hi.txt", "hello")};
    st_tok_file_options fo = {.eot_before_each = 1};
    CHECK_ST(st_tokenizer_encode_files(tok, in, 1, tpath("hi.bin"), &fo, NULL), ST_ERR_INVALID_ARG);
    int32_t ids[] = {104, 5000};
    size_t len;
    char buf[16];
    CHECK_ST(st_tokenizer_decode(tok, ids, 2, buf, sizeof buf, &len), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("token 1 is id 5000"), "bad id: %s", st_last_error());
    CHECK_ST(st_tokenizer_decode(tok, ids, 1, NULL, 0, &len), ST_OK); /* sizing call */
    CHECK(len == 1, "sizing: %zu", len);
    st_token_buf b = {0};
    CHECK_ST(st_tokenizer_encode(tok, "x", 1, 1u << 7, &b), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tokenizer_encode(NULL, "x", 1, 0, &b), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tokenizer_save_tiktoken(tok, tpath("no-dir/x.tiktoken")), ST_ERR_IO);
    CHECK_ST(st_tokenizer_save_hf(tok, tpath("hi.txt")), ST_ERR_IO); /* a file, not a directory */
    const uint8_t *p;
    CHECK_ST(st_tokenizer_token(tok, -1, &p, &len, NULL), ST_ERR_INVALID_ARG);
    st_tokenizer_destroy(tok);
}

/* A vocabulary of more than 65536 ids (all 2-byte strings) writes llm.c's uint32 form. */
void test_wide_token_file(void)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap = 24 * 70000;
    char *buf = malloc(cap);
    if (!buf) return;
    size_t k = byte_lines(buf);
    for (int v = 0; v < 65536; v++) {
        uint32_t x = (uint32_t)v << 8; /* two bytes, base64 of 3 with one '=' */
        k += (size_t)sprintf(buf + k, "%c%c%c= %d\n", A[x >> 18], A[(x >> 12) & 63], A[(x >> 6) & 63],
                             256 + v);
    }
    st_tokenizer *tok = NULL;
    CHECK_ST(st_tokenizer_load(write_file("wide.tiktoken", buf, k), &tok), ST_OK);
    free(buf);
    if (!tok) return;
    CHECK(st_tokenizer_vocab_size(tok) == 65793, "vocabulary %d", st_tokenizer_vocab_size(tok));
    char text[4096];
    size_t n = tt_random_text(text, sizeof text, 9);
    const char *in[] = {write_file("wide.txt", text, n)}, *out = tpath("wide.bin");
    st_tok_file_stats st;
    CHECK_ST(st_tokenizer_encode_files(tok, in, 1, out, NULL, &st), ST_OK);
    st_token_buf b = {0};
    CHECK_ST(st_tokenizer_encode(tok, text, n, 0, &b), ST_OK);
    int32_t hdr[3], mx = 0;
    long size;
    for (int64_t i = 0; i < b.n; i++) mx = b.ids[i] > mx ? b.ids[i] : mx;
    CHECK(mx > 65535, "ids above 65535 occur (%d)", mx);
    CHECK(st.token_bytes == 4 && read_header(out, hdr, &size) && hdr[0] == 20240801 && hdr[1] == 7 &&
          hdr[2] == b.n && size == 1024 + 4 * b.n, "llm.c uint32 header");
    CHECK(dataset_equals(out, b.ids, b.n), "st_dataset reads uint32 tokens back");
    CHECK(tt_roundtrip(tok, text, n, 0), "wide round trip");
    /* the uint32 form's own checks in st_dataset: a short file, a wrong version */
    FILE *fp = fopen(out, "rb");
    size_t fl = (size_t)(1024 + 4 * b.n);
    char *raw = malloc(fl);
    if (fp && raw && fread(raw, 1, fl, fp) == fl) {
        st_dataset *ds = NULL;
        CHECK_ST(st_dataset_open(write_file("wide-cut.bin", raw, fl - 2), NULL, &ds), ST_ERR_FORMAT);
        CHECK(h_msg_has("truncated"), "cut uint32 file: %s", st_last_error());
        int32_t v1 = 1;
        memcpy(raw + 4, &v1, 4);
        CHECK_ST(st_dataset_open(write_file("wide-v1.bin", raw, fl), NULL, &ds), ST_ERR_FORMAT);
        CHECK(h_msg_has("version 1, expected 7"), "uint32 magic, version 1: %s", st_last_error());
    }
    if (fp) fclose(fp);
    free(raw);
    st_token_buf_destroy(&b);
    st_tokenizer_destroy(tok);
}
