/* Tensor views on cpu: slice, transpose, reshape, expand and ref share storage and address the
 * right elements; reshape of a view that would need a copy fails with ST_ERR_SHAPE; contiguous,
 * to, describe, scalars, empty tensors and the host bf16 conversions. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "../harness.h"

h_counts h_total;

static st_device *cpu;

/* A (2, 3, 4) f32 tensor holding 0..23. */
static st_tensor *iota(void)
{
    int64_t s[3] = {2, 3, 4};
    float v[24];
    st_tensor *t = NULL;
    for (int i = 0; i < 24; i++) v[i] = (float)i;
    if (st_tensor_create(cpu, ST_F32, 3, s, &t) != ST_OK || st_tensor_write(t, v, sizeof v) != ST_OK)
        printf("setup: %s\n", st_last_error());
    return t;
}

/* Reads t (numel n <= 64) and compares with want. */
static int reads(const st_tensor *t, const float *want, int n, const char *what)
{
    float got[64];
    if (!CHECK(st_tensor_numel(t) == n, "%s: numel %lld, expected %d", what, (long long)st_tensor_numel(t), n)) return 0;
    if (!CHECK(st_tensor_read(t, got, sizeof(float) * (size_t)n) == ST_OK, "%s: read: %s", what, st_last_error())) return 0;
    for (int i = 0; i < n; i++)
        if (!CHECK(got[i] == want[i], "%s: element %d is %g, expected %g", what, i, got[i], want[i])) return 0;
    return 1;
}

static void slices(void)
{
    st_tensor *t = iota(), *s = NULL, *s2 = NULL;
    CHECK_ST(st_tensor_slice(t, 1, 1, 2, 1, &s), ST_OK);
    reads(s, (float[]){4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}, 16, "slice dim 1 [1,3)");
    CHECK_ST(st_tensor_slice(s, -1, 1, 2, 2, &s2), ST_OK);
    reads(s2, (float[]){5, 7, 9, 11, 17, 19, 21, 23}, 8, "slice of a slice, step 2");
    CHECK(!st_tensor_is_contiguous(s2) && st_tensor_stride(s2, 2) == 2, "stepped slice strides");
    /* writing through a view changes only its elements of the shared storage */
    float ones[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    CHECK_ST(st_tensor_write(s2, ones, sizeof ones), ST_OK);
    float want[24];
    for (int i = 0; i < 24; i++) want[i] = (float)i;
    int hit[8] = {5, 7, 9, 11, 17, 19, 21, 23};
    for (int i = 0; i < 8; i++) want[hit[i]] = -1;
    reads(t, want, 24, "storage after writing the view");
    st_tensor_destroy(s2);
    s2 = NULL;
    CHECK_ST(st_tensor_slice(t, 2, 4, 0, 1, &s2), ST_OK); /* empty at the end */
    CHECK(st_tensor_numel(s2) == 0, "empty slice");
    st_tensor_destroy(s2);
    s2 = NULL;
    CHECK_ST(st_tensor_slice(t, 2, 3, 2, 1, &s2), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_slice(t, 2, 0, 3, 2, &s2), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_slice(t, 2, 0, 1, 0, &s2), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_slice(t, 2, -1, 1, 1, &s2), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_slice(t, 3, 0, 1, 1, &s2), ST_ERR_INVALID_ARG);
    CHECK(s2 == NULL, "failed slices left out untouched");
    /* the storage outlives the handle it came from */
    st_tensor_destroy(t);
    reads(s, (float[]){4, -1, 6, -1, 8, -1, 10, -1, 16, -1, 18, -1, 20, -1, 22, -1}, 16, "view after its base was freed");
    st_tensor_destroy(s);
}

static void transposes_and_reshapes(void)
{
    st_tensor *t = iota(), *tr = NULL, *r = NULL;
    CHECK_ST(st_tensor_transpose(t, 0, -1, &tr), ST_OK);
    CHECK(st_tensor_dim(tr, 0) == 4 && st_tensor_dim(tr, 2) == 2 && st_tensor_stride(tr, 0) == 1 &&
          st_tensor_stride(tr, 2) == 12 && !st_tensor_is_contiguous(tr), "transpose shape and strides");
    float want[24];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) want[(i * 3 + j) * 2 + k] = (float)(k * 12 + j * 4 + i);
    reads(tr, want, 24, "transpose(0, 2)");
    CHECK_ST(st_tensor_reshape(tr, 1, (int64_t[]){24}, &r), ST_ERR_SHAPE);
    CHECK(h_msg_has("contiguous"), "message points to st_tensor_contiguous: %s", st_last_error());
    CHECK_ST(st_tensor_reshape(tr, 2, (int64_t[]){4, 6}, &r), ST_ERR_SHAPE);
    CHECK(r == NULL, "failed reshape left out untouched");
    /* splitting a dim of a strided view needs no copy */
    CHECK_ST(st_tensor_reshape(tr, 4, (int64_t[]){2, 2, 3, 2}, &r), ST_OK);
    reads(r, want, 24, "split dim of a transposed view");
    st_tensor_destroy(r);
    r = NULL;
    CHECK_ST(st_tensor_reshape(t, 2, (int64_t[]){6, -1}, &r), ST_OK);
    CHECK(st_tensor_dim(r, 1) == 4 && st_tensor_is_contiguous(r), "reshape with -1");
    st_tensor_destroy(r);
    r = NULL;
    CHECK_ST(st_tensor_reshape(t, 2, (int64_t[]){-1, -1}, &r), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_reshape(t, 2, (int64_t[]){5, 5}, &r), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_reshape(t, 2, (int64_t[]){5, -1}, &r), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_reshape(t, 0, NULL, &r), ST_ERR_SHAPE);
    /* contiguous: the same storage when already contiguous, a copy otherwise */
    st_tensor *c1 = NULL, *c2 = NULL, *to = NULL;
    CHECK_ST(st_tensor_contiguous(t, &c1), ST_OK);
    CHECK_ST(st_tensor_contiguous(tr, &c2), ST_OK);
    CHECK_ST(st_tensor_to(t, NULL, &to), ST_OK);
    CHECK(st_tensor_is_contiguous(c2), "contiguous copy");
    reads(c2, want, 24, "contiguous copy of the transpose");
    CHECK_ST(st_fill(t, 7.0), ST_OK);
    float sevens[24];
    for (int i = 0; i < 24; i++) sevens[i] = 7;
    reads(c1, sevens, 24, "contiguous() of a contiguous tensor aliases it");
    reads(c2, want, 24, "contiguous() of a strided view does not alias it");
    CHECK(st_tensor_numel(to) == 24, "st_tensor_to copy");
    float first[24];
    CHECK(st_tensor_read(to, first, sizeof first) == ST_OK && first[1] == 1.0f, "st_tensor_to never aliases");
    st_tensor *all[] = {t, tr, c1, c2, to};
    for (int i = 0; i < 5; i++) st_tensor_destroy(all[i]);
}

