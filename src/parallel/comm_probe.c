/* st_comm_probe: measured bandwidth and latency of each level of a communicator, for the planner's
 * machine description (strata-bench collectives --probe). Every group of a level communicates at
 * once, as the hierarchical collectives and the shard engine make them, so a level whose groups
 * share a link (the ranks of a node on its network link) is measured sharing it. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"

#ifdef STRATA_HAVE_MPI

enum { ROUNDS = 3 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Whether this rank's group of level lv is the lone one: index 0 at every other level. */
static int lone_group(const st_comm *c, st_level lv)
{
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        if (l != (int)lv && c->lrank[l] != 0)
            return 0;
    return 1;
}

/* Seconds per call of `reps` calls of one level collective on `count` floats (the full buffer),
 * the slowest rank's, median of ROUNDS rounds. With `alone`, only the lone group calls it while
 * the other ranks wait at the barrier. */
static st_status time_level(st_comm *c, st_level lv, int gather, float *buf, size_t count, int reps, int alone,
                            double *out)
{
    int active = !alone || lone_group(c, lv);
    int p = c->lsize[lv];
    size_t block = count / (size_t)p;
    double t[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        MPI_Barrier(c->world);
        double t0 = comm_now();
        for (int i = 0; i < reps && active; i++) {
            st_status s = gather ? comm_mpi_all_gather(c, lv, buf + (size_t)c->lrank[lv] * block, buf, block, COMM_F32)
                                 : comm_mpi_reduce_scatter(c, lv, buf, buf, block, COMM_F32, ST_REDUCE_SUM);
            if (s != ST_OK)
                return s;
        }
        t[r] = (comm_now() - t0) / reps;
        MPI_Allreduce(MPI_IN_PLACE, &t[r], 1, MPI_DOUBLE, MPI_MAX, c->world);
    }
    qsort(t, ROUNDS, sizeof t[0], cmp_double);
    *out = t[ROUNDS / 2];
    return ST_OK;
}

/* Bandwidth from a large call's time once the latency of its p-1 messages is taken off. */
static double level_gbs(int p, size_t count, double t, double lat_s)
{
    double moved = (double)(p - 1) / p * (double)count * sizeof(float);
    double busy = t - (p - 1) * lat_s;
    return moved / (busy > t * 0.05 ? busy : t * 0.05) / 1e9;
}

static st_status probe_level(st_comm *c, st_level lv, float *buf, size_t count, st_comm_level_probe *o)
{
    int p = c->lsize[lv];
    double small_ag, small_rs, big_ag, big_rs, solo_ag, solo_rs;
    size_t big = count / (size_t)p * (size_t)p;
    ST_TRY(time_level(c, lv, 1, buf, (size_t)p, 50, 0, &small_ag));
    ST_TRY(time_level(c, lv, 0, buf, (size_t)p, 50, 0, &small_rs));
    int reps = big * sizeof(float) >= (8u << 20) ? 2 : 10;
    ST_TRY(time_level(c, lv, 1, buf, big, reps, 0, &big_ag));
    ST_TRY(time_level(c, lv, 0, buf, big, reps, 0, &big_rs));
    ST_TRY(time_level(c, lv, 1, buf, big, reps, 1, &solo_ag));
    ST_TRY(time_level(c, lv, 0, buf, big, reps, 1, &solo_rs));
    o->lat_us = (small_ag + small_rs) / 2 / (p - 1) * 1e6;
    o->gather_gbs = level_gbs(p, big, big_ag, o->lat_us * 1e-6);
    o->reduce_gbs = level_gbs(p, big, big_rs, o->lat_us * 1e-6);
    /* Equal volumes of both: the harmonic mean. */
    o->gbs = 2.0 / (1.0 / o->gather_gbs + 1.0 / o->reduce_gbs);
    o->solo_gbs = 2.0 / (1.0 / level_gbs(p, big, solo_ag, o->lat_us * 1e-6) +
                         1.0 / level_gbs(p, big, solo_rs, o->lat_us * 1e-6));
    return ST_OK;
}

st_status st_comm_probe(st_comm *c, size_t bytes, st_comm_level_probe out[ST_LEVEL_COUNT])
{
    if (!c || !out || bytes < 4096)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_probe: NULL argument or fewer than 4096 bytes");
    memset(out, 0, sizeof *out * ST_LEVEL_COUNT);
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        out[l].ranks = c->lsize[l];
    if (!comm_has_mpi(c))
        return ST_OK;
    size_t count = bytes / sizeof(float);
    float *buf = calloc(count, sizeof(float));
    int bad = buf == NULL;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, c->world);
    if (bad) {
        free(buf);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_comm_probe: %zu bytes of host memory on some rank", bytes);
    }
    double saved[ST_LEVEL_COUNT];
    memcpy(saved, c->seconds, sizeof saved);
    st_status s = ST_OK;
    for (int l = 0; l < ST_LEVEL_COUNT && s == ST_OK; l++)
        if (c->lsize[l] > 1)
            s = probe_level(c, (st_level)l, buf, count, &out[l]);
    memcpy(c->seconds, saved, sizeof saved);
    free(buf);
    return s;
}

#else

st_status st_comm_probe(st_comm *c, size_t bytes, st_comm_level_probe out[ST_LEVEL_COUNT])
{
    if (!c || !out || bytes < 4096)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_probe: NULL argument or fewer than 4096 bytes");
    memset(out, 0, sizeof *out * ST_LEVEL_COUNT);
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        out[l].ranks = 1;
    return ST_OK;
}

#endif
