/* Manifests of committed checkpoints (ckpt_manifest.h): a strict line parser (every field checked,
 * nothing unknown accepted), the writer, and the rules for names inside a checkpoint directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "ckpt_manifest.h"

int st_ckpt_name_ok(const char *name, size_t len)
{
    if (len < 1 || len > ST_CKPT_NAME_MAX || name[0] == '.') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-' || c == '+';
        if (!ok) return 0;
    }
    return !(len == strlen(ST_CKPT_MANIFEST) && memcmp(name, ST_CKPT_MANIFEST, len) == 0);
}

/* Decimal digits [p, end) as a non-negative int64: 1 digit at least, no sign, no leading zero
 * (except "0" itself), no overflow. */
static int parse_count(const char *p, const char *end, int64_t *out)
{
    if (p >= end || end - p > 19 || (*p == '0' && end - p > 1)) return 0;
    int64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
            return 0;
    }
    *out = v;
    return 1;
}

int st_ckpt_step_name(const char *name, int64_t *step, int64_t *gen)
{
    if (strncmp(name, "step-", 5) != 0) return 0;
    const char *p = name + 5, *dot = strchr(p, '.'), *end = p + strlen(p);
    *gen = 0;
    if (dot && !parse_count(dot + 1, end, gen)) return 0;
    /* step digits may have leading zeros (step-00000042): parse them by hand */
    const char *e = dot ? dot : end;
    if (p == e || e - p > 19) return 0;
    int64_t v = 0;
    for (const char *q = p; q < e; q++)
        if (*q < '0' || *q > '9' || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *q - '0', &v))
            return 0;
    if (dot && *gen < 1) return 0;
    *step = v;
    return 1;
}

typedef struct lines {
    const char *p, *end, *what;
    int line;
} lines;

/* The next line [*b, *e) without its '\n'; 0 at the end of the text or for a last line without one. */
static int next_line(lines *l, const char **b, const char **e)
{
    if (l->p >= l->end) return 0;
    const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
    if (!nl) return 0;
    *b = l->p;
    *e = nl;
    l->p = nl + 1;
    l->line++;
    return 1;
}

static st_status bad(const lines *l, const char *why)
{
    return ST_ERR(ST_ERR_FORMAT, "checkpoint manifest %s: line %d: %s", l->what, l->line, why);
}

/* "key value" with exactly one space; value in [*vb, *ve). */
static int keyed(const char *b, const char *e, const char *key, const char **vb, const char **ve)
{
    size_t k = strlen(key);
    if ((size_t)(e - b) < k + 2 || memcmp(b, key, k) != 0 || b[k] != ' ') return 0;
    *vb = b + k + 1;
    *ve = e;
    return 1;
}

static int hex_id(const char *b, const char *e, char out[33])
{
    if (e - b != 32) return 0;
    for (const char *p = b; p < e; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    memcpy(out, b, 32);
    out[32] = '\0';
    return 1;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const st_manifest_file *)a)->name, ((const st_manifest_file *)b)->name);
}

/* "file NAME SIZE" into f (name malloc'ed). */
static st_status parse_file(const lines *l, const char *b, const char *e, st_manifest_file *f)
{
    const char *vb, *ve;
    if (!keyed(b, e, "file", &vb, &ve)) return bad(l, "expected 'file NAME SIZE' or 'end'");
    const char *sp = memchr(vb, ' ', (size_t)(ve - vb));
    int64_t size;
    if (!sp || !st_ckpt_name_ok(vb, (size_t)(sp - vb)))
        return bad(l, "file name missing or not 1-255 characters of [A-Za-z0-9._+-] (not starting with '.')");
    if (!parse_count(sp + 1, ve, &size) || size > (INT64_C(1) << 62)) return bad(l, "file size is not a byte count");
    f->name = strndup(vb, (size_t)(sp - vb));
    if (!f->name) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "checkpoint manifest %s: a file name", l->what);
    f->size = size;
    return ST_OK;
}

static st_status parse_header(lines *l, st_manifest *m)
{
    const char *b, *e, *vb, *ve;
    if (!next_line(l, &b, &e) || (size_t)(e - b) != strlen("strata-checkpoint 1") ||
        memcmp(b, "strata-checkpoint 1", (size_t)(e - b)) != 0)
        return bad(l, "expected 'strata-checkpoint 1' (a manifest of another version or not one at all)");
    if (!next_line(l, &b, &e) || !keyed(b, e, "step", &vb, &ve) || !parse_count(vb, ve, &m->step))
        return bad(l, "expected 'step N' with N a non-negative integer");
    if (!next_line(l, &b, &e) || !keyed(b, e, "id", &vb, &ve) || !hex_id(vb, ve, m->id))
        return bad(l, "expected 'id' and 32 lowercase hex digits");
    return ST_OK;
}

