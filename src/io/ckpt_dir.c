/* Checkpoint directories (ckpt_dir.h): a staging directory per step, committed by a rename and then
 * by replacing `latest`; the lock of the one writer; the removal of what dead writers left and of
 * checkpoints beyond `keep`; and the resolution of the checkpoint to resume from. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "ckpt_manifest.h"
#include "io_file.h"

struct st_ckpt_dir {
    char *path;
    int keep;
    int lock_fd; /* -1 when the file system has no locks */
};

#define PARTIAL ".partial-"
#define LOCK_FILE ".lock"

/* ---- removing trees we made (regular files and directories only; never following links) ---- */

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    if (type == FTW_DP) rmdir(p);
    else unlink(p);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* "<anything>.tmp.<digits>[.<digits>]": a temporary of st_safetensors_write or of `latest`. */
static int is_temporary(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    const char *p = t + 5;
    if (!*p) return 0;
    for (; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.')) return 0;
    return 1;
}

/* Whatever a dead writer left at DIR's top level (the caller holds the lock). */
static void remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char path[4400];
    for (struct dirent *e; (e = readdir(d));) {
        int partial = strncmp(e->d_name, PARTIAL, strlen(PARTIAL)) == 0;
        if (!partial && !is_temporary(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (partial) rm_tree(path);
        else unlink(path);
    }
    closedir(d);
}

/* ---- the lock ---- */

static st_status take_lock(st_ckpt_dir *d)
{
    char path[4200], holder[256] = "";
    snprintf(path, sizeof path, "%s/%s", d->path, LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) return ST_ERR(ST_ERR_IO, "checkpoint directory '%s': cannot open its lock %s: %s", d->path, path,
                              strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) { /* no locks here: one writer by convention */
            close(fd);
            d->lock_fd = -1;
            return ST_OK;
        }
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        return ST_ERR(ST_ERR_IO, "checkpoint directory '%s' is in use by another writer (%s): %s", d->path,
                      *holder ? holder : "holder unknown", strerror(e));
    }
    char host[128] = "?";
    gethostname(host, sizeof host - 1);
    int len = snprintf(holder, sizeof holder, "pid %ld on %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) == 0 && pwrite(fd, holder, (size_t)len, 0) < 0) { /* the note is informative only */
    }
    d->lock_fd = fd;
    return ST_OK;
}

st_status st_ckpt_dir_open(const char *dir, int keep, st_ckpt_dir **out)
{
    if (!dir || !*dir || !out || keep < 1)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_ckpt_dir_open: NULL or empty path, or keep %d < 1", keep);
    if (strlen(dir) > 3800) return ST_ERR(ST_ERR_INVALID_ARG, "checkpoint directory path too long: '%.200s...'", dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ST_ERR(ST_ERR_IO, "cannot create checkpoint directory '%s': %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ST_ERR(ST_ERR_IO, "checkpoint path '%s' is not a directory", dir);
    st_ckpt_dir *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(dir))) {
        free(d);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_ckpt_dir_open");
    }
    d->keep = keep;
    st_status s = take_lock(d);
    if (s != ST_OK) {
        free(d->path);
        free(d);
        return s;
    }
    remove_stale(dir);
    *out = d;
    return ST_OK;
}

void st_ckpt_dir_destroy(st_ckpt_dir *d)
{
    if (!d) return;
    if (d->lock_fd >= 0) close(d->lock_fd); /* closing the descriptor releases the flock */
    free(d->path);
    free(d);
}

st_status st_ckpt_dir_staging(const char *dir, int64_t step, char *buf, size_t len)
{
    if (!dir || !buf || step < 0) return ST_ERR(ST_ERR_INVALID_ARG, "st_ckpt_dir_staging: NULL or step < 0");
    if ((size_t)snprintf(buf, len, "%s/" PARTIAL "step-%08lld", dir, (long long)step) >= len)
        return ST_ERR(ST_ERR_INVALID_ARG, "checkpoint path too long: '%.200s...'", dir);
    return ST_OK;
}

st_status st_ckpt_dir_begin(st_ckpt_dir *d, int64_t step, char *buf, size_t len)
{
    if (!d) return ST_ERR(ST_ERR_INVALID_ARG, "st_ckpt_dir_begin: NULL handle");
    ST_TRY(st_ckpt_dir_staging(d->path, step, buf, len));
    rm_tree(buf); /* a stale one of a writer that died at this step */
    if (mkdir(buf, 0777) != 0)
        return ST_ERR(ST_ERR_IO, "cannot create the staging directory '%s': %s", buf, strerror(errno));
    return ST_OK;
}

/* ---- commit ---- */

static void random_id(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) { /* no entropy source: time and pid */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 48);
        for (int i = 0; i < 16; i++, x = x * 6364136223846793005ull + 1442695040888963407ull) b[i] = (unsigned char)(x >> 56);
    }
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* fsync of each staged file (whoever wrote it) and its size; refuses anything but regular files. */
static st_status sync_and_measure(const char *staging, const char *const *files, int n, int64_t *sizes)
{
    char path[4400];
    for (int i = 0; i < n; i++) {
        if (!files[i] || !st_ckpt_name_ok(files[i], strlen(files[i])))
            return ST_ERR(ST_ERR_INVALID_ARG, "checkpoint file name '%.200s' is not 1-255 characters of "
                          "[A-Za-z0-9._+-] not starting with '.'", files[i] ? files[i] : "(null)");
        snprintf(path, sizeof path, "%s/%s", staging, files[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            int e = errno;
            if (fd >= 0) close(fd);
            return ST_ERR(ST_ERR_IO, "checkpoint file '%s': %s", path, strerror(e));
        }
        int bad = !S_ISREG(sb.st_mode), e = bad || fsync(fd) == 0 ? 0 : errno;
        close(fd);
        if (bad) return ST_ERR(ST_ERR_IO, "checkpoint file '%s' is %s, not a regular file", path, st_io_kind(sb.st_mode));
        if (e && e != EINVAL) return ST_ERR(ST_ERR_IO, "cannot fsync '%s': %s", path, strerror(e));
        sizes[i] = (int64_t)sb.st_size;
    }
    return ST_OK;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static st_status check_unique(const char *const *files, int n)
{
    const char **s = malloc((size_t)n * sizeof *s);
    if (!s) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "checking %d checkpoint file names", n);
    memcpy(s, files, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_cstr);
    st_status st = ST_OK;
    for (int i = 1; i < n && st == ST_OK; i++)
        if (strcmp(s[i], s[i - 1]) == 0) st = ST_ERR(ST_ERR_INVALID_ARG, "checkpoint file '%.200s' listed twice", s[i]);
    free(s);
    return st;
}

/* The name `latest` holds in dir ("" when none or unreadable). */
static void read_latest(const char *dir, char *name, size_t len)
{
    char path[4200], *text = NULL;
    size_t n = 0;
    name[0] = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, ST_CKPT_LATEST);
    if (st_io_read_all(path, 256, &text, &n) != ST_OK) {
        st_clear_error();
        return;
    }
    while (n > 0 && (text[n - 1] == '\n')) text[--n] = '\0';
    if (strlen(text) == n && n < len) memcpy(name, text, n + 1);
    free(text);
}

