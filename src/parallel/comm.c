/* st_comm: creation (world, from an MPI communicator, or one rank without MPI), accessors and the
 * per-level byte counters. The collectives are in comm_coll.c, the MPI calls in comm_mpi.c. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"

static st_comm *comm_new(void)
{
    st_comm *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
#ifdef STRATA_HAVE_MPI
    c->world = c->node = MPI_COMM_NULL;
    for (int i = 0; i < ST_LEVEL_COUNT; i++)
        c->level[i] = MPI_COMM_NULL;
#endif
    return c;
}

/* One rank: STRATA_TOPOLOGY may still be set, and then must describe one rank. */
static st_status single_setup(st_comm *c)
{
    st_topo *t = NULL;
    ST_TRY(st_topo_load(&t));
    st_status s = ST_OK;
    if (st_topo_get_source(t) == ST_TOPO_EMULATED)
        s = st_topo_place(t, 0, 1, 0, 1, &c->place);
    st_topo_destroy(t);
    ST_TRY(s);
    c->rank = 0;
    c->size = 1;
    c->place = (st_place){0, 0, 0};
    c->shape = (st_topo_shape){1, 1, 1};
    for (int i = 0; i < ST_LEVEL_COUNT; i++)
        c->lsize[i] = 1, c->lrank[i] = 0;
    return ST_OK;
}

static st_status finish(st_comm *c, st_status s, st_comm **out)
{
    if (s != ST_OK) {
        st_comm_destroy(c);
        return s;
    }
    *out = c;
    return ST_OK;
}

st_status st_comm_init_world_ex(const st_comm_init_options *opt, st_comm **out)
{
    if (!out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_init_world: NULL out");
    if (opt && (opt->n_checks < 0 || (opt->n_checks > 0 && !opt->checks)))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_init_world_ex: %d checks at %p", opt->n_checks,
                      (const void *)opt->checks);
    st_comm *c = comm_new();
    if (!c)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_comm_init_world: out of host memory");
    c->init = opt;
    st_status s = comm_mpi_init_world(c);
    if (s == ST_OK && !comm_has_mpi(c))
        s = opt && opt->local_error ? ST_ERR(ST_ERR_INVALID_ARG, "%s", opt->local_error) : single_setup(c);
    c->init = NULL;
    return finish(c, s, out);
}

st_status st_comm_init_world(st_comm **out)
{
    return st_comm_init_world_ex(NULL, out);
}

st_status st_comm_from_mpi(const void *mpi_comm, st_comm **out)
{
    if (!mpi_comm || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_from_mpi: NULL argument");
    st_comm *c = comm_new();
    if (!c)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_comm_from_mpi: out of host memory");
    return finish(c, comm_mpi_setup(c, mpi_comm), out);
}

void st_comm_destroy(st_comm *c)
{
    if (!c)
        return;
    comm_dev_free(c);
    comm_mpi_free(c);
    for (int i = 0; i < COMM_SLOTS; i++)
        free(c->slot[i]);
    free(c->hosts);
    free(c->ring);
    free(c);
}

int st_comm_rank(const st_comm *c) { return c ? c->rank : 0; }
int st_comm_size(const st_comm *c) { return c ? c->size : 1; }

st_status st_comm_place(const st_comm *c, st_place *out)
{
    if (!c || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_place: NULL argument");
    *out = c->place;
    return ST_OK;
}

st_status st_comm_shape(const st_comm *c, st_topo_shape *out)
{
    if (!c || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_shape: NULL argument");
    *out = c->shape;
    return ST_OK;
}

int st_comm_scope_size(const st_comm *c, st_scope scope)
{
    if (!c || (unsigned)scope > ST_SCOPE_WORLD)
        return 0;
    int p = 1;
    for (int l = 0; l <= (int)scope; l++)
        p *= c->lsize[l];
    return p;
}

int st_comm_scope_rank(const st_comm *c, st_scope scope)
{
    if (!c || (unsigned)scope > ST_SCOPE_WORLD)
        return 0;
    /* Fastest level most significant (comm.h): the digits are gcd, gpu, node. */
    int r = 0;
    for (int l = 0; l <= (int)scope; l++)
        r = r * c->lsize[l] + c->lrank[l];
    return r;
}

st_status st_comm_bytes_get(const st_comm *c, st_level level, st_collective collective, st_comm_bytes *out)
{
    if (!c || !out || (unsigned)level >= ST_LEVEL_COUNT || (unsigned)collective >= ST_COLL_COUNT)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_bytes_get: NULL argument or level/collective out of range");
    *out = c->bytes[level][collective];
    return ST_OK;
}

st_status st_comm_time_get(const st_comm *c, st_level level, double *seconds)
{
    if (!c || !seconds || (unsigned)level >= ST_LEVEL_COUNT)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_comm_time_get: NULL argument or level out of range");
    *seconds = c->seconds[level];
    return ST_OK;
}

void st_comm_bytes_reset(st_comm *c)
{
    if (!c)
        return;
    memset(c->bytes, 0, sizeof c->bytes);
    memset(c->seconds, 0, sizeof c->seconds);
}
