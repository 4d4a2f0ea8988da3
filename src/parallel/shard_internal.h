/* The st_shard_state object shared by the sharded-state files: the engine (shard.c), its
 * level-range collectives (shard_levels.c) and its checkpoints (shard_ckpt.c). */
#ifndef STRATA_SHARD_INTERNAL_H
#define STRATA_SHARD_INTERNAL_H

#include "strata/shard.h"

typedef struct shard_layers shard_layers; /* shard_units.c: the per-unit mode */
typedef struct shard_quant shard_quant;   /* shard_quant.c: qwZ/qgZ state */
typedef struct shard_queue shard_queue;   /* shard_async.c: collectives in flight */

/* shard_layout.c. Where each element of the padded vector [0, L) lives. The units (a layer's
 * parameters; st_shard_attach_graph) have runs: [lo, hi) ranges of the arena's vector, ascending,
 * tiling [0, L) over all units; a unit's slot is its runs end to end. */
typedef struct shard_unit_map {
    int64_t (*run)[2];  /* arena ranges */
    int64_t *run_pos;   /* where each run starts in the slot */
    int nruns;
    int64_t numel;      /* the slot's length: the runs' total */
    int64_t q;          /* balanced: each world rank's piece of the slot's first N q elements */
    int64_t boff;       /* balanced: where that piece sits in each world block of W */
    int64_t toff;       /* balanced: where the unit's tail (its last numel - N q elements) sits in T */
} shard_unit_map;

/* One piece of the permutation: W[w, w + n) = arena[a, a + n). */
typedef struct shard_seg {
    int64_t w, a, n;
} shard_seg;

/* The layout. Contiguous (balanced = 0): W is the arena's vector itself, so a scope's shard is one
 * contiguous slice of it and a unit lies in the slices of few ranks. Balanced (parameters sharded
 * over more than one rank): W, the vector every shard and whole-vector collective works on, is
 * N world blocks of B = L / N elements; block w holds, for each unit in turn, the w-th of the N
 * equal pieces (q elements) of the slot's first N q elements, then the w-th R / N elements of
 * T, the units' tails (fewer than N elements each) end to end (R = L - N sum q, a multiple of N).
 * A scope's shard is a run of whole blocks, so every rank holds 1/N of every unit and a unit's
 * gather is a true all-gather of its N q elements; T is gathered (and reduce-scattered) once per
 * pass, as one bucket. */
typedef struct shard_map {
    int balanced;
    int n_units, n_params;
    int *unit_of;            /* per parameter */
    int64_t *pos;            /* per parameter: its offset in its unit's slot */
    shard_unit_map *u;
    int64_t B, Q, R;         /* block, sum of q, tails' total */
    shard_seg *seg;          /* W -> arena, ascending in w, tiling [0, L) */
    int nseg;
    uint64_t *numel;         /* balanced: each unit's numel, for st_shard_model */
} shard_map;

/* Lengths are in f32 elements; offsets are where a shard starts in the padded flat vector. */
struct st_shard_state {
    st_params *ps;                 /* borrowed */
    st_comm *c;                    /* borrowed */
    st_partition p;
    st_adamw_config cfg;
    st_device *dev;
    int64_t F, P, L, D;            /* arena length, partitioned length, padded length, decay region */
    int N;
    st_tensor *arena_p, *arena_g;  /* borrowed flat arenas */
    st_tensor *wp, *wg;            /* owned handles: views of the arenas [0, L), or padded copies */
    int padded_copy;               /* 1: wp/wg are separate L-element buffers (L > F) */
    st_tensor *pshard;             /* params-scope shard (a reference to wp when replicated) */
    st_tensor *acc;                /* grads-scope accumulator (a reference to wg when replicated) */
    st_tensor *m, *v;              /* optim-scope AdamW moments */
    st_tensor *sec;                /* secondary copy, NULL without one */
    st_tensor *scalar;             /* one f32 for st_sumsq */
    int64_t len_p, len_g, len_o, len_s;
    int64_t off_p, off_o, off_s;
    int64_t step;
    shard_layers *lay;             /* NULL until st_shard_attach_graph */
    shard_quant *quant;            /* NULL unless the scheme quantizes (qw or qg) */
    st_tensor *master;             /* qw with params narrower than optim: the exact optim shard */
    shard_map *map;                /* the layout of W (st_shard_create) */
    shard_queue *q;                /* the collectives in flight (per-unit mode) */
    int overlap;                   /* 1: prefetch and overlap (st_shard_set_overlap; default 1) */
    uint64_t bucket;               /* balanced layout: units below this many elements are bucketed */
    st_partition_memory measured; /* allocator deltas around each kind's allocation */
};

