/* Causal scaled-dot-product attention and its backward on the CPU, (B, H, T, D) row-major, as
 * blocked products in the flash-attention manner: a tile of ATT_BQ queries meets the key/value
 * tiles of ATT_BK keys it can see, S = Q K^T and O += P V are tile products (cpu_attn_tile.h),
 * and the softmax is taken online (running max and sum per row, O rescaled when the max rises).
 * The forward saves only the log-sum-exp of each row; the backward recomputes each tile's
 * scores from it. Memory stays O(tile) per thread; any head dim D. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_attn_tile.h"
#include "cpu_strided.h"
#include "cpu_vmath.h"

#define ATTN_PAR_MIN 4096
/* Query and key tile edges. Equal, so that a query tile's last key tile is its diagonal one and
 * every row there keeps at least its own key (no row is ever fully masked). */
#define ATT_BQ 64
#define ATT_BK 64

/* Forward scratch per thread: scores (BQ x BK), row max and sum (BQ each). */
static int64_t fwd_scratch(void) { return ATT_BQ * ATT_BK + 2 * ATT_BQ; }

/* K^T of a group of heads, key tile by key tile (D x BK each, contiguous), made once per head and
 * read by every query tile of the head (transposing per query tile cost ~10% of the forward). */
static int64_t kt_size(int64_t BH, int64_t T, int64_t D) { return BH * ((T + ATT_BK - 1) / ATT_BK) * D * ATT_BK; }

/* The unscaled scores Q K^T of one tile: queries i0.. (q) against keys j0.. (kt = their K^T tile).
 * On the diagonal tile (i0 == j0) only what the mask leaves is computed: each row's columns past
 * its own key (up to a 16-column block) are not written. The scale is applied inside the exp. */
ATT_INLINE void scores(float *restrict s, const float *restrict q, const float *restrict kt, int64_t bq,
                       int64_t bk, int64_t D, int diag)
{
    att_gemm_f(s, ATT_BK, q, D, 1, kt, ATT_BK, bq, bk, D, ATT_SET | (diag ? ATT_CN : 0));
}

/* How many of a tile's bk keys (from j0) query i sees: keys j0 + j <= i. */
ATT_INLINE int64_t visible(int64_t i, int64_t j0, int64_t bk)
{
    int64_t n = i - j0 + 1;
    return n < bk ? n : bk;
}

/* s[j] = exp(s[j] scale - m) over a tile row (at most ATT_BK), returning their sum. */
ATT_INLINE float exp_row(float *s, float scale, float m, int64_t n)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t j = 0; j < n; j++) {
        float e = cpu_expf_fast(s[j] * scale - m); /* <= 0: the fast exp's range is enough */
        s[j] = e;
        acc += e;
    }
    return acc;
}

/* One query tile (rows i0 .. i0+bq) of one head: o and lse of those rows; ktk: the head's K^T tiles. */
CPU_CLONES static void attention_tile(float *o, float *lse, const float *q, const float *ktk, const float *v,
                                      int64_t i0, int64_t bq, int64_t D, float scale, float *scr)
{
    float *s = scr, *mx = s + ATT_BQ * ATT_BK, *sum = mx + ATT_BQ;
    memset(o, 0, sizeof(float) * (size_t)(bq * D));
    for (int64_t r = 0; r < bq; r++) mx[r] = -INFINITY, sum[r] = 0.0f;
    for (int64_t j0 = 0; j0 < i0 + bq; j0 += ATT_BK) {
        int64_t bk = i0 + bq - j0 < ATT_BK ? i0 + bq - j0 : ATT_BK;
        int diag = j0 == i0;
        scores(s, q, ktk + j0 / ATT_BK * D * ATT_BK, bq, bk, D, diag);
        for (int64_t r = 0; r < bq; r++) {
            /* keys past the query (diagonal tile) get probability 0, not exp(-inf) */
            int64_t n = visible(i0 + r, j0, bk);
            float *sr = s + r * ATT_BK, m = cpu_row_max(sr, n) * scale;
            m = m > mx[r] ? m : mx[r];
            float alpha = cpu_expf(mx[r] - m);
            sum[r] = sum[r] * alpha + exp_row(sr, scale, m, n);
            for (int64_t j = n; j < bk; j++) sr[j] = 0.0f;
            mx[r] = m;
            float *orow = o + r * D;
#pragma omp simd
            for (int64_t d = 0; d < D; d++) orow[d] *= alpha;
        }
        att_gemm_f(o, D, s, ATT_BK, 1, v + j0 * D, D, bq, D, bk, diag ? ATT_CK : 0);
    }
    for (int64_t r = 0; r < bq; r++) {
        float inv = 1.0f / sum[r], *orow = o + r * D;
#pragma omp simd
        for (int64_t d = 0; d < D; d++) orow[d] *= inv;
        lse[r] = mx[r] + logf(sum[r]);
    }
}