static st_status parse_files(lines *l, st_manifest *m)
{
    const char *b, *e;
    int cap = 0;
    for (;;) {
        if (!next_line(l, &b, &e)) return bad(l, "ends before its 'end' line (truncated)");
        if (e - b == 3 && memcmp(b, "end", 3) == 0) break;
        if (m->n == ST_CKPT_MAX_FILES) return bad(l, "more than 65536 files");
        if (m->n == cap) {
            cap = cap ? 2 * cap : 8;
            st_manifest_file *g = realloc(m->files, (size_t)cap * sizeof *g);
            if (!g) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "checkpoint manifest %s: %d files", l->what, cap);
            m->files = g;
        }
        ST_TRY(parse_file(l, b, e, &m->files[m->n]));
        m->n++;
    }
    if (m->n == 0) return bad(l, "lists no file");
    if (l->p != l->end) return bad(l, "text after the 'end' line");
    return ST_OK;
}

st_status st_manifest_parse(const char *text, size_t len, const char *what, st_manifest *m)
{
    memset(m, 0, sizeof *m);
    lines l = {text, text + len, what ? what : "(manifest)", 0};
    st_status s = ST_OK;
    if (len > ST_MANIFEST_MAX) s = bad(&l, "larger than 32 MiB");
    else if (memchr(text, '\0', len)) s = bad(&l, "holds a NUL byte (not a text file)");
    if (s == ST_OK) s = parse_header(&l, m);
    if (s == ST_OK) s = parse_files(&l, m);
    if (s == ST_OK && m->n > 1) {
        /* n log n: a manifest may list tens of thousands of shards */
        st_manifest_file *sorted = malloc((size_t)m->n * sizeof *sorted);
        if (!sorted) s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "checkpoint manifest %s: sorting %d names", l.what, m->n);
        if (sorted) {
            memcpy(sorted, m->files, (size_t)m->n * sizeof *sorted);
            qsort(sorted, (size_t)m->n, sizeof *sorted, cmp_file);
            for (int i = 1; i < m->n && s == ST_OK; i++)
                if (strcmp(sorted[i].name, sorted[i - 1].name) == 0)
                    s = ST_ERR(ST_ERR_FORMAT, "checkpoint manifest %s: file '%s' listed twice", l.what,
                               sorted[i].name);
            free(sorted);
        }
    }
    if (s != ST_OK) st_manifest_free(m);
    return s;
}

void st_manifest_free(st_manifest *m)
{
    for (int i = 0; i < m->n; i++) free(m->files[i].name);
    free(m->files);
    memset(m, 0, sizeof *m);
}

st_status st_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ST_ERR(ST_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
    int r = fsync(fd), e = errno;
    close(fd);
    if (r != 0 && e != EINVAL) return ST_ERR(ST_ERR_IO, "cannot fsync directory '%s': %s", dir, strerror(e));
    return ST_OK;
}

static st_status write_all(int fd, const char *path, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return ST_ERR(ST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        data += w;
        len -= (size_t)w;
    }
    return ST_OK;
}

st_status st_write_file_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4200], dir[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return ST_ERR(ST_ERR_INVALID_ARG, "path too long: '%.200s...'", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return ST_ERR(ST_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    st_status s = write_all(fd, tmp, data, len);
    if (s == ST_OK && fsync(fd) != 0) s = ST_ERR(ST_ERR_IO, "cannot fsync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == ST_OK) s = ST_ERR(ST_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
    if (s == ST_OK && rename(tmp, path) != 0)
        s = ST_ERR(ST_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (s != ST_OK) {
        unlink(tmp);
        return s;
    }
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (slash == path ? 1 : (int)(slash - path)) : 1, slash ? path : ".");
    return st_sync_dir(dir);
}

st_status st_manifest_write(const char *dir, int64_t step, const char *id, const char *const *files,
                            const int64_t *sizes, int n)
{
    size_t cap = 128;
    for (int i = 0; i < n; i++) cap += strlen(files[i]) + 32;
    char *text = malloc(cap), path[4200];
    if (!text) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "checkpoint manifest of %d files", n);
    size_t at = (size_t)snprintf(text, cap, "strata-checkpoint 1\nstep %lld\nid %s\n", (long long)step, id);
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(text + at, cap - at, "file %s %lld\n", files[i], (long long)sizes[i]);
    at += (size_t)snprintf(text + at, cap - at, "end\n");
    st_status s = (size_t)snprintf(path, sizeof path, "%s/%s", dir, ST_CKPT_MANIFEST) >= sizeof path
                      ? ST_ERR(ST_ERR_INVALID_ARG, "path too long: '%.200s...'", dir)
                      : st_write_file_atomic(path, text, at);
    free(text);
    return s;
}
