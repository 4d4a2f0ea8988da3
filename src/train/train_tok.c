/* strata-train's tokenizer door (train_tok.h): text in, cached llm.c token file out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "train_tok.h"

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

/* Identifies the vocabulary: every token's bytes and kind, in id order. */
static uint64_t vocab_hash(const st_tokenizer *tok)
{
    uint64_t h = mix(0, (uint64_t)st_tokenizer_vocab_size(tok));
    h = mix(h, (uint64_t)st_tokenizer_rule(tok));
    for (int32_t id = 0; id < st_tokenizer_vocab_size(tok); id++) {
        const uint8_t *p;
        size_t len;
        int sp;
        if (st_tokenizer_token(tok, id, &p, &len, &sp)) {
            h = mix(h, 0xffff);
            continue;
        }
        h = mix(h, len << 1 | (uint64_t)sp);
        for (size_t i = 0; i < len; i++) h = mix(h, p[i]);
    }
    return h;
}

static int is_token_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    int32_t magic = 0;
    int ok = fp && fread(&magic, 4, 1, fp) == 1;
    if (fp) fclose(fp);
    return ok && (magic == 20240520 || magic == 20240801);
}

static int prepare_one(const char *text, uint64_t vh, train_tok *t, char *out, FILE *progress,
                       char *err, size_t errlen)
{
    struct stat sb;
    if (stat(text, &sb) != 0) {
        snprintf(err, errlen, "cannot use data '%s': %s", text, strerror(errno));
        return -1;
    }
    if (is_token_file(text)) return 0; /* already tokens: used as given */
    uint64_t h = mix(mix(vh, (uint64_t)sb.st_size), (uint64_t)sb.st_mtim.tv_sec * 1000000000ull +
                                                         (uint64_t)sb.st_mtim.tv_nsec);
    const char *slash = strrchr(text, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - text) + (slash == text) : 1, slash ? text : ".");
    if (access(dir, W_OK) == 0) {
        snprintf(out, 4200, "%s.tok-%016llx.bin", text, (unsigned long long)h);
    } else {
        const char *tmp = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
        snprintf(out, 4200, "%s/%s.tok-%016llx.bin", tmp, slash ? slash + 1 : text, (unsigned long long)h);
    }
    if (access(out, R_OK) == 0) {
        if (progress) fprintf(progress, "tokens of %s: %s (cached)\n", text, out);
        return 0;
    }
    st_tok_file_options fo = {.eot_before_each = st_tokenizer_eot(t->tok) >= 0};
    st_tok_file_stats st;
    if (st_tokenizer_encode_files(t->tok, &text, 1, out, &fo, &st) != ST_OK) {
        snprintf(err, errlen, "cannot tokenize '%s' into '%s': %s", text, out, st_last_error());
        return -1;
    }
    if (progress)
        fprintf(progress, "tokens of %s: %s, %lld tokens from %lld bytes (%.1f MB/s)\n", text, out,
                (long long)st.tokens_out, (long long)st.bytes_in,
                st.bytes_in / 1e6 / (st.seconds > 0 ? st.seconds : 1e-9));
    return 0;
}

int train_tok_prepare(const train_opts *o, train_tok *t, FILE *progress, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!o->tokenizer) return 0;
    if (st_tokenizer_load(o->tokenizer, &t->tok) != ST_OK) {
        snprintf(err, errlen, "cannot use tokenizer '%s': %s", o->tokenizer, st_last_error());
        return -1;
    }
    uint64_t vh = vocab_hash(t->tok);
    if (prepare_one(o->data, vh, t, t->data, progress, err, errlen)) return -1;
    if (o->val && prepare_one(o->val, vh, t, t->val, progress, err, errlen)) return -1;
    return 0;
}

void train_tok_print(const train_tok *t, const int32_t *ids, int n, FILE *out)
{
    for (int i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        if (st_tokenizer_token(t->tok, ids[i], &p, &len, NULL) != ST_OK) {
            fprintf(out, "<%d>", ids[i]); /* a padded row of the model: no token */
            continue;
        }
        for (size_t k = 0; k < len; k++)
            fputc(p[k] < 0x20 && p[k] != '\n' && p[k] != '\t' ? '?' : p[k], out);
    }
}

void train_tok_free(train_tok *t)
{
    st_tokenizer_free(t->tok);
    t->tok = NULL;
}
