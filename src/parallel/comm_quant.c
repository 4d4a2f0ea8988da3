/* ZeRO++'s quantized collectives over a range of hierarchy levels (docs/partitioning.md, section 9),
 * on the block-quantization ops of the op table (st_quantize / st_dequantize run on the tensor's
 * device: on a GPU only the quantized payload and its scales are staged to the host for MPI).
 *  - qwZ gather: every owner quantized its master shard once (shard_quant.c); the int8 payload is
 *    all-gathered level by level, slowest first, without requantizing, and dequantized on arrival
 *    with the scales every rank already holds. Stages: own payload in, gather per level,
 *    dequantize.
 *  - qgZ reduce-scatter: at each level, fastest first, quantize each peer's chunk, all-to-all,
 *    dequantize and sum in f32 onto this rank's own (exact) chunk: one quantization per level,
 *    never one per ring hop. The levels split contiguous blocks in comm.h's rank order, so each
 *    rank ends with exactly its shard and no reordering step is needed.
 * Bytes are counted as they go on the wire (payload plus 4 per scale) in the per-level counters:
 * ST_COLL_ALL_GATHER for qwZ, ST_COLL_ALL_TO_ALL for qgZ. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"
#include "shard_internal.h"
#include "comm_quant.h"
#include "strata/ops.h"

static int64_t payload(int64_t n, int bits) { return comm_quant_payload(n, bits); }
static int64_t nblocks(int64_t n, int64_t block) { return n / block + (n % block != 0); }

static st_status oom(void) { return ST_ERR(ST_ERR_OUT_OF_MEMORY, "quantized collective: host allocation failed"); }

static st_status dev_tensor(st_device *dev, st_dtype dt, int64_t n, st_tensor **out)
{
    int64_t len = n > 0 ? n : 1;
    return st_tensor_create(dev, dt, 1, &len, out);
}

/* st_dequantize of q[qo, + n payload) with scales s[so, + nblocks) into out[oo, + n). */
static st_status dequant_range(st_tensor *q, int64_t qo, st_tensor *s, int64_t so, st_tensor *out, int64_t oo,
                               int64_t n, int bits, int64_t block, int accumulate)
{
    st_tensor *qv = NULL, *sv = NULL, *ov = NULL;
    st_status st = shard_view(q, qo, payload(n, bits), &qv);
    if (st == ST_OK)
        st = shard_view(s, so, nblocks(n, block), &sv);
    if (st == ST_OK)
        st = shard_view(out, oo, n, &ov);
    if (st == ST_OK)
        st = st_dequantize(qv, sv, ov, bits, block, accumulate);
    st_tensor_destroy(qv);
    st_tensor_destroy(sv);
    st_tensor_destroy(ov);
    return st;
}

/* ---- qwZ: int8 payload of master shards of `mlen` elements, scales per shard in `nb` blocks ---- */

/* t[0, m) = elements [a, a + m) of the vector, dequantized from pay (host, m bytes) with the scales
 * of the shards they lie in. A shard's blocks start at the shard's start; a piece that starts
 * inside a block is dequantized with that block's scale alone first. */
st_status comm_quant_dequant_run(st_tensor *t, const int8_t *pay, const quant_src *src, int64_t a, int64_t m)
{
    int64_t B = src->block, mlen = src->mlen, nb = nblocks(mlen, B);
    int64_t s0 = a / mlen * nb + a % mlen / B, s1 = (a + m - 1) / mlen * nb + (a + m - 1) % mlen / B;
    st_tensor *q = NULL, *s = NULL;
    st_status st = dev_tensor(st_tensor_device(t), ST_I8, m, &q);
    if (st == ST_OK)
        st = dev_tensor(st_tensor_device(t), ST_F32, s1 - s0 + 1, &s);
    if (st == ST_OK)
        st = st_tensor_write(q, pay, (size_t)m);
    if (st == ST_OK)
        st = st_tensor_write(s, src->scales + s0, (size_t)(s1 - s0 + 1) * sizeof(float));
    for (int64_t x = a; st == ST_OK && x < a + m;) {
        int64_t j = x / mlen, end = (j + 1) * mlen < a + m ? (j + 1) * mlen : a + m, r = x - j * mlen;
        int64_t len = r % B ? B - r % B : end - x; /* a partial leading block alone, then whole blocks */
        len = len < end - x ? len : end - x;
        st = dequant_range(q, x - a, s, j * nb + r / B - s0, t, x - a, len, 8, r % B ? len : B, 0);
        x += len;
    }
    st_tensor_destroy(q);
    st_tensor_destroy(s);
    return st;
}

