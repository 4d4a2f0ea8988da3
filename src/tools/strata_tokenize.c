/* strata-tokenize: byte-level BPE from the command line (tokenizer.h): train a vocabulary,
 * convert between tiktoken and Hugging Face files, encode text files into llm.c token files,
 * decode them, and measure the speed against Python's tiktoken (strata_tokenize_bench.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata/strata.h"
#include "strata/tokenizer.h"
#include "strata_tokenize.h"

static const char USAGE[] =
    "usage: strata-tokenize COMMAND [options]\n"
    "  train --vocab-size N [--min-frequency F] [--special TEXT]... (--out FILE | --hf DIR) FILE...\n"
    "        learn a byte-level BPE vocabulary on the text files (GPT-2's pre-tokenizer); --out\n"
    "        writes a tiktoken rank file, --hf DIR vocab.json, merges.txt and tokenizer.json.\n"
    "        Specials (default <|endoftext|>) take the last ids\n"
    "  encode --tokenizer T --out FILE.bin [--no-eot] FILE...\n"
    "        text files -> one llm.c token file (uint16; uint32 when the vocabulary has more\n"
    "        than 65536 ids), <|endoftext|> before each file unless --no-eot; prints MB/s\n"
    "  decode --tokenizer T [--out FILE] FILE.bin     llm.c token file -> text (stdout)\n"
    "  text --tokenizer T [--special] TEXT...           print the ids of TEXT\n"
    "  convert --tokenizer T (--out FILE | --hf DIR)   rewrite a vocabulary in the other form\n"
    "  info --tokenizer T                               vocabulary size, merges, specials\n"
    "  bench --tokenizer T [--python PY] [--repeat N] FILE...\n"
    "        encoding speed, and Python tiktoken's on the same files in the same run when PY\n"
    "        (default $STRATA_PYTHON or python3) can import it; the token counts must agree\n"
    "T: a tiktoken rank file (such as GPT-2's gpt2.tiktoken, <|endoftext|> = the last id + 1),\n"
    "a directory with vocab.json and merges.txt, or a vocab.json with merges.txt beside it.\n"
    "Exit status: 0 done, 1 error, 2 bad command line.\n";

int tk_fail(const char *what)
{
    fprintf(stderr, "strata-tokenize: error: %s%s%s\n", what, what[0] ? ": " : "", st_last_error());
    return 1;
}

/* Options shared by the commands; files are the arguments that are not options. */
int tk_parse(int argc, char **argv, tk_opts *o)
{
    memset(o, 0, sizeof *o);
    o->eot = 1;
    o->repeat = 3;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int val = 1;
        if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) o->out = v;
        else if (!strcmp(a, "--hf")) o->hf = v;
        else if (!strcmp(a, "--python")) o->python = v;
        else if (!strcmp(a, "--special")) {
            if (!strcmp(argv[1], "text")) o->special = 1, val = 0;
            else if (v && o->nspecials < TK_MAX_SPECIALS) o->specials[o->nspecials++] = v;
            else if (v) return fprintf(stderr, "strata-tokenize: at most %d --special\n", TK_MAX_SPECIALS), -1;
        } else if (!strcmp(a, "--vocab-size") || !strcmp(a, "--min-frequency") || !strcmp(a, "--repeat")) {
            char *end;
            errno = 0;
            long long x = v ? strtoll(v, &end, 10) : 0;
            if (!v || errno || *end || x < 1 || x > (1 << 24)) {
                fprintf(stderr, "strata-tokenize: %s needs an integer in [1, 2^24]\n", a);
                return -1;
            }
            if (a[2] == 'v') o->vocab_size = (int32_t)x;
            else if (a[2] == 'm') o->min_freq = x;
            else o->repeat = (int)x;
        } else if (!strcmp(a, "--no-eot")) o->eot = 0, val = 0;
        else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "strata-tokenize: unknown option '%s' (see --help)\n", a);
            return -1;
        } else {
            val = 0;
            if (o->nfiles < TK_MAX_FILES) o->files[o->nfiles++] = a;
            else return fprintf(stderr, "strata-tokenize: at most %d files\n", TK_MAX_FILES), -1;
        }
        if (val && !v) {
            fprintf(stderr, "strata-tokenize: %s needs a value\n", a);
            return -1;
        }
        i += val;
    }
    return 0;
}

