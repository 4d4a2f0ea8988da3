/* Helpers shared by every kernel of kernels_cl/: dtype codes, bf16 conversion and strided
 * addressing. Prepended to the other files when the plugin embeds them into one program. */
#pragma OPENCL FP_CONTRACT OFF
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define ST_F32 0
#define ST_BF16 1
#define ST_I32 2
#define ST_I8 3

/* bf16 is the upper half of an f32; stores round to nearest even and keep NaN a (quiet) NaN. */
inline float st_bf16_to_f32(ushort x) { return as_float((uint)x << 16); }

inline ushort st_f32_to_bf16(float x)
{
    uint u = as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}

/* Element i of a float operand stored as f32 or bf16. */
inline float st_ld(__global const void *p, int dt, long i)
{
    return dt == ST_BF16 ? st_bf16_to_f32(((__global const ushort *)p)[i])
                         : ((__global const float *)p)[i];
}

inline void st_st(__global void *p, int dt, long i, float x)
{
    if (dt == ST_BF16) ((__global ushort *)p)[i] = st_f32_to_bf16(x);
    else ((__global float *)p)[i] = x;
}

/* Element offset of row-major index i in a strided view. A view is a long8 (s0 = element offset,
 * s1..s4 = strides of the 4 dims); shapes are long4, padded with leading 1s. flat != 0 means the
 * host collapsed every operand to one dimension (2: with unit strides), which spares the
 * divisions. */
inline long st_at(long8 v, long4 n, int flat, long i)
{
    if (flat) return v.s0 + i * v.s4;
    long i3 = i % n.s3;
    i /= n.s3;
    long i2 = i % n.s2;
    i /= n.s2;
    long i1 = i % n.s1;
    long i0 = i / n.s1;
    return v.s0 + i0 * v.s1 + i1 * v.s2 + i2 * v.s3 + i3 * v.s4;
}

/* Runs the statements (the variadic part) for the element indices i of this work-item. flat == 2 means every operand is
 * contiguous: a work-item then takes ST_CHUNK consecutive elements, which amortises the
 * per-work-item cost that dominates memory-bound kernels on CPU devices. Otherwise one element. */
#define ST_CHUNK 16
#define ST_FOR_EACH(total, flat, ...)                                                   \
    if ((flat) == 2) {                                                                 \
        long i0_ = (long)get_global_id(0) * ST_CHUNK, e_ = min((long)(total), i0_ + ST_CHUNK); \
        for (long i = i0_; i < e_; i++) { __VA_ARGS__ }                                       \
    } else {                                                                           \
        long i = get_global_id(0);                                                     \
        if (i < (total)) { __VA_ARGS__ }                                                      \
    }

/* Tree reduction over a work-group whose size is a power of two; every work-item gets the result.
 * The trailing barrier lets the caller reuse `red` right away. */
inline float st_group_sum(__local float *red, float x)
{
    int lid = get_local_id(0), L = get_local_size(0);
    red[lid] = x;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s /= 2) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline float st_group_max(__local float *red, float x)
{
    int lid = get_local_id(0), L = get_local_size(0);
    red[lid] = x;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s /= 2) {
        if (lid < s) red[lid] = fmax(red[lid], red[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Maximum that propagates NaN (fmax alone would drop it). */
inline float st_group_max_nan(__local float *red, float x)
{
    int lid = get_local_id(0), L = get_local_size(0);
    red[lid] = x;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s /= 2) {
        if (lid < s) {
            float a = red[lid], b = red[lid + s];
            red[lid] = (isnan(a) || isnan(b)) ? NAN : fmax(a, b);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
