/* File helpers for src/io: open with stat, and full positioned reads. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "io_file.h"

st_status st_io_open_read(const char *path, int *fd, int64_t *size)
{
    if (!path) return ST_ERR(ST_ERR_INVALID_ARG, "file path is NULL");
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return ST_ERR(ST_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return ST_ERR(ST_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return ST_ERR(ST_ERR_IO, "'%s' is not a regular file", path);
    }
    *fd = f;
    *size = (int64_t)st.st_size;
    return ST_OK;
}

st_status st_io_pread(int fd, const char *path, void *dst, size_t n, int64_t offset)
{
    char *p = dst;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)offset);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return ST_ERR(ST_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        if (r == 0)
            return ST_ERR(ST_ERR_IO, "'%s' ends at byte %lld, before the data (file shrank?)",
                          path, (long long)offset);
        p += r;
        n -= (size_t)r;
        offset += r;
    }
    return ST_OK;
}

int st_io_mul(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return 0;
    return !__builtin_mul_overflow(a, b, out);
}
