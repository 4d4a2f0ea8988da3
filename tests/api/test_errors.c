/* API error paths on cpu: NULL handles everywhere, bad arguments, shape and dtype mismatches,
 * allocations far larger than memory, status names and versions. Nothing may crash. */
#include <stdio.h>
#include <string.h>
#include "../harness.h"

h_counts h_total;

static st_device *cpu;

static st_tensor *make(st_dtype dt, int nd, int64_t a, int64_t b)
{
    int64_t s[2] = {a, b};
    st_tensor *t = NULL;
    if (st_tensor_create(cpu, dt, nd, s, &t) != ST_OK) printf("setup: %s\n", st_last_error());
    return t;
}

static void status_and_version(void)
{
    for (int s = 0; s < ST_STATUS_COUNT; s++) {
        const char *n = st_status_string((st_status)s);
        CHECK(n && strncmp(n, "ST_", 3) == 0 && strcmp(n, "ST_UNKNOWN_STATUS") != 0, "status %d named %s", s, n ? n : "NULL");
        for (int t = 0; t < s; t++) CHECK(strcmp(n, st_status_string((st_status)t)) != 0, "statuses %d and %d share a name", s, t);
    }
    CHECK(strcmp(st_status_string(ST_OK), "ST_OK") == 0, "ST_OK's name");
    CHECK(strcmp(st_status_string(ST_ERR_OUT_OF_MEMORY), "ST_ERR_OUT_OF_MEMORY") == 0, "OOM's name");
    CHECK(strcmp(st_status_string(ST_STATUS_COUNT), "ST_UNKNOWN_STATUS") == 0, "out of range");
    CHECK(strcmp(st_status_string((st_status)-1), "ST_UNKNOWN_STATUS") == 0, "negative");
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", ST_VERSION_MAJOR, ST_VERSION_MINOR, ST_VERSION_PATCH);
    CHECK(st_version() == ST_VERSION, "library %x, header %x", st_version(), ST_VERSION);
    CHECK(strcmp(st_version_string(), v) == 0, "version string %s, expected %s", st_version_string(), v);
    CHECK(st_dtype_size(ST_F32) == 4 && st_dtype_size(ST_BF16) == 2 && st_dtype_size(ST_I32) == 4 &&
              st_dtype_size(ST_I8) == 1 && strcmp(st_dtype_name(ST_I8), "i8") == 0, "dtype sizes");
    CHECK(st_dtype_size(ST_DTYPE_COUNT) == 0 && strcmp(st_dtype_name(ST_DTYPE_COUNT), "?") == 0, "invalid dtype");
    for (int op = 0; op < ST_OP_COUNT; op++)
        CHECK(st_op_name((st_op)op) && st_op_from_name(st_op_name((st_op)op)) == op, "op %d name round trip", op);
    CHECK(st_op_name(ST_OP_COUNT) == NULL && st_op_name(ST_OP_NONE) == NULL, "invalid op has no name");
    CHECK(st_op_from_name("nope") == ST_OP_NONE && st_op_from_name(NULL) == ST_OP_NONE, "unknown op name");
    st_clear_error();
    CHECK(strcmp(st_last_error(), "") == 0, "cleared error is empty");
}

