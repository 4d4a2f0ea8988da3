/* layernorm and layernorm_backward over the last dim C of (rows, C). */

/* One work-group per row; variance from a second pass over the row, as the host does. */
__kernel void st_layernorm(__global void *y, long yoff, __global float *mean, long moff,
                           __global float *rstd, long roff, __global const void *x, long xoff,
                           __global const void *w, long woff, __global const void *b, long boff,
                           long C, float eps, int dt, __local float *red)
{
    long r = get_group_id(0), base = r * C;
    int lid = get_local_id(0), L = get_local_size(0);
    float s = 0.0f;
    for (long j = lid; j < C; j += L) s += st_ld(x, dt, xoff + base + j);
    float mu = st_group_sum(red, s) / (float)C;
    float q = 0.0f;
    for (long j = lid; j < C; j += L) {
        float d = st_ld(x, dt, xoff + base + j) - mu;
        q += d * d;
    }
    float rs = 1.0f / sqrt(st_group_sum(red, q) / (float)C + eps);
    for (long j = lid; j < C; j += L) {
        float xh = (st_ld(x, dt, xoff + base + j) - mu) * rs;
        st_st(y, dt, yoff + base + j, xh * st_ld(w, dt, woff + j) + st_ld(b, dt, boff + j));
    }
    if (lid == 0) {
        mean[moff + r] = mu;
        rstd[roff + r] = rs;
    }
}

/* dx: one work-group per row. */
__kernel void st_layernorm_backward(__global void *dx, long dxoff, __global const void *dy,
                                    long dyoff, __global const void *x, long xoff,
                                    __global const void *w, long woff,
                                    __global const float *mean, long moff,
                                    __global const float *rstd, long roff, long C, int dt,
                                    __local float *red)
{
    long r = get_group_id(0), base = r * C;
    int lid = get_local_id(0), L = get_local_size(0);
    float mu = mean[moff + r], rs = rstd[roff + r];
    float sg = 0.0f, sgx = 0.0f;
    for (long j = lid; j < C; j += L) {
        float g = st_ld(dy, dt, dyoff + base + j) * st_ld(w, dt, woff + j);
        sg += g;
        sgx += g * (st_ld(x, dt, xoff + base + j) - mu) * rs;
    }
    float ag = st_group_sum(red, sg) / (float)C;
    float agx = st_group_sum(red, sgx) / (float)C;
    for (long j = lid; j < C; j += L) {
        float g = st_ld(dy, dt, dyoff + base + j) * st_ld(w, dt, woff + j);
        float xh = (st_ld(x, dt, xoff + base + j) - mu) * rs;
        st_st(dx, dt, dxoff + base + j, rs * (g - ag - xh * agx));
    }
}

/* dw, db: one work-item per column, summing over the rows in order (deterministic). */
__kernel void st_layernorm_backward_wb(__global void *dw, long dwoff, __global void *db,
                                       long dboff, __global const void *dy, long dyoff,
                                       __global const void *x, long xoff,
                                       __global const float *mean, long moff,
                                       __global const float *rstd, long roff, long rows, long C,
                                       int dt)
{
    long j = get_global_id(0);
    if (j >= C) return;
    float sw = 0.0f, sb = 0.0f;
    for (long r = 0; r < rows; r++) {
        float d = st_ld(dy, dt, dyoff + r * C + j);
        sw += d * (st_ld(x, dt, xoff + r * C + j) - mean[moff + r]) * rstd[roff + r];
        sb += d;
    }
    st_st(dw, dt, dwoff + j, sw);
    st_st(db, dt, dboff + j, sb);
}
