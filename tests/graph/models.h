/* Small models built as graphs for the graph tests: an MLP with cross-entropy, an MLP with a
 * squared-error loss (scale, sub, mul, sum), and a one-block GPT-style transformer. Each owns its
 * parameters, their gradients and its inputs on one device. */
#ifndef STRATA_TEST_GRAPH_MODELS_H
#define STRATA_TEST_GRAPH_MODELS_H

#include "../harness.h"

#define ST_TRY_T(expr)                \
    do {                              \
        st_status tm_s_ = (expr);     \
        if (tm_s_ != ST_OK) return tm_s_; \
    } while (0)

#define TM_MAX_PARAMS 24
#define TM_MAX_INPUTS 4

typedef enum tm_kind { TM_MLP_CE, TM_MLP_MSE, TM_GPT } tm_kind;

typedef struct tmodel {
    st_device *dev;
    int np, ni;
    st_tensor *p[TM_MAX_PARAMS], *gp[TM_MAX_PARAMS];
    const char *pname[TM_MAX_PARAMS];
    st_tensor *in[TM_MAX_INPUTS];
    st_node in_node[TM_MAX_INPUTS];
    st_node loss, logits;
    st_graph *g;
    st_graph_plan *plan;
} tmodel;

/* Sizes of the transformer: batch, time, channels, heads, vocab. */
enum { TM_B = 2, TM_T = 4, TM_C = 8, TM_H = 2, TM_V = 11 };

/* Builds, compiles and binds model `kind` on `dev` with deterministic parameters and data. */
st_status tm_build(tmodel *m, tm_kind kind, st_device *dev);
void tm_free(tmodel *m);
/* Zeroes every parameter gradient. */
st_status tm_zero_grads(tmodel *m);
/* Forward; *loss receives the loss value. */
st_status tm_loss(tmodel *m, float *loss);
/* Deterministic values in [-scale, scale) written into t. */
st_status tm_fill_random(st_tensor *t, unsigned seed, float scale);

#endif
