/* Which host and which node each rank of an MPI job is on. A host is an MPI shared-memory domain
 * (MPI_COMM_TYPE_SHARED: one machine, or one emulated host of scripts/emulate-cluster.sh); hosts
 * whose ranks carry the same STRATA_NODE_ID form one node, otherwise every host is a node. Not the
 * placement rule itself (comm_mpi.c): only the facts it is built from, and each rank's host name. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "comm_internal.h"

#ifdef STRATA_HAVE_MPI

enum { KEY_LEN = 64 };

/* The node key of leader j: its STRATA_NODE_ID, or (unset or empty) nothing, which makes the host
 * a node of its own. */
static int same_node(const char *keys, int a, int b)
{
    const char *ka = keys + (size_t)a * KEY_LEN, *kb = keys + (size_t)b * KEY_LEN;
    return a == b || (ka[0] && strncmp(ka, kb, KEY_LEN) == 0);
}

/* Among the hosts' leaders: node index, host index within the node, node count and the smallest
 * and largest number of hosts per node, nodes numbered in order of their first host, hosts in
 * order of their first rank. */
static st_status group_leaders(MPI_Comm leaders, int v[5])
{
    int me, n;
    MPI_Comm_rank(leaders, &me);
    MPI_Comm_size(leaders, &n);
    char mine[KEY_LEN] = "";
    const char *id = getenv("STRATA_NODE_ID");
    if (id && strlen(id) >= KEY_LEN)
        return ST_ERR(ST_ERR_INVALID_ARG, "STRATA_NODE_ID='%.20s...' is longer than %d characters", id,
                      KEY_LEN - 1);
    if (id)
        strncpy(mine, id, KEY_LEN - 1);
    char *keys = malloc((size_t)n * KEY_LEN);
    int *first = malloc(sizeof(int) * (size_t)n);
    if (!keys || !first) {
        free(keys);
        free(first);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "grouping %d hosts into nodes: out of host memory", n);
    }
    int rc = MPI_Allgather(mine, KEY_LEN, MPI_CHAR, keys, KEY_LEN, MPI_CHAR, leaders);
    if (rc == MPI_SUCCESS) {
        /* first[j]: the first leader of j's node; a node's index counts the first leaders before. */
        int nodes = 0, lo = n, hi = 0;
        for (int j = 0; j < n; j++) {
            first[j] = j;
            for (int k = 0; k < j; k++)
                if (same_node(keys, j, k)) {
                    first[j] = first[k];
                    break;
                }
        }
        for (int j = 0; j < n; j++) {
            if (first[j] != j)
                continue;
            int hosts = 0;
            for (int k = j; k < n; k++)
                hosts += first[k] == j;
            lo = hosts < lo ? hosts : lo;
            hi = hosts > hi ? hosts : hi;
            if (j == first[me])
                v[0] = nodes;
            nodes++;
        }
        int within = 0;
        for (int k = 0; k < me; k++)
            within += first[k] == first[me];
        v[1] = within, v[2] = nodes, v[3] = lo, v[4] = hi;
    }
    free(keys);
    free(first);
    return rc == MPI_SUCCESS ? ST_OK : ST_ERR(ST_ERR_BACKEND, "MPI_Allgather of the node ids failed");
}

st_status comm_hosts_detect(MPI_Comm p, comm_hosts *out)
{
    int prank;
    MPI_Comm_rank(p, &prank);
    MPI_Comm local, leaders;
    if (MPI_Comm_split_type(p, MPI_COMM_TYPE_SHARED, prank, MPI_INFO_NULL, &local) != MPI_SUCCESS)
        return ST_ERR(ST_ERR_BACKEND, "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) failed");
    MPI_Comm_rank(local, &out->host_rank);
    MPI_Comm_size(local, &out->host_size);
    MPI_Comm_split(p, out->host_rank == 0 ? 0 : MPI_UNDEFINED, prank, &leaders);
    /* v: node, host within node, nodes, hosts per node (min, max), status (0 ok). Leaders compute,
     * then tell their host; every rank reaches the broadcast whatever a leader met. */
    int v[6] = {0, 0, 1, 1, 1, 0};
    st_status s = ST_OK;
    if (leaders != MPI_COMM_NULL) {
        s = group_leaders(leaders, v);
        v[5] = s != ST_OK;
        MPI_Allreduce(MPI_IN_PLACE, &v[5], 1, MPI_INT, MPI_MAX, leaders);
        MPI_Comm_free(&leaders);
    }
    MPI_Bcast(v, 6, MPI_INT, 0, local);
    MPI_Comm_free(&local);
    if (s != ST_OK)
        return s;
    if (v[5])
        return ST_ERR(ST_ERR_INVALID_ARG, "another host could not be grouped into nodes (STRATA_NODE_ID "
                                          "longer than %d characters, or out of memory there)", KEY_LEN - 1);
    out->node = v[0], out->host_in_node = v[1], out->nodes = v[2];
    out->hosts_per_node_min = v[3], out->hosts_per_node_max = v[4];
    return ST_OK;
}

st_status comm_hosts_names(st_comm *c)
{
    char mine[ST_COMM_HOST_LEN] = "";
    if (gethostname(mine, sizeof mine - 1) != 0)
        strcpy(mine, "?");
    c->hosts = malloc((size_t)c->size * ST_COMM_HOST_LEN);
    if (!c->hosts)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "host names of %d ranks: out of host memory", c->size);
    /* c->world orders ranks by hierarchy rank, so entry r is comm rank r's host. */
    if (MPI_Allgather(mine, ST_COMM_HOST_LEN, MPI_CHAR, c->hosts, ST_COMM_HOST_LEN, MPI_CHAR, c->world) !=
        MPI_SUCCESS)
        return ST_ERR(ST_ERR_BACKEND, "MPI_Allgather of the host names failed");
    return ST_OK;
}

#endif

const char *st_comm_host_name(const st_comm *c, int rank)
{
    static __thread char own[ST_COMM_HOST_LEN];
    if (!c || rank < 0 || rank >= c->size)
        return NULL;
    if (c->hosts)
        return c->hosts + (size_t)rank * ST_COMM_HOST_LEN;
    /* One rank without MPI: this process's host. */
    if (gethostname(own, sizeof own - 1) != 0)
        strcpy(own, "?");
    return own;
}