#ifdef STRATA_HAVE_MPI
static st_status gather_bytes(st_comm *c, int l, int8_t *h, const int *counts, const int *displs)
{
    double t0 = comm_now();
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, h, counts, displs, MPI_BYTE, c->level[l]);
    c->seconds[l] += comm_now() - t0;
    return rc == MPI_SUCCESS ? ST_OK : comm_mpi_error(rc, "MPI_Allgatherv (quantized)");
}

static st_status exchange(st_comm *c, int l, const void *send, const int *sc, const int *sd, void *recv,
                          const int *rc_, const int *rd)
{
    double t0 = comm_now();
    int rc = MPI_Alltoallv(send, sc, sd, MPI_BYTE, recv, rc_, rd, MPI_BYTE, c->level[l]);
    c->seconds[l] += comm_now() - t0;
    return rc == MPI_SUCCESS ? ST_OK : comm_mpi_error(rc, "MPI_Alltoallv (quantized)");
}
#else
static st_status gather_bytes(st_comm *c, int l, int8_t *h, const int *counts, const int *displs)
{
    (void)c, (void)l, (void)h, (void)counts, (void)displs;
    return ST_ERR(ST_ERR_UNSUPPORTED, "quantized collective: this build has no MPI");
}

static st_status exchange(st_comm *c, int l, const void *send, const int *sc, const int *sd, void *recv,
                          const int *rc_, const int *rd)
{
    (void)c, (void)l, (void)send, (void)sc, (void)sd, (void)recv, (void)rc_, (void)rd;
    return ST_ERR(ST_ERR_UNSUPPORTED, "quantized collective: this build has no MPI");
}
#endif

static void count(st_comm *c, int l, st_collective coll, uint64_t sent, uint64_t received)
{
    c->bytes[l][coll].sent += sent;
    c->bytes[l][coll].received += received;
}

st_status comm_quant_gather_run(st_comm *c, const quant_src *src, st_tensor *t, int64_t a, int64_t n, int lo, int hi)
{
    int64_t m = st_tensor_numel(t), own = shard_offset(c, n, lo, hi), below[ST_LEVEL_COUNT + 1];
    int8_t *pay = malloc((size_t)(m > 0 ? m : 1));
    int *counts = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!pay || !counts) {
        free(pay), free(counts);
        return oom();
    }
    /* Stage 1: this rank's piece of the run, from its quantized master shard. */
    int64_t x0 = a > own ? a : own, x1 = a + m < own + src->mlen ? a + m : own + src->mlen;
    if (x1 > x0)
        memcpy(pay + (x0 - a), src->q + (x0 - own), (size_t)(x1 - x0));
    /* Stage 2: the payload gathered level by level, slowest first, as shard_all_gather_run. */
    below[lo] = n;
    for (int l = lo; l < hi; l++)
        below[l + 1] = below[l] / c->lsize[l];
    st_status st = ST_OK;
    for (int l = hi - 1; l >= lo && st == ST_OK; l--) {
        int p = c->lsize[l];
        if (p == 1)
            continue;
        shard_pieces(p, shard_offset(c, n, lo, l), below[l + 1], a, m, counts, counts + c->size);
        int64_t moved = shard_others(counts, p, c->lrank[l]);
        if (moved + counts[c->lrank[l]] > 0)
            st = gather_bytes(c, l, pay, counts, counts + c->size);
        if (st == ST_OK)
            count(c, l, ST_COLL_ALL_GATHER, (uint64_t)moved, (uint64_t)moved);
    }
    /* Stage 3: dequantized on arrival into the working parameters. */
    if (st == ST_OK && m > 0)
        st = comm_quant_dequant_run(t, pay, src, a, m);
    free(pay);
    free(counts);
    return st;
}