/* A name for step's directory that is not the committed one: "step-N", or "step-N.G" with the
 * first generation G not taken when "step-N" (or a later generation) is what `latest` names. */
static void target_name(const char *dir, int64_t step, char *name, size_t len)
{
    char latest[256];
    read_latest(dir, latest, sizeof latest);
    snprintf(name, len, "step-%08lld", (long long)step);
    for (int64_t gen = 1; strcmp(name, latest) == 0; gen++)
        snprintf(name, len, "step-%08lld.%lld", (long long)step, (long long)gen);
}

typedef struct step_dir {
    char name[64];
    int64_t step, gen;
} step_dir;

static int by_step_desc(const void *a, const void *b)
{
    const step_dir *x = a, *y = b;
    if (x->step != y->step) return x->step > y->step ? -1 : 1;
    return x->gen > y->gen ? -1 : x->gen < y->gen;
}

/* The step directories of dir, newest first (*out malloc'ed; *n entries). */
static st_status list_steps(const char *dir, step_dir **out, int *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? ST_OK : ST_ERR(ST_ERR_IO, "cannot read checkpoint directory '%s': %s", dir, strerror(errno));
    int cap = 0;
    st_status s = ST_OK;
    for (struct dirent *e; s == ST_OK && (e = readdir(d));) {
        step_dir sd;
        if (strlen(e->d_name) >= sizeof sd.name || !st_ckpt_step_name(e->d_name, &sd.step, &sd.gen)) continue;
        snprintf(sd.name, sizeof sd.name, "%s", e->d_name);
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            step_dir *g = realloc(*out, (size_t)cap * sizeof *g);
            if (!g) s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "listing '%s'", dir);
            else *out = g;
        }
        if (s == ST_OK) (*out)[(*n)++] = sd;
    }
    closedir(d);
    if (s == ST_OK && *n > 1) qsort(*out, (size_t)*n, sizeof **out, by_step_desc);
    return s;
}

/* After a commit of `kept` at `step`: every other checkpoint of a later step (another timeline:
 * a run restarted from an earlier one) goes, and of the earlier ones the keep - 1 newest stay. */
static void prune(const st_ckpt_dir *d, int64_t step, const char *kept)
{
    step_dir *all;
    int n;
    if (list_steps(d->path, &all, &n) != ST_OK) {
        st_clear_error();
        return;
    }
    char path[4400];
    int older = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(all[i].name, kept) == 0) continue;
        if (all[i].step <= step && older < d->keep - 1) {
            older++;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", d->path, all[i].name);
        rm_tree(path);
    }
    free(all);
    remove_stale(d->path);
}

