/* Shared by the fuzz targets (tests/fuzz): each is a libFuzzer entry point, LLVMFuzzerTestOneInput,
 * built with clang's -fsanitize=fuzzer when STRATA_FUZZ=ON (CI runs each for a bounded time on its
 * seed corpus), and otherwise linked with replay.c, which runs the seeds and a fixed number of
 * deterministic mutations of them (ctest, label cpu). Readers that take a path get the input
 * through a scratch file of this process. */
#ifndef STRATA_FUZZ_H
#define STRATA_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "strata/strata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A scratch directory of this process (created once) and the path of `name` in it. */
static inline const char *fuzz_path(const char *name)
{
    static char dir[256];
    static char path[512];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/strata-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Writes data to the scratch file `name`; returns its path. */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    for (size_t at = 0; at < size;) {
        ssize_t w = write(fd, data + at, size - at);
        if (w <= 0) abort();
        at += (size_t)w;
    }
    close(fd);
    return path;
}

#endif
