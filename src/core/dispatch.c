/* Op dispatch: op names from the table, the checks every op shares, and the path from an
 * eager call to a backend slot (contiguous staging for ops that need it). */
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "dispatch.h"

static const char *const op_names[ST_OP_COUNT] = {
#define ST_OP_NAME_(ID, name, ni, no, dt, strided, bwd) #name,
    ST_OP_TABLE(ST_OP_NAME_)
#undef ST_OP_NAME_
};

static const int op_strided[ST_OP_COUNT] = {
#define ST_OP_STRIDED_(ID, name, ni, no, dt, strided, bwd) strided,
    ST_OP_TABLE(ST_OP_STRIDED_)
#undef ST_OP_STRIDED_
};

const char *st_op_name(st_op op)
{
    return ((int)op >= 0 && op < ST_OP_COUNT) ? op_names[op] : NULL;
}

st_op st_op_from_name(const char *name)
{
    for (int i = 0; name && i < ST_OP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0) return (st_op)i;
    return ST_OP_NONE;
}

st_status st_check_tensors(st_op op, st_tensor *const *outs, int n_out, const st_tensor *const *ins,
                           int n_in)
{
    const st_tensor *first = NULL;
    for (int i = 0; i < n_out + n_in; i++) {
        const st_tensor *t = i < n_out ? outs[i] : ins[i - n_out];
        if (!t)
            return ST_ERR(ST_ERR_INVALID_ARG, "%s: %s %d is NULL", op_names[op],
                          i < n_out ? "output" : "input", i < n_out ? i : i - n_out);
        if (!first) first = t;
        else if (t->storage->dev != first->storage->dev)
            return ST_ERR(ST_ERR_DEVICE, "%s: tensors on %s and %s; move them to one device first",
                          op_names[op], first->storage->dev->label, t->storage->dev->label);
    }
    return ST_OK;
}

st_status st_check_dtype(st_op op, const st_tensor *t, unsigned mask, const char *what)
{
    if (!(mask & (1u << t->dtype)))
        return ST_ERR(ST_ERR_DTYPE, "%s: %s has dtype %s, which this op does not take", op_names[op],
                      what, st_dtype_name(t->dtype));
    return ST_OK;
}

st_status st_check_same(st_op op, const st_tensor *a, const st_tensor *b, const char *what)
{
    char da[96], db[96];
    if (a->dtype != b->dtype)
        return ST_ERR(ST_ERR_DTYPE, "%s: %s: dtypes differ (%s vs %s)", op_names[op], what,
                      st_tensor_describe(a, da, sizeof da), st_tensor_describe(b, db, sizeof db));
    return st_check_shape(op, b, a->ndim, a->shape, what);
}

st_status st_check_shape(st_op op, const st_tensor *t, int ndim, const int64_t *shape, const char *what)
{
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char d[96], want[96];
        size_t n = (size_t)snprintf(want, sizeof want, "[");
        for (int i = 0; i < ndim && n < sizeof want; i++)
            n += (size_t)snprintf(want + n, sizeof want - n, "%s%lld", i ? "," : "", (long long)shape[i]);
        if (n < sizeof want) snprintf(want + n, sizeof want - n, "]");
        return ST_ERR(ST_ERR_SHAPE, "%s: %s is %s, expected shape %s", op_names[op], what,
                      st_tensor_describe(t, d, sizeof d), want);
    }
    return ST_OK;
}

/* An expanded view writes one element from several positions: refuse it as an output. */
static st_status check_writable(st_op op, const st_tensor *t)
{
    if (st_tensor_numel(t) == 0) return ST_OK;
    for (int i = 0; i < t->ndim; i++)
        if (t->stride[i] == 0 && t->shape[i] > 1)
            return ST_ERR(ST_ERR_INVALID_ARG, "%s: output is a broadcast (expanded) view; write into a real tensor",
                          op_names[op]);
    return ST_OK;
}

st_status st_dispatch(st_device *dev, st_op_call *call)
{
    return dev->be->iface->op[call->op](dev->be->ctx, dev->index, call);
}

st_status st_run_strided(st_op op, st_tensor *out, const st_tensor *const *ins, int n_in,
                         const st_op_params *p)
{
    st_op_call call = {.op = op, .n_in = n_in, .n_out = 1};
    if (p) call.p = *p;
    ST_TRY(check_writable(op, out));
    st_view_of(out, &call.out[0]);
    for (int i = 0; i < n_in; i++) ST_TRY(st_view_broadcast(ins[i], out->ndim, out->shape, &call.in[i]));
    if (st_tensor_numel(out) == 0) return ST_OK;
    return st_dispatch(out->storage->dev, &call);
}

st_status st_run_dense(st_op op, st_tensor *const *outs, int n_out, const st_tensor *const *ins,
                       int n_in, const st_op_params *p)
{
    st_tensor *tin[ST_MAX_OP_IN] = {0}, *tout[ST_MAX_OP_OUT] = {0};
    st_op_call call = {.op = op, .n_in = n_in, .n_out = n_out};
    st_status s = ST_OK;
    if (p) call.p = *p;
    for (int i = 0; i < n_out; i++) ST_TRY(check_writable(op, outs[i]));
    if (!op_strided[op])
        for (int i = 0; i < n_in && s == ST_OK; i++) {
            s = st_tensor_contiguous(ins[i], &tin[i]);
            if (s == ST_OK) st_view_of(tin[i], &call.in[i]);
        }
    /* Non-contiguous outputs compute into a contiguous copy (read-write ops see old contents). */
    for (int i = 0; i < n_out && s == ST_OK; i++) {
        s = st_tensor_contiguous(outs[i], &tout[i]);
        if (s == ST_OK) st_view_of(tout[i], &call.out[i]);
    }
    if (s == ST_OK) s = st_dispatch(outs[0]->storage->dev, &call);
    for (int i = 0; i < n_out && s == ST_OK; i++)
        if (tout[i]->storage != outs[i]->storage) s = st_copy(outs[i], tout[i]);
    for (int i = 0; i < n_in; i++) st_tensor_free(tin[i]);
    for (int i = 0; i < n_out; i++) st_tensor_free(tout[i]);
    return s;
}
