/* Helpers shared by the io tests: a scratch directory and whole-file read/write. */
#ifndef STRATA_IO_TEST_H
#define STRATA_IO_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fresh directory under the build tree; its path in `dir`. */
static inline int io_scratch_dir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "%s/%s-XXXXXX", IO_TEST_DIR, tag);
    return mkdtemp(dir) != NULL;
}

static inline int io_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The whole file in a malloc'd buffer (NULL on error); its size in *n. */
static inline unsigned char *io_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

#endif
