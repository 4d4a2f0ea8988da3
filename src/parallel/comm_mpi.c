/* The MPI side of st_comm: MPI initialisation, the hierarchy's communicators (one per level and the
 * node scope) and thin wrappers over MPI's own collectives that turn MPI errors into statuses.
 * Without MPI the communicator has one rank and nothing here is reached but the stubs at the end. */
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include "internal.h"
#include "comm_internal.h"

double comm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#ifdef STRATA_HAVE_MPI

static int lib_initialised; /* Strata called MPI_Init_thread */
static int lib_refs;        /* communicators that finalise MPI when the last of them is freed */

st_status comm_mpi_error(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    return ST_ERR(ST_ERR_BACKEND, "%s failed: %s", what, msg);
}

#define MPI_TRY(call)                                        \
    do {                                                     \
        int mpi_try_rc_ = (call);                            \
        if (mpi_try_rc_ != MPI_SUCCESS)                      \
            return comm_mpi_error(mpi_try_rc_, #call);            \
    } while (0)

static int under_launcher(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int comm_has_mpi(const st_comm *c)
{
    return c->world != MPI_COMM_NULL;
}

st_status comm_mpi_init_world(st_comm *c)
{
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized)
        return ST_ERR(ST_ERR_UNSUPPORTED, "st_comm_init_world: MPI has already been finalised in this "
                                          "process and cannot be initialised again");
    if (!inited) {
        if (!under_launcher())
            return ST_OK; /* a plain run: one rank, no MPI */
        int provided;
        MPI_TRY(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided));
        lib_initialised = 1;
    }
    if (lib_initialised) {
        lib_refs++;
        c->finalize_mpi = 1;
    }
    MPI_Comm w = MPI_COMM_WORLD;
    return comm_mpi_setup(c, &w);
}

/* Detected topology. A node is a host (shared-memory domain) or, with STRATA_NODE_ID, the hosts
 * that share its value (comm_hosts.c). In a node of one host the GPUs place its ranks
 * (st_topo_place); in a node of several hosts (an emulated cluster whose GPU packages are hosts of
 * their own) each host is a GPU package and its ranks are the package's GCDs. Nodes are numbered
 * by their first rank. Every rank takes part in every collective here, even one whose own
 * placement failed, so that a failure is returned on every rank instead of a hang. */
static st_status detect_place(MPI_Comm p, int prank, int psize, const st_topo *t, st_place *pl,
                              st_topo_shape *sh)
{
    comm_hosts h;
    ST_TRY(comm_hosts_detect(p, &h));
    int lr = h.host_rank, ls = h.host_size;
    st_status s = ST_OK;
    int mx[2];
    if (h.hosts_per_node_max > 1) {
        *pl = (st_place){h.node, h.host_in_node, lr};
        mx[0] = h.hosts_per_node_max - 1, mx[1] = ls - 1;
    } else {
        s = st_topo_place(t, prank, psize, lr, ls, pl);
        mx[0] = s == ST_OK ? pl->gpu : 0, mx[1] = s == ST_OK ? pl->gcd : 0;
        MPI_Comm local;
        MPI_TRY(MPI_Comm_split_type(p, MPI_COMM_TYPE_SHARED, prank, MPI_INFO_NULL, &local));
        MPI_Allreduce(MPI_IN_PLACE, mx, 2, MPI_INT, MPI_MAX, local);
        MPI_Comm_free(&local);
        if (s == ST_OK && (mx[0] + 1) * (mx[1] + 1) != ls) {
            /* Ranks do not fill the GPU packages evenly: one rank per "GPU", as st_topo_place does
             * when there are more ranks than devices. */
            *pl = (st_place){-1, lr, 0};
            mx[0] = ls - 1;
            mx[1] = 0;
        }
    }
    int per_node = ls * h.hosts_per_node_max;
    int u[8] = {per_node, mx[0], mx[1], h.hosts_per_node_min, -per_node, -mx[0], -mx[1], -h.hosts_per_node_max};
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, u, 8, MPI_INT, MPI_MIN, p));
    if (s != ST_OK)
        return s;
    if (u[3] != -u[7])
        return ST_ERR(ST_ERR_UNSUPPORTED,
                      "nodes hold different numbers of hosts (STRATA_NODE_ID groups from %d to %d hosts): "
                      "give every node the same number of hosts", u[3], -u[7]);
    if (u[0] != -u[4] || u[1] != -u[5] || u[2] != -u[6])
        return ST_ERR(ST_ERR_UNSUPPORTED,
                      "nodes hold different numbers of ranks or GPUs (ranks per node from %d to %d): "
                      "launch the same number of ranks on every node, or set STRATA_TOPOLOGY=NxGxD",
                      u[0], -u[4]);
    pl->node = h.node;
    *sh = (st_topo_shape){h.nodes, mx[0] + 1, mx[1] + 1};
    return ST_OK;
}

