/* GPT-2's pre-tokenization: the text cut into pieces by
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * PCRE2 (UTF, Unicode properties, invalid UTF-8 allowed) is the definition; a scanner for ASCII
 * gives the same pieces much faster and hands any piece whose end depends on a non-ASCII byte
 * back to PCRE2. \s is spelled out as Unicode's White_Space (what Rust's regex crate, and so
 * tiktoken, means by it): PCRE2's own \s under UCP adds U+180E. */
#include <string.h>
#include "internal.h"
#include "tok_internal.h"

#define WS "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static const char GPT2_PATTERN[] = "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^" WS
                                   "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

st_status tok_regex_init(tok_regex *rx)
{
    int err;
    PCRE2_SIZE at;
    rx->re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &at, NULL);
    if (!rx->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return ST_ERR(ST_ERR_INTERNAL, "PCRE2 cannot compile GPT-2's pattern at %zu: %s",
                      (size_t)at, (char *)msg);
    }
    /* Without a JIT (some architectures) pcre2_match interprets: slower, same pieces. */
    pcre2_jit_compile(rx->re, PCRE2_JIT_COMPLETE);
    rx->md = pcre2_match_data_create(1, NULL);
    if (!rx->md) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "PCRE2 match data");
    return ST_OK;
}

void tok_regex_free(tok_regex *rx)
{
    pcre2_match_data_free(rx->md);
    pcre2_code_free(rx->re);
    rx->md = NULL;
    rx->re = NULL;
}

/* ASCII classes: letter, number, white space, anything else. */
enum { C_O = 0, C_L = 1, C_N = 2, C_S = 3 };

/* Class of each ASCII byte (C_O 0, C_L 1, C_N 2, C_S 3: \t..\r and space). */
static const uint8_t ASCII_CLASS[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

/* End of the piece at pos, or 0 when a byte >= 0x80 could change it (PCRE2 decides then). */
static size_t scan_ascii(const uint8_t *t, size_t n, size_t pos)
{
    const uint8_t *cls = ASCII_CLASS;
    uint8_t c = t[pos];
    if (c >= 0x80) return 0;
    if (c == '\'' && pos + 1 < n) {
        uint8_t d = t[pos + 1], e = pos + 2 < n ? t[pos + 2] : 0;
        if (d == 's' || d == 'd' || d == 'm' || d == 't') return pos + 2;
        if ((d == 'l' && e == 'l') || (d == 'v' && e == 'e') || (d == 'r' && e == 'e'))
            return pos + 3;
    }
    size_t i = pos;
    int k = cls[c];
    if (c == ' ' && pos + 1 < n) {
        uint8_t d = t[pos + 1];
        if (d >= 0x80) return 0;
        if (cls[d] != C_S) {
            k = cls[d];
            i = pos + 1;
        }
    }
    i++;
    while (i < n && t[i] < 0x80 && cls[t[i]] == k) i++;
    if (i < n && t[i] >= 0x80) return 0;
    if (k != C_S || i == n) return i;
    /* white space before something else: \s+(?!\S) leaves the last one to the next piece */
    return i - pos >= 2 ? i - 1 : i;
}

static st_status scan_regex(tok_regex *rx, const uint8_t *t, size_t n, size_t pos, size_t *end)
{
    int rc = pcre2_match(rx->re, t, n, pos, 0, rx->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) {
        *end = n; /* only invalid UTF-8 is left: one piece */
        return ST_OK;
    }
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return ST_ERR(ST_ERR_INTERNAL, "PCRE2 failed at byte %zu: %s", pos, (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rx->md);
    /* A match further on leaves a run of invalid bytes before it: a piece of its own. */
    *end = ov[0] > pos ? ov[0] : ov[1];
    return ST_OK;
}

st_status tok_next_piece(tok_regex *rx, const uint8_t *text, size_t n, size_t pos, int regex_only,
                         size_t *end)
{
    size_t e = regex_only ? 0 : scan_ascii(text, n, pos);
    if (e) {
        *end = e;
        return ST_OK;
    }
    return scan_regex(rx, text, n, pos, end);
}

size_t tok_safe_cut(const uint8_t *text, size_t n, size_t from, size_t want)
{
    const uint8_t *cls = ASCII_CLASS;
    for (size_t i = from + want; i + 1 < n; i++) {
        uint8_t c = text[i];
        if (c == ' ' && text[i - 1] < 0x80 && cls[text[i - 1]] != C_S) return i;
    }
    return n;
}

st_status st_tokenizer_pieces(st_tokenizer *tok, const void *text, size_t n, unsigned flags,
                              int (*piece)(void *ctx, size_t start, size_t len), void *ctx)
{
    if (!tok || !piece || (!text && n) || (flags & ~ST_TOK_REGEX_ONLY))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_tokenizer_pieces: NULL argument or unknown flags");
    const uint8_t *t = text;
    for (size_t pos = 0, end; pos < n; pos = end) {
        ST_TRY(tok_next_piece(&tok->rx, t, n, pos, flags & ST_TOK_REGEX_ONLY, &end));
        if (piece(ctx, pos, end - pos)) break;
    }
    return ST_OK;
}
