/* Helpers shared by the file readers of src/io: opening a file with a clear error, and
 * positioned reads that either fill the whole buffer or fail. Internal to libstrata. */
#ifndef STRATA_IO_FILE_H
#define STRATA_IO_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"

/* Opens `path` read-only without blocking (a FIFO is refused at once, not waited on); *fd and
 * *size (bytes) on success. Errors: ST_ERR_INVALID_ARG (NULL path), ST_ERR_IO (path and
 * strerror; also for anything but a regular file, naming what it is). */
st_status st_io_open_read(const char *path, int *fd, int64_t *size);

/* What a stat mode is, for messages: "a FIFO", "a directory", ... */
const char *st_io_kind(unsigned mode);

/* A whole regular file of at most `max` bytes into *text (malloc'ed, NUL-terminated; it may hold
 * NULs of its own), *len bytes. Errors: st_io_open_read's, ST_ERR_FORMAT (larger than max),
 * ST_ERR_IO (read error or the file shrank), ST_ERR_OUT_OF_MEMORY. */
st_status st_io_read_all(const char *path, size_t max, char **text, size_t *len);

/* Reads exactly `n` bytes at `offset`. ST_ERR_IO (names `path`) on a read error or end of file. */
st_status st_io_pread(int fd, const char *path, void *dst, size_t n, int64_t offset);

/* a * b into *out, false on overflow or a negative operand. */
int st_io_mul(int64_t a, int64_t b, int64_t *out);

#endif