st_status comm_quant_gather_scales(st_comm *c, float *h, int64_t count_, int lo, int hi)
{
    int64_t below[ST_LEVEL_COUNT + 1];
    below[lo] = count_;
    for (int l = lo; l < hi; l++)
        below[l + 1] = below[l] / c->lsize[l];
    for (int l = hi - 1; l >= lo; l--) {
        int p = c->lsize[l];
        if (p == 1)
            continue;
        float *base = h + shard_offset(c, count_, lo, l);
        int64_t cur = below[l + 1];
        ST_TRY(comm_mpi_all_gather(c, (st_level)l, base + (int64_t)c->lrank[l] * cur, base, (size_t)cur, COMM_F32));
        uint64_t b = (uint64_t)(p - 1) * (uint64_t)cur * sizeof(float);
        count(c, l, ST_COLL_ALL_GATHER, b, b);
    }
    return ST_OK;
}

/* ---- qgZ: one level's quantized all-to-all ---- */

/* Stage 1: every peer's piece of t quantized on the device, then packed (payload, scales) per peer
 * into the host send buffer. */
st_status comm_quant_pack(a2a *x, st_tensor *t, const int *counts, const int *displs, char **send)
{
    int64_t qn = 0, sn = 0, bytes = 0;
    for (int j = 0; j < x->p; j++) {
        int64_t c = j == x->me ? 0 : counts[j];
        x->qpos[j] = qn, x->spos[j] = sn;
        qn += payload(c, x->bits), sn += nblocks(c, x->block);
        x->sd[j] = (int)bytes;
        x->sc[j] = (int)(payload(c, x->bits) + 4 * nblocks(c, x->block));
        bytes += x->sc[j];
    }
    st_tensor *q = NULL, *s = NULL;
    int8_t *hq = malloc((size_t)qn + 1);
    float *hs = malloc(sizeof(float) * (size_t)(sn + 1));
    *send = malloc((size_t)bytes + 1);
    st_status st = hq && hs && *send ? dev_tensor(st_tensor_device(t), ST_I8, qn, &q) : oom();
    if (st == ST_OK)
        st = dev_tensor(st_tensor_device(t), ST_F32, sn, &s);
    for (int j = 0; j < x->p && st == ST_OK; j++) {
        int64_t c = j == x->me ? 0 : counts[j];
        st_tensor *in = NULL, *qv = NULL, *sv = NULL;
        if (c == 0)
            continue;
        st = shard_view(t, displs[j], c, &in);
        if (st == ST_OK)
            st = shard_view(q, x->qpos[j], payload(c, x->bits), &qv);
        if (st == ST_OK)
            st = shard_view(s, x->spos[j], nblocks(c, x->block), &sv);
        if (st == ST_OK)
            st = st_quantize(in, qv, sv, x->bits, x->block);
        st_tensor_destroy(in), st_tensor_destroy(qv), st_tensor_destroy(sv);
    }
    if (st == ST_OK && qn > 0)
        st = st_tensor_read(q, hq, (size_t)qn);
    if (st == ST_OK && sn > 0)
        st = st_tensor_read(s, hs, sizeof(float) * (size_t)sn);
    for (int j = 0; j < x->p && st == ST_OK; j++) {
        int64_t qb = payload(j == x->me ? 0 : counts[j], x->bits);
        memcpy(*send + x->sd[j], hq + x->qpos[j], (size_t)qb);
        memcpy(*send + x->sd[j] + qb, hs + x->spos[j], (size_t)(x->sc[j] - qb));
    }
    st_tensor_destroy(q), st_tensor_destroy(s);
    free(hq), free(hs);
    return st;
}

/* Stage 3: own piece (exact) plus every peer's dequantized piece, summed in f32 in peer order,
 * into t[0, c). */
