/* Helpers shared by the shape rules (op_rules_*.c). Not a public header. */
#ifndef STRATA_OP_RULES_H
#define STRATA_OP_RULES_H

#include <string.h>
#include "op_impl.h"

/* Output k's shape. */
static inline void rule_set(st_rule_ctx *c, int k, int ndim, const int64_t *shape)
{
    c->out[k].ndim = ndim;
    memcpy(c->out[k].shape, shape, sizeof(int64_t) * (size_t)ndim);
}

/* Input i must have exactly this shape (ST_ERR_SHAPE naming it and `what` it should be). */
static inline st_status rule_expect(st_rule_ctx *c, int i, int ndim, const int64_t *shape, const char *what)
{
    const st_tensor_desc *x = &c->in[i];
    if (x->ndim == ndim && memcmp(x->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0) return ST_OK;
    char got[64], want[64];
    return st_op_fail(c->info, ST_ERR_SHAPE, "%s is %s, expected %s %s", c->info->operand[c->info->n_out + i].name,
                      st_shape_str(x->ndim, x->shape, got, sizeof got), what,
                      st_shape_str(ndim, shape, want, sizeof want));
}

#endif
