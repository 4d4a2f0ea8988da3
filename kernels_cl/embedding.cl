/* embedding and embedding_backward. Indices outside [0, V) never touch memory: the forward
 * writes a zero row, the backward skips the row (docs/OPS.md). */

__kernel void st_embedding(__global void *y, long yoff, __global const void *table, long toff,
                           __global const int *idx, long ioff, long N, long V, long C, int dt)
{
    long i = get_global_id(0);
    if (i >= N * C) return;
    long n = i / C, c = i % C;
    int t = idx[ioff + n];
    float v = (t >= 0 && t < V) ? st_ld(table, dt, toff + (long)t * C + c) : 0.0f;
    st_st(y, dt, yoff + i, v);
}

/* One work-item per column c owns dtable[:, c], so the scatter-add needs no atomics and adds in
 * index order. acc (f32, V x C) is dtable itself for f32 or a staging buffer for bf16, zeroed by
 * the host first. */
__kernel void st_embedding_backward(__global float *acc, long aoff, __global const void *dy,
                                    long dyoff, __global const int *idx, long ioff, long N, long V,
                                    long C, int dt)
{
    long c = get_global_id(0);
    if (c >= C) return;
    for (long n = 0; n < N; n++) {
        int t = idx[ioff + n];
        if (t >= 0 && t < V) acc[aoff + (long)t * C + c] += st_ld(dy, dt, dyoff + n * C + c);
    }
}
