/* Checkpoint directories (ckpt_dir.h): commit, find, keep, the lock, stale temporaries of dead
 * writers, incomplete checkpoints, a step committed twice, another timeline, strict manifests, a
 * writer killed at random moments (every find afterwards returns a complete checkpoint whose files
 * all belong to its step) and a writer whose disk fills up (the previous checkpoint stays). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../harness.h"
#include "io_test.h"

h_counts h_total;

static char root[4096];

/* A file of `bytes` bytes, every 8-byte word the step, so that a reader can tell which save wrote it. */
static int write_step_file(const char *dir, const char *name, int64_t step, size_t bytes)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int64_t *buf = malloc(bytes);
    for (size_t i = 0; i < bytes / 8; i++) buf[i] = step;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int ok = fd >= 0 && write(fd, buf, bytes) == (ssize_t)bytes;
    if (fd >= 0) close(fd);
    free(buf);
    return ok ? 0 : -1;
}

static const char *const FILES[3] = {"index.bin", "part-0.bin", "part-1.bin"};

/* Begins, writes the three files of `step`, commits. */
static st_status save(st_ckpt_dir *d, int64_t step, size_t bytes)
{
    char staging[4200];
    st_status s = st_ckpt_dir_begin(d, step, staging, sizeof staging);
    for (int i = 0; s == ST_OK && i < 3; i++)
        if (write_step_file(staging, FILES[i], step, bytes)) return ST_ERR_IO;
    return s == ST_OK ? st_ckpt_dir_commit(d, step, FILES, 3) : s;
}

/* Every file of the found checkpoint holds its step only. */
static int consistent(const st_ckpt_found *f)
{
    for (int i = 0; i < 3; i++) {
        char path[4400];
        size_t n;
        snprintf(path, sizeof path, "%s/%s", f->path, FILES[i]);
        int64_t *b = (int64_t *)io_read_file(path, &n);
        int ok = b && n >= 8;
        for (size_t k = 0; ok && k < n / 8; k++) ok = b[k] == f->step;
        free(b);
        if (!ok) return 0;
    }
    return 1;
}

static int exists(const char *dir, const char *name)
{
    char path[4400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

static void test_commit_find_keep(const char *dir)
{
    st_ckpt_dir *d = NULL;
    st_ckpt_found f;
    int have = 1;
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_OK);
    CHECK(!have, "a missing directory has no checkpoint");
    CHECK_ST(st_ckpt_dir_open(dir, 2, &d), ST_OK);
    if (!d) return;
    st_ckpt_dir *other = NULL;
    CHECK_ST(st_ckpt_dir_open(dir, 1, &other), ST_ERR_IO);
    CHECK(h_msg_has("in use by another writer") && h_msg_has("pid"), "the lock names its holder: %s", st_last_error());
    for (int64_t step = 1; step <= 3; step++) CHECK_ST(save(d, step, 64), ST_OK);
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_OK);
    CHECK(have && f.step == 3 && consistent(&f) && strlen(f.id) == 32 && !*f.note, "latest is step 3: %lld %s",
          (long long)f.step, f.path);
    CHECK(!exists(dir, "step-00000001") && exists(dir, "step-00000002") && exists(dir, "step-00000003"),
          "keep 2: step 1 removed, 2 and 3 kept");
    const char *missing[2] = {"index.bin", "nothere.bin"};
    char staging[4200];
    CHECK_ST(st_ckpt_dir_begin(d, 4, staging, sizeof staging), ST_OK);
    write_step_file(staging, "index.bin", 4, 64);
    CHECK_ST(st_ckpt_dir_commit(d, 4, missing, 2), ST_ERR_IO);
    CHECK(h_msg_has("nothere.bin"), "the missing file is named: %s", st_last_error());
    const char *bad[2] = {"index.bin", "../escape"};
    CHECK_ST(st_ckpt_dir_commit(d, 4, bad, 2), ST_ERR_INVALID_ARG);
    const char *twice[2] = {"index.bin", "index.bin"};
    CHECK_ST(st_ckpt_dir_commit(d, 4, twice, 2), ST_ERR_INVALID_ARG);
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_OK);
    CHECK(have && f.step == 3, "failed commits leave step 3 committed: %lld", (long long)f.step);
    /* the same step again while it is the committed one: a new generation, never in place */
    CHECK_ST(save(d, 3, 64), ST_OK);
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_OK);
    CHECK(have && f.step == 3 && strstr(f.path, "step-00000003.1") && consistent(&f), "recommitted as %s", f.path);
    /* another timeline (a fresh run from step 0): later steps are removed at its first commit */
    CHECK_ST(save(d, 1, 64), ST_OK);
    CHECK(!exists(dir, "step-00000003") && !exists(dir, "step-00000003.1") && !exists(dir, "step-00000002") &&
              exists(dir, "step-00000001"), "every step past the new one removed");
    st_ckpt_dir_destroy(d);
    st_ckpt_dir_destroy(other);
}

