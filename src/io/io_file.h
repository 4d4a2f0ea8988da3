/* Helpers shared by the file readers of src/io: opening a file with a clear error, and
 * positioned reads that either fill the whole buffer or fail. Internal to libstrata. */
#ifndef STRATA_IO_FILE_H
#define STRATA_IO_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"

/* Opens `path` read-only; *fd and *size (bytes) on success.
 * Errors: ST_ERR_INVALID_ARG (NULL path), ST_ERR_IO (path and strerror; also for a directory). */
st_status st_io_open_read(const char *path, int *fd, int64_t *size);

/* Reads exactly `n` bytes at `offset`. ST_ERR_IO (names `path`) on a read error or end of file. */
st_status st_io_pread(int fd, const char *path, void *dst, size_t n, int64_t offset);

/* a * b into *out, false on overflow or a negative operand. */
int st_io_mul(int64_t a, int64_t b, int64_t *out);

#endif
