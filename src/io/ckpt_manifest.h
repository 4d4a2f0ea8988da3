/* The manifest of a committed checkpoint directory (ckpt_dir.h) and the names of its entries:
 * parsing, writing and name rules. Internal to libstrata (and the fuzz target that feeds it). */
#ifndef STRATA_CKPT_MANIFEST_H
#define STRATA_CKPT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "strata/ckpt_dir.h"

/* Text format, every line ending in '\n', nothing else allowed:
 *   strata-checkpoint 1
 *   step <non-negative decimal>
 *   id <32 lowercase hex digits>
 *   file <name> <size in bytes>     (1 to ST_CKPT_MAX_FILES lines, names unique)
 *   end
 * A manifest is at most ST_MANIFEST_MAX bytes. */
#define ST_MANIFEST_MAX (32 << 20)

typedef struct st_manifest_file {
    char *name;
    int64_t size;
} st_manifest_file;

typedef struct st_manifest {
    int64_t step;
    char id[33];
    int n;
    st_manifest_file *files;
} st_manifest;

/* Parses `len` bytes of text (which may hold NULs: they are refused). `what` names the file in
 * messages. On error *m is left empty. Errors: ST_ERR_FORMAT (the line and what is wrong),
 * ST_ERR_OUT_OF_MEMORY. */
st_status st_manifest_parse(const char *text, size_t len, const char *what, st_manifest *m);
void st_manifest_free(st_manifest *m);

/* Writes the manifest of files[0..n) with their sizes into dir/ST_CKPT_MANIFEST, atomically and
 * durably (temporary file, fsync, rename). Errors: ST_ERR_IO, ST_ERR_OUT_OF_MEMORY. */
st_status st_manifest_write(const char *dir, int64_t step, const char *id, const char *const *files,
                            const int64_t *sizes, int n);

/* Whether name[0..len) is a valid checkpoint file name (1..ST_CKPT_NAME_MAX of [A-Za-z0-9._+-],
 * not starting with '.', not the manifest's own name). */
int st_ckpt_name_ok(const char *name, size_t len);

/* "step-<digits>" or "step-<digits>.<digits>" (a later commit of the same step): 1 with *step and
 * *gen (0 without the suffix), else 0. */
int st_ckpt_step_name(const char *name, int64_t *step, int64_t *gen);

/* Writes `len` bytes to path atomically and durably: path.tmp.<pid>, fsync, rename, fsync of the
 * directory. Errors: ST_ERR_IO (path, strerror). */
st_status st_write_file_atomic(const char *path, const char *data, size_t len);

/* fsync of a directory; file systems that cannot (EINVAL) are not an error. */
st_status st_sync_dir(const char *dir);

#endif