/* What a dead writer left is removed when the directory is opened again; an incomplete checkpoint
 * that `latest` names is passed over for the newest complete one, with a note. */
static void test_stale_and_incomplete(const char *dir)
{
    st_ckpt_dir *d = NULL;
    CHECK_ST(st_ckpt_dir_open(dir, 3, &d), ST_OK);
    if (!d) return;
    CHECK_ST(save(d, 10, 64), ST_OK);
    CHECK_ST(save(d, 11, 64), ST_OK);
    char staging[4200];
    CHECK_ST(st_ckpt_dir_begin(d, 12, staging, sizeof staging), ST_OK);
    write_step_file(staging, "index.bin", 12, 64);
    write_step_file(dir, "model.safetensors.tmp.12345.0", 12, 64);
    write_step_file(dir, "latest.tmp.999", 12, 8);
    st_ckpt_dir_destroy(d); /* "dies" with a staged checkpoint and temporaries */
    CHECK(exists(dir, ".partial-step-00000012") && exists(dir, "model.safetensors.tmp.12345.0"), "left behind");
    CHECK_ST(st_ckpt_dir_open(dir, 3, &d), ST_OK);
    CHECK(!exists(dir, ".partial-step-00000012") && !exists(dir, "model.safetensors.tmp.12345.0") &&
              !exists(dir, "latest.tmp.999"), "stale staging directory and temporaries removed at open");
    st_ckpt_dir_destroy(d);
    char path[4400];
    snprintf(path, sizeof path, "%s/step-00000011/part-1.bin", dir);
    CHECK(truncate(path, 10) == 0, "truncate %s", path);
    st_ckpt_found f;
    int have = 0;
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_OK);
    CHECK(have && f.step == 10 && consistent(&f) && strstr(f.note, "incomplete") && strstr(f.note, "part-1.bin"),
          "falls back to step 10: %lld, note: %s", (long long)f.step, f.note);
    snprintf(path, sizeof path, "%s/step-00000010/" ST_CKPT_MANIFEST, dir);
    CHECK(unlink(path) == 0, "remove %s", path);
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_ERR_FORMAT);
    CHECK(h_msg_has("no complete checkpoint"), "nothing complete is an error, not a fresh start: %s", st_last_error());
}

static void expect_manifest(const char *dir, const char *text, int ok, const char *why)
{
    char step[4400], path[4600];
    snprintf(step, sizeof step, "%s/step-00000005", dir);
    mkdir(step, 0777);
    write_step_file(step, "a.bin", 5, 16);
    snprintf(path, sizeof path, "%s/" ST_CKPT_MANIFEST, step);
    io_write_file(path, text, strlen(text));
    snprintf(path, sizeof path, "%s/latest", dir);
    io_write_file(path, "step-00000005\n", 14);
    st_ckpt_found f;
    int have = 0;
    st_status s = st_ckpt_dir_find(dir, &f, &have);
    CHECK(ok ? s == ST_OK && have && f.step == 5 : s == ST_ERR_FORMAT, "%s: %s (%s)", why, st_status_string(s),
          st_last_error());
}

static void test_manifests(const char *dir)
{
    mkdir(dir, 0777);
#define ID "0123456789abcdef0123456789abcdef"
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nfile a.bin 16\nend\n", 1, "a good manifest");
    expect_manifest(dir, "strata-checkpoint 2\nstep 5\nid " ID "\nfile a.bin 16\nend\n", 0, "another version");
    expect_manifest(dir, "strata-checkpoint 1\nstep 6\nid " ID "\nfile a.bin 16\nend\n", 0, "step differs from its directory");
    expect_manifest(dir, "strata-checkpoint 1\nstep 05\nid " ID "\nfile a.bin 16\nend\n", 0, "leading zero");
    expect_manifest(dir, "strata-checkpoint 1\nstep -5\nid " ID "\nfile a.bin 16\nend\n", 0, "negative step");
    expect_manifest(dir, "strata-checkpoint 1\nstep 99999999999999999999\nid " ID "\nfile a.bin 16\nend\n", 0,
                    "step overflows");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid 0123\nfile a.bin 16\nend\n", 0, "short id");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nfile a.bin 17\nend\n", 0, "size differs");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nfile a.bin 16\n", 0, "no end line (truncated)");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nfile a.bin 16\nend\nmore\n", 0, "text after end");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nend\n", 0, "no file");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nfile ../a.bin 16\nend\n", 0, "a path, not a name");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nfile .a 16\nend\n", 0, "a hidden name");
    expect_manifest(dir, "strata-checkpoint 1\nstep 5\nid " ID "\nfile a.bin 16\nfile a.bin 16\nend\n", 0, "a name twice");
    expect_manifest(dir, "strata-checkpoint 1\r\nstep 5\nid " ID "\nfile a.bin 16\nend\n", 0, "CR LF");
    expect_manifest(dir, "", 0, "empty");
    char nul[] = "strata-checkpoint 1\nstep 5\nid " ID "\nfile a.bin 16\nend\n";
    nul[3] = '\0';
    char step[4400], path[4600];
    snprintf(step, sizeof step, "%s/step-00000005", dir);
    snprintf(path, sizeof path, "%s/" ST_CKPT_MANIFEST, step);
    io_write_file(path, nul, sizeof nul - 1);
    st_ckpt_found f;
    int have;
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_ERR_FORMAT);
#undef ID
}