/* shard_levels.c. Level-range collectives on f32 tensors, in place, summing, counted in the
 * communicator's per-level byte counters as comm.h counts them. Levels [lo, hi) are the levels of
 * scope `hi` (an st_shard value) that are not in scope `lo`. */

/* t holds a scope-lo shard (n elements, divisible by the level sizes); afterwards t[0, n / p_lo..p_hi-1)
 * holds this rank's scope-hi shard of the reduction over those levels. */
st_status shard_reduce_scatter_levels(st_comm *c, st_tensor *t, int lo, int hi);
/* t (n elements) holds this rank's scope-hi shard at shard_offset(c, n, lo, hi); afterwards t is
 * the whole scope-lo shard gathered over levels [lo, hi), slowest first. */
st_status shard_all_gather_levels(st_comm *c, st_tensor *t, int lo, int hi);
/* Per-unit runs: t holds the elements [a, a + numel(t)) of a scope-lo vector of n elements.
 * all_gather_run: t holds (at least) this rank's scope-hi shard's piece of the run; afterwards the
 * whole run. reduce_scatter_run: afterwards t[0, *kept) holds the sum over levels [lo, hi) of the
 * run's piece inside this rank's scope-hi shard, which starts at *start of the vector. Both count
 * the bytes other ranks' pieces take, so runs tiling the vector count what one whole-vector
 * collective counts. */
st_status shard_all_gather_run(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi);
st_status shard_reduce_scatter_run(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi, int64_t *start,
                                   int64_t *kept);
/* All-reduce (sum) of t over the ranks of one level. */
st_status shard_all_reduce_level(st_comm *c, st_tensor *t, int level);
/* Where this rank's scope-hi shard starts inside a scope-lo shard of n elements. */
int64_t shard_offset(const st_comm *c, int64_t n, int lo, int hi);
/* 1 when this rank holds the first copy of its scope-s shard (index 0 at every level outside s). */
int shard_first_copy(const st_comm *c, int s);
/* Sum of one float over every rank, not counted (control traffic); also serves as a barrier. */
st_status shard_sum_scalar(st_comm *c, float *v);
/* Checks that every rank passed the same n (<= 8) values; ST_ERR_INVALID_ARG naming `what`. */
st_status shard_agree(st_comm *c, const int64_t *v, int n, const char *const *what);

/* Pieces of run [a, a + m) in the p sub-blocks [base + j sub, + sub) of a level: counts[j] and
 * displs[j] (where each starts in the run); shard_others sums the counts of all peers but `me`. */
void shard_pieces(int p, int64_t base, int64_t sub, int64_t a, int64_t m, int *counts, int *displs);
int64_t shard_others(const int *counts, int p, int me);

/* comm_quant.c: the quantized collectives (host MPI, quantization on t's device). */
typedef struct quant_src {
    const int8_t *q;       /* this rank's master shard quantized to int8 (mlen bytes, host) */
    const float *scales;   /* the scales of every master shard of the gathered vector, in order */
    int64_t mlen, block;   /* master shard length; elements per scale (blocks start at each shard) */
} quant_src;
/* qwZ: t holds (room for) elements [a, a + numel(t)) of a scope-lo vector of n elements made of
 * master shards of scope hi; afterwards t holds them dequantized, the int8 payload all-gathered over
 * levels [lo, hi) slowest first. Counted as all-gather bytes (1 per element). */
st_status comm_quant_gather_run(st_comm *c, const quant_src *src, st_tensor *t, int64_t a, int64_t n, int lo,
                                int hi);
/* All-gather in place of host floats (count of them, this rank's block at its offset) over
 * levels [lo, hi), counted. */
