/* File helpers of the tokenizer: whole files read or memory-mapped with clear errors, and
 * output written atomically (a temporary file beside the target, flushed, fsync'd, renamed). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "tok_internal.h"

st_status tok_map_file(const char *path, tok_map *m)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ST_ERR(ST_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ST_ERR(ST_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ST_ERR(ST_ERR_IO, "cannot read '%s': %s", path,
                      S_ISDIR(sb.st_mode) ? "it is a directory" : "not a regular file");
    }
    m->len = (size_t)sb.st_size;
    if (m->len) {
        m->data = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->data == MAP_FAILED) {
            int e = errno;
            close(fd);
            m->data = NULL;
            return ST_ERR(ST_ERR_IO, "cannot map '%s': %s", path, strerror(e));
        }
        madvise(m->data, m->len, MADV_SEQUENTIAL);
    }
    close(fd);
    return ST_OK;
}

void tok_unmap_file(tok_map *m)
{
    if (m->data) munmap(m->data, m->len);
    memset(m, 0, sizeof *m);
}

st_status tok_read_file(const char *path, char **data, size_t *len)
{
    tok_map m;
    ST_TRY(tok_map_file(path, &m));
    char *p = malloc(m.len + 1);
    if (!p) {
        tok_unmap_file(&m);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "reading '%s' (%zu bytes)", path, m.len);
    }
    if (m.len) memcpy(p, m.data, m.len);
    p[m.len] = 0;
    *len = m.len;
    *data = p;
    tok_unmap_file(&m);
    return ST_OK;
}

st_status tok_out_open(tok_out *o, const char *path)
{
    static atomic_uint counter;
    memset(o, 0, sizeof *o);
    o->path = path;
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        if ((size_t)snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
                             atomic_fetch_add(&counter, 1)) >= sizeof o->tmp)
            return ST_ERR(ST_ERR_INVALID_ARG, "path too long: '%.200s...'", path);
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) return ST_ERR(ST_ERR_IO, "cannot create '%s': %s", o->tmp, strerror(errno));
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        return ST_ERR(ST_ERR_IO, "cannot open '%s': %s", o->tmp, strerror(e));
    }
    return ST_OK;
}

st_status tok_out_write(tok_out *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->fp) != n)
        return ST_ERR(ST_ERR_IO, "cannot write '%s': %s", o->tmp, strerror(errno));
    return ST_OK;
}

void tok_out_abort(tok_out *o)
{
    if (!o->fp) return;
    fclose(o->fp);
    unlink(o->tmp);
    o->fp = NULL;
}

st_status tok_out_commit(tok_out *o)
{
    int ok = fflush(o->fp) == 0 && fsync(fileno(o->fp)) == 0;
    int e = errno;
    ok = fclose(o->fp) == 0 && ok;
    o->fp = NULL;
    if (!ok) {
        unlink(o->tmp);
        return ST_ERR(ST_ERR_IO, "cannot write '%s': %s", o->tmp, strerror(e ? e : errno));
    }
    if (rename(o->tmp, o->path) != 0) {
        e = errno;
        unlink(o->tmp);
        return ST_ERR(ST_ERR_IO, "cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(e));
    }
    return ST_OK;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * take the code points from 256 up, in byte order. */
uint32_t tok_byte_char(uint8_t b)
{
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae) return b;
    uint32_t n = 0;
    for (int i = 0; i < b; i++)
        n += !((i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || i >= 0xae);
    return 256 + n;
}

int tok_char_byte(uint32_t cp)
{
    static int16_t inv[324];
    static atomic_int ready;
    if (!atomic_load(&ready)) {
        int16_t t[324];
        for (int i = 0; i < 324; i++) t[i] = -1;
        for (int b = 0; b < 256; b++) t[tok_byte_char((uint8_t)b)] = (int16_t)b;
        memcpy(inv, t, sizeof t); /* the same bytes from any thread */
        atomic_store(&ready, 1);
    }
    return cp < 324 ? inv[cp] : -1;
}