st_status comm_quant_sum(a2a *x, st_tensor *t, int64_t own_at, int64_t c, const char *recv)
{
    int64_t qb = payload(c, x->bits), nb = nblocks(c, x->block);
    st_tensor *acc = NULL, *q = NULL, *s = NULL;
    int8_t *hq = malloc((size_t)(x->p * qb) + 1);
    float *hs = malloc(sizeof(float) * (size_t)(x->p * nb) + 1);
    st_status st = hq && hs ? dev_tensor(st_tensor_device(t), ST_F32, c, &acc) : oom();
    for (int j = 0; j < x->p && st == ST_OK; j++) /* unpack (payload, scales) per peer */
        if (j != x->me) {
            memcpy(hq + j * qb, recv + x->rd[j], (size_t)qb);
            memcpy(hs + j * nb, recv + x->rd[j] + qb, sizeof(float) * (size_t)nb);
        }
    if (st == ST_OK)
        st = dev_tensor(st_tensor_device(t), ST_I8, x->p * qb, &q);
    if (st == ST_OK)
        st = dev_tensor(st_tensor_device(t), ST_F32, x->p * nb, &s);
    if (st == ST_OK)
        st = st_tensor_write(q, hq, (size_t)(x->p * qb));
    if (st == ST_OK)
        st = st_tensor_write(s, hs, sizeof(float) * (size_t)(x->p * nb));
    if (st == ST_OK)
        st = shard_copy_range(acc, 0, t, own_at, c);
    for (int j = 0; j < x->p && st == ST_OK; j++)
        if (j != x->me)
            st = dequant_range(q, j * qb, s, j * nb, acc, 0, c, x->bits, x->block, 1);
    if (st == ST_OK)
        st = shard_copy_range(t, 0, acc, 0, c);
    st_tensor_destroy(acc), st_tensor_destroy(q), st_tensor_destroy(s);
    free(hq), free(hs);
    return st;
}

/* One level: t's current range split into the peers' pieces (counts, displs); afterwards t[0,
 * counts[me]) holds this rank's piece summed over the level's ranks. */
static st_status quant_level(st_comm *c, int l, int bits, int64_t block, st_tensor *t, const int *counts,
                             const int *displs)
{
    int p = c->lsize[l];
    a2a x = {p, c->lrank[l], bits, block, NULL, NULL, NULL, NULL, NULL, NULL};
    int *ints = malloc(sizeof(int) * 4 * (size_t)p);
    int64_t *pos = malloc(sizeof(int64_t) * 2 * (size_t)p);
    char *send = NULL, *recv = NULL;
    if (!ints || !pos) {
        free(ints), free(pos);
        return oom();
    }
    x.sc = ints, x.sd = ints + p, x.rc = ints + 2 * p, x.rd = ints + 3 * p, x.qpos = pos, x.spos = pos + p;
    int64_t mine = counts[x.me], in = payload(mine, bits) + 4 * nblocks(mine, block), sent = 0;
    for (int j = 0; j < p; j++) {
        x.rc[j] = j == x.me ? 0 : (int)in;
        x.rd[j] = (int)(j * in);
    }
    st_status st = comm_quant_pack(&x, t, counts, displs, &send);
    recv = st == ST_OK ? malloc((size_t)(p * in) + 1) : NULL;
    if (st == ST_OK && !recv)
        st = oom();
    if (st == ST_OK) /* Stage 2: the exchange */
        st = exchange(c, l, send, x.sc, x.sd, recv, x.rc, x.rd);
    if (st == ST_OK && mine > 0)
        st = comm_quant_sum(&x, t, displs[x.me], mine, recv);
    for (int j = 0; j < p; j++)
        sent += x.sc[j];
    if (st == ST_OK)
        count(c, l, ST_COLL_ALL_TO_ALL, (uint64_t)sent, (uint64_t)((p - 1) * in));
    free(send), free(recv), free(ints), free(pos);
    return st;
}

st_status comm_quant_reduce_scatter_run(st_comm *c, int bits, int64_t block, st_tensor *t, int64_t a, int64_t n,
                                        int lo, int hi, int64_t *start, int64_t *kept)
{
    if (st_tensor_numel(t) > (int64_t)1 << 30)
        return ST_ERR(ST_ERR_UNSUPPORTED, "quantized reduce-scatter: %lld elements exceed MPI's int byte counts",
                      (long long)st_tensor_numel(t));
    int *counts = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!counts)
        return oom();
    int64_t cur = a, end = a + st_tensor_numel(t), base = 0, blk = n;
    st_status st = ST_OK;
    /* Fastest level first; each level leaves this rank's reduced piece at the start of t. */
    for (int l = lo; l < hi && st == ST_OK; l++) {
        int p = c->lsize[l];
        int64_t sub = blk / p;
        if (p > 1) {
            shard_pieces(p, base, sub, cur, end - cur, counts, counts + c->size);
            if (end > cur)
                st = quant_level(c, l, bits, block, t, counts, counts + c->size);
        }
        base += (int64_t)c->lrank[l] * sub;
        blk = sub;
        cur = cur > base ? cur : base;
        end = end < base + blk ? end : base + blk;
        end = end > cur ? end : cur;
    }
    free(counts);
    *start = cur;
    *kept = end - cur;
    return st;
}
