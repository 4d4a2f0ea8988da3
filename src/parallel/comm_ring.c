/* The reduce-scatter of one level, as a ring of MPI_Sendrecv calls with the reduction done here.
 * Open MPI 4.1's own MPI_Reduce_scatter_block and MPI_Reduce_scatter reduce the whole buffer to one
 * rank and scatter it back on small groups: over a 400 Mbit/s link between two hosts that moved
 * three times the ring's bytes (8 MB/s per rank where its all-gather reached 24), and in shared
 * memory it ran at a tenth of its all-gather. The ring sends each rank (p-1)/p of the buffer, which
 * is what comm.h's counters and the planner count, whatever MPI library is underneath. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"

#ifdef STRATA_HAVE_MPI

static MPI_Datatype mpi_type_of(comm_type t)
{
    return t == COMM_F32 ? MPI_FLOAT : t == COMM_I32 ? MPI_INT32_T : MPI_UINT16_T;
}

/* acc[i] = acc[i] (op) own[i] for n elements. */
static void reduce_into(void *acc, const void *own, size_t n, comm_type t, st_reduce_op op)
{
    if (t == COMM_F32) {
        float *a = acc;
        const float *b = own;
        if (op == ST_REDUCE_MAX)
            for (size_t i = 0; i < n; i++) a[i] = a[i] > b[i] ? a[i] : b[i];
        else
            for (size_t i = 0; i < n; i++) a[i] += b[i];
    } else {
        int32_t *a = acc;
        const int32_t *b = own;
        if (op == ST_REDUCE_MAX)
            for (size_t i = 0; i < n; i++) a[i] = a[i] > b[i] ? a[i] : b[i];
        else
            for (size_t i = 0; i < n; i++) a[i] += b[i];
    }
}

/* Two scratch blocks of at least `bytes` each, kept between calls; each 64-byte aligned. */
static st_status ring_scratch(st_comm *c, size_t bytes, char **x, char **y)
{
    bytes = (bytes + 63) / 64 * 64;
    if (c->ring_cap < bytes) {
        char *n = realloc(c->ring, 2 * bytes);
        if (!n)
            return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_comm: %zu bytes of reduce-scatter scratch", 2 * bytes);
        c->ring = n;
        c->ring_cap = bytes;
    }
    *x = c->ring;
    *y = c->ring + c->ring_cap;
    return ST_OK;
}

st_status comm_ring_reduce_scatter(st_comm *c, st_level lv, const void *send, void *recv, const int *counts,
                                   comm_type type, st_reduce_op op)
{
    int p = c->lsize[lv], r = c->lrank[lv];
    size_t es = comm_type_size(type), most = 0;
    if (type == COMM_U16)
        return ST_ERR(ST_ERR_INTERNAL, "st_comm: 16-bit words are not reduced (bf16 reduces as f32)");
    size_t *displ = malloc(sizeof(size_t) * (size_t)p);
    if (!displ)
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "st_comm: host allocation failed");
    for (int j = 0, off = 0; j < p; off += counts[j], j++) {
        displ[j] = (size_t)off;
        most = (size_t)counts[j] > most ? (size_t)counts[j] : most;
    }
    char *prev = NULL, *next = NULL;
    st_status s = ring_scratch(c, most * es > 0 ? most * es : 1, &prev, &next);
    const char *base = send;
    double t0 = comm_now();
    /* Step k sends chunk (r-k-1) mod p to the right (at k = 0 this rank's own contribution, after
     * that the partial sum received at step k-1) and receives chunk (r-k-2) mod p from the left,
     * adding this rank's contribution to it; after p-1 steps that chunk is r, fully reduced. The
     * input is only read, so an in-place call keeps it intact until the result is written. */
    int right = (r + 1) % p, left = (r + p - 1) % p;
    for (int k = 0; k < p - 1 && s == ST_OK; k++) {
        int out = ((r - k - 1) % p + p) % p, in = ((r - k - 2) % p + p) % p;
        const void *what = k == 0 ? base + displ[out] * es : prev;
        int rc = MPI_Sendrecv(what, counts[out], mpi_type_of(type), right, 0x5754, next, counts[in],
                              mpi_type_of(type), left, 0x5754, c->level[lv], MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            s = comm_mpi_error(rc, "MPI_Sendrecv (reduce-scatter ring)");
            break;
        }
        reduce_into(next, base + displ[in] * es, (size_t)counts[in], type, op);
        char *t = prev;
        prev = next;
        next = t;
    }
    if (s == ST_OK) {
        if (p == 1)
            memmove(recv, base + displ[r] * es, (size_t)counts[r] * es);
        else
            memcpy(recv, prev, (size_t)counts[r] * es);
    }
    c->seconds[lv] += comm_now() - t0;
    free(displ);
    return s;
}

#endif
