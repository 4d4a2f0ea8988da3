/* Partitioning schemes: the named points of the state space, their validity rules, and the text
 * forms (a name, or params=..,grads=..,optim=..[,secondary=..]). The volumes live in
 * partition_volume.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "strata/ops.h"
#include "strata/partition.h"

static const char *const shard_names[ST_SHARD_COUNT] = {"replicated", "gcd", "node", "world"};

/* The named schemes. frontier3 is our reading of "Scaling LLM Training on Frontier with
 * Low-Bandwidth Partitioning" from its abstract alone: parameters gathered within the GCD pair,
 * gradients reduced within the node every micro-batch and across nodes once per step, optimizer
 * state over the world. zero++ is ZeRO++ as published (ZeRO-3, hpZ's node secondary copy, qwZ's
 * int8 weights, qgZ's int4 gradients); zero3+hpz is its hpZ part alone (the scheme called zero++
 * before quantization existed). frontier3q is frontier3 with ZeRO++'s quantization on the
 * exchanges that leave the GCD pair (docs/partitioning.md, section 9). A different reading is a
 * one-line change here. */
static const struct {
    const char *name;
    st_partition p;
} schemes[] = {
    {"ddp", {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, 0, 0, 0, 0}},
    {"zero1", {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_WORLD, ST_SHARD_NONE, 0, 0, 0, 0}},
    {"zero2", {ST_SHARD_NONE, ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_NONE, 0, 0, 0, 0}},
    {"zero3", {ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_NONE, 0, 0, 0, 0}},
    {"zero3+hpz", {ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_NODE, 0, 0, 0, 0}},
    {"zero++", {ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_NODE, 8, 4, 0, 0}},
    {"frontier3", {ST_SHARD_GCD, ST_SHARD_NODE, ST_SHARD_WORLD, ST_SHARD_NONE, 0, 0, 0, 0}},
    {"frontier3q", {ST_SHARD_GCD, ST_SHARD_NODE, ST_SHARD_WORLD, ST_SHARD_NONE, 8, 4, 0, 0}},
};
#define N_SCHEMES ((int)(sizeof schemes / sizeof schemes[0]))
#define SCHEME_LIST "ddp, zero1, zero2, zero3, zero3+hpz, zero++, frontier3, frontier3q"

int64_t st_partition_qw_block(const st_partition *p)
{
    return p && p->qwblock > 0 ? p->qwblock : ST_QUANT_BLOCK_DEFAULT;
}

int64_t st_partition_qg_block(const st_partition *p, uint64_t row)
{
    if (p && p->qgblock > 0)
        return p->qgblock;
    if (row > 0 && row <= (uint64_t)INT32_MAX)
        return (int64_t)(row + (row & 1));
    return ST_QUANT_BLOCK_DEFAULT;
}

const char *st_shard_name(st_shard s)
{
    return (unsigned)s < ST_SHARD_COUNT ? shard_names[s] : "?";
}

uint64_t st_shard_ranks(st_shard s, const st_topo_shape *shape)
{
    if (!shape)
        return 0;
    switch (s) {
    case ST_SHARD_NONE: return 1;
    case ST_SHARD_GCD: return (uint64_t)shape->gcds_per_gpu;
    case ST_SHARD_NODE: return (uint64_t)shape->gcds_per_gpu * (uint64_t)shape->gpus_per_node;
    case ST_SHARD_WORLD:
        return (uint64_t)shape->gcds_per_gpu * (uint64_t)shape->gpus_per_node * (uint64_t)shape->nodes;
    default: return 0;
    }
}

int st_partition_scheme_count(void) { return N_SCHEMES; }

st_status st_partition_scheme(int i, const char **name, st_partition *out)
{
    if (i < 0 || i >= N_SCHEMES || !name || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_partition_scheme: index %d not in [0, %d) or NULL output",
                      i, N_SCHEMES);
    *name = schemes[i].name;
    *out = schemes[i].p;
    return ST_OK;
}

static st_status validate_quant(const st_partition *p)
{
    if (p->qw != 0 && p->qw != 8)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition: qw=%d: weights are quantized to int8 (qw=int8) or not "
                      "at all (qw=none)", p->qw);
    if (p->qg != 0 && p->qg != 8 && p->qg != 4)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition: qg=%d: gradients are quantized to int8 or int4 "
                      "(qg=int8|int4) or not at all (qg=none)", p->qg);
    if (p->qw && p->params == ST_SHARD_NONE)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition: qw=int8 needs sharded params (params=gcd|node|world): "
                      "replicated parameters are never all-gathered");
    if (p->qg && p->grads == ST_SHARD_NONE)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition: qg=int%d needs sharded grads (grads=gcd|node|world): "
                      "replicated gradients are all-reduced, not reduce-scattered", p->qg);
    if (p->qwblock < 0 || p->qgblock < 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition: %s=%lld: the block (elements per scale) must be > 0",
                      p->qwblock < 0 ? "qwblock" : "qgblock", (long long)(p->qwblock < 0 ? p->qwblock : p->qgblock));
    if (p->qg == 4 && p->qgblock % 2)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition: gradient block %lld with qg=int4: the block must be even "
                      "(two int4 per byte)", (long long)p->qgblock);
    return ST_OK;
}

