/* strata-bench train's peer: PyTorch's CPU training of the same model and batch, run in the same
 * strata-bench run by scripts/torch_peer.py as a child process (posix_spawnp, with a timeout), its
 * result read from the last JSON line it prints. Skipped with the reason when there is no Python,
 * no torch, no script, or Strata itself did not run on the CPU. The library never needs Python. */
#define _GNU_SOURCE
#include <errno.h>
#include <omp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench_train.h"
#include "gpt2.h"

extern char **environ;

#ifndef STRATA_SOURCE_DIR
#define STRATA_SOURCE_DIR "."
#endif
#ifndef STRATA_DATA_DIR
#define STRATA_DATA_DIR "/usr/local/share/strata"
#endif

#define PEER_OUT 65536

/* The interpreter: STRATA_PYTHON, the repository's .venv (scripts/python-refs.sh), else python3. */
static const char *peer_python(char *buf, size_t n)
{
    const char *env = getenv("STRATA_PYTHON");
    if (env && *env) return env;
    snprintf(buf, n, "%s/.venv/bin/python", STRATA_SOURCE_DIR);
    return access(buf, X_OK) == 0 ? buf : "python3";
}

/* The script: STRATA_TORCH_PEER, the source tree's, else the installed copy. NULL when none. */
static const char *peer_script(char *buf, size_t n)
{
    const char *env = getenv("STRATA_TORCH_PEER");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    snprintf(buf, n, "%s/scripts/torch_peer.py", STRATA_SOURCE_DIR);
    if (access(buf, R_OK) == 0) return buf;
    snprintf(buf, n, "%s/torch_peer.py", STRATA_DATA_DIR);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads the child's output (stdout and stderr) until it closes or the deadline; 1 if it closed. */
static int read_until(int fd, char *out, size_t cap, double deadline)
{
    size_t len = 0;
    for (;;) {
        int left_ms = (int)((deadline - now_s()) * 1e3);
        if (left_ms <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, left_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        char chunk[4096];
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 1;
        if (len + (size_t)got >= cap) { /* keep the tail: the JSON line comes last */
            size_t drop = len + (size_t)got - cap + 1;
            drop = drop > len ? len : drop;
            memmove(out, out + drop, len - drop);
            len -= drop;
        }
        size_t take = (size_t)got < cap - 1 - len ? (size_t)got : cap - 1 - len;
        memcpy(out + len, chunk, take);
        len += take;
        out[len] = 0;
    }
}

/* Runs argv, its output into `out`; the exit status, or -1 with `why` (cannot start, timed out). */
static int run_child(char *const argv[], double timeout_s, char *out, size_t cap, char *why, size_t whylen)
{
    int fds[2];
    out[0] = 0;
    if (pipe(fds) != 0) return snprintf(why, whylen, "pipe: %s", strerror(errno)), -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (e != 0) {
        close(fds[0]);
        snprintf(why, whylen, "no python: cannot run '%s' (%s; set STRATA_PYTHON)", argv[0], strerror(e));
        return -1;
    }
    int closed = read_until(fds[0], out, cap, now_s() + timeout_s);
    close(fds[0]);
    if (!closed) kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!closed) return snprintf(why, whylen, "timed out after %.0f s (--peer-timeout)", timeout_s), -1;
    if (WIFSIGNALED(st)) return snprintf(why, whylen, "%s killed by signal %d", argv[0], WTERMSIG(st)), -1;
    return WEXITSTATUS(st);
}

/* The string value of "key" at or after p (simple escapes kept verbatim); 1 if found. */
static int json_str(const char *p, const char *key, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *s = strstr(p, pat);
    if (!s) return 0;
    s += strlen(pat);
    size_t k = 0;
    for (; *s && *s != '"' && k + 1 < n; s++) {
        if (*s == '\\' && s[1]) s++;
        out[k++] = *s;
    }
    out[k] = 0;
    return 1;
}

static double json_num(const char *p, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *s = strstr(p, pat);
    return s ? strtod(s + strlen(pat), NULL) : -1.0;
}

/* One mode's object ("f32": {...}) of the result line. */
static void parse_mode(const char *line, const char *mode, bench_peer_mode *m)
{
    char pat[32], obj[512];
    snprintf(pat, sizeof pat, "\"%s\": {", mode);
    const char *s = strstr(line, pat);
    if (!s) {
        snprintf(m->error, sizeof m->error, "not run");
        return;
    }
    const char *end = strchr(s, '}');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    snprintf(obj, sizeof obj, "%.*s", (int)(len < sizeof obj ? len : sizeof obj - 1), s);
    if (json_str(obj, "error", m->error, sizeof m->error)) return;
    m->ms_median = json_num(obj, "ms_median");
    m->ms_min = json_num(obj, "ms_min");
    m->ms_max = json_num(obj, "ms_max");
    m->timed_steps = (int64_t)json_num(obj, "timed_steps");
    m->ok = m->ms_median > 0;
    if (!m->ok) snprintf(m->error, sizeof m->error, "no step time in the peer's output");
}

/* The last line of `out` that starts with '{', or NULL; the last other line into `tail`. */
static const char *last_json_line(char *out, char *tail, size_t n)
{
    const char *json = NULL;
    tail[0] = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '{') json = line;
        else if (line[0]) snprintf(tail, n, "%s", line);
    }
    return json;
}

