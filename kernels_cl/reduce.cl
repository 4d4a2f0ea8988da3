/* sum, mean, max along an axis, and sumsq. x is (outer, n, inner) contiguous; one work-group
 * (power-of-two size) per output element y[o * inner + j]. */

#define ST_REDUCE(name, init, combine, group, finish)                                            \
    __kernel void st_##name(__global void *y, long yoff, __global const void *x, long xoff,      \
                            long n, long inner, int dt, __local float *red)                     \
    {                                                                                            \
        long g = get_group_id(0), o = g / inner, j = g % inner;                                  \
        float acc = (init);                                                                      \
        for (long k = get_local_id(0); k < n; k += get_local_size(0)) {                          \
            float v = st_ld(x, dt, xoff + (o * n + k) * inner + j);                              \
            acc = combine;                                                                       \
        }                                                                                        \
        acc = group(red, acc);                                                                   \
        if (get_local_id(0) == 0) st_st(y, dt, yoff + g, (finish));                              \
    }

ST_REDUCE(sum, 0.0f, acc + v, st_group_sum, acc)
ST_REDUCE(mean, 0.0f, acc + v, st_group_sum, acc / (float)n)
/* fmax drops NaN; a NaN input must give a NaN maximum as on the host. */
ST_REDUCE(max, -INFINITY, (isnan(v) || isnan(acc)) ? NAN : fmax(acc, v), st_group_max_nan, acc)

/* Stage 1 of sumsq: work-group g sums x^2 over its slice into partial[g] (f32); the host then
 * sums the partials with st_sum. */
__kernel void st_sumsq(__global float *partial, __global const void *x, long xoff, long total,
                       int dt, __local float *red)
{
    float acc = 0.0f;
    for (long i = get_global_id(0); i < total; i += get_global_size(0)) {
        float v = st_ld(x, dt, xoff + i);
        acc += v * v;
    }
    acc = st_group_sum(red, acc);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = acc;
}
