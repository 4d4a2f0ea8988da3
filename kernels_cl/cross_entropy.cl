/* cross_entropy (fused softmax + negative log-likelihood) and its backward. A target < 0 or
 * >= V marks an ignored row: loss 0 and zero gradient, and the target is never used as an index. */

/* One work-group per row. */
__kernel void st_cross_entropy(__global float *loss, long loff, __global float *probs, long poff,
                               __global const void *logits, long xoff, __global const int *tgt,
                               long toff, long V, int dt, __local float *red)
{
    long r = get_group_id(0), base = r * V;
    int lid = get_local_id(0), L = get_local_size(0);
    float m = -INFINITY;
    for (long j = lid; j < V; j += L) m = fmax(m, st_ld(logits, dt, xoff + base + j));
    m = st_group_max(red, m);
    float s = 0.0f;
    for (long j = lid; j < V; j += L) s += exp(st_ld(logits, dt, xoff + base + j) - m);
    s = st_group_sum(red, s);
    for (long j = lid; j < V; j += L)
        probs[poff + base + j] = exp(st_ld(logits, dt, xoff + base + j) - m) / s;
    if (lid == 0) {
        int t = tgt[toff + r];
        loss[loff + r] = (t >= 0 && t < V) ? m + log(s) - st_ld(logits, dt, xoff + base + t) : 0.0f;
    }
}

/* One work-item per element of dlogits (rows, V). */
__kernel void st_cross_entropy_backward(__global void *dx, long dxoff, __global const float *dloss,
                                        long loff, __global const float *probs, long poff,
                                        __global const int *tgt, long toff, long rows, long V,
                                        int dt)
{
    long i = get_global_id(0);
    if (i >= rows * V) return;
    long r = i / V, j = i % V;
    int t = tgt[toff + r];
    float g = 0.0f;
    if (t >= 0 && t < V) g = (probs[poff + i] - (j == t ? 1.0f : 0.0f)) * dloss[loff + r];
    st_st(dx, dt, dxoff + i, g);
}
