/* Error paths on the device under test: allocations far beyond its memory, operands on two
 * devices, NULL operands. Each must return its status (and leave outputs alone), never crash. */
#include <stdlib.h>
#include "conf.h"

static void expect(check *k, st_status got, st_status want, const char *what)
{
    if (got != want)
        check_fail(k, "%s returned %s, expected %s (%s)", what, st_status_string(got),
                   st_status_string(want), st_last_error());
}

static void out_of_memory(conf *c, check *k)
{
    st_device_props p;
    st_tensor *t = NULL;
    int64_t huge[2] = {1ll << 29, 1ll << 29}; /* 2^58 elements: 2^60 bytes in f32 */
    check_case(k, "allocations of 2^60 bytes and of 4x the device memory");
    expect(k, st_tensor_create(c->dev, ST_F32, 2, huge, &t), ST_ERR_OUT_OF_MEMORY, "2^60-byte tensor");
    if (t) check_fail(k, "a failed create wrote its output");
    if (check_ok(k, st_device_props_get(c->dev, &p), "st_device_props_get") && p.memory_bytes) {
        int64_t n = (int64_t)p.memory_bytes; /* f32 elements: 4x the memory in bytes */
        expect(k, st_tensor_create(c->dev, ST_F32, 1, &n, &t), ST_ERR_OUT_OF_MEMORY, "4x device memory");
        if (t) check_fail(k, "a failed create wrote its output");
    }
    int64_t overflow[3] = {1ll << 40, 1ll << 40, 1ll << 40};
    expect(k, st_tensor_create(c->dev, ST_F32, 3, overflow, &t), ST_ERR_OUT_OF_MEMORY, "2^120 elements");
    /* the device still works afterwards */
    int64_t n = 5;
    float v[5] = {1, 2, 3, 4, 5}, back[5] = {0};
    if (check_ok(k, st_tensor_create(c->dev, ST_F32, 1, &n, &t), "small create after OOM") &&
        check_ok(k, st_tensor_write(t, v, sizeof v), "write") && check_ok(k, st_tensor_read(t, back, sizeof back), "read") &&
        memcmp(v, back, sizeof v) != 0)
        check_fail(k, "device memory wrong after an out-of-memory error");
    st_tensor_destroy(t);
}

static void two_devices(conf *c, check *k)
{
    int64_t s[2] = {3, 4};
    st_tensor *a = NULL, *b = NULL, *o = NULL;
    check_case(k, "operands on %s and cpu:0", st_device_label(c->dev));
    if (check_ok(k, st_tensor_create(c->dev, ST_F32, 2, s, &a), "create") &&
        check_ok(k, st_tensor_create(c->cpu, ST_F32, 2, s, &b), "create") &&
        check_ok(k, st_tensor_create(c->dev, ST_F32, 2, s, &o), "create")) {
        expect(k, st_add(o, a, b), ST_ERR_DEVICE, "st_add across devices");
        expect(k, st_copy(o, b), ST_ERR_DEVICE, "st_copy across devices");
        expect(k, st_softmax(o, b, 0), ST_ERR_DEVICE, "st_softmax across devices");
        if (!h_msg_has(st_device_label(c->dev)) || !h_msg_has("cpu:0"))
            check_fail(k, "device error does not name both devices: %s", st_last_error());
    }
    st_tensor_destroy(a);
    st_tensor_destroy(b);
    st_tensor_destroy(o);
}

static void null_operands(conf *c, check *k)
{
    int64_t s[2] = {3, 4};
    st_tensor *t = NULL;
    check_case(k, "NULL operands");
    if (!check_ok(k, st_tensor_create(c->dev, ST_F32, 2, s, &t), "create")) return;
    expect(k, st_add(t, t, NULL), ST_ERR_INVALID_ARG, "st_add(t, t, NULL)");
    expect(k, st_gelu(NULL, t), ST_ERR_INVALID_ARG, "st_gelu(NULL, t)");
    expect(k, st_matmul(t, NULL, t, 0, 0, 1, 0), ST_ERR_INVALID_ARG, "st_matmul(t, NULL, t)");
    expect(k, st_layernorm(t, t, NULL, t, t, t, 1e-5f), ST_ERR_INVALID_ARG, "st_layernorm(rstd NULL)");
    expect(k, st_adamw(t, t, t, t, NULL), ST_ERR_INVALID_ARG, "st_adamw(params NULL)");
    expect(k, st_tensor_write(t, NULL, 48), ST_ERR_INVALID_ARG, "st_tensor_write(NULL src)");
    expect(k, st_tensor_read(t, NULL, 48), ST_ERR_INVALID_ARG, "st_tensor_read(NULL dst)");
    st_tensor_destroy(t);
}

void test_errors(conf *c)
{
    check k;
    check_begin(&k, "errors", ST_F32, "out of memory, two devices, NULL", 0.0);
    out_of_memory(c, &k);
    if (!c->is_cpu) two_devices(c, &k);
    null_operands(c, &k);
    check_end(&k);
    if (c->is_cpu) check_skip("errors", ST_F32, "two devices", "the backend under test is cpu (see api tests)");
}
