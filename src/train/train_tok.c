/* strata-train's tokenizer door (train_tok.h): text in, cached llm.c token file out. */
#include <errno.h>
#include <limits.h>
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

/* STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else ~/.cache/strata (as the OpenCL kernel
 * cache), created when missing; $TMPDIR or /tmp when none of them can be made. */
static void cache_dir(char *base, size_t cap)
{
    const char *dir = getenv("STRATA_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *tmp = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    if (dir && *dir) snprintf(base, cap, "%s", dir);
    else if (xdg && *xdg) snprintf(base, cap, "%s/strata", xdg);
    else if (home && *home) snprintf(base, cap, "%s/.cache/strata", home);
    else base[0] = 0;
    for (char *p = base + 1; base[0] && *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(base, 0755);
        *p = '/';
    }
    if (!base[0] || (mkdir(base, 0755) != 0 && errno != EEXIST) || access(base, W_OK) != 0)
        snprintf(base, cap, "%s", tmp);
}

static int prepare_one(const char *text, uint64_t vh, train_tok *t, char *out, FILE *progress,
                       char *err, size_t errlen)
{
    struct stat sb;
    if (stat(text, &sb) != 0) {
        snprintf(err, errlen, "cannot use data '%s': %s", text, strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "cannot use data '%s': not a regular file", text);
        return -1;
    }
    if (is_token_file(text)) return 0; /* already tokens: used as given */
    char real[4096];
    if (!realpath(text, real)) snprintf(real, sizeof real, "%s", text);
    uint64_t h = mix(mix(vh, (uint64_t)sb.st_size), (uint64_t)sb.st_mtim.tv_sec * 1000000000ull +
                                                         (uint64_t)sb.st_mtim.tv_nsec);
    for (const char *c = real; *c; c++) h = mix(h, (uint8_t)*c);
    const char *slash = strrchr(real, '/');
    char dir[3072];
    cache_dir(dir, sizeof dir);
    snprintf(out, 4200, "%s/tokens-%.100s-%016llx.bin", dir, slash ? slash + 1 : real,
             (unsigned long long)h);
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
    st_tokenizer_destroy(t->tok);
    t->tok = NULL;
}
