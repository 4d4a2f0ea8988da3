/* fill, copy, cast: strided moves between views (see common.cl for the view encoding). */

__kernel void st_fill(__global void *out, long8 vo, long4 n, int flat, long total, int dt,
                      float fvalue, int ivalue)
{
    ST_FOR_EACH(total, flat, {
        long o = st_at(vo, n, flat, i);
        if (dt == ST_I32) ((__global int *)out)[o] = ivalue;
        else if (dt == ST_I8) ((__global char *)out)[o] = (char)ivalue; /* saturated on the host */
        else st_st(out, dt, o, fvalue);
    })
}

/* Bit copy: bf16 moves as 16-bit words, f32 and i32 as 32-bit words, i8 as bytes. */
__kernel void st_copy(__global void *out, long8 vo, __global const void *x, long8 vx, long4 n,
                      int flat, long total, int dt)
{
    ST_FOR_EACH(total, flat, {
        long o = st_at(vo, n, flat, i), s = st_at(vx, n, flat, i);
        if (dt == ST_BF16) ((__global ushort *)out)[o] = ((__global const ushort *)x)[s];
        else if (dt == ST_I8) ((__global uchar *)out)[o] = ((__global const uchar *)x)[s];
        else ((__global uint *)out)[o] = ((__global const uint *)x)[s];
    })
}

__kernel void st_cast(__global void *out, long8 vo, int dt_out, __global const void *x, long8 vx,
                      int dt_in, long4 n, int flat, long total)
{
    ST_FOR_EACH(total, flat, { st_st(out, dt_out, st_at(vo, n, flat, i), st_ld(x, dt_in, st_at(vx, n, flat, i))); })
}