static st_status split(MPI_Comm from, int color, int key, MPI_Comm *out)
{
    MPI_TRY(MPI_Comm_split(from, color, key, out));
    MPI_TRY(MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN));
    return ST_OK;
}

st_status comm_mpi_setup(st_comm *c, const void *parent)
{
    MPI_Comm p = *(const MPI_Comm *)parent;
    int prank, psize;
    MPI_TRY(MPI_Comm_rank(p, &prank));
    MPI_TRY(MPI_Comm_size(p, &psize));
    ST_TRY(comm_agree_settings(p, c->init)); /* before the topology chooses any split */
    st_topo *t = NULL;
    st_status s = st_topo_load(&t);
    st_place pl = {0, 0, 0};
    st_topo_shape sh = {1, 1, 1};
    if (s == ST_OK && st_topo_get_source(t) == ST_TOPO_EMULATED) {
        s = st_topo_place(t, prank, psize, 0, 1, &pl);
        st_topo_get_shape(t, &sh);
    } else if (s == ST_OK) {
        s = detect_place(p, prank, psize, t, &pl, &sh);
    }
    st_topo_destroy(t);
    ST_TRY(s);
    int n = sh.nodes, g = sh.gpus_per_node, d = sh.gcds_per_gpu;
    c->place = pl;
    c->shape = sh;
    c->size = psize;
    c->rank = (pl.gcd * g + pl.gpu) * n + pl.node;
    c->lsize[ST_LEVEL_GCD] = d, c->lsize[ST_LEVEL_GPU] = g, c->lsize[ST_LEVEL_NODE] = n;
    c->lrank[ST_LEVEL_GCD] = pl.gcd, c->lrank[ST_LEVEL_GPU] = pl.gpu, c->lrank[ST_LEVEL_NODE] = pl.node;
    ST_TRY(split(p, 0, c->rank, &c->world));
    ST_TRY(split(c->world, pl.node * g + pl.gpu, pl.gcd, &c->level[ST_LEVEL_GCD]));
    ST_TRY(split(c->world, pl.node * d + pl.gcd, pl.gpu, &c->level[ST_LEVEL_GPU]));
    ST_TRY(split(c->world, pl.gpu * d + pl.gcd, pl.node, &c->level[ST_LEVEL_NODE]));
    ST_TRY(split(c->world, pl.node, pl.gcd * g + pl.gpu, &c->node));
    return comm_hosts_names(c);
}

void comm_mpi_free(st_comm *c)
{
    MPI_Comm *all[] = {&c->node, &c->level[0], &c->level[1], &c->level[2], &c->world};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (*all[i] != MPI_COMM_NULL)
            MPI_Comm_free(all[i]);
    if (c->finalize_mpi && --lib_refs == 0) {
        MPI_Finalize();
        lib_initialised = 0;
    }
}

static MPI_Comm scope_comm(const st_comm *c, st_scope scope)
{
    return scope == ST_SCOPE_GCD ? c->level[ST_LEVEL_GCD] : scope == ST_SCOPE_NODE ? c->node : c->world;
}

st_status comm_mpi_agree(st_comm *c, st_scope scope, int bad, const int64_t *v, int n, int *which,
                         int64_t *lo, int64_t *hi)
{
    int64_t a[2 * 8 + 1];
    a[0] = -(int64_t)bad; /* min of -bad: -1 when any rank was bad */
    for (int i = 0; i < n; i++) {
        a[1 + 2 * i] = v[i];
        a[2 + 2 * i] = -v[i];
    }
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, a, 1 + 2 * n, MPI_INT64_T, MPI_MIN, scope_comm(c, scope)));
    *which = -1;
    if (a[0] < 0) {
        *which = n;
        return ST_OK;
    }
    for (int i = 0; i < n; i++)
        if (a[1 + 2 * i] != -a[2 + 2 * i]) {
            *which = i;
            *lo = a[1 + 2 * i];
            *hi = -a[2 + 2 * i];
            return ST_OK;
        }
    return ST_OK;
}

static MPI_Datatype mpi_type(comm_type t)
{
    return t == COMM_F32 ? MPI_FLOAT : t == COMM_I32 ? MPI_INT32_T : MPI_UINT16_T;
}

static st_status int_count(size_t count, int *out)
{
    if (count > INT_MAX)
        return ST_ERR(ST_ERR_UNSUPPORTED, "collective of %zu elements per block: MPI counts are int "
                                          "(at most %d)", count, INT_MAX);
    *out = (int)count;
    return ST_OK;
}

st_status comm_mpi_reduce_scatter(st_comm *c, st_level lv, const void *sendbuf, void *recvbuf,
                                  size_t count, comm_type type, st_reduce_op op)
{
    int n = 0;
    ST_TRY(int_count(count, &n));
    int p = c->lsize[lv];
    int *counts = malloc(sizeof(int) * (size_t)p);
    if (!counts)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_comm: host allocation failed");
    for (int j = 0; j < p; j++)
        counts[j] = n;
    st_status s = comm_ring_reduce_scatter(c, lv, sendbuf, recvbuf, counts, type, op);
    free(counts);
    return s;
}

