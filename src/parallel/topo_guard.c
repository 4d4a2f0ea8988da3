/* The last line of defence against malformed topology files: everything Strata does with a saved
 * topology (hwloc's import, GPU discovery and grouping, the printed tree, the planner's figures)
 * runs first in a child process. If hwloc crashes or loops on the file there, the caller gets
 * ST_ERR_FORMAT and the process lives; if the child finishes, the same deterministic steps are
 * safe to take in the process. topo_xml.c's checks catch the malformations known here with a
 * better message; this catches the rest (hwloc 2.9 had five crash signatures on fuzzed files). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "strata/plan.h"
#include "topo_internal.h"

#define GUARD_SECONDS 60

#define CHILD_REJECTED 2 /* the child's exit status when hwloc refused the file */

/* In the child: what the parent is about to do with the file, then exit: 0 when it loaded,
 * CHILD_REJECTED when hwloc refused it (the parent then does not repeat hwloc's failure path, which
 * leaks and prints). Crash signals take their default action (a fuzzer's handler would save files
 * for a crash the parent handles; a sanitizer's may still report, then exit non-zero), and nothing
 * is printed: stderr goes to /dev/null, where hwloc reports some errors itself, unless
 * HWLOC_XML_VERBOSE asks for hwloc's reasons. */
static void child(const char *buf, size_t len)
{
    static const int crash[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++) signal(crash[i], SIG_DFL);
    const char *verbose = getenv("HWLOC_XML_VERBOSE");
    int null = verbose && *verbose && strcmp(verbose, "0") != 0 ? -1 : open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2);
    st_topo *t = calloc(1, sizeof *t);
    if (!t) _exit(0);
    t->source = ST_TOPO_XML;
    if (topo_hwloc_import_buffer(t, buf, len) != ST_OK) _exit(CHILD_REJECTED);
    if (topo_find_gpus(t) != ST_OK) _exit(0); /* Strata's own refusal (STRATA_GCDS_PER_GPU): the parent's too */
    char text[256];
    st_plan_machine m;
    st_topo_snprint(t, 0, text, sizeof text, NULL);
    st_plan_machine_from_topo(t, &m);
    _exit(0); /* no atexit handlers, no leak report: the parent frees its own copy */
}

static void nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

st_status topo_guard_xml(const char *buf, size_t len, const char *what)
{
    const char *env = getenv("STRATA_TOPO_CHILD");
    if (env && strcmp(env, "0") == 0) return ST_OK;
    pid_t pid = fork();
    if (pid < 0) return ST_OK; /* no child possible (a process limit): the checks of topo_xml.c stand alone */
    if (pid == 0) child(buf, len);
    int status = 0;
    long waited = 0, step = 200000; /* ns: most files take a few ms */
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return ST_OK; /* reaped by someone else (a SIGCHLD handler): unknown */
        if (waited > (long)GUARD_SECONDS * 1000000000L) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY '%s': hwloc %s did not finish reading it in %d s (a malformed "
                          "file it loops on)", what, HWLOC_VERSION, GUARD_SECONDS);
        }
        nap(step);
        waited += step;
        if (step < 20000000) step *= 2;
    }
    if (WIFSIGNALED(status))
        return ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY '%s': hwloc %s crashes reading this file (%s in a test "
                      "process; it passed Strata's own checks): a malformed hwloc XML file", what, HWLOC_VERSION,
                      strsignal(WTERMSIG(status)));
    if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_REJECTED)
        return ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY: hwloc rejects '%s' (corrupt, truncated, or inconsistent; "
                      "HWLOC_XML_VERBOSE=1 prints hwloc %s's reason)", what, HWLOC_VERSION);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY '%s': reading it failed in a test process (status %d): a "
                      "malformed hwloc XML file", what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return ST_OK;
}
