/* Checkpoint directories: a set of files committed as one checkpoint, atomically as a whole, so
 * that a crash, a kill or a full disk at any moment leaves the last complete checkpoint readable.
 * The files themselves can be anything (safetensors shards, an index, a JSON config): this layer
 * only stages, verifies, commits and prunes them.
 *
 * Layout of a checkpoint directory DIR:
 *   DIR/latest                   the committed checkpoint's name ("step-00000042"), replaced
 *                                atomically, last: this replacement is the commit
 *   DIR/step-00000042/           one complete checkpoint: its files and the manifest
 *                                strata-checkpoint.txt (step, a random id, each file's name and size)
 *   DIR/step-00000042.1/         the same step committed again while step-00000042 was the
 *                                committed one (a new run reaching an old run's step): never
 *                                written over in place
 *   DIR/.partial-step-00000043/  a checkpoint being written; never read, removed when stale
 *   DIR/.lock                    held (flock) by the one writer of DIR while it is open
 *
 * Writing, on one process (in a multi-process job, the process holding the handle does open,
 * begin and commit; the others write their files into st_ckpt_dir_staging()'s path in between):
 *   st_ckpt_dir_open -> st_ckpt_dir_begin(step) -> files written into the staging directory ->
 *   st_ckpt_dir_commit(step, names): every file fsync'd and measured, the manifest written, the
 *   staging directory renamed to step-N and DIR fsync'd, `latest` replaced and DIR fsync'd again,
 *   then checkpoints beyond `keep` removed. Until `latest` names the new step the previous
 *   checkpoint is the committed one, untouched.
 * Reading: st_ckpt_dir_find.
 *
 * One writer per directory: st_ckpt_dir_open takes an advisory lock, so a second job writing the
 * same DIR is refused instead of mixing files; with the lock held, whatever another writer left
 * (staging directories, "*.tmp.*" temporaries) belongs to a dead one and is removed. Where the
 * file system does not support locks (ENOLCK, EOPNOTSUPP), the directory is used unlocked. */
#ifndef STRATA_CKPT_DIR_H
#define STRATA_CKPT_DIR_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_CKPT_MANIFEST "strata-checkpoint.txt"
#define ST_CKPT_LATEST "latest"
/* At most this many files in one checkpoint, each name at most ST_CKPT_NAME_MAX bytes of
 * [A-Za-z0-9._+-], not starting with '.'. */
#define ST_CKPT_MAX_FILES 65536
#define ST_CKPT_NAME_MAX 255

typedef struct st_ckpt_dir st_ckpt_dir;

/* Opens DIR for writing: creates it when missing (one level), takes its lock, and removes what
 * dead writers left (".partial-*" directories, "*.tmp.*" files at its top level). keep >= 1 is
 * the number of committed checkpoints kept after each commit (the newest ones).
 * Errors: ST_ERR_INVALID_ARG (NULL, keep < 1), ST_ERR_IO (not a directory, cannot create, or in
 * use by another writer: the message names the process holding it), ST_ERR_OUT_OF_MEMORY. */
ST_API st_status st_ckpt_dir_open(const char *dir, int keep, st_ckpt_dir **out);

/* Releases the lock and frees d; NULL is a no-op. */
ST_API void st_ckpt_dir_destroy(st_ckpt_dir *d);
/* Deprecated: the same function under its earlier name. */
ST_API ST_DEPRECATED("st_ckpt_dir_destroy") void st_ckpt_dir_close(st_ckpt_dir *d);

/* The staging directory of `step` under DIR (".partial-step-%08lld"), written into `buf`.
 * Pure; for the processes of a job that write files without holding the handle.
 * Errors: ST_ERR_INVALID_ARG (NULL, step < 0, buf too small). */
ST_API st_status st_ckpt_dir_staging(const char *dir, int64_t step, char *buf, size_t len);

/* Creates the empty staging directory of `step` (removing a stale one of that name) and writes its
 * path to buf. Errors: ST_ERR_INVALID_ARG, ST_ERR_IO. */
ST_API st_status st_ckpt_dir_begin(st_ckpt_dir *d, int64_t step, char *buf, size_t len);

/* Commits the staging directory of `step`, which must hold exactly the `n` files named (plain
 * names, no '/'), as DIR's checkpoint (see the header comment). The checkpoint is committed once
 * this returns ST_OK; on an error before `latest` was replaced, the previous one still is.
 * Errors: ST_ERR_INVALID_ARG (bad or repeated name, n out of [1, ST_CKPT_MAX_FILES]), ST_ERR_IO
 * (a listed file missing or not a regular file, fsync, rename or write failures: path and
 * strerror, ENOSPC included), ST_ERR_OUT_OF_MEMORY. Removing older checkpoints afterwards is
 * best effort: a failure there leaves extra directories and still returns ST_OK. */
ST_API st_status st_ckpt_dir_commit(st_ckpt_dir *d, int64_t step, const char *const *files, int n);

/* The checkpoint to resume from, as st_ckpt_dir_find resolves it. */
typedef struct st_ckpt_found {
    int64_t step;
    char path[4096];  /* DIR/step-... */
    char id[40];      /* the manifest's id: differs between any two commits */
    char note[640];   /* "" or why not `latest` (it named an incomplete checkpoint, or was missing) */
} st_ckpt_found;

/* Resolves DIR's committed checkpoint without writing anything: the one `latest` names when its
 * manifest parses, names its own step and lists files that are all present, regular and of the
 * listed sizes; otherwise the newest step directory that passes the same check (out->note says
 * why). *found = 0, ST_OK when DIR has neither `latest` nor step directories (including when DIR
 * does not exist): callers then look for whatever older layout they know.
 * Errors: ST_ERR_FORMAT when `latest` or step directories exist but none is complete (the message
 * names what failed), ST_ERR_IO (DIR unreadable), ST_ERR_INVALID_ARG (NULL). */
ST_API st_status st_ckpt_dir_find(const char *dir, st_ckpt_found *out, int *found);

#ifdef __cplusplus
}
#endif
#endif