st_status st_partition_validate(const st_partition *p)
{
    if (!p)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_partition_validate: NULL scheme");
    if ((unsigned)p->params >= ST_SHARD_COUNT || (unsigned)p->grads >= ST_SHARD_COUNT ||
        (unsigned)p->optim >= ST_SHARD_COUNT || (unsigned)p->secondary >= ST_SHARD_COUNT)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition scheme has a shard value out of range");
    if (p->grads > p->optim)
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "partition: grads=%s is wider than optim=%s; a rank would hold less reduced "
                      "gradient than its optimizer shard updates (shard optim at least as wide as grads)",
                      shard_names[p->grads], shard_names[p->optim]);
    if (p->params > p->grads)
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "partition: params=%s is wider than grads=%s; shard grads at least as wide as "
                      "params (params <= grads <= optim)", shard_names[p->params], shard_names[p->grads]);
    ST_TRY(validate_quant(p));
    if (p->secondary != ST_SHARD_NONE && p->secondary >= p->params)
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "partition: secondary=%s must be narrower than params=%s (the secondary copy "
                      "is a narrower-sharded copy of sharded parameters)",
                      shard_names[p->secondary], shard_names[p->params]);
    return ST_OK;
}

static int parse_shard(const char *v, size_t len, st_shard *out)
{
    for (int s = 0; s < ST_SHARD_COUNT; s++)
        if (strlen(shard_names[s]) == len && strncmp(v, shard_names[s], len) == 0) {
            *out = (st_shard)s;
            return 1;
        }
    if (len == 4 && strncmp(v, "none", 4) == 0) {
        *out = ST_SHARD_NONE;
        return 1;
    }
    return 0;
}

static const char *const keys[] = {"params", "grads", "optim", "secondary", "qw", "qg", "qblock", "qwblock", "qgblock"};
enum { N_KEYS = 9, KEY_QBLOCK = 6 };

static int word_is(const char *v, size_t len, const char *w) { return strlen(w) == len && strncmp(v, w, len) == 0; }

/* qw/qg values: none, int8, int4 (qw: no int4). */
static int parse_bits(const char *v, size_t len, int allow4, int *out)
{
    int bits = word_is(v, len, "none") ? 0 : word_is(v, len, "int8") ? 8 : allow4 && word_is(v, len, "int4") ? 4 : -1;
    if (bits < 0)
        return 0;
    *out = bits;
    return 1;
}

static int parse_block(const char *v, size_t len, int64_t *out)
{
    int64_t b = 0;
    if (len == 0 || len > 12)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        b = b * 10 + (v[i] - '0');
    }
    if (b <= 0)
        return 0;
    *out = b;
    return 1;
}

static st_status bad_value(const char *text, int k, const char *v, size_t vlen)
{
    static const char *const want[N_KEYS] = {
        "replicated (or none), gcd, node or world", "replicated (or none), gcd, node or world",
        "replicated (or none), gcd, node or world", "replicated (or none), gcd, node or world",
        "none or int8", "none, int8 or int4", "a whole number of elements per scale, > 0",
        "a whole number of elements per scale, > 0", "a whole number of elements per scale, > 0"};
    return ST_ERR(ST_ERR_INVALID_ARG, "partition '%s': %s=%.*s: value must be %s", text, keys[k], (int)vlen, v,
                  want[k]);
}

/* One "key=value" item of length len; seen[] catches duplicates. */
static st_status parse_item(const char *item, size_t len, st_partition *p, int seen[N_KEYS], const char *text)
{
    const char *eq = memchr(item, '=', len);
    if (len == 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition '%s': empty item (stray comma?)", text);
    if (!eq)
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "partition '%s': '%.*s' is neither a scheme name nor key=value (schemes: " SCHEME_LIST
                      "; a name comes first)", text, (int)len, item);
    size_t klen = (size_t)(eq - item), vlen = len - klen - 1;
    const char *v = eq + 1;
    st_shard *shards[4] = {&p->params, &p->grads, &p->optim, &p->secondary};
    for (int k = 0; k < N_KEYS; k++) {
        if (!word_is(item, klen, keys[k]))
            continue;
        if (seen[k])
            return ST_ERR(ST_ERR_INVALID_ARG, "partition '%s': key '%s' given twice", text, keys[k]);
        seen[k] = 1;
        if (seen[KEY_QBLOCK] && (seen[KEY_QBLOCK + 1] || seen[KEY_QBLOCK + 2]))
            return ST_ERR(ST_ERR_INVALID_ARG, "partition '%s': qblock sets both blocks: give it alone, or "
                          "qwblock and qgblock", text);
        int64_t *blk[3] = {&p->qwblock, &p->qwblock, &p->qgblock};
        int ok = k < 4 ? parse_shard(v, vlen, shards[k]) : k == 4 ? parse_bits(v, vlen, 0, &p->qw)
                 : k == 5 ? parse_bits(v, vlen, 1, &p->qg) : parse_block(v, vlen, blk[k - KEY_QBLOCK]);
        if (ok && k == KEY_QBLOCK)
            p->qgblock = p->qwblock;
        if (ok && k != KEY_QBLOCK + 2 && p->qwblock == ST_QUANT_BLOCK_DEFAULT)
            p->qwblock = 0; /* the weight default is stored as 0 */
        return ok ? ST_OK : bad_value(text, k, v, vlen);
    }
    return ST_ERR(ST_ERR_INVALID_ARG,
                  "partition '%s': unknown key '%.*s' (keys: params, grads, optim, secondary, qw, qg, qblock, "
                  "qwblock, qgblock)", text, (int)klen, item);
}

