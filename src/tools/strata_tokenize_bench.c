/* strata-tokenize bench: encoding speed on the given files, Strata against Python's tiktoken
 * (the reference) in the same run. Both encode the same texts from memory, one thread each,
 * the best of --repeat passes; the token counts must agree. tiktoken runs in a child process
 * (PY -c SCRIPT) only when it can be imported: Strata itself never needs Python. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "strata/strata.h"
#include "strata_tokenize.h"

static const char PY_REF[] =
    "import sys, time\n"
    "try:\n"
    "    import tiktoken\n"
    "    from tiktoken.load import load_tiktoken_bpe\n"
    "except Exception as e:\n"
    "    print('unavailable', repr(e)); sys.exit(0)\n"
    "pat = r\"\"\"'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+\"\"\"\n"
    "enc = tiktoken.Encoding('bench', pat_str=pat, mergeable_ranks=load_tiktoken_bpe(sys.argv[1]),"
    " special_tokens={})\n"
    "texts = [open(f, 'rb').read().decode('utf-8', errors='replace') for f in sys.argv[3:]]\n"
    "best = 1e30\n"
    "for r in range(int(sys.argv[2])):\n"
    "    t0 = time.perf_counter(); n = 0\n"
    "    for t in texts: n += len(enc.encode_ordinary(t))\n"
    "    best = min(best, time.perf_counter() - t0)\n"
    "print('ok', n, best, tiktoken.__version__)\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void cpu_name(char *out, size_t cap)
{
    snprintf(out, cap, "unknown CPU");
    FILE *fp = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(out, cap, "%s", strchr(line, ':') + 2);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    if (fp) fclose(fp);
}

/* Runs the reference; its one line of output in `line`. 0 when it ran. */
static int run_python(const tk_opts *o, const char *py, char *line, size_t cap)
{
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        char rep[16];
        snprintf(rep, sizeof rep, "%d", o->repeat);
        const char *argv[TK_MAX_FILES + 8] = {py, "-c", PY_REF, o->tokenizer, rep};
        for (int i = 0; i < o->nfiles; i++) argv[5 + i] = o->files[i];
        execvp(py, (char *const *)argv);
        printf("unavailable cannot run %s: %s\n", py, strerror(errno));
        fflush(stdout);
        _exit(0);
    }
    close(fd[1]);
    FILE *fp = pid > 0 ? fdopen(fd[0], "r") : NULL;
    line[0] = 0;
    if (fp) {
        if (!fgets(line, (int)cap, fp)) line[0] = 0;
        while (fgetc(fp) != EOF) {}
        fclose(fp);
    } else close(fd[0]);
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    line[strcspn(line, "\n")] = 0;
    return pid > 0 ? 0 : -1;
}

static int strata_pass(st_tokenizer *tok, char **text, size_t *len, int n, int64_t *tokens,
                       double *secs)
{
    st_token_buf b = {0};
    double t0 = now_s();
    *tokens = 0;
    for (int i = 0; i < n; i++) {
        b.n = 0;
        if (st_tokenizer_encode(tok, text[i], len[i], 0, &b)) {
            st_token_buf_destroy(&b);
            return tk_fail("encoding");
        }
        *tokens += b.n;
    }
    *secs = now_s() - t0;
    st_token_buf_destroy(&b);
    return 0;
}

int tk_bench(const tk_opts *o)
{
    if (!o->nfiles) {
        fprintf(stderr, "strata-tokenize bench: needs text files\n");
        return 2;
    }
    st_tokenizer *tok;
    int rc = tk_load(o, &tok);
    if (rc) return rc;
    char *text[TK_MAX_FILES] = {0}, cpu[256], line[512];
    size_t len[TK_MAX_FILES];
    double bytes = 0, best = 1e30, secs = 0;
    int64_t tokens = 0;
    for (int i = 0; i < o->nfiles && !rc; i++) {
        FILE *fp = fopen(o->files[i], "rb");
        long n = fp && fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
        if (n >= 0) rewind(fp);
        if (n < 0 || !(text[i] = malloc((size_t)n + 1)) || fread(text[i], 1, (size_t)n, fp) != (size_t)n) {
            fprintf(stderr, "strata-tokenize: cannot read '%s': %s\n", o->files[i], strerror(errno));
            rc = 1;
        }
        if (fp) fclose(fp);
        len[i] = n < 0 ? 0 : (size_t)n;
        bytes += (double)len[i];
    }
    double first = 0;
    for (int r = 0; r < o->repeat && !rc; r++) {
        rc = strata_pass(tok, text, len, o->nfiles, &tokens, &secs);
        best = secs < best ? secs : best;
        if (r == 0) first = secs;
    }
    cpu_name(cpu, sizeof cpu);
    if (!rc) {
        printf("CPU: %s; %d file%s, %.0f bytes, one thread, best of %d\n", cpu, o->nfiles,
               o->nfiles > 1 ? "s" : "", bytes, o->repeat);
        printf("strata   : %lld tokens, %.4f s, %.2f MB/s (first pass, piece cache cold: %.2f MB/s)\n",
               (long long)tokens, best, bytes / 1e6 / best, bytes / 1e6 / first);
    }
    const char *py = o->python ? o->python : getenv("STRATA_PYTHON") ? getenv("STRATA_PYTHON") : "python3";
    if (!rc && st_tokenizer_rule(tok) != ST_BPE_RANKS) {
        printf("tiktoken : no reference (it reads tiktoken rank files; --tokenizer is not one)\n");
    } else if (!rc && run_python(o, py, line, sizeof line) == 0) {
        long long n;
        double t;
        char ver[64];
        if (sscanf(line, "ok %lld %lf %63s", &n, &t, ver) == 3) {
            printf("tiktoken : %lld tokens, %.4f s, %.2f MB/s (tiktoken %s via %s)\n", n, t,
                   bytes / 1e6 / t, ver, py);
            printf("strata / tiktoken: %.2fx%s\n", t / best,
                   n == tokens ? "" : "  (TOKEN COUNTS DIFFER: invalid UTF-8 in the input?)");
        } else {
            printf("tiktoken : no reference: %s\n", line[0] ? line : "no output from python");
        }
    }
    for (int i = 0; i < o->nfiles; i++) free(text[i]);
    st_tokenizer_destroy(tok);
    return rc;
}