/* Frees the f32 copies of bf16 operands made by cpu_as_f32. */
static void free_all(float **tmp, int n)
{
    for (int i = 0; i < n; i++) free(tmp[i]);
}

/* Heads are taken a group at a time, so that a group's K^T, K and V stay in cache while its query
 * tiles run (all heads' K^T at once spilled to memory at B = 4): a few heads a group, enough
 * query tiles for every thread. */
static int64_t head_group(int nt) { return (nt + 3) / 4; }

static void attention_run(float *o, float *lse, const float *const *in, int64_t BH, int64_t T, int64_t D,
                          float *scratch, int nt)
{
    int64_t tiles = (T + ATT_BQ - 1) / ATT_BQ, ktiles = (T + ATT_BK - 1) / ATT_BK, G = head_group(nt);
    float scale = 1.0f / sqrtf((float)D), *kt = scratch + fwd_scratch() * nt;
#pragma omp parallel num_threads(nt)
    {
        float *scr = scratch + fwd_scratch() * omp_get_thread_num();
        for (int64_t h0 = 0; h0 < BH; h0 += G) {
            int64_t g = BH - h0 < G ? BH - h0 : G;
#pragma omp for schedule(static)
            for (int64_t w = 0; w < g * ktiles; w++) {
                int64_t j0 = w % ktiles * ATT_BK, bk = T - j0 < ATT_BK ? T - j0 : ATT_BK;
                att_transpose(kt + w * D * ATT_BK, ATT_BK, in[1] + ((h0 + w / ktiles) * T + j0) * D, D, bk, D);
            }
            /* The last tiles of a head cost the most: handed out first, one at a time. */
#pragma omp for schedule(dynamic, 1)
            for (int64_t w = 0; w < g * tiles; w++) {
                int64_t h = h0 + w % g, i0 = (tiles - 1 - w / g) * ATT_BQ, bq = T - i0 < ATT_BQ ? T - i0 : ATT_BQ;
                int64_t hs = h * T * D;
                attention_tile(o + hs + i0 * D, lse + h * T + i0, in[0] + hs + i0 * D,
                               kt + (h - h0) * ktiles * D * ATT_BK, in[2] + hs, i0, bq, D, scale, scr);
            }
        }
    }
}

st_status st_cpu_attention(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *qv = &c->in[0];
    int64_t BH = qv->shape[0] * qv->shape[1], T = qv->shape[2], D = qv->shape[3];
    float *lse = cpu_ptr(&c->out[1]);
    int nt = BH * T * T * D > ATTN_PAR_MIN ? omp_get_max_threads() : 1;
    const float *in[3];
    int64_t need = fwd_scratch() * nt + kt_size(BH < head_group(nt) ? BH : head_group(nt), T, D);
    float *tmp[3] = {0}, *o, *to = NULL, *scratch = malloc(sizeof(float) * (size_t)need);
    st_status s = scratch ? ST_OK
                          : ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu attention: scratch of %lld floats", (long long)need);
    for (int i = 0; i < 3 && s == ST_OK; i++) s = cpu_as_f32(&c->in[i], &in[i], &tmp[i]);
    if (s == ST_OK) s = cpu_out_f32(&c->out[0], &o, &to, 0);
    if (s == ST_OK) {
        attention_run(o, lse, in, BH, T, D, scratch, nt);
        cpu_finish_f32(&c->out[0], to);
    }
    free_all(tmp, 3);
    free(scratch);
    return s;
}

/* Backward scratch per thread: K^T and V^T tiles (D x BK), P and dP/dS (BQ x BK), and each row's
 * sum(dout * out) (T). */
static int64_t bwd_scratch(int64_t T, int64_t D) { return 2 * D * ATT_BK + 2 * ATT_BQ * ATT_BK + T; }

