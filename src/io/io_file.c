/* File helpers for src/io: open with stat, and full positioned reads. */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "io_file.h"

/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever (under mpirun,
 * one rank given a FIFO hung the job); a FIFO, device or directory is refused after fstat instead.
 * For a regular file the flag changes nothing; it is cleared anyway. */
st_status st_io_open_read(const char *path, int *fd, int64_t *size)
{
    if (!path) return ST_ERR(ST_ERR_INVALID_ARG, "file path is NULL");
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0) return ST_ERR(ST_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return ST_ERR(ST_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return ST_ERR(ST_ERR_IO, "'%s' is not a regular file (%s)", path, st_io_kind(st.st_mode));
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    *size = (int64_t)st.st_size;
    return ST_OK;
}

const char *st_io_kind(unsigned mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISFIFO(mode) ? "a FIFO" : S_ISCHR(mode) ? "a character device"
         : S_ISBLK(mode) ? "a block device" : S_ISSOCK(mode) ? "a socket" : S_ISLNK(mode) ? "a symbolic link"
         : S_ISREG(mode) ? "a regular file" : "not a regular file";
}

st_status st_io_read_all(const char *path, size_t max, char **text, size_t *len)
{
    int fd;
    int64_t size;
    ST_TRY(st_io_open_read(path, &fd, &size));
    st_status s = ST_OK;
    if ((uint64_t)size > max)
        s = ST_ERR(ST_ERR_FORMAT, "'%s' has %lld bytes, more than the %zu this file may hold", path,
                   (long long)size, max);
    char *buf = s == ST_OK ? malloc((size_t)size + 1) : NULL;
    if (s == ST_OK && !buf) s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "reading '%s' (%lld bytes)", path, (long long)size);
    if (s == ST_OK) s = st_io_pread(fd, path, buf, (size_t)size, 0);
    close(fd);
    if (s != ST_OK) {
        free(buf);
        return s;
    }
    buf[size] = '\0';
    *text = buf;
    *len = (size_t)size;
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
