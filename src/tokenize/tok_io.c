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

/* Its inverse, by code point (-1: no byte's stand-in). */
static const int16_t CHAR_BYTE[324] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 33, 34, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53,
    54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71,
    72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89,
    90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107,
    108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125,
    126, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 161,
    162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, -1, 174, 175, 176, 177, 178, 179,
    180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 196, 197,
    198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215,
    216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233,
    234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251,
    252, 253, 254, 255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
    14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
    144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 173,
};

int tok_char_byte(uint32_t cp) { return cp < 324 ? CHAR_BYTE[cp] : -1; }