/* P of one tile from the saved lse (zero past each query), and dS = P (dP - sum(dO O)) scale. */
ATT_INLINE void tile_probs(float *restrict p, const float *restrict lse, int64_t i0, int64_t j0, int64_t bq,
                           int64_t bk, float scale)
{
    for (int64_t r = 0; r < bq; r++) {
        int64_t n = visible(i0 + r, j0, bk);
        float *pr = p + r * ATT_BK, l = lse[i0 + r];
#pragma omp simd
        for (int64_t j = 0; j < n; j++) pr[j] = cpu_expf_fast(pr[j] * scale - l);
        for (int64_t j = n; j < bk; j++) pr[j] = 0.0f;
    }
}

/* Past each query's last key dP may be unwritten (ATT_CN): dS is 0 there, not P times it. */
ATT_INLINE void tile_ds(float *restrict dp, const float *restrict p, const float *restrict dl, int64_t i0,
                        int64_t j0, int64_t bq, int64_t bk, float scale)
{
    for (int64_t r = 0; r < bq; r++) {
        int64_t n = visible(i0 + r, j0, bk);
        float *dr = dp + r * ATT_BK, l = dl[i0 + r];
        const float *pr = p + r * ATT_BK;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) dr[j] = pr[j] * (dr[j] - l) * scale;
        for (int64_t j = n; j < bk; j++) dr[j] = 0.0f;
    }
}

typedef struct att_head {
    const float *g, *q, *k, *v, *o, *lse;
    float *dq, *dk, *dv;
    int64_t T, D;
    float scale;
} att_head;

/* One (query tile, key tile) pair: dV_j += P^T dO_i, dQ_i += dS K_j, dK_j += dS^T Q_i. */
ATT_INLINE void backward_pair(const att_head *h, float *scr, float *dq, int64_t i0, int64_t j0, int64_t bq,
                              int64_t bk, const float *dl)
{
    int64_t D = h->D;
    float *kt = scr, *vt = kt + D * ATT_BK, *p = vt + D * ATT_BK, *dp = p + ATT_BQ * ATT_BK;
    const float *gi = h->g + i0 * D, *qi = h->q + i0 * D;
    int diag = i0 == j0;
    scores(p, qi, kt, bq, bk, D, diag);
    tile_probs(p, h->lse, i0, j0, bq, bk, h->scale);
    att_gemm_f(h->dv + j0 * D, D, p, 1, ATT_BK, gi, D, bk, D, bq, diag ? ATT_CK0 : 0);       /* P^T dO */
    att_gemm_f(dp, ATT_BK, gi, D, 1, vt, ATT_BK, bq, bk, D, ATT_SET | (diag ? ATT_CN : 0)); /* dO V^T */
    tile_ds(dp, p, dl, i0, j0, bq, bk, h->scale);
    att_gemm_f(dq + i0 * D, D, dp, ATT_BK, 1, h->k + j0 * D, D, bq, D, bk, diag ? ATT_CK : 0); /* dS K */
    att_gemm_f(h->dk + j0 * D, D, dp, 1, ATT_BK, qi, D, bk, D, bq, diag ? ATT_CK0 : 0);           /* dS^T Q */
}

/* Key tiles [jt0, jt1) of one head, key tile by key tile: dK_j, dV_j are complete after their
 * query tiles, and the dQ terms go to dq (the head's dQ, or the part's own buffer when the head's
 * key tiles are split between threads), which the caller has zeroed. */
CPU_CLONES static void attention_backward_keys(const att_head *h, float *scr, float *dq, int64_t jt0, int64_t jt1)
{
    int64_t T = h->T, D = h->D, r0 = jt0 * ATT_BK, r1 = jt1 * ATT_BK < T ? jt1 * ATT_BK : T;
    float *kt = scr, *vt = kt + D * ATT_BK, *dl = scr + bwd_scratch(0, D);
    memset(h->dk + r0 * D, 0, sizeof(float) * (size_t)((r1 - r0) * D));
    memset(h->dv + r0 * D, 0, sizeof(float) * (size_t)((r1 - r0) * D));
    /* queries before r0 see none of these keys */
    for (int64_t t = r0; t < T; t++) dl[t] = (float)cpu_row_dot(h->g + t * D, h->o + t * D, D);
    for (int64_t j0 = r0; j0 < r1; j0 += ATT_BK) {
        int64_t bk = T - j0 < ATT_BK ? T - j0 : ATT_BK;
        att_transpose(kt, ATT_BK, h->k + j0 * D, D, bk, D);
        att_transpose(vt, ATT_BK, h->v + j0 * D, D, bk, D);
        for (int64_t i0 = j0 / ATT_BQ * ATT_BQ; i0 < T; i0 += ATT_BQ)
            backward_pair(h, scr, dq, i0, j0, T - i0 < ATT_BQ ? T - i0 : ATT_BQ, bk, dl);
    }
}

