/* Without libFuzzer: runs a target on each seed file (arguments: files or directories of files),
 * then on FUZZ_MUTATIONS deterministic mutations of each (byte flips, interesting bytes,
 * truncations, duplicated spans), so that ctest exercises every target with any compiler. A crash
 * or a sanitizer report fails the test; so does a target that takes over 10 s on one input. */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include "fuzz.h"

#define FUZZ_MUTATIONS 300

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len * 2 + 64 : 64);
    *n = buf && len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    return buf;
}

/* One mutation of seed (n bytes) into out (room for 2n + 64). */
static size_t mutate(const uint8_t *seed, size_t n, uint8_t *out)
{
    static const uint8_t interesting[] = {0, 0xff, 0x7f, 0x80, '"', ',', ':', '{', '}', '[', ']', '<', '>', '/',
                                          '-', '9', '\n', ' ', '=', 'x'};
    memcpy(out, seed, n);
    switch (next() % 5) {
    case 0: /* flip bits */
        for (int k = 0, m = 1 + (int)(next() % 4); n && k < m; k++) out[next() % n] ^= (uint8_t)(1u << (next() % 8));
        return n;
    case 1: /* interesting bytes */
        for (int k = 0, m = 1 + (int)(next() % 3); n && k < m; k++)
            out[next() % n] = interesting[next() % sizeof interesting];
        return n;
    case 2: /* truncate */
        return n ? (size_t)(next() % n) : 0;
    case 3: { /* duplicate a span */
        if (!n) return 0;
        size_t a = next() % n, len = 1 + next() % (n - a < 64 ? n - a : 64);
        memmove(out + a + len, out + a, n - a);
        return n + len;
    }
    default: /* delete a span */
        if (!n) return 0;
        size_t a = next() % n, len = 1 + next() % (n - a);
        memmove(out + a, out + a + len, n - a - len);
        return n - len;
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: one input ran for more than 10 s\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(3);
}

static int run_file(const char *path)
{
    size_t n = 0;
    uint8_t *seed = slurp(path, &n), *buf = seed ? malloc(2 * n + 64) : NULL;
    if (!buf) return 0;
    alarm(10);
    LLVMFuzzerTestOneInput(seed, n);
    for (int i = 0; i < FUZZ_MUTATIONS; i++) {
        size_t m = mutate(seed, n, buf);
        alarm(10);
        LLVMFuzzerTestOneInput(buf, m);
    }
    alarm(0);
    free(seed);
    free(buf);
    return 1 + FUZZ_MUTATIONS;
}

int main(int argc, char **argv)
{
    signal(SIGALRM, on_alarm);
    long inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) continue;
        if (!S_ISDIR(sb.st_mode)) {
            inputs += run_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        char path[4096];
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            inputs += run_file(path);
        }
        if (d) closedir(d);
    }
    printf("%ld inputs, no crash\n", inputs);
    st_shutdown();
    return inputs > 0 ? 0 : 1;
}
