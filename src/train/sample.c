/* Text samples from the training graph: row 0 of a forward pass holds the context, and the
 * causal mask makes the logits at position t depend on tokens 0..t only, so the fixed-shape
 * graph generates one token per forward without a separate inference graph. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gpt2.h"

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Draws a token from logits (V) at temperature `temp` among the top_k largest (0: all). */
static int32_t draw(float *logits, float *scratch, int V, float temp, int top_k, uint64_t *rng)
{
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) {
        memcpy(scratch, logits, sizeof(float) * (size_t)V);
        qsort(scratch, (size_t)V, sizeof(float), cmp_desc);
        cut = scratch[top_k - 1];
    }
    float max = -INFINITY;
    for (int i = 0; i < V; i++) max = fmaxf(max, logits[i]);
    double sum = 0;
    for (int i = 0; i < V; i++) {
        logits[i] = logits[i] >= cut ? expf((logits[i] - max) / temp) : 0.0f;
        sum += logits[i];
    }
    double u = (double)(splitmix64(rng) >> 11) / 9007199254740992.0 * sum;
    for (int i = 0; i < V; i++) {
        u -= logits[i];
        if (u < 0) return i;
    }
    return V - 1;
}

/* Logits of row 0 at position t, read into host memory. */
static st_status read_row(gpt2_graph *m, int64_t t, float *out, int V)
{
    const st_tensor *lg = st_graph_value(m->plan, m->logits);
    st_tensor *a = NULL, *b = NULL;
    st_status s = st_tensor_slice(lg, 0, 0, 1, 1, &a);
    if (!s) s = st_tensor_slice(a, 1, t, 1, 1, &b);
    size_t es = b ? st_dtype_size(st_tensor_dtype(b)) : 4;
    if (!s) s = st_tensor_read(b, out, es * (size_t)V);
    if (!s && es == 2) /* bf16 logits: widen in place, from the end, where no unread half lies */
        for (int i = V - 1; i >= 0; i--) {
            uint32_t w = (uint32_t)((const uint16_t *)out)[i] << 16;
            memcpy(&out[i], &w, sizeof w);
        }
    st_tensor_destroy(b);
    st_tensor_destroy(a);
    return s;
}

st_status gpt2_sample(gpt2_graph *m, int V, int32_t first, int n, float temp, int top_k,
                      uint64_t seed, int32_t *out)
{
    size_t cells = (size_t)(m->B * m->T);
    int32_t *idx = calloc(cells, sizeof(int32_t)), *tgt = calloc(cells, sizeof(int32_t));
    float *row = malloc(sizeof(float) * (size_t)V * 2);
    st_status s = idx && tgt && row ? ST_OK : ST_ERR_OUT_OF_MEMORY;
    uint64_t rng = seed;
    if (n > m->T - 1) n = (int)m->T - 1;
    if (!s) idx[0] = first;
    for (int t = 0; !s && t < n; t++) {
        float loss;
        s = gpt2_forward(m, idx, tgt, &loss);
        if (!s) s = read_row(m, t, row, V);
        if (!s) out[t] = idx[t + 1] = draw(row, row + V, V, temp, top_k, &rng);
    }
    free(idx), free(tgt), free(row);
    return s;
}