/* Part p of `parts` of a head's key tiles, cut so that each part has about the same work: key
 * tile t meets the ktiles - t query tiles from its own on. */
static void key_part(int64_t ktiles, int64_t parts, int64_t p, int64_t *jt0, int64_t *jt1)
{
    int64_t total = ktiles * (ktiles + 1) / 2, acc = 0, t = 0;
    for (; t < ktiles && acc * parts < total * p; t++) acc += ktiles - t;
    *jt0 = t;
    for (; t < ktiles && acc * parts < total * (p + 1); t++) acc += ktiles - t;
    *jt1 = t;
}

typedef struct att_bwd {
    const float *const *in; /* dout, q, k, v, out */
    const float *lse;
    float *const *out;      /* dq, dk, dv */
    float *dqp;             /* parts > 1: each (head, part)'s dQ terms, T x D */
    int64_t BH, T, D, parts;
} att_bwd;

/* Work items (head, part of its key tiles), dynamically handed out; with several parts a head's dQ
 * is the sum of its parts' buffers, added once every item is done. */
static void attention_backward_run(const att_bwd *a, float *scratch, int nt)
{
    int64_t T = a->T, D = a->D, hs = T * D, P = a->parts, ktiles = (T + ATT_BK - 1) / ATT_BK;
#pragma omp parallel num_threads(nt)
    {
        float *scr = scratch + bwd_scratch(T, D) * omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int64_t w = 0; w < a->BH * P; w++) {
            int64_t b = w / P, jt0, jt1;
            att_head h = {a->in[0] + b * hs, a->in[1] + b * hs, a->in[2] + b * hs, a->in[3] + b * hs,
                          a->in[4] + b * hs, a->lse + b * T, a->out[0] + b * hs, a->out[1] + b * hs,
                          a->out[2] + b * hs, T, D, 1.0f / sqrtf((float)D)};
            float *dq = P > 1 ? a->dqp + w * hs : h.dq;
            memset(dq, 0, sizeof(float) * (size_t)hs);
            key_part(ktiles, P, w % P, &jt0, &jt1);
            attention_backward_keys(&h, scr, dq, jt0, jt1);
        }
        if (P > 1) {
#pragma omp for schedule(static)
            for (int64_t e = 0; e < a->BH * hs; e++) {
                const float *src = a->dqp + e / hs * P * hs + e % hs;
                float acc = 0.0f;
                for (int64_t p = 0; p < P; p++) acc += src[p * hs];
                a->out[0][e] = acc;
            }
        }
    }
}

st_status st_cpu_attention_backward(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *qv = &c->in[1];
    int64_t BH = qv->shape[0] * qv->shape[1], T = qv->shape[2], D = qv->shape[3];
    int nt = BH * T * T * D > ATTN_PAR_MIN ? omp_get_max_threads() : 1;
    /* Fewer heads than two per thread: each head's key tiles are split into parts as well. */
    int64_t ktiles = (T + ATT_BK - 1) / ATT_BK, parts = BH >= 2 * nt || BH == 0 ? 1 : (2 * nt + BH - 1) / BH;
    parts = parts < ktiles ? parts : ktiles > 0 ? ktiles : 1;
    const float *in[5];
    float *tmp[5] = {0}, *out[3], *tout[3] = {0};
    float *scratch = malloc(sizeof(float) * (size_t)(bwd_scratch(T, D) * nt));
    float *dqp = parts > 1 ? malloc(sizeof(float) * (size_t)(BH * parts * T * D)) : NULL;
    st_status s = scratch && (parts == 1 || dqp)
                      ? ST_OK
                      : ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu attention_backward: scratch of %d x %lld floats",
                               nt, (long long)bwd_scratch(T, D));
    for (int i = 0; i < 5 && s == ST_OK; i++) s = cpu_as_f32(&c->in[i], &in[i], &tmp[i]);
    for (int i = 0; i < 3 && s == ST_OK; i++) s = cpu_out_f32(&c->out[i], &out[i], &tout[i], 0);
    if (s == ST_OK) {
        att_bwd a = {in, cpu_ptr(&c->in[5]), out, dqp, BH, T, D, parts};
        attention_backward_run(&a, scratch, nt);
        for (int i = 0; i < 3; i++) cpu_finish_f32(&c->out[i], tout[i]);
    } else {
        free_all(tout, 3);
    }
    free_all(tmp, 5);
    free(scratch);
    free(dqp);
    return s;
}