static void expands_and_refs(void)
{
    int64_t s[2] = {1, 4};
    st_tensor *t = NULL, *e = NULL, *e2 = NULL, *ref = NULL;
    CHECK_ST(st_tensor_create(cpu, ST_F32, 2, s, &t), ST_OK);
    CHECK_ST(st_tensor_write(t, (float[]){1, 2, 3, 4}, 16), ST_OK);
    CHECK_ST(st_tensor_expand(t, 2, (int64_t[]){3, 4}, &e), ST_OK);
    CHECK(st_tensor_stride(e, 0) == 0, "expanded dim has stride 0");
    reads(e, (float[]){1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}, 12, "expand (1,4) -> (3,4)");
    CHECK_ST(st_tensor_expand(t, 3, (int64_t[]){2, 1, 4}, &e2), ST_OK);
    reads(e2, (float[]){1, 2, 3, 4, 1, 2, 3, 4}, 8, "expand with a new leading dim");
    st_tensor_destroy(e2);
    e2 = NULL;
    CHECK_ST(st_tensor_expand(t, 2, (int64_t[]){3, 5}, &e2), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_expand(t, 1, (int64_t[]){4}, &e2), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_ref(t, &ref), ST_OK);
    st_tensor_destroy(t);
    reads(ref, (float[]){1, 2, 3, 4}, 4, "ref outlives the original handle");
    char buf[64];
    st_tensor_describe(ref, buf, sizeof buf);
    CHECK(strcmp(buf, "f32[1,4] cpu:0") == 0, "describe gave '%s'", buf);
    st_tensor_describe(ref, buf, 5);
    CHECK(strlen(buf) == 4, "describe truncates and terminates: '%s'", buf);
    st_tensor_destroy(e);
    st_tensor_destroy(ref);
}

static void scalars_empty_bf16(void)
{
    st_tensor *s = NULL, *z = NULL;
    float x = 2.5f, y = 0;
    CHECK_ST(st_tensor_create(cpu, ST_F32, 0, NULL, &s), ST_OK);
    CHECK(st_tensor_numel(s) == 1 && st_tensor_ndim(s) == 0 && st_tensor_is_contiguous(s), "0-d tensor");
    CHECK_ST(st_tensor_write(s, &x, 4), ST_OK);
    CHECK(st_tensor_read(s, &y, 4) == ST_OK && y == 2.5f, "scalar round trip");
    CHECK_ST(st_tensor_create(cpu, ST_BF16, 2, (int64_t[]){0, 3}, &z), ST_OK);
    CHECK(st_tensor_numel(z) == 0, "empty tensor");
    CHECK_ST(st_tensor_read(z, NULL, 0), ST_OK);
    CHECK_ST(st_tensor_write(z, NULL, 0), ST_OK);
    CHECK_ST(st_fill(z, 1.0), ST_OK);
    CHECK_ST(st_exp(z, z), ST_OK);
    st_tensor_destroy(s);
    st_tensor_destroy(z);
    CHECK(st_f32_to_bf16(1.0f) == 0x3F80 && st_f32_to_bf16(1.00390625f) == 0x3F80 &&
          st_f32_to_bf16(1.01171875f) == 0x3F82 && st_f32_to_bf16(-0.0f) == 0x8000, "bf16 ties to even");
    CHECK(st_f32_to_bf16(3.4e38f) == 0x7F80 && isnan(st_bf16_to_f32(st_f32_to_bf16(NAN))), "bf16 overflow and NaN");
    CHECK(st_bf16_to_f32(0x3F80) == 1.0f && st_bf16_to_f32(0xC020) == -2.5f, "bf16 to f32");
}

int main(void)
{
    if (st_device_get("cpu", 0, &cpu) != ST_OK) {
        printf("cpu backend unusable: %s\n", st_last_error());
        return 1;
    }
    slices();
    transposes_and_reshapes();
    expands_and_refs();
    scalars_empty_bf16();
    st_shutdown();
    return h_finish();
}
