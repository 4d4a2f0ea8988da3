/* The per-unit mode's state, shared by shard_units.c (attach, slots, the executor's hooks and the
 * prefetch schedule) and shard_unit_ops.c (each unit's gather and reduce-scatter). */
#ifndef STRATA_SHARD_UNITS_H
#define STRATA_SHARD_UNITS_H

#include "shard_async.h"
#include "shard_internal.h"
#include "strata/graph.h"

typedef struct shard_unit {
    int pslot, gslot;    /* slots held, -1 for none */
    int pending;         /* a gather started and not finished */
    int64_t gather;      /* ticket of its gather in flight (balanced layout), 0 for none */
    int gather_bwd;      /* ... for backward */
    int gather_tails;    /* ... that also brought T (the first of its pass) */
    struct shard_state_unit {
        st_shard_state *s;
        int k;
    } ctx;               /* the reduce-scatter's completion context */
} shard_unit;

typedef struct shard_slot {
    st_tensor *t;
    int64_t len;
    int busy;
} shard_slot;

struct shard_layers {
    st_graph_plan *plan;
    int n_units, n_params, n_nodes, n_slots;
    shard_unit *u;
    st_tensor **pv, **gv;/* per parameter: views of the slot its unit holds now (owned) */
    int *pv_slot, *gv_slot;
    st_node *node;       /* parameter nodes of the plan ... */
    int *node_param;     /* ... and the parameter each is bound to */
    shard_slot *slot;    /* grows to the most slots live at once */
    uint64_t slot_bytes;
    st_tensor *ptail, *gtail; /* balanced: T's parameters and gradient (R elements), NULL when R = 0 */
    /* The schedule: units in the order of their first BEGIN in forward and in backward, learnt
     * from the first micro-batch (known = 1 after its backward). */
    int *order[2], n_order[2], *at[2], known;
    int64_t started[2];  /* gathers started, per direction: the first of each pass brings T */
    int ended;           /* BACKWARD_ENDs of the current backward pass */
};

/* shard_unit_ops.c. */
st_status shard_unit_acquire(st_shard_state *s, int64_t need, int *out);
void shard_unit_drop(shard_layers *l, int *slot);
/* Starts unit k's gather into its slot (contiguous layout: the whole blocking gather). */
st_status shard_unit_gather_start(st_shard_state *s, int k, int backward);
/* Completes it: waits for it (balanced), then the tail and the secondary copy's share. */
st_status shard_unit_gather_finish(st_shard_state *s, int k);
/* Unit k's gradient slot into the accumulator; with `last`, T's too, and every collective in flight
 * finished before it returns. Without overlap every one is finished before it returns. */
st_status shard_unit_reduce(st_shard_state *s, int k, int last);

#endif
