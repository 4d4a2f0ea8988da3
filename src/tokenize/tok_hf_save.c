/* Writing Hugging Face's GPT-2 tokenizer files: vocab.json, merges.txt and tokenizer.json (the
 * byte-level BPE of GPT-2's own tokenizer.json: the ByteLevel pre-tokenizer with GPT-2's
 * pattern, no prefix space, the ByteLevel decoder, specials as added tokens). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"
#include "tok_internal.h"

/* A token in stand-in characters (specials as their text), escaped for a JSON string when
 * `json` (merges.txt is not JSON: its tokens go as they are). */
static int put_token(FILE *fp, const st_tokenizer *tok, int32_t id, int json)
{
    const uint8_t *p = tok->bytes + tok->off[id];
    size_t len = tok->off[id + 1] - tok->off[id];
    int ok = 1;
    for (size_t i = 0; i < len && ok; i++) {
        uint32_t cp = tok->kind[id] == TOK_SPECIAL ? p[i] : tok_byte_char(p[i]);
        if (json && (cp == '"' || cp == '\\')) ok = fprintf(fp, "\\%c", (char)cp) > 0;
        else if (json && cp < 0x20) ok = fprintf(fp, "\\u%04x", (unsigned)cp) > 0;
        else if (cp < 0x80 || tok->kind[id] == TOK_SPECIAL) ok = fputc((int)cp, fp) != EOF;
        else ok = fprintf(fp, "%c%c", (char)(0xc0 | cp >> 6), (char)(0x80 | (cp & 63))) > 0;
    }
    return ok;
}

static int write_vocab(FILE *fp, const st_tokenizer *tok, const char *indent)
{
    int ok = fputc('{', fp) != EOF, first = 1;
    for (int32_t id = 0; id < tok->n_vocab && ok; id++) {
        if (tok->kind[id] == TOK_ABSENT) continue;
        ok = fprintf(fp, "%s%s\"", first ? "" : ",", indent) > 0 && put_token(fp, tok, id, 1) &&
             fprintf(fp, "\": %d", id) > 0;
        first = 0;
    }
    return ok && fputc('}', fp) != EOF;
}

static int write_merge(FILE *fp, const st_tokenizer *tok, int32_t k, int json)
{
    return put_token(fp, tok, tok->merges[k][0], json) && fputc(' ', fp) != EOF &&
           put_token(fp, tok, tok->merges[k][1], json);
}

static int write_merges_txt(FILE *fp, const st_tokenizer *tok)
{
    int ok = fputs("#version: 0.2\n", fp) >= 0;
    for (int32_t k = 0; k < tok->n_merges && ok; k++)
        ok = write_merge(fp, tok, k, 0) && fputc('\n', fp) != EOF;
    return ok;
}

static int write_tokenizer_json(FILE *fp, const st_tokenizer *tok)
{
    static const char *const BYTE_LEVEL =
        "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
        "\"use_regex\": true}";
    int ok = fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
                   "  \"added_tokens\": [", fp) >= 0;
    for (int i = 0; i < tok->n_specials && ok; i++) {
        ok = fprintf(fp, "%s\n    {\"id\": %d, \"content\": \"", i ? "," : "", tok->specials[i]) > 0 &&
             put_token(fp, tok, tok->specials[i], 1) &&
             fputs("\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                   "\"normalized\": true, \"special\": true}", fp) >= 0;
    }
    ok = ok && fprintf(fp, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": %s,\n"
                       "  \"post_processor\": %s,\n  \"decoder\": %s,\n  \"model\": {\n"
                       "    \"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
                       "\"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"\", "
                       "\"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": false,\n"
                       "    \"vocab\": ", BYTE_LEVEL, BYTE_LEVEL, BYTE_LEVEL) > 0;
    ok = ok && write_vocab(fp, tok, "\n      ") && fputs(",\n    \"merges\": [", fp) >= 0;
    for (int32_t k = 0; k < tok->n_merges && ok; k++)
        ok = fputs(k ? ",\n      \"" : "\n      \"", fp) >= 0 && write_merge(fp, tok, k, 1) &&
             fputc('"', fp) != EOF;
    return ok && fputs("\n    ]\n  }\n}\n", fp) >= 0;
}

static st_status save_one(const st_tokenizer *tok, const char *dir, const char *name,
                          int (*write)(FILE *, const st_tokenizer *))
{
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return ST_ERR(ST_ERR_INVALID_ARG, "directory name too long");
    tok_out o;
    ST_TRY(tok_out_open(&o, path));
    if (!write(o.fp, tok)) {
        int e = errno;
        tok_out_abort(&o);
        return ST_ERR(ST_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return tok_out_commit(&o);
}

static int write_vocab_json(FILE *fp, const st_tokenizer *tok)
{
    return write_vocab(fp, tok, "\n  ") && fputc('\n', fp) != EOF;
}

st_status st_tokenizer_save_hf(st_tokenizer *tok, const char *dir)
{
    if (!tok || !dir) return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_save_hf: NULL");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ST_ERR(ST_ERR_IO, "cannot create directory '%s': %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ST_ERR(ST_ERR_IO, "'%s' is not a directory", dir);
    ST_TRY(tok_derive_merges(tok));
    ST_TRY(save_one(tok, dir, "vocab.json", write_vocab_json));
    ST_TRY(save_one(tok, dir, "merges.txt", write_merges_txt));
    return save_one(tok, dir, "tokenizer.json", write_tokenizer_json);
}