st_status comm_quant_gather_scales(st_comm *c, float *h, int64_t count, int lo, int hi);
/* qgZ: as shard_reduce_scatter_run, each level a quantized all-to-all (bits 8 or 4, `block`
 * elements per scale) with the sum in f32. Counted as all-to-all wire bytes. */
st_status comm_quant_reduce_scatter_run(st_comm *c, int bits, int64_t block, st_tensor *t, int64_t a, int64_t n,
                                        int lo, int hi, int64_t *start, int64_t *kept);

/* shard_quant.c: the engine's side. Every function is a no-op without quantization. */
st_status shard_quant_create(st_shard_state *s); /* after the state's tensors exist (collective) */
/* The elements per row of ps's weight matrices (its hidden width; 0 without a matrix): the default
 * gradient block (partition.h qgblock). */
uint64_t shard_row(const st_params *ps);
void shard_quant_destroy(st_shard_state *s);
/* After an update or a load: re-quantize the master shard, gather the scales, and with params
 * narrower than optim the quantized step gather into the params shard (collective, counted). */
st_status shard_quant_sync(st_shard_state *s);
/* After AdamW and the step's parameter gather: re-quantize (params == optim), or bring the master
 * into the params shard when no level lies between params and optim. */
st_status shard_quant_updated(st_shard_state *s);
/* Dispatch from shard_levels.c: 1 when c's engine quantizes this gather / reduce-scatter. */
int shard_quant_gathers(const st_comm *c, int lo, int hi);
int shard_quant_reduces(const st_comm *c, int lo, int hi);
st_status shard_quant_gather(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi);
st_status shard_quant_reduce(st_comm *c, st_tensor *t, int64_t a, int64_t n, int lo, int hi, int64_t *start,
                             int64_t *kept);
/* Elements per scale of a kind (grads 0: the qwZ weights, 1: the qgZ gradients): the one place the
 * engine reads the block size. */
int64_t shard_quant_block(const shard_quant *q, int grads);
/* For the queue's machines (shard_async_quant.c), when shard_quant_gathers / _reduces said 1: the
 * qwZ source (this rank's master payload, every scale), the qgZ bits and block. */
void shard_quant_source(const st_comm *c, quant_src *src);
void shard_quant_grad(const st_comm *c, int *bits, int64_t *block);

/* shard.c helpers the checkpoint and unit code use. dst[doff, + len) = src[soff, + len), 1-d. */
st_status shard_view(st_tensor *t, int64_t off, int64_t len, st_tensor **out);
st_status shard_copy_range(st_tensor *dst, int64_t doff, st_tensor *src, int64_t soff, int64_t len);
/* shard_layout.c. The default units (by name) or `units` (NULL: default) into a new map of s's
 * geometry, balanced when `balanced`. */
st_status shard_map_new(st_shard_state *s, const int *units, int balanced, shard_map **out);
void shard_map_free(shard_map *m);
/* 1 when `units` (NULL: the default) groups the parameters as m does. */
int shard_map_same_units(const st_shard_state *s, const shard_map *m, const int *units);
/* arena[0, F) from W-ordered w (L elements), and back (w zeroed where the arena has nothing). */
st_status shard_map_to_arena(const st_shard_state *s, st_tensor *arena, st_tensor *w);
st_status shard_map_from_arena(const st_shard_state *s, st_tensor *w, st_tensor *arena);
/* dst[0, n) = W[w, w + n) taken from the arena (elements the arena lacks are left as they are). */
st_status shard_map_take(const st_shard_state *s, st_tensor *dst, int64_t w, int64_t n, st_tensor *arena);
/* shard.c: the whole-arena path's W-ordered working buffers, allocated on first use (balanced). */
st_status shard_working(st_shard_state *s);
/* The arena ranges of W's elements [w, w + n): calls fn(ctx, w_i, a_i, n_i) for each piece, in W
 * order. */
st_status shard_map_each(const shard_map *m, int64_t w, int64_t n,
                         st_status (*fn)(void *ctx, int64_t w, int64_t a, int64_t n), void *ctx);

/* shard_units.c: frees s->lay (NULL-safe). */
void shard_layers_free(st_shard_state *s);
/* shard.c: finishes every collective in flight (per-unit mode); before anything reads the state. */
st_status shard_drain(st_shard_state *s);
st_status shard_sync_arena_params(st_shard_state *s);

#endif
