/* Text files to llm.c token files: each input memory-mapped and encoded a few MiB at a time (cut
 * only where the pattern always splits), the tokens streamed to a temporary file whose header
 * is completed at the end, then renamed into place. Header (llm.c dev/data/data_common.py):
 * 256 int32, magic 20240520 / version 1 for uint16 tokens, 20240801 / version 7 for uint32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"
#include "tok_internal.h"

#define CHUNK_DEFAULT (4u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct sink {
    tok_out *o;
    int width;
    int64_t total;
    void *conv;
    size_t conv_cap;
} sink;

/* Writes the buffered tokens at the file's width and empties the buffer. */
static st_status flush(sink *k, st_token_buf *b)
{
    if (k->total + b->n > INT32_MAX)
        return ST_ERR(ST_ERR_FORMAT, "more than %d tokens: an llm.c token file counts them in an "
                      "int32", INT32_MAX);
    size_t bytes = (size_t)b->n * (size_t)k->width;
    if (bytes > k->conv_cap) {
        void *c = realloc(k->conv, bytes);
        if (!c) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "token file buffer");
        k->conv = c;
        k->conv_cap = bytes;
    }
    if (k->width == 2)
        for (int64_t i = 0; i < b->n; i++) ((uint16_t *)k->conv)[i] = (uint16_t)b->ids[i];
    else
        for (int64_t i = 0; i < b->n; i++) ((uint32_t *)k->conv)[i] = (uint32_t)b->ids[i];
    ST_TRY(tok_out_write(k->o, k->conv, bytes));
    k->total += b->n;
    b->n = 0;
    return ST_OK;
}

static st_status encode_one(st_tokenizer *tok, const char *path, size_t chunk, int32_t eot,
                            sink *k, st_token_buf *b, int64_t *bytes_in)
{
    tok_map m;
    ST_TRY(tok_map_file(path, &m));
    st_status s = eot >= 0 ? tok_buf_push(b, &eot, 1) : ST_OK;
    const uint8_t *t = m.data;
    for (size_t pos = 0; !s && pos < m.len;) {
        size_t cut = m.len - pos > 2 * chunk ? tok_safe_cut(t, m.len, pos, chunk) : m.len;
        s = st_tokenizer_encode(tok, t + pos, cut - pos, 0, b);
        if (!s) s = flush(k, b);
        pos = cut;
    }
    if (!s) s = flush(k, b);
    *bytes_in += (int64_t)m.len;
    tok_unmap_file(&m);
    return s;
}

st_status st_tokenizer_encode_files(st_tokenizer *tok, const char *const *paths, int n,
                                    const char *out_path, const st_tok_file_options *opt,
                                    st_tok_file_stats *stats)
{
    if (!tok || !paths || n < 1 || !out_path)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_encode_files: NULL or no input files");
    for (int i = 0; i < n; i++)
        if (!paths[i]) return ST_ERR(ST_ERR_INVALID_ARG, "input path %d is NULL", i);
    int32_t eot = -1;
    if (opt && opt->eot_before_each && (eot = st_tokenizer_eot(tok)) < 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "an <|endoftext|> before each file was asked for, but "
                      "the vocabulary has no such token");
    size_t chunk = opt && opt->chunk_bytes ? opt->chunk_bytes : CHUNK_DEFAULT;
    double t0 = now_s();
    tok_out o;
    ST_TRY(tok_out_open(&o, out_path));
    int32_t hdr[256] = {0};
    sink k = {&o, tok->n_vocab <= 65536 ? 2 : 4, 0, NULL, 0};
    st_token_buf b = {0};
    int64_t bytes_in = 0;
    st_status s = tok_out_write(&o, hdr, sizeof hdr);
    for (int i = 0; !s && i < n; i++) s = encode_one(tok, paths[i], chunk, eot, &k, &b, &bytes_in);
    if (!s && k.total == 0)
        s = ST_ERR(ST_ERR_FORMAT, "no tokens: the input%s empty", n > 1 ? "s are" : " is");
    hdr[0] = k.width == 2 ? 20240520 : 20240801;
    hdr[1] = k.width == 2 ? 1 : 7;
    hdr[2] = (int32_t)k.total;
    if (!s && (fseek(o.fp, 0, SEEK_SET) != 0 || fwrite(hdr, sizeof hdr, 1, o.fp) != 1))
        s = ST_ERR(ST_ERR_IO, "cannot write the header of '%s'", o.tmp);
    st_token_buf_destroy(&b);
    free(k.conv);
    if (s) {
        tok_out_abort(&o);
        return s;
    }
    ST_TRY(tok_out_commit(&o));
    if (stats)
        *stats = (st_tok_file_stats){bytes_in, k.total, k.width, now_s() - t0};
    return ST_OK;
}