/* The named scheme whose name is text[0, len), or -1. */
static int scheme_index(const char *text, size_t len)
{
    for (int i = 0; i < N_SCHEMES; i++)
        if (word_is(text, len, schemes[i].name))
            return i;
    return -1;
}

st_status st_partition_parse(const char *text, st_partition *out)
{
    if (!text || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_partition_parse: NULL argument");
    st_partition p = {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, 0, 0, 0, 0};
    int seen[N_KEYS] = {0};
    const char *item = text;
    const char *comma = strchr(item, ',');
    int named = scheme_index(item, comma ? (size_t)(comma - item) : strlen(item));
    if (named >= 0) { /* a name, then overrides of any of its keys */
        p = schemes[named].p;
        if (!comma) {
            *out = p;
            return ST_OK;
        }
        item = comma + 1;
    }
    for (;;) {
        comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        ST_TRY(parse_item(item, len, &p, seen, text));
        if (!comma)
            break;
        item = comma + 1;
    }
    ST_TRY(st_partition_validate(&p));
    *out = p;
    return ST_OK;
}

/* ",key=value" appended at buf[*n] (clipped to size); *n grows by what it needed. */
static void append(char *buf, size_t size, int *n, const char *key, const char *value)
{
    if (*n < 0)
        return;
    size_t used = (size_t)*n < size ? (size_t)*n : (size ? size - 1 : 0);
    int m = snprintf(buf ? buf + used : NULL, size - used, ",%s=%s", key, value);
    *n = m < 0 ? m : *n + m;
}

int st_partition_format(const st_partition *p, char *buf, size_t size)
{
    if (!p)
        return snprintf(buf, size, "(null)");
    int n = snprintf(buf, size, "params=%s,grads=%s,optim=%s", st_shard_name(p->params),
                     st_shard_name(p->grads), st_shard_name(p->optim));
    if (p->secondary != ST_SHARD_NONE)
        append(buf, size, &n, "secondary", st_shard_name(p->secondary));
    if (p->qw)
        append(buf, size, &n, "qw", "int8");
    if (p->qg)
        append(buf, size, &n, "qg", p->qg == 4 ? "int4" : "int8");
    char wb[24], gb[24];
    int64_t w = p->qw ? p->qwblock : 0, g = p->qg ? p->qgblock : 0;
    snprintf(wb, sizeof wb, "%lld", (long long)w);
    snprintf(gb, sizeof gb, "%lld", (long long)g);
    if (w > 0 && w == g)
        append(buf, size, &n, "qblock", wb);
    else {
        if (w > 0 && w != ST_QUANT_BLOCK_DEFAULT)
            append(buf, size, &n, "qwblock", wb);
        if (g > 0)
            append(buf, size, &n, "qgblock", gb);
    }
    return n;
}

static int same(const st_partition *a, const st_partition *b)
{
    return a->params == b->params && a->grads == b->grads && a->optim == b->optim && a->secondary == b->secondary &&
           a->qw == b->qw && a->qg == b->qg && (!a->qw || st_partition_qw_block(a) == st_partition_qw_block(b)) &&
           (!a->qg || a->qgblock == b->qgblock);
}

const char *st_partition_name(const st_partition *p)
{
    if (!p)
        return NULL;
    for (int i = 0; i < N_SCHEMES; i++)
        if (same(&schemes[i].p, p))
            return schemes[i].name;
    return NULL;
}

int st_partition_units_parse(const char *text, uint64_t *out, int max)
{
    int n = 0;
    const char *p = text;
    while (p && *p) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = *p >= '0' && *p <= '9' ? strtoull(p, &end, 10) : 0;
        if (v == 0 || errno || (*end && *end != ',') || n == max) {
            (void)ST_ERR(ST_ERR_INVALID_ARG, "unit sizes '%s': %s", text,
                         n == max ? "too many units" : "need positive integers separated by commas");
            return -1;
        }
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n == 0)
        (void)ST_ERR(ST_ERR_INVALID_ARG, "unit sizes: an empty list");
    return n ? n : -1;
}
