/* Causal scaled-dot-product attention and its backward on the CPU, (B, H, T, D) row-major.
 * Scores are computed on the fly, one query row at a time, in a per-thread scratch of T floats:
 * memory stays O(T) per thread instead of O(T^2) per head. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_strided.h"
#include "cpu_vmath.h"

#define ATTN_PAR_MIN 4096

static inline float dot(const float *a, const float *b, int64_t n)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy(float *y, float a, const float *x, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* Query row t of one head: o = sum_{j<=t} softmax_j(q.k_j * scale) v_j and its log-sum-exp.
 * Cloned per ISA like the elementwise loops, so the dots, axpys and exps use the widest vectors. */
CPU_CLONES static void attention_row(float *o, float *lse, const float *q, const float *k,
                                     const float *v, int64_t t, int64_t D, float scale, float *s)
{
    for (int64_t j = 0; j <= t; j++) s[j] = dot(q, k + j * D, D) * scale;
    float mx = cpu_row_max(s, t + 1);
    for (int64_t j = 0; j <= t; j++) s[j] = cpu_expf(s[j] - mx);
    double sum = cpu_row_dot(s, NULL, t + 1);
    float inv = (float)(1.0 / sum);
    memset(o, 0, sizeof(float) * (size_t)D);
    for (int64_t j = 0; j <= t; j++) axpy(o, s[j] * inv, v + j * D, D);
    *lse = mx + (float)log(sum);
}

/* Frees the f32 copies of bf16 operands made by cpu_as_f32. */
static void free_all(float **tmp, int n)
{
    for (int i = 0; i < n; i++) free(tmp[i]);
}

st_status st_cpu_attention(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *qv = &c->in[0];
    int64_t BH = qv->shape[0] * qv->shape[1], T = qv->shape[2], D = qv->shape[3];
    float scale = 1.0f / sqrtf((float)D), *lse = cpu_ptr(&c->out[1]);
    int nt = BH * T * T * D > ATTN_PAR_MIN ? omp_get_max_threads() : 1;
    const float *in[3];
    float *tmp[3] = {0}, *o, *to = NULL, *scratch = malloc(sizeof(float) * (size_t)T * (size_t)nt);
    st_status s = scratch ? ST_OK
                          : ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu attention: scratch of %d x %lld floats", nt,
                                   (long long)T);
    for (int i = 0; i < 3 && s == ST_OK; i++) s = cpu_as_f32(&c->in[i], &in[i], &tmp[i]);
    if (s == ST_OK) s = cpu_out_f32(&c->out[0], &o, &to, 0);
    if (s == ST_OK) {
        /* Row t costs O(t): small interleaved chunks give each thread an even share. */
#pragma omp parallel num_threads(nt)
        {
            float *sc = scratch + T * omp_get_thread_num();
#pragma omp for schedule(static, 4)
            for (int64_t r = 0; r < BH * T; r++) {
                int64_t head = r / T * T * D;
                attention_row(o + r * D, lse + r, in[0] + r * D, in[1] + head, in[2] + head, r % T, D,
                              scale, sc);
            }
        }
        cpu_finish_f32(&c->out[0], to);
    }
    free_all(tmp, 3);
    free(scratch);
    return s;
}

/* One head. dk and dv gather over every query t >= j, so a head is never split between threads.
 * in: dout, q, k, v, o (T, D) each; lse (T); scratch: 2T floats. */
CPU_CLONES static void attention_backward_head(float *dq, float *dk, float *dv,
                                               const float *const *in, const float *lse, int64_t T,
                                               int64_t D, float scale, float *p)
{
    const float *g = in[0], *q = in[1], *k = in[2], *v = in[3], *o = in[4];
    float *ds = p + T;
    memset(dk, 0, sizeof(float) * (size_t)(T * D));
    memset(dv, 0, sizeof(float) * (size_t)(T * D));
    for (int64_t t = 0; t < T; t++) {
        const float *gt = g + t * D, *qt = q + t * D;
        float dt = dot(gt, o + t * D, D);
        for (int64_t j = 0; j <= t; j++) {
            p[j] = dot(qt, k + j * D, D) * scale - lse[t];
            ds[j] = dot(gt, v + j * D, D);
        }
        /* The exps in a loop of their own, which vectorises; then dS = P (dP - D_t) scale. */
        for (int64_t j = 0; j <= t; j++) p[j] = cpu_expf(p[j]);
        for (int64_t j = 0; j <= t; j++) ds[j] = p[j] * (ds[j] - dt) * scale;
        float *dqt = dq + t * D;
        memset(dqt, 0, sizeof(float) * (size_t)D);
        for (int64_t j = 0; j <= t; j++) {
            axpy(dqt, ds[j], k + j * D, D);
            axpy(dk + j * D, ds[j], qt, D);
            axpy(dv + j * D, p[j], gt, D);
        }
    }
}

st_status st_cpu_attention_backward(void *ctx, int dev, const st_op_call *c)
{
    (void)ctx;
    (void)dev;
    const st_view *qv = &c->in[1];
    int64_t BH = qv->shape[0] * qv->shape[1], T = qv->shape[2], D = qv->shape[3];
    float scale = 1.0f / sqrtf((float)D);
    const float *lse = cpu_ptr(&c->in[5]);
    int nt = BH > 1 && BH * T * T * D > ATTN_PAR_MIN ? omp_get_max_threads() : 1;
    const float *in[5];
    float *tmp[5] = {0}, *out[3], *tout[3] = {0};
    float *scratch = malloc(sizeof(float) * 2 * (size_t)T * (size_t)nt);
    st_status s = scratch ? ST_OK
                          : ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu attention_backward: scratch of %d x %lld floats",
                                   nt, 2 * (long long)T);
    for (int i = 0; i < 5 && s == ST_OK; i++) s = cpu_as_f32(&c->in[i], &in[i], &tmp[i]);
    for (int i = 0; i < 3 && s == ST_OK; i++) s = cpu_out_f32(&c->out[i], &out[i], &tout[i], 0);
    if (s == ST_OK) {
        int64_t hs = T * D;
#pragma omp parallel num_threads(nt)
        {
            float *sc = scratch + 2 * T * omp_get_thread_num();
#pragma omp for schedule(static)
            for (int64_t h = 0; h < BH; h++) {
                const float *hin[5];
                for (int i = 0; i < 5; i++) hin[i] = in[i] + h * hs;
                attention_backward_head(out[0] + h * hs, out[1] + h * hs, out[2] + h * hs, hin,
                                        lse + h * T, T, D, scale, sc);
            }
        }
        for (int i = 0; i < 3; i++) cpu_finish_f32(&c->out[i], tout[i]);
    } else {
        free_all(tout, 3);
    }
    free_all(tmp, 5);
    free(scratch);
    return s;
}