static void null_handles(void)
{
    st_tensor *t = make(ST_F32, 2, 3, 4), *out = NULL;
    st_device_props p;
    st_backend_info bi;
    st_tensor_destroy(NULL); /* no-op */
    CHECK(st_tensor_ndim(NULL) == 0 && st_tensor_dim(NULL, 0) == 0 && st_tensor_stride(NULL, 0) == 0 &&
          st_tensor_numel(NULL) == 0 && st_tensor_device(NULL) == NULL && !st_tensor_is_contiguous(NULL),
          "accessors of NULL");
    CHECK(strcmp(st_device_label(NULL), "(null)") == 0, "label of NULL");
    char buf[64];
    CHECK(st_tensor_describe(NULL, buf, sizeof buf) == buf, "describe NULL");
    int64_t s[1] = {4};
    CHECK_ST(st_tensor_create(NULL, ST_F32, 1, s, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_create(cpu, ST_F32, 1, s, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_create(cpu, ST_F32, 1, NULL, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_slice(NULL, 0, 0, 1, 1, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_transpose(t, 0, 1, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_reshape(NULL, 1, s, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_expand(t, 2, NULL, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_ref(NULL, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_write(NULL, buf, 4), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_read(NULL, buf, 4), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_copy(NULL, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_to(NULL, cpu, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_contiguous(t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_props_get(NULL, &p), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_sync(NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_backend_info_get(0, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_backend_info_get(-1, &bi), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_get("cpu", 0, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_device_select("cpu", NULL, NULL), ST_ERR_INVALID_ARG);
    CHECK(out == NULL, "failed calls left out untouched");
    st_tensor_destroy(t);
}

/* Every op and gradient rule with a NULL tensor in some position. */
static void null_operands(void)
{
    st_tensor *t = make(ST_F32, 2, 3, 4);
    CHECK_ST(st_fill(NULL, 1.0), ST_ERR_INVALID_ARG);
    CHECK_ST(st_copy(t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_cast(NULL, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_rand_uniform(NULL, 1, 0, 0, 1), ST_ERR_INVALID_ARG);
    CHECK_ST(st_rand_normal(NULL, 1, 0, 0, 1), ST_ERR_INVALID_ARG);
    CHECK_ST(st_add(NULL, t, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_sub(t, NULL, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_mul(t, t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_div(NULL, NULL, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_scale(t, NULL, 1, 0), ST_ERR_INVALID_ARG);
    st_status (*const unary[])(st_tensor *, const st_tensor *) = {st_gelu, st_relu, st_exp, st_log, st_tanh, st_sqrt, st_rsqrt};
    for (int i = 0; i < 7; i++) {
        CHECK_ST(unary[i](NULL, t), ST_ERR_INVALID_ARG);
        CHECK_ST(unary[i](t, NULL), ST_ERR_INVALID_ARG);
    }
    CHECK_ST(st_gelu_backward(t, NULL, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_relu_backward(t, t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_matmul(t, t, NULL, 0, 0, 1, 0), ST_ERR_INVALID_ARG);
    CHECK_ST(st_sum(NULL, t, 0), ST_ERR_INVALID_ARG);
    CHECK_ST(st_mean(t, NULL, 0), ST_ERR_INVALID_ARG);
    CHECK_ST(st_max(NULL, NULL, 0), ST_ERR_INVALID_ARG);
    CHECK_ST(st_sumsq(NULL, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_softmax(t, NULL, 0), ST_ERR_INVALID_ARG);
    CHECK_ST(st_softmax_backward(t, t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_layernorm(t, NULL, t, t, t, t, 1e-5f), ST_ERR_INVALID_ARG);
    CHECK_ST(st_layernorm_backward(t, t, t, t, t, t, t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_embedding(t, NULL, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_embedding_backward(NULL, t, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_cross_entropy(t, t, t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_cross_entropy_backward(t, NULL, t, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_attention(t, t, NULL, t, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_attention_backward(t, t, t, t, t, t, t, t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_adamw(t, t, NULL, t, &(st_adamw_params){.step = 1}), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_unary(ST_OP_EXP, NULL, t, t, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_binary(ST_OP_ADD, t, t, NULL, t, t), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_scale(NULL, t, 1), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_cast(t, NULL), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_matmul(t, t, NULL, t, t, 0, 0, 1), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_reduce(ST_OP_SUM, NULL, t, t, t, 0), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_sumsq(t, NULL, t), ST_ERR_INVALID_ARG);
    st_tensor_destroy(t);
}

static void bad_arguments(void)
{
    st_tensor *out = NULL, *t = make(ST_F32, 2, 3, 4);
    int64_t s5[5] = {1, 1, 1, 1, 1}, neg[1] = {-2};
    CHECK_ST(st_tensor_create(cpu, ST_F32, 5, s5, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_create(cpu, ST_F32, -1, s5, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_create(cpu, ST_F32, 1, neg, &out), ST_ERR_INVALID_ARG);
    CHECK_ST(st_tensor_create(cpu, (st_dtype)7, 1, s5, &out), ST_ERR_DTYPE);
    CHECK_ST(st_sum(t, t, 2), ST_ERR_INVALID_ARG);
    CHECK_ST(st_rand_uniform(t, 1, 0, 0, 0.0f / 0.0f), ST_ERR_INVALID_ARG);
    st_tensor *stat = make(ST_F32, 1, 3, 0), *w = make(ST_F32, 1, 4, 0);
    CHECK_ST(st_layernorm(t, stat, stat, t, w, w, -1.0f), ST_ERR_INVALID_ARG); /* eps < 0 */
    CHECK_ST(st_vjp_unary(ST_OP_MATMUL, t, t, t, t), ST_ERR_INVALID_ARG);
    char buf[4];
    CHECK_ST(st_tensor_read(t, buf, sizeof buf), ST_ERR_SHAPE);
    CHECK_ST(st_tensor_write(t, buf, sizeof buf), ST_ERR_SHAPE);
    CHECK(out == NULL, "failed calls left out untouched");
    st_tensor_destroy(stat);
    st_tensor_destroy(w);
    st_tensor_destroy(t);
}

static void mismatches(void)
{
    st_tensor *a = make(ST_F32, 2, 3, 4), *b = make(ST_F32, 2, 4, 3), *h = make(ST_BF16, 2, 3, 4),
              *i = make(ST_I32, 2, 3, 4), *v = make(ST_F32, 1, 4, 0), *o = make(ST_F32, 2, 3, 3);
    CHECK_ST(st_add(a, a, b), ST_ERR_SHAPE);
    CHECK_ST(st_mul(o, a, a), ST_ERR_SHAPE);
    CHECK_ST(st_add(a, a, h), ST_ERR_DTYPE);
    CHECK_ST(st_add(i, i, i), ST_ERR_DTYPE);
    CHECK_ST(st_copy(a, h), ST_ERR_DTYPE);
    CHECK_ST(st_copy(a, b), ST_ERR_SHAPE);
    CHECK_ST(st_cast(a, i), ST_ERR_DTYPE);
    CHECK_ST(st_cast(a, b), ST_ERR_SHAPE);
    CHECK_ST(st_gelu(i, i), ST_ERR_DTYPE);
    CHECK_ST(st_exp(a, h), ST_ERR_DTYPE);
    CHECK_ST(st_rand_normal(i, 1, 0, 0, 1), ST_ERR_DTYPE);
    CHECK_ST(st_matmul(o, a, a, 0, 0, 1, 0), ST_ERR_SHAPE);       /* K 4 vs 3 */
    CHECK_ST(st_matmul(a, a, b, 0, 0, 1, 0), ST_ERR_SHAPE);       /* out 3x3 needed */
    CHECK_ST(st_matmul(o, a, b, 0, 0, 1, 0), ST_OK);
    CHECK_ST(st_matmul(o, h, b, 0, 0, 1, 0), ST_ERR_DTYPE);
    CHECK_ST(st_matmul(v, v, v, 0, 0, 1, 0), ST_ERR_SHAPE);       /* 1-d */
    CHECK_ST(st_sum(b, a, 0), ST_ERR_SHAPE);
    CHECK_ST(st_sum(v, a, 1), ST_ERR_SHAPE);                       /* (3) needed, (4) given */
    CHECK_ST(st_max(h, a, 1), ST_ERR_DTYPE);
    CHECK_ST(st_sumsq(h, a), ST_ERR_DTYPE);
    CHECK_ST(st_sumsq(a, a), ST_ERR_SHAPE);
    CHECK_ST(st_softmax(b, a, 0), ST_ERR_SHAPE);
    CHECK_ST(st_softmax(h, a, 0), ST_ERR_DTYPE);
    CHECK_ST(st_softmax(b, b, 1), ST_ERR_SHAPE);                   /* causal needs S >= T */
    CHECK_ST(st_layernorm(a, v, v, a, v, v, 1e-5f), ST_ERR_SHAPE); /* mean needs 3 rows */
    st_tensor *idx = make(ST_I32, 1, 3, 0), *fidx = make(ST_F32, 1, 3, 0), *rows = make(ST_F32, 2, 3, 3);
    CHECK_ST(st_embedding(rows, a, fidx), ST_ERR_DTYPE);
    CHECK_ST(st_fill(idx, 1.0), ST_OK);
    CHECK_ST(st_embedding(o, a, idx), ST_ERR_SHAPE);               /* rows need C = 4 columns */
    CHECK_ST(st_embedding(rows, o, idx), ST_OK);
    CHECK_ST(st_cross_entropy(v, a, a, idx), ST_ERR_SHAPE);        /* loss (3) needed */
    CHECK_ST(st_cross_entropy(fidx, a, a, fidx), ST_ERR_DTYPE);    /* f32 targets */
    CHECK_ST(st_cross_entropy(fidx, h, a, idx), ST_ERR_DTYPE);     /* bf16 probs */
    CHECK_ST(st_attention(a, v, a, a, a), ST_ERR_SHAPE);           /* not 4-d */
    st_adamw_params p = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .grad_scale = 1, .step = 1};
    CHECK_ST(st_adamw(h, h, h, h, &p), ST_ERR_DTYPE);
    CHECK_ST(st_adamw(a, a, a, b, &p), ST_ERR_SHAPE);
    p.step = 0;
    CHECK_ST(st_adamw(a, a, a, a, &p), ST_ERR_INVALID_ARG);
    CHECK_ST(st_vjp_binary(ST_OP_ADD, b, NULL, a, a, a), ST_ERR_SHAPE);
    CHECK_ST(st_vjp_cast(i, a), ST_ERR_DTYPE);
    st_tensor *all[] = {a, b, h, i, v, o, idx, fidx, rows};
    for (int k = 0; k < 9; k++) st_tensor_destroy(all[k]);
}

/* 2^60 bytes, 4x physical memory and a size overflowing 64 bits: ST_ERR_OUT_OF_MEMORY. */
static void out_of_memory(void)
{
    st_tensor *t = NULL;
    st_device_props p;
    int64_t huge[1] = {1ll << 58}, big[2], over[3] = {1ll << 30, 1ll << 30, 1ll << 30};
    CHECK_ST(st_tensor_create(cpu, ST_F32, 1, huge, &t), ST_ERR_OUT_OF_MEMORY);
    CHECK(h_msg_has("bytes"), "message gives the size: %s", st_last_error());
    CHECK_ST(st_device_props_get(cpu, &p), ST_OK);
    big[0] = (int64_t)(p.memory_bytes / 1024), big[1] = 1024;
    CHECK_ST(st_tensor_create(cpu, ST_F32, 2, big, &t), ST_ERR_OUT_OF_MEMORY);
    CHECK_ST(st_tensor_create(cpu, ST_BF16, 3, over, &t), ST_ERR_OUT_OF_MEMORY);
    CHECK(t == NULL, "no tensor from a failed allocation");
    st_tensor *ok = make(ST_F32, 1, 1000, 0);
    CHECK(ok != NULL, "allocation works after out-of-memory errors");
    st_tensor_destroy(ok);
}

/* The allocator's counters follow storage, not handles: views add nothing, the last free of a
 * storage returns its bytes, a failed allocation leaves them alone, the peak stays until reset. */
static void memory_counters(void)
{
    st_device_memory m0, m;
    CHECK(st_device_memory_get(cpu, &m0) == ST_OK, "memory_get: %s", st_last_error());
    CHECK(st_device_memory_get(NULL, &m) == ST_ERR_INVALID_ARG, "memory_get(NULL)");
    st_device_memory_reset_peak(cpu);
    st_tensor *a = make(ST_F32, 2, 100, 30), *b = make(ST_BF16, 1, 7, 0), *v = NULL;
    CHECK(st_device_memory_get(cpu, &m) == ST_OK && m.current == m0.current + 12000 + 14 &&
          m.allocations == m0.allocations + 2 && m.peak >= m.current, "after 2 tensors: %llu bytes",
          (unsigned long long)(m.current - m0.current));
    CHECK(st_tensor_transpose(a, 0, 1, &v) == ST_OK, "view: %s", st_last_error());
    st_tensor *huge = NULL;
    st_device_props p;
    st_device_props_get(cpu, &p);
    int64_t big[2] = {(int64_t)(p.memory_bytes / 1024), 1024}; /* 4x the device: the backend refuses */
    CHECK(st_tensor_create(cpu, ST_F32, 2, big, &huge) == ST_ERR_OUT_OF_MEMORY, "huge tensor refused");
    st_device_memory mv;
    st_device_memory_get(cpu, &mv);
    CHECK(mv.current == m.current && mv.allocations == m.allocations, "a view or a failed allocation counted");
    st_tensor_destroy(a);
    st_device_memory_get(cpu, &mv);
    CHECK(mv.current == m.current, "storage freed while a view holds it");
    st_tensor_destroy(v);
    st_tensor_destroy(b);
    st_device_memory_get(cpu, &m);
    CHECK(m.current == m0.current && m.allocations == m0.allocations && m.peak >= m0.current + 12014,
          "after freeing: current %llu, peak %llu", (unsigned long long)m.current, (unsigned long long)m.peak);
    st_device_memory_reset_peak(cpu);
    st_device_memory_get(cpu, &m);
    CHECK(m.peak == m.current, "reset peak");
}

int main(void)
{
    if (st_device_get("cpu", 0, &cpu) != ST_OK) {
        printf("cpu backend unusable: %s\n", st_last_error());
        return 1;
    }
    status_and_version();
    null_handles();
    null_operands();
    bad_arguments();
    mismatches();
    out_of_memory();
    memory_counters();
    st_shutdown();
    st_shutdown(); /* twice is allowed */
    return h_finish();
}
