/* strata-train: trains GPT-2 on a text or llm.c token file on the backend STRATA_BACKEND names;
 * under mpirun/srun, data-parallel over the ranks (rank 0 prints, the others only their errors). */
#include <stdio.h>
#include "strata/strata.h"
#include "train_dist.h"
#include "trainer.h"

int main(int argc, char **argv)
{
    train_opts o;
    train_stats stats;
    char err[1024];
    st_comm *comm = NULL;
    if (st_comm_init_world(&comm) != ST_OK) {
        fprintf(stderr, "strata-train: error: %s\n", st_last_error());
        st_shutdown();
        return 1;
    }
    int rank = st_comm_rank(comm), ranks = st_comm_size(comm);
    dist_bind(comm, stderr);
    train_opts_default(&o);
    int r = train_parse_args(argc, argv, &o, rank == 0 ? stdout : NULL, err, sizeof err);
    o.stats = &stats;
    o.comm = comm;
    if (!o.partition && ranks > 1) o.partition = "auto"; /* the planner decides under mpirun */
    if (r == 0) r = train_run(&o, stdout, NULL, err, sizeof err);
    if (r == 0 && rank == 0) train_print_stats(&stats, o.peak_gflops, stdout);
    if (r < 0 && ranks > 1) fprintf(stderr, "strata-train: rank %d: error: %s\n", rank, err);
    else if (r < 0) fprintf(stderr, "strata-train: error: %s\n", err);
    st_comm_destroy(comm);
    st_shutdown();
    return r < 0 ? 1 : 0;
}
