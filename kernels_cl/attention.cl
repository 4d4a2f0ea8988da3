/* Causal attention and its backward on (B, H, T, D) operands, without materialising the T x T
 * score matrix: scores are recomputed per chunk of L keys (L = work-group size) into local
 * memory. Local buffers: red (L floats), p (2L), acc (2D). */

inline float st_dot(__global const void *a, long ai, __global const void *b, long bi, long D, int dt)
{
    float s = 0.0f;
    for (long d = 0; d < D; d++) s += st_ld(a, dt, ai + d) * st_ld(b, dt, bi + d);
    return s;
}

/* One work-group per query row (b, h, t). Pass 1: log-sum-exp by an online max/sum per work-item,
 * merged over the group. Pass 2: o = sum_j exp(s_j - lse) v_j, chunk by chunk. */
__kernel void st_attention(__global void *o, long ooff, __global float *lse, long loff,
                           __global const void *q, long qoff, __global const void *k, long koff,
                           __global const void *v, long voff, long T, long D, float scale, int dt,
                           __local float *red, __local float *p, __local float *acc)
{
    long g = get_group_id(0), t = g % T, kv = (g / T) * T * D;
    int lid = get_local_id(0), L = get_local_size(0);
    float m = -INFINITY, l = 0.0f;
    for (long j = lid; j <= t; j += L) {
        float s = st_dot(q, qoff + g * D, k, koff + kv + j * D, D, dt) * scale;
        if (s > m) {
            l = l * exp(m - s) + 1.0f;
            m = s;
        } else {
            l += exp(s - m);
        }
    }
    float M = st_group_max(red, m);
    float ls = M + log(st_group_sum(red, m == -INFINITY ? 0.0f : l * exp(m - M)));
    for (long d = lid; d < D; d += L) acc[d] = 0.0f;
    for (long j0 = 0; j0 <= t; j0 += L) {
        long j = j0 + lid;
        p[lid] = j <= t ? exp(st_dot(q, qoff + g * D, k, koff + kv + j * D, D, dt) * scale - ls) : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        long cnt = min((long)L, t - j0 + 1);
        for (long d = lid; d < D; d += L) {
            float a = acc[d];
            for (long jj = 0; jj < cnt; jj++) a += p[jj] * st_ld(v, dt, voff + kv + (j0 + jj) * D + d);
            acc[d] = a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (long d = lid; d < D; d += L) st_st(o, dt, ooff + g * D + d, acc[d]);
    if (lid == 0) lse[loff + g] = ls;
}

/* dq: one work-group per query row t; dS_tj = P_tj (dout_t . v_j - dout_t . o_t). */
__kernel void st_attention_backward(__global void *dq, long dqoff, __global const void *dout,
                                    long dooff, __global const void *q, long qoff,
                                    __global const void *k, long koff, __global const void *v,
                                    long voff, __global const void *o, long ooff,
                                    __global const float *lse, long loff, long T, long D,
                                    float scale, int dt, __local float *red, __local float *p,
                                    __local float *acc)
{
    long g = get_group_id(0), t = g % T, kv = (g / T) * T * D;
    int lid = get_local_id(0), L = get_local_size(0);
    float part = 0.0f;
    for (long d = lid; d < D; d += L) part += st_ld(dout, dt, dooff + g * D + d) * st_ld(o, dt, ooff + g * D + d);
    float Dt = st_group_sum(red, part), ls = lse[loff + g];
    for (long d = lid; d < D; d += L) acc[d] = 0.0f;
    for (long j0 = 0; j0 <= t; j0 += L) {
        long j = j0 + lid;
        float ds = 0.0f;
        if (j <= t) {
            float P = exp(st_dot(q, qoff + g * D, k, koff + kv + j * D, D, dt) * scale - ls);
            ds = P * (st_dot(dout, dooff + g * D, v, voff + kv + j * D, D, dt) - Dt);
        }
        p[lid] = ds;
        barrier(CLK_LOCAL_MEM_FENCE);
        long cnt = min((long)L, t - j0 + 1);
        for (long d = lid; d < D; d += L) {
            float a = acc[d];
            for (long jj = 0; jj < cnt; jj++) a += p[jj] * st_ld(k, dt, koff + kv + (j0 + jj) * D + d);
            acc[d] = a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (long d = lid; d < D; d += L) st_st(dq, dt, dqoff + g * D + d, acc[d] * scale);
}

/* dk, dv: one work-group per key row j, over the queries t >= j. */
__kernel void st_attention_backward_kv(__global void *dk, long dkoff, __global void *dv,
                                       long dvoff, __global const void *dout, long dooff,
                                       __global const void *q, long qoff, __global const void *k,
                                       long koff, __global const void *v, long voff,
                                       __global const void *o, long ooff,
                                       __global const float *lse, long loff, long T, long D,
                                       float scale, int dt, __local float *red, __local float *p,
                                       __local float *acc)
{
    long g = get_group_id(0), j = g % T, bh = g / T, kv = bh * T * D;
    int lid = get_local_id(0), L = get_local_size(0);
    (void)red;
    for (long d = lid; d < D; d += L) acc[d] = acc[D + d] = 0.0f;
    for (long t0 = j; t0 < T; t0 += L) {
        long t = t0 + lid, row = bh * T + t;
        float ds = 0.0f, P = 0.0f;
        if (t < T) {
            P = exp(st_dot(q, qoff + row * D, k, koff + kv + j * D, D, dt) * scale - lse[loff + row]);
            float Dt = st_dot(dout, dooff + row * D, o, ooff + row * D, D, dt);
            ds = P * (st_dot(dout, dooff + row * D, v, voff + kv + j * D, D, dt) - Dt);
        }
        p[lid] = ds;
        p[L + lid] = P;
        barrier(CLK_LOCAL_MEM_FENCE);
        long cnt = min((long)L, T - t0);
        for (long d = lid; d < D; d += L) {
            float ak = acc[d], av = acc[D + d];
            for (long tt = 0; tt < cnt; tt++) {
                long r = (bh * T + t0 + tt) * D + d;
                ak += p[tt] * st_ld(q, dt, qoff + r);
                av += p[L + tt] * st_ld(dout, dt, dooff + r);
            }
            acc[d] = ak;
            acc[D + d] = av;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (long d = lid; d < D; d += L) {
        st_st(dk, dt, dkoff + kv + j * D + d, acc[d] * scale);
        st_st(dv, dt, dvoff + kv + j * D + d, acc[D + d]);
    }
}
