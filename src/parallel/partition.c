/* Partitioning schemes: the named points of the state space, their validity rules, and the text
 * forms (a name, or params=..,grads=..,optim=..[,secondary=..]). The volumes live in
 * partition_volume.c. */
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "strata/partition.h"

static const char *const shard_names[ST_SHARD_COUNT] = {"replicated", "gcd", "node", "world"};

/* The named schemes. frontier3 is our reading of "Scaling LLM Training on Frontier with
 * Low-Bandwidth Partitioning" from its abstract alone: parameters gathered within the GCD pair,
 * gradients reduced within the node every micro-batch and across nodes once per step, optimizer
 * state over the world. A different reading is a one-line change here. */
static const struct {
    const char *name;
    st_partition p;
} schemes[] = {
    {"ddp", {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE}},
    {"zero1", {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_WORLD, ST_SHARD_NONE}},
    {"zero2", {ST_SHARD_NONE, ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_NONE}},
    {"zero3", {ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_NONE}},
    {"zero++", {ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_WORLD, ST_SHARD_NODE}},
    {"frontier3", {ST_SHARD_GCD, ST_SHARD_NODE, ST_SHARD_WORLD, ST_SHARD_NONE}},
};
#define N_SCHEMES ((int)(sizeof schemes / sizeof schemes[0]))

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

static const char *const keys[] = {"params", "grads", "optim", "secondary"};

/* One "key=value" item of length len; seen[] catches duplicates. */
static st_status parse_item(const char *item, size_t len, st_shard *fields[4], int seen[4], const char *text)
{
    const char *eq = memchr(item, '=', len);
    if (len == 0)
        return ST_ERR(ST_ERR_INVALID_ARG, "partition '%s': empty item (stray comma?)", text);
    if (!eq)
        return ST_ERR(ST_ERR_INVALID_ARG,
                      "partition '%s': '%.*s' is neither a scheme name nor key=value (schemes: ddp, "
                      "zero1, zero2, zero3, zero++, frontier3)", text, (int)len, item);
    size_t klen = (size_t)(eq - item);
    for (int k = 0; k < 4; k++) {
        if (strlen(keys[k]) != klen || strncmp(item, keys[k], klen) != 0)
            continue;
        if (seen[k])
            return ST_ERR(ST_ERR_INVALID_ARG, "partition '%s': key '%s' given twice", text, keys[k]);
        seen[k] = 1;
        size_t vlen = len - klen - 1;
        if (!parse_shard(eq + 1, vlen, fields[k]))
            return ST_ERR(ST_ERR_INVALID_ARG,
                          "partition '%s': %s=%.*s: value must be replicated (or none), gcd, node or world",
                          text, keys[k], (int)vlen, eq + 1);
        return ST_OK;
    }
    return ST_ERR(ST_ERR_INVALID_ARG,
                  "partition '%s': unknown key '%.*s' (keys: params, grads, optim, secondary)", text,
                  (int)klen, item);
}

st_status st_partition_parse(const char *text, st_partition *out)
{
    if (!text || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_partition_parse: NULL argument");
    for (int i = 0; i < N_SCHEMES; i++)
        if (strcmp(text, schemes[i].name) == 0) {
            *out = schemes[i].p;
            return ST_OK;
        }
    st_partition p = {ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE};
    st_shard *fields[4] = {&p.params, &p.grads, &p.optim, &p.secondary};
    int seen[4] = {0, 0, 0, 0};
    const char *item = text;
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        ST_TRY(parse_item(item, len, fields, seen, text));
        if (!comma)
            break;
        item = comma + 1;
    }
    ST_TRY(st_partition_validate(&p));
    *out = p;
    return ST_OK;
}

int st_partition_format(const st_partition *p, char *buf, size_t size)
{
    if (!p)
        return snprintf(buf, size, "(null)");
    int n = snprintf(buf, size, "params=%s,grads=%s,optim=%s", st_shard_name(p->params),
                     st_shard_name(p->grads), st_shard_name(p->optim));
    if (p->secondary == ST_SHARD_NONE || n < 0)
        return n;
    size_t used = (size_t)n < size ? (size_t)n : (size ? size - 1 : 0);
    int m = snprintf(buf ? buf + used : NULL, size - used, ",secondary=%s", st_shard_name(p->secondary));
    return m < 0 ? m : n + m;
}

const char *st_partition_name(const st_partition *p)
{
    if (!p)
        return NULL;
    for (int i = 0; i < N_SCHEMES; i++)
        if (schemes[i].p.params == p->params && schemes[i].p.grads == p->grads &&
            schemes[i].p.optim == p->optim && schemes[i].p.secondary == p->secondary)
            return schemes[i].name;
    return NULL;
}