int tk_load(const tk_opts *o, st_tokenizer **tok)
{
    if (!o->tokenizer) {
        fprintf(stderr, "strata-tokenize: --tokenizer is required (see --help)\n");
        return 2;
    }
    if (st_tokenizer_load(o->tokenizer, tok)) return tk_fail("cannot load the tokenizer");
    return 0;
}

static int save(st_tokenizer *tok, const tk_opts *o)
{
    if (o->out && st_tokenizer_save_tiktoken(tok, o->out)) return tk_fail("cannot save");
    if (o->hf && st_tokenizer_save_hf(tok, o->hf)) return tk_fail("cannot save");
    if (o->out) printf("wrote %s (tiktoken ranks)\n", o->out);
    if (o->hf) printf("wrote %s/vocab.json, merges.txt, tokenizer.json\n", o->hf);
    return 0;
}

static int cmd_train(const tk_opts *o)
{
    if (!o->vocab_size || !o->nfiles || (!o->out && !o->hf)) {
        fprintf(stderr, "strata-tokenize train: needs --vocab-size, --out or --hf, and text files\n");
        return 2;
    }
    const char *sp[TK_MAX_SPECIALS + 1];
    for (int i = 0; i < o->nspecials; i++) sp[i] = o->specials[i];
    sp[o->nspecials] = NULL;
    st_tok_train_options to = {o->vocab_size, o->min_freq, o->nspecials ? sp : NULL};
    st_tok_trainer *t = NULL;
    st_tokenizer *tok = NULL;
    if (st_tok_trainer_create(&to, &t)) return tk_fail("training");
    for (int i = 0; i < o->nfiles; i++)
        if (st_tok_trainer_feed_file(t, o->files[i])) {
            st_tok_trainer_destroy(t);
            return tk_fail("training");
        }
    st_status s = st_tok_trainer_finish(t, &tok);
    st_tok_trainer_destroy(t);
    if (s) return tk_fail("training");
    printf("vocabulary: %d ids (%d merges)%s\n", st_tokenizer_vocab_size(tok), st_tokenizer_merges(tok),
           st_tokenizer_vocab_size(tok) < o->vocab_size ? ": the text ran out of pairs seen twice" : "");
    int rc = save(tok, o);
    st_tokenizer_destroy(tok);
    return rc;
}

static int cmd_encode(const tk_opts *o)
{
    if (!o->out || !o->nfiles) {
        fprintf(stderr, "strata-tokenize encode: needs --out FILE.bin and text files\n");
        return 2;
    }
    st_tokenizer *tok;
    int rc = tk_load(o, &tok);
    if (rc) return rc;
    st_tok_file_options fo = {.eot_before_each = o->eot && st_tokenizer_eot(tok) >= 0};
    st_tok_file_stats st;
    if (st_tokenizer_encode_files(tok, o->files, o->nfiles, o->out, &fo, &st)) {
        st_tokenizer_destroy(tok);
        return tk_fail("encoding");
    }
    printf("%s: %lld tokens (uint%d) from %lld bytes in %d file%s, %.2f s, %.1f MB/s\n", o->out,
           (long long)st.tokens_out, 8 * st.token_bytes, (long long)st.bytes_in, o->nfiles,
           o->nfiles > 1 ? "s" : "", st.seconds, st.bytes_in / 1e6 / (st.seconds > 0 ? st.seconds : 1e-9));
    st_tokenizer_destroy(tok);
    return 0;
}

