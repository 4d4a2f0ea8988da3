/* strata-train: trains GPT-2 on a text or llm.c token file on the backend STRATA_BACKEND names;
 * under mpirun/srun, data-parallel over the ranks (rank 0 prints, the others only their errors).
 * The command line is parsed before MPI starts, and the ranks agree on it (and on the topology
 * variables) before any communicator is split, so that ranks given different options stop with
 * a message instead of hanging. SIGTERM, SIGINT and SIGUSR1 (what Slurm sends before a job's end)
 * stop the run after the current step with a checkpoint; a second signal ends it at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "strata/strata.h"
#include "train_dist.h"
#include "trainer.h"

/* Exit status of a run stopped by a signal after its checkpoint: sysexits.h's EX_TEMPFAIL
 * ("try again later"), so that a job script can requeue exactly these. */
#define EXIT_STOPPED 75
#define MAX_AGREE 48

static volatile sig_atomic_t stop_signal;

/* This process's rank as the launcher numbers it (Open MPI, PMI, PMIx, Slurm), or -1 when none
 * says: for errors found before a communicator exists. */
static int launcher_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

/* The first signal asks the run to stop after its current step; the next one takes the default
 * action (the signal is blocked inside its handler, so the raise lands when the handler returns). */
static void on_signal(int sig)
{
    if (stop_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

int main(int argc, char **argv)
{
    train_opts o;
    train_stats stats;
    char err[1024] = "", text[8192];
    const char *names[MAX_AGREE], *vals[MAX_AGREE];
    st_comm_check checks[MAX_AGREE];
    st_comm *comm = NULL;
    /* a line per step, as it happens, also into a file or mpirun's pipe (a killed rank's buffered
     * lines would be lost) */
    setvbuf(stdout, NULL, _IOLBF, 0);
    train_opts_default(&o);
    int r = train_parse_args(argc, argv, &o, NULL, err, sizeof err);
    int n = r == 0 ? train_must_agree(&o, names, vals, MAX_AGREE, text, sizeof text) : 0;
    for (int i = 0; i < n; i++) checks[i] = (st_comm_check){names[i], vals[i]};
    st_comm_init_options init = {checks, n, r < 0 ? err : NULL};
    st_status cs = st_comm_init_world_ex(&init, &comm);
    if (cs != ST_OK) {
        /* A failed agreement (a bad option, options differing between ranks) leaves the same
         * message, naming the rank at fault, on every rank: rank 0 prints it alone. Other failures
         * (MPI's own) are each rank's. */
        int lr = launcher_rank();
        if (cs != ST_ERR_INVALID_ARG || lr <= 0)
            fprintf(stderr, "strata-train: error: %s\n", r < 0 && lr < 0 ? err : st_last_error());
        st_shutdown();
        return 1;
    }
    int rank = st_comm_rank(comm), ranks = st_comm_size(comm);
    if (r == 1 && rank == 0) train_usage(stdout);
    if (r == 0) {
        catch_signals();
        dist_bind(comm, stderr);
        o.stats = &stats;
        o.comm = comm;
        o.stop = &stop_signal;
        o.status_line = isatty(fileno(stdout)); /* a terminal: a status line rewritten in place */
        if (!o.partition && ranks > 1) o.partition = "auto"; /* the planner decides under mpirun */
        r = train_run(&o, stdout, NULL, err, sizeof err);
    }
    if (r == 0 && rank == 0 && !o.dry_run) train_print_stats(&stats, o.peak_gflops, stdout);
    if (r < 0 && ranks > 1) fprintf(stderr, "strata-train: rank %d: error: %s\n", rank, err);
    else if (r < 0) fprintf(stderr, "strata-train: error: %s\n", err);
    fflush(stdout);
    st_comm_destroy(comm);
    st_shutdown();
    return r < 0 ? 1 : r == TRAIN_STOPPED ? EXIT_STOPPED : 0;
}
