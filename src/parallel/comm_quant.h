/* The stages of comm_quant.c's quantized collectives, shared by its blocking level-range calls
 * and the shard queue's nonblocking machines (shard_async_quant.c), so that both run the same
 * arithmetic: the same blocks, the same quantization, the same f32 sums in the same order. */
#ifndef STRATA_COMM_QUANT_H
#define STRATA_COMM_QUANT_H

#include "shard_internal.h"

/* Bytes of n quantized elements' payload (int4 packs two per byte). */
static inline int64_t comm_quant_payload(int64_t n, int bits) { return bits == 4 ? (n + 1) / 2 : n; }

/* One level's quantized all-to-all (qgZ): p peers, this rank `me`; byte counts and displacements
 * (send: sc, sd; receive: rc, rd) of each peer's (payload, scales) record, and where each peer's
 * payload and scales sit in the device buffers of comm_quant_pack. The caller owns the arrays. */
typedef struct a2a {
    int p, me, bits;
    int64_t block;
    int *sc, *sd, *rc, *rd;
    int64_t *qpos, *spos;
} a2a;

/* Stage 1: every peer's piece t[displs[j], + counts[j]) but this rank's own quantized on t's
 * device and packed (payload, scales) per peer into *send (malloc'ed, the caller frees it, also on
 * error); fills x->sc, x->sd, x->qpos, x->spos. */
st_status comm_quant_pack(a2a *x, st_tensor *t, const int *counts, const int *displs, char **send);
/* Stage 3: t[0, c) = t[own_at, + c) (exact) plus every peer's record of recv (at x->rd[j])
 * dequantized, summed in f32 in peer order. */
st_status comm_quant_sum(a2a *x, st_tensor *t, int64_t own_at, int64_t c, const char *recv);
/* qwZ's dequantization on arrival: t[0, m) = elements [a, a + m) of the vector of master shards
 * described by src, from their int8 payload pay[0, m) (host). */
st_status comm_quant_dequant_run(st_tensor *t, const int8_t *pay, const quant_src *src, int64_t a, int64_t m);

#endif