st_status st_ckpt_dir_commit(st_ckpt_dir *d, int64_t step, const char *const *files, int n)
{
    if (!d || !files || n < 1 || n > ST_CKPT_MAX_FILES)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_ckpt_dir_commit: NULL or %d files (1 to %d)", n, ST_CKPT_MAX_FILES);
    char staging[4200], name[64], target[4300], id[33];
    ST_TRY(st_ckpt_dir_staging(d->path, step, staging, sizeof staging));
    int64_t *sizes = malloc((size_t)n * sizeof *sizes);
    if (!sizes) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_ckpt_dir_commit: %d files", n);
    st_status s = sync_and_measure(staging, files, n, sizes);
    if (s == ST_OK) s = check_unique(files, n);
    random_id(id);
    if (s == ST_OK) s = st_manifest_write(staging, step, id, files, sizes, n);
    free(sizes);
    if (s == ST_OK) s = st_sync_dir(staging);
    ST_TRY(s);
    target_name(d->path, step, name, sizeof name);
    snprintf(target, sizeof target, "%s/%s", d->path, name);
    rm_tree(target); /* an uncommitted directory of this step from an earlier try: `latest` never named it */
    if (rename(staging, target) != 0)
        return ST_ERR(ST_ERR_IO, "cannot rename '%s' to '%s': %s", staging, target, strerror(errno));
    ST_TRY(st_sync_dir(d->path));
    char latest[4200];
    snprintf(latest, sizeof latest, "%s/%s", d->path, ST_CKPT_LATEST);
    char text[80];
    int len = snprintf(text, sizeof text, "%s\n", name);
    ST_TRY(st_write_file_atomic(latest, text, (size_t)len)); /* the commit */
    prune(d, step, name);
    return ST_OK;
}

/* ---- reading ---- */

/* Whether dir/name is a complete checkpoint; on success out is filled, else why says what failed. */
static int verify(const char *dir, const char *name, st_ckpt_found *out, char *why, size_t whylen)
{
    int64_t step, gen;
    char path[4200], mpath[4400], *text = NULL;
    size_t len = 0;
    if (!st_ckpt_step_name(name, &step, &gen)) {
        snprintf(why, whylen, "'%.100s' is not a step directory name", name);
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(mpath, sizeof mpath, "%s/%s", path, ST_CKPT_MANIFEST);
    st_manifest m;
    st_status s = st_io_read_all(mpath, ST_MANIFEST_MAX, &text, &len);
    if (s == ST_OK) s = st_manifest_parse(text, len, mpath, &m);
    free(text);
    if (s != ST_OK) {
        snprintf(why, whylen, "%s", st_last_error());
        return 0;
    }
    int ok = m.step == step;
    if (!ok) snprintf(why, whylen, "%.300s says step %lld, its directory %.60s", mpath, (long long)m.step, name);
    for (int i = 0; ok && i < m.n; i++) {
        char fp[4700];
        struct stat sb;
        snprintf(fp, sizeof fp, "%s/%s", path, m.files[i].name);
        const char *bad = lstat(fp, &sb) != 0 ? strerror(errno)
                          : !S_ISREG(sb.st_mode)      ? "not a regular file"
                          : (int64_t)sb.st_size != m.files[i].size ? "its size differs" : NULL;
        if (bad) {
            snprintf(why, whylen, "%.300s: %s (the manifest lists %lld bytes)", fp, bad, (long long)m.files[i].size);
            ok = 0;
        }
    }
    if (ok) {
        out->step = step;
        snprintf(out->path, sizeof out->path, "%.4000s", path);
        snprintf(out->id, sizeof out->id, "%s", m.id);
    }
    st_manifest_free(&m);
    return ok;
}

st_status st_ckpt_dir_find(const char *dir, st_ckpt_found *out, int *found)
{
    if (!dir || !out || !found) return ST_ERR(ST_ERR_INVALID_ARG, "st_ckpt_dir_find: NULL argument");
    memset(out, 0, sizeof *out);
    *found = 0;
    char latest[256], why[512] = "", first[600] = "";
    read_latest(dir, latest, sizeof latest);
    if (*latest && verify(dir, latest, out, why, sizeof why)) {
        *found = 1;
        return ST_OK;
    }
    if (*latest) snprintf(first, sizeof first, "latest names %.60s, which is incomplete: %.500s", latest, why);
    step_dir *all;
    int n;
    ST_TRY(list_steps(dir, &all, &n));
    for (int i = 0; i < n && !*found; i++)
        if (strcmp(all[i].name, latest) != 0 && verify(dir, all[i].name, out, why, sizeof why)) *found = 1;
    free(all);
    if (*found) {
        snprintf(out->note, sizeof out->note, "%s; using %s, the newest complete checkpoint",
                 *first ? first : "no 'latest' file", strrchr(out->path, '/') + 1);
        return ST_OK;
    }
    if (!*latest && n == 0) return ST_OK;
    return ST_ERR(ST_ERR_FORMAT, "no complete checkpoint in '%s': %s", dir,
                  *first ? first : why);
}
