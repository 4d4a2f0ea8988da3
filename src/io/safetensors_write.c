/* Writing safetensors files (checkpoint.h), atomically: a temporary file beside the target is
 * written, flushed, fsync'd and renamed over it, then the directory is fsync'd so that the rename
 * itself survives a crash. A failure at any step removes the temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "io_file.h"
#include "safetensors_json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif

/* A growing string for the JSON header. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static st_status check_tensor(const st_ckpt_tensor *t, int i, int64_t *bytes)
{
    if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "tensor %d: name is NULL, empty or \"__metadata__\"", i);
    if (!st_st_dtype_name(t->dtype))
        return ST_ERR(ST_ERR_INVALID_ARG, "tensor '%.200s': bad dtype %d", t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > ST_CKPT_MAX_DIMS)
        return ST_ERR(ST_ERR_INVALID_ARG, "tensor '%.200s': ndim %d outside [0, %d]", t->name,
                      t->ndim, ST_CKPT_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++)
        if (!st_io_mul(numel, t->shape[d], &numel))
            return ST_ERR(ST_ERR_INVALID_ARG, "tensor '%.200s': shape[%d] = %lld negative or "
                          "too large", t->name, d, (long long)t->shape[d]);
    if (!st_io_mul(numel, (int64_t)st_dtype_size(t->dtype), bytes))
        return ST_ERR(ST_ERR_INVALID_ARG, "tensor '%.200s': size overflows", t->name);
    if (*bytes > 0 && !t->data)
        return ST_ERR(ST_ERR_INVALID_ARG, "tensor '%.200s': data is NULL", t->name);
    return ST_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name given twice among n (sorted copies: n log n), or NULL. *oom on allocation failure. */
static const char *duplicate(const char **names, int n, int *oom)
{
    *oom = 0;
    if (n < 2) return NULL;
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) {
        *oom = 1;
        return NULL;
    }
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i], sorted[i - 1]) == 0) dup = sorted[i];
    free(sorted);
    return dup;
}

static st_status check_unique(const char **names, int n, const char *what)
{
    int oom;
    const char *dup = duplicate(names, n, &oom);
    if (oom) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "checking %d %s names", n, what);
    if (dup) return ST_ERR(ST_ERR_INVALID_ARG, "%s name '%.200s' given twice", what, dup);
    return ST_OK;
}

static st_status check_args(const st_ckpt_tensor *t, int n, const st_ckpt_meta *meta, int nmeta)
{
    if (n < 0 || (n > 0 && !t) || nmeta < 0 || (nmeta > 0 && !meta))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_safetensors_write: bad counts or NULL arrays");
    int most = n > nmeta ? n : nmeta;
    const char **names = malloc((most > 0 ? (size_t)most : 1) * sizeof *names);
    if (!names) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "checking %d names", most);
    st_status s = ST_OK;
    for (int i = 0; i < n && s == ST_OK; i++) {
        int64_t bytes;
        s = check_tensor(&t[i], i, &bytes);
        names[i] = t[i].name;
    }
    if (s == ST_OK) s = check_unique(names, n, "tensor");
    for (int i = 0; i < nmeta && s == ST_OK; i++) {
        if (!meta[i].key || !meta[i].value)
            s = ST_ERR(ST_ERR_INVALID_ARG, "metadata entry %d: NULL key or value", i);
        names[i] = meta[i].key;
    }
    if (s == ST_OK) s = check_unique(names, nmeta, "metadata key");
    free(names);
    return s;
}

/* The JSON header, padded with spaces so that 8 + its length is a multiple of 8. */
static st_status build_header(const st_ckpt_tensor *t, int n, const st_ckpt_meta *meta,
                              int nmeta, sbuf *b)
{
    char num[64];
    int64_t at = 0;
    sb_str(b, "{");
    if (nmeta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) sb_str(b, ",");
            sb_json(b, meta[i].key);
            sb_str(b, ":");
            sb_json(b, meta[i].value);
        }
        sb_str(b, "}");
    }
    for (int i = 0; i < n; i++) {
        int64_t bytes;
        check_tensor(&t[i], i, &bytes);
        sb_str(b, i || nmeta ? "," : "");
        sb_json(b, t[i].name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, st_st_dtype_name(t[i].dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
            sb_str(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)at,
                 (long long)(at + bytes));
        sb_str(b, num);
        at += bytes;
    }
    sb_str(b, "}");
    while ((b->len + 8) % 8) sb_str(b, " ");
    return b->oom ? ST_ERR(ST_ERR_OUT_OF_MEMORY, "safetensors header") : ST_OK;
}

static st_status write_stream(FILE *fp, const char *tmp, const sbuf *hdr, const st_ckpt_tensor *t,
                              int n)
{
    uint8_t lenb[8];
    uint64_t hlen = hdr->len;
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)(hlen >> (8 * i));
    int ok = fwrite(lenb, 1, 8, fp) == 8 && fwrite(hdr->s, 1, hdr->len, fp) == hdr->len;
    for (int i = 0; ok && i < n; i++) {
        int64_t bytes;
        check_tensor(&t[i], i, &bytes);
        ok = bytes == 0 || fwrite(t[i].data, 1, (size_t)bytes, fp) == (size_t)bytes;
    }
    if (!ok || fflush(fp) != 0 || fsync(fileno(fp)) != 0)
        return ST_ERR(ST_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    return ST_OK;
}

/* fsync of the directory holding `path`, so that the rename is durable. Filesystems that cannot
 * sync a directory (EINVAL) make no promise to keep; that is not an error. */
static st_status sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ST_ERR(ST_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
    int r = fsync(fd), e = errno;
    close(fd);
    if (r != 0 && e != EINVAL)
        return ST_ERR(ST_ERR_IO, "cannot fsync directory '%s': %s", dir, strerror(e));
    return ST_OK;
}

/* Creates a fresh temporary file beside `path`; its name in tmp. */
static st_status open_temp(const char *path, char *tmp, size_t cap, FILE **fp)
{
    static atomic_uint counter;
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        if ((size_t)snprintf(tmp, cap, "%s.tmp.%ld.%u", path, (long)getpid(),
                             atomic_fetch_add(&counter, 1)) >= cap)
            return ST_ERR(ST_ERR_INVALID_ARG, "path too long: '%.200s...'", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) return ST_ERR(ST_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    *fp = fdopen(fd, "wb");
    if (!*fp) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return ST_ERR(ST_ERR_IO, "cannot open '%s': %s", tmp, strerror(e));
    }
    return ST_OK;
}

st_status st_safetensors_write(const char *path, const st_ckpt_tensor *tensors, int n,
                               const st_ckpt_meta *meta, int nmeta)
{
    if (!path || !path[0]) return ST_ERR(ST_ERR_INVALID_ARG, "st_safetensors_write: no path");
    ST_TRY(check_args(tensors, n, meta, nmeta));
    sbuf hdr = {0};
    st_status s = build_header(tensors, n, meta, nmeta, &hdr);
    char tmp[4200];
    FILE *fp = NULL;
    if (s == ST_OK) s = open_temp(path, tmp, sizeof tmp, &fp);
    if (s == ST_OK) {
        s = write_stream(fp, tmp, &hdr, tensors, n);
        if (fclose(fp) != 0 && s == ST_OK)
            s = ST_ERR(ST_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
        if (s == ST_OK && rename(tmp, path) != 0)
            s = ST_ERR(ST_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        if (s != ST_OK) unlink(tmp);
        else s = sync_dir(path);
    }
    free(hdr.s);
    return s;
}
