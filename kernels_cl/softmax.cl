/* softmax and softmax_backward over the last dim: one work-group per row. */

/* Row r of (..., T, S) keeps columns j <= (r mod T) + S - T under the causal mask. */
__kernel void st_softmax(__global void *y, long yoff, __global const void *x, long xoff, long S,
                         long T, int causal, int dt, __local float *red)
{
    long r = get_group_id(0), base = r * S;
    long lim = causal ? (r % T) + S - T : S - 1;
    int lid = get_local_id(0), L = get_local_size(0);
    float m = -INFINITY;
    for (long j = lid; j <= lim; j += L) m = fmax(m, st_ld(x, dt, xoff + base + j));
    m = st_group_max(red, m);
    float s = 0.0f;
    for (long j = lid; j <= lim; j += L) s += exp(st_ld(x, dt, xoff + base + j) - m);
    s = st_group_sum(red, s);
    for (long j = lid; j < S; j += L) {
        float v = j <= lim ? exp(st_ld(x, dt, xoff + base + j) - m) / s : 0.0f;
        st_st(y, dt, yoff + base + j, v);
    }
}

__kernel void st_softmax_backward(__global void *dx, long dxoff, __global const void *dy,
                                  long dyoff, __global const void *y, long yoff, long S, int dt,
                                  __local float *red)
{
    long base = get_group_id(0) * S;
    int lid = get_local_id(0), L = get_local_size(0);
    float dot = 0.0f;
    for (long j = lid; j < S; j += L)
        dot += st_ld(dy, dt, dyoff + base + j) * st_ld(y, dt, yoff + base + j);
    dot = st_group_sum(red, dot);
    for (long j = lid; j < S; j += L) {
        float yv = st_ld(y, dt, yoff + base + j);
        st_st(dx, dt, dxoff + base + j, yv * (st_ld(dy, dt, dyoff + base + j) - dot));
    }
}