/* Runs the peer for t's model, batch and steps; fills t->peer (ran, or skip with the reason). */
void bench_peer_run(const bench_peer_opts *o, bench_train_result *t)
{
    bench_peer *p = &t->peer;
    memset(p, 0, sizeof *p);
    gpt2_config g;
    char py[512], script[512], num[8][24], tail[200];
    const char *python = peer_python(py, sizeof py), *path = peer_script(script, sizeof script);
    if (!o->enabled) snprintf(p->skip, sizeof p->skip, "not asked for (--peer none)");
    else if (strcmp(t->backend, "cpu") != 0)
        snprintf(p->skip, sizeof p->skip, "the peer is PyTorch's CPU training; Strata ran on %s", t->backend);
    else if (!path) snprintf(p->skip, sizeof p->skip, "scripts/torch_peer.py not found (set STRATA_TORCH_PEER)");
    else if (gpt2_config_named(t->model, &g) != ST_OK) snprintf(p->skip, sizeof p->skip, "unknown model %s", t->model);
    if (p->skip[0]) return;
    p->threads = omp_get_max_threads();
    const int64_t v[8] = {g.L, g.H, g.C, g.Vp, t->batch, t->seq, t->steps, p->threads};
    for (int i = 0; i < 8; i++) snprintf(num[i], sizeof num[i], "%lld", (long long)v[i]);
    char *const argv[] = {(char *)python, (char *)path, "--layers", num[0], "--heads", num[1], "--embd", num[2],
                          "--vocab", num[3], "--batch", num[4], "--seq", num[5], "--steps", num[6],
                          "--threads", num[7], "--modes", (char *)o->modes, NULL};
    fprintf(stderr, "strata-bench train: PyTorch peer (%s %s), %s, %d threads\n", python, path, o->modes, p->threads);
    char *out = malloc(PEER_OUT), why[256];
    if (!out) return (void)snprintf(p->skip, sizeof p->skip, "out of memory");
    int rc = run_child(argv, o->timeout_s, out, PEER_OUT, why, sizeof why);
    const char *line = rc >= 0 ? last_json_line(out, tail, sizeof tail) : NULL;
    if (rc < 0) snprintf(p->skip, sizeof p->skip, "%s", why);
    else if (!line) snprintf(p->skip, sizeof p->skip, "%.80s exited with status %d: %.150s", python, rc, tail);
    else if (json_str(line, "skip", p->skip, sizeof p->skip)) {
    } else {
        p->ran = 1;
        json_str(line, "torch", p->torch, sizeof p->torch);
        json_str(line, "python", p->python, sizeof p->python);
        p->threads = (int)json_num(line, "threads");
        parse_mode(line, "f32", &p->f32);
        parse_mode(line, "bf16", &p->bf16);
    }
    free(out);
}

static void print_mode(const char *name, const bench_peer_mode *m, const bench_train_result *t)
{
    if (!m->ok) {
        if (strcmp(m->error, "not run") != 0) printf("  %-22s failed: %s\n", name, m->error);
        return;
    }
    printf("  %-22s %10.1f %4.0f-%-5.0f   %5.2fx  (PyTorch ms / Strata %s ms)\n", name, m->ms_median, m->ms_min,
           m->ms_max, t->ok ? m->ms_median / t->ms_median : 0.0, t->dtype);
}

void bench_peer_print(const bench_train_result *t)
{
    const bench_peer *p = &t->peer;
    if (!p->ran) {
        printf("peer: PyTorch skipped: %s\n", p->skip);
        return;
    }
    printf("peer: PyTorch %s on the CPU, %d threads, same model, batch and steps (first left out)\n", p->torch,
           p->threads);
    printf("  %-22s %10s %10s   %6s\n", "", "step ms", "(min-max)", "ratio");
    printf("  %-22s %10.1f %4.0f-%-5.0f   %5.2fx\n", t->dtype[0] == 'b' ? "Strata bf16" : "Strata f32",
           t->ms_median, t->ms_min, t->ms_max, 1.0);
    print_mode("PyTorch f32 eager", &p->f32, t);
    print_mode("PyTorch bf16 autocast", &p->bf16, t);
}