static int cmd_decode(const tk_opts *o)
{
    if (o->nfiles != 1) {
        fprintf(stderr, "strata-tokenize decode: needs one llm.c token file\n");
        return 2;
    }
    st_tokenizer *tok;
    int rc = tk_load(o, &tok);
    if (rc) return rc;
    st_dataset *ds = NULL;
    st_dataset_options dopt = {.format = ST_DATA_LLMC};
    FILE *out = o->out ? fopen(o->out, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "strata-tokenize: cannot create '%s': %s\n", o->out, strerror(errno));
        st_tokenizer_destroy(tok);
        return 1;
    }
    st_status s = st_dataset_open(o->files[0], &dopt, &ds);
    int64_t n = s ? 0 : st_dataset_tokens(ds, ST_SPLIT_TRAIN);
    int32_t ids[4096];
    char buf[1 << 16];
    for (int64_t at = 0; !s && at < n; at += 4096) {
        int64_t k = n - at < 4096 ? n - at : 4096;
        size_t len;
        s = st_dataset_read(ds, ST_SPLIT_TRAIN, at, k, ids);
        if (!s) s = st_tokenizer_decode(tok, ids, k, NULL, 0, &len);
        char *p = !s && len > sizeof buf ? malloc(len) : buf;
        if (!s && !p) s = ST_ERR_OUT_OF_MEMORY;
        if (!s) s = st_tokenizer_decode(tok, ids, k, p, len, &len);
        if (!s) fwrite(p, 1, len, out);
        if (p != buf) free(p);
    }
    if (o->out && fclose(out) != 0 && !s) {
        fprintf(stderr, "strata-tokenize: cannot write '%s': %s\n", o->out, strerror(errno));
        rc = 1;
    }
    st_dataset_destroy(ds);
    st_tokenizer_destroy(tok);
    return s ? tk_fail("decoding") : rc;
}

static int cmd_text(const tk_opts *o)
{
    st_tokenizer *tok;
    int rc = tk_load(o, &tok);
    if (rc) return rc;
    st_token_buf b = {0};
    for (int i = 0; i < o->nfiles && !rc; i++) {
        b.n = 0;
        if (st_tokenizer_encode(tok, o->files[i], strlen(o->files[i]), o->special ? ST_TOK_SPECIAL : 0, &b))
            rc = tk_fail("encoding");
        for (int64_t k = 0; k < b.n && !rc; k++) printf("%s%d", k ? " " : "", b.ids[k]);
        if (!rc) putchar('\n');
    }
    st_token_buf_destroy(&b);
    st_tokenizer_destroy(tok);
    return rc;
}

static int cmd_info(const tk_opts *o, int convert)
{
    st_tokenizer *tok;
    int rc = tk_load(o, &tok);
    if (rc) return rc;
    if (convert) {
        rc = o->out || o->hf ? save(tok, o) : 2;
        if (rc == 2) fprintf(stderr, "strata-tokenize convert: needs --out FILE or --hf DIR\n");
    } else {
        printf("%s: %d ids, %d merges (%s rule), <|endoftext|> = %d\n", o->tokenizer,
               st_tokenizer_vocab_size(tok), st_tokenizer_merges(tok),
               st_tokenizer_rule(tok) == ST_BPE_RANKS ? "tiktoken rank" : "merge list",
               st_tokenizer_eot(tok));
    }
    st_tokenizer_destroy(tok);
    return rc;
}

int main(int argc, char **argv)
{
    tk_opts o;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (tk_parse(argc, argv, &o)) return 2;
    const char *c = argv[1];
    int rc = !strcmp(c, "train")     ? cmd_train(&o)
             : !strcmp(c, "encode")  ? cmd_encode(&o)
             : !strcmp(c, "decode")  ? cmd_decode(&o)
             : !strcmp(c, "text")    ? cmd_text(&o)
             : !strcmp(c, "info")    ? cmd_info(&o, 0)
             : !strcmp(c, "convert") ? cmd_info(&o, 1)
             : !strcmp(c, "bench")   ? tk_bench(&o)
                                     : -1;
    if (rc == -1) {
        fprintf(stderr, "strata-tokenize: unknown command '%s' (see --help)\n", c);
        rc = 2;
    }
    st_shutdown();
    return rc;
}