/* A child commits step after step; the parent kills it (SIGKILL) at random moments. After each
 * kill, a new writer opens the directory (removing what the dead one left) and finds a complete
 * checkpoint, every file of which holds its own step, and which is never older than the last step
 * the child reported committed. */
static void test_killed_writer(const char *dir)
{
    srand(12345);
    int kills = 0, bad = 0;
    int64_t next = 1;
    for (int round = 0; round < 40; round++) {
        int fds[2];
        if (pipe(fds) != 0) break;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            st_ckpt_dir *d = NULL;
            if (st_ckpt_dir_open(dir, 1, &d) != ST_OK) _exit(3);
            for (int64_t step = next;; step++) {
                if (save(d, step, 4096 * (1 + step % 7)) != ST_OK) _exit(4);
                if (write(fds[1], &step, sizeof step) != sizeof step) _exit(5);
            }
        }
        close(fds[1]);
        struct timespec ts = {0, (rand() % 20000) * 1000L}; /* 0-20 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        kills += WIFSIGNALED(status);
        int64_t done = next - 1, v;
        while (read(fds[0], &v, sizeof v) == sizeof v) done = v;
        close(fds[0]);
        st_ckpt_dir *d = NULL;
        st_ckpt_found f;
        int have = 0;
        if (st_ckpt_dir_open(dir, 1, &d) != ST_OK || st_ckpt_dir_find(dir, &f, &have) != ST_OK) {
            bad++;
            printf("round %d: %s\n", round, st_last_error());
        } else if (done > 0 && (!have || f.step < done || !consistent(&f))) {
            bad++;
            printf("round %d: found step %lld (have %d), last reported %lld\n", round, (long long)f.step, have,
                   (long long)done);
        }
        if (have) next = f.step + 1;
        st_ckpt_dir_destroy(d);
    }
    CHECK(kills >= 30 && bad == 0, "%d kills, %d rounds without a complete, consistent checkpoint", kills, bad);
}

/* A writer whose file-size limit makes its writes fail (EFBIG, as a full disk gives ENOSPC) cannot
 * commit, and the checkpoint committed before stays the one found. */
static void test_full_disk(const char *dir)
{
    st_ckpt_dir *d = NULL;
    CHECK_ST(st_ckpt_dir_open(dir, 1, &d), ST_OK);
    if (!d) return;
    CHECK_ST(save(d, 1, 4096), ST_OK);
    st_ckpt_dir_destroy(d);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {2048, 2048};
        setrlimit(RLIMIT_FSIZE, &rl);
        st_ckpt_dir *w = NULL;
        if (st_ckpt_dir_open(dir, 1, &w) != ST_OK) _exit(3);
        _exit(save(w, 2, 4096) == ST_OK ? 0 : 7);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the save over the limit failed (status %d)", status);
    st_ckpt_found f;
    int have = 0;
    CHECK_ST(st_ckpt_dir_find(dir, &f, &have), ST_OK);
    CHECK(have && f.step == 1 && consistent(&f), "step 1 still committed: %lld", (long long)f.step);
}

int main(void)
{
    if (!CHECK(io_scratch_dir(root, sizeof root, "ckdir"), "scratch directory")) return h_finish();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/a", root);
    test_commit_find_keep(dir);
    snprintf(dir, sizeof dir, "%s/b", root);
    test_stale_and_incomplete(dir);
    snprintf(dir, sizeof dir, "%s/c", root);
    test_manifests(dir);
    snprintf(dir, sizeof dir, "%s/d", root);
    test_killed_writer(dir);
    snprintf(dir, sizeof dir, "%s/e", root);
    test_full_disk(dir);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("note: %s left behind\n", root);
    return h_finish();
}