st_status comm_mpi_all_gather(st_comm *c, st_level lv, const void *sendbuf, void *recvbuf, size_t count,
                              comm_type type)
{
    int n = 0;
    ST_TRY(int_count(count, &n));
    const char *own = (const char *)recvbuf + (size_t)c->lrank[lv] * count * comm_type_size(type);
    double t0 = comm_now();
    int rc = MPI_Allgather(sendbuf == own ? MPI_IN_PLACE : sendbuf, n, mpi_type(type), recvbuf, n,
                           mpi_type(type), c->level[lv]);
    c->seconds[lv] += comm_now() - t0;
    return rc == MPI_SUCCESS ? ST_OK : comm_mpi_error(rc, "MPI_Allgather");
}

st_status comm_mpi_all_reduce(st_comm *c, st_level lv, void *buf, size_t count, comm_type type,
                              st_reduce_op op)
{
    int n = 0;
    ST_TRY(int_count(count, &n));
    double t0 = comm_now();
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, n, mpi_type(type), op == ST_REDUCE_MAX ? MPI_MAX : MPI_SUM,
                           c->level[lv]);
    c->seconds[lv] += comm_now() - t0;
    return rc == MPI_SUCCESS ? ST_OK : comm_mpi_error(rc, "MPI_Allreduce");
}

st_status comm_mpi_broadcast(st_comm *c, st_scope scope, void *buf, size_t count, comm_type type, int root)
{
    int n = 0;
    ST_TRY(int_count(count, &n));
    MPI_TRY(MPI_Bcast(buf, n, mpi_type(type), root, scope_comm(c, scope)));
    return ST_OK;
}

st_status comm_mpi_all_to_all(st_comm *c, st_scope scope, const void *sendbuf, void *recvbuf,
                              size_t block, comm_type type)
{
    int n = 0;
    ST_TRY(int_count(block, &n));
    MPI_TRY(MPI_Alltoall(sendbuf, n, mpi_type(type), recvbuf, n, mpi_type(type), scope_comm(c, scope)));
    return ST_OK;
}

st_status comm_mpi_level_bcast(st_comm *c, st_level lv, void *buf, size_t bytes)
{
    int n = 0;
    ST_TRY(int_count(bytes, &n));
    MPI_TRY(MPI_Bcast(buf, n, MPI_BYTE, 0, c->level[lv]));
    return ST_OK;
}

#else /* without MPI: a communicator always has one rank, so no collective reaches these */

static st_status no_mpi(void)
{
    return ST_ERR(ST_ERR_UNSUPPORTED, "this build of Strata has no MPI (configure with MPI found)");
}

int comm_has_mpi(const st_comm *c) { (void)c; return 0; }
st_status comm_mpi_init_world(st_comm *c) { (void)c; return ST_OK; }
st_status comm_mpi_setup(st_comm *c, const void *parent) { (void)c, (void)parent; return no_mpi(); }
void comm_mpi_free(st_comm *c) { (void)c; }
st_status comm_mpi_agree(st_comm *c, st_scope scope, int bad, const int64_t *v, int n, int *which,
                         int64_t *lo, int64_t *hi)
{
    (void)c, (void)scope, (void)bad, (void)v, (void)n, (void)which, (void)lo, (void)hi;
    return no_mpi();
}
st_status comm_mpi_reduce_scatter(st_comm *c, st_level lv, const void *sendbuf, void *recvbuf,
                                  size_t count, comm_type type, st_reduce_op op)
{
    (void)c, (void)lv, (void)sendbuf, (void)recvbuf, (void)count, (void)type, (void)op;
    return no_mpi();
}
st_status comm_mpi_all_gather(st_comm *c, st_level lv, const void *sendbuf, void *recvbuf, size_t count,
                              comm_type type)
{
    (void)c, (void)lv, (void)sendbuf, (void)recvbuf, (void)count, (void)type;
    return no_mpi();
}
st_status comm_mpi_all_reduce(st_comm *c, st_level lv, void *buf, size_t count, comm_type type,
                              st_reduce_op op)
{
    (void)c, (void)lv, (void)buf, (void)count, (void)type, (void)op;
    return no_mpi();
}
st_status comm_mpi_broadcast(st_comm *c, st_scope scope, void *buf, size_t count, comm_type type, int root)
{
    (void)c, (void)scope, (void)buf, (void)count, (void)type, (void)root;
    return no_mpi();
}
st_status comm_mpi_all_to_all(st_comm *c, st_scope scope, const void *sendbuf, void *recvbuf,
                              size_t block, comm_type type)
{
    (void)c, (void)scope, (void)sendbuf, (void)recvbuf, (void)block, (void)type;
    return no_mpi();
}
st_status comm_mpi_level_bcast(st_comm *c, st_level lv, void *buf, size_t bytes)
{
    (void)c, (void)lv, (void)buf, (void)bytes;
    return no_mpi();
}

#endif
