/* strata-bench collectives: Strata's hierarchical all-reduce, reduce-scatter and all-gather timed
 * beside MPI's own on the same ranks, in nccl-tests' conventions. */
#ifndef STRATA_BENCH_COLL_H
#define STRATA_BENCH_COLL_H

#include <stdio.h>
#include "tool_json.h"

/* Runs the collectives benchmark on every rank (call it on all ranks of an mpirun; one rank
 * without one). argv[0] is the sub-command's name; options: --sizes LIST (bytes, with K/M/G
 * suffixes; default 1M,64M), --iters N (timed calls per round; default by size), --rounds R
 * (default 3). Rank 0 prints the table to `out` and, when json is not NULL, appends one object
 * per measurement to the array the caller has open. Initialises and finalises MPI through
 * st_comm_init_world/st_comm_destroy. Returns 0, or 2 on bad usage, 1 when a collective fails. */
int bench_coll_main(int argc, char **argv, FILE *out, tool_json *json);

/* --probe FILE (bench_coll_probe.c): st_comm_probe on every level with `bytes`-byte collectives,
 * a table on rank 0, and the planner's machine file written atomically by rank 0. Collective.
 * Returns 0, or 1 with a message. */
#include <strata/strata.h>
int bench_coll_probe(st_comm *comm, const char *path, size_t bytes, FILE *out);

#endif
