/* strata-train's checkpoint directory (ckpt.h): where a resume reads from (the committed step
 * directory, or the layout before step directories), and each save staged and committed as a whole
 * through strata/ckpt_dir.h, after which the older layout's files are removed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ckpt.h"

int ckpt_locate(const char *dir, ckpt_source *src, char *err, size_t errlen)
{
    st_ckpt_found found;
    int have = 0;
    memset(src, 0, sizeof *src);
    src->commit = -1;
    if (st_ckpt_dir_find(dir, &found, &have) != ST_OK) {
        snprintf(err, errlen, "cannot resume: %s", st_last_error());
        return -1;
    }
    if (have) {
        snprintf(src->path, sizeof src->path, "%s", found.path);
        snprintf(src->note, sizeof src->note, "%s", found.note);
        src->commit = found.step;
        src->kind = ckpt_kind(src->path);
        if (src->kind == CKPT_NONE) {
            snprintf(err, errlen, "cannot resume from %s: a committed checkpoint without model.safetensors or "
                     "index.safetensors (not written by strata-train)", src->path);
            return -1;
        }
        return 0;
    }
    snprintf(src->path, sizeof src->path, "%s", dir);
    src->kind = ckpt_kind(dir);
    return 0;
}

int ckpt_writer_open(const char *dir, int keep, st_ckpt_dir **out, char *err, size_t errlen)
{
    if (st_ckpt_dir_open(dir, keep, out) != ST_OK) {
        snprintf(err, errlen, "--ckpt %s: %s", dir, st_last_error());
        return -1;
    }
    return 0;
}

int ckpt_stage(st_ckpt_dir *d, const char *dir, int64_t step, char *staging, size_t len, char *err,
               size_t errlen)
{
    st_status s = d ? st_ckpt_dir_begin(d, step, staging, len) : st_ckpt_dir_staging(dir, step, staging, len);
    if (s != ST_OK) snprintf(err, errlen, "checkpoint of step %lld: %s", (long long)step, st_last_error());
    return s != ST_OK ? -1 : 0;
}

/* The shard count the staged index records (the engine names its files by it). */
static int64_t staged_shards(const char *staging)
{
    char path[4400];
    st_safetensors *f;
    snprintf(path, sizeof path, "%s/index.safetensors", staging);
    if (st_safetensors_open(path, &f) != ST_OK) return -1;
    int64_t n = ckpt_parse_count(st_safetensors_meta(f, "strata.shard.count"));
    st_safetensors_destroy(f);
    return n >= 1 && n <= ST_CKPT_MAX_FILES - 3 ? n : -1;
}

/* The files of the layout before step directories, directly in dir: a sharded or single-process
 * checkpoint, and the conversion directory of that code. Only names strata-train wrote. */
static void drop_legacy(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char path[4400];
    for (struct dirent *e; (e = readdir(d));) {
        int shard = strncmp(e->d_name, "shard-", 6) == 0 && strstr(e->d_name, "-of-") &&
                    strcmp(e->d_name + strlen(e->d_name) - 12, ".safetensors") == 0;
        /* model.safetensors is left to hf_mirror, which replaces it in one rename */
        if (!shard && strcmp(e->d_name, "index.safetensors") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    char conv[4200];
    snprintf(conv, sizeof conv, "%.4000s/from-plain", dir);
    struct stat sb;
    if (stat(conv, &sb) == 0 && S_ISDIR(sb.st_mode)) { /* only its own two files, then itself */
        snprintf(path, sizeof path, "%s/index.safetensors", conv);
        unlink(path);
        snprintf(path, sizeof path, "%s/shard-00000-of-00001.safetensors", conv);
        unlink(path);
        rmdir(conv);
    }
}

/* DIR itself loads in transformers (from_pretrained(DIR)): DIR/model.safetensors and DIR/config.json
 * are hard links to the committed step directory's files (symbolic links where the file system has no
 * hard links), each made under a temporary name and renamed into place, so either name always holds a
 * complete file. They take no space of their own; resumes read the step directory, never these. A
 * failure here loses nothing (the checkpoint is committed) and is reported as a note. */
static void hf_mirror(const char *dir, int64_t step, char *note, size_t notelen)
{
    st_ckpt_found found;
    int have = 0;
    if (st_ckpt_dir_find(dir, &found, &have) != ST_OK || !have) return;
    const char *leaf = strrchr(found.path, '/');
    leaf = leaf ? leaf + 1 : found.path;
    static const char *const names[2] = {"model.safetensors", "config.json"};
    for (int i = 0; i < 2; i++) {
        char src[4400], tmp[4400], dst[4400], rel[4400];
        snprintf(src, sizeof src, "%s/%s", found.path, names[i]);
        snprintf(rel, sizeof rel, "%s/%s", leaf, names[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, names[i]);
        snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, names[i], (long)getpid());
        unlink(tmp);
        if ((link(src, tmp) != 0 && symlink(rel, tmp) != 0) || rename(tmp, dst) != 0) {
            snprintf(note, notelen, "note: step %lld is committed, but %s could not be linked to %s (%s): load %s "
                     "in transformers", (long long)step, dst, src, strerror(errno), found.path);
            unlink(tmp);
            return;
        }
    }
}

int ckpt_commit(st_ckpt_dir *d, const char *dir, const char *staging, int64_t step, int sharded, char *err,
                size_t errlen, char *note, size_t notelen)
{
    if (notelen) note[0] = 0;
    int64_t count = sharded ? staged_shards(staging) : 0;
    if (sharded && count < 1) {
        snprintf(err, errlen, "checkpoint of step %lld: the staged index in %s cannot be read or has no shard count",
                 (long long)step, staging);
        return -1;
    }
    int n = sharded ? (int)count + 3 : 3;
    char (*names)[64] = calloc((size_t)n, sizeof *names);
    const char **list = calloc((size_t)n, sizeof *list);
    st_status s = names && list ? ST_OK : ST_ERR_OUT_OF_MEMORY;
    if (!s) {
        /* the Hugging Face pair, then the trainer's state: its own file or the engine's index and shards */
        snprintf(names[0], 64, "model.safetensors");
        snprintf(names[1], 64, "config.json");
        snprintf(names[2], 64, "%s", sharded ? "index.safetensors" : CKPT_STATE_FILE);
        for (int64_t k = 0; k < count; k++)
            snprintf(names[k + 3], 64, "shard-%05lld-of-%05lld.safetensors", (long long)k, (long long)count);
        for (int i = 0; i < n; i++) list[i] = names[i];
        s = st_ckpt_dir_commit(d, step, list, n);
    }
    if (s) snprintf(err, errlen, "committing the checkpoint of step %lld in %s: %s", (long long)step, dir,
                    s == ST_ERR_OUT_OF_MEMORY && !names ? "out of memory" : st_last_error());
    free(names);
    free(list);
    if (!s) {
        drop_legacy(dir);
        hf_mirror(dir, step, note, notelen);
    }
    return s ? -1 : 0;
}
