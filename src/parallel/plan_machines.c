/* The planner's tables: known machines (per-level bandwidth, latency, device memory), their
 * key=value override files, and known model shapes. Figures and their sources are in
 * docs/partitioning.md; the latencies are assumptions, not measurements. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "io_file.h"
#include "strata/plan.h"

/* Frontier: the two GCDs of an MI250X share 200 GB/s of in-package Infinity Fabric; packages are
 * linked at 50-100 GB/s (50 here, the conservative end); four 25 GB/s Slingshot NICs give a node
 * 100 GB/s; each GCD has 64 GiB of HBM2e. "local": the defaults, figures for a commodity PCIe box
 * (two-die package, PCIe 4 x16 between GPUs, one 100 Gb/s NIC, 16 GiB), for what is not known
 * better; their source reads "default". */
static const struct {
    const char *name, *source;
    double bw_gbs[ST_LEVEL_COUNT], lat_us[ST_LEVEL_COUNT], memory_gib;
} machines[] = {
    {"frontier", "table: frontier", {200.0, 50.0, 100.0}, {2.0, 3.0, 5.0}, 64.0},
    {"local", "default", {100.0, 25.0, 12.5}, {2.0, 5.0, 10.0}, 16.0},
};
#define N_MACHINES ((int)(sizeof machines / sizeof machines[0]))

static uint64_t gpt_params(uint64_t layers, uint64_t h, uint64_t seq, uint64_t vocab)
{
    return vocab * h + seq * h + layers * (12 * h * h + 13 * h) + 2 * h;
}

static const struct {
    const char *name;
    int layers, hidden, heads, seq, vocab;
} models[] = {
    {"tiny", 2, 64, 4, 64, 256}, /* strata-train's smallest config */
    {"gpt2-124m", 12, 768, 12, 1024, 50257},
    {"gpt-25m", 8, 512, 8, 128, 256},
    {"gpt-deep", 48, 32, 2, 64, 256}, /* 48 layers of 12,704 parameters: latency-bound units */
    {"1.3b", 24, 2048, 16, 2048, 50257},
    {"20b", 44, 6144, 64, 2048, 50257},
};
#define N_MODELS ((int)(sizeof models / sizeof models[0]))

st_status st_plan_machine_get(const char *name, st_plan_machine *out)
{
    if (!name || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_machine_get: NULL argument");
    for (int i = 0; i < N_MACHINES; i++)
        if (strcmp(name, machines[i].name) == 0) {
            memset(out, 0, sizeof *out);
            snprintf(out->name, sizeof out->name, "%s", machines[i].name);
            for (int l = 0; l < ST_LEVEL_COUNT; l++) {
                out->bw_gbs[l] = machines[i].bw_gbs[l];
                out->lat_us[l] = machines[i].lat_us[l];
                snprintf(out->bw_source[l], ST_PLAN_SOURCE_LEN, "%s", machines[i].source);
                snprintf(out->lat_source[l], ST_PLAN_SOURCE_LEN, "%s", machines[i].source);
            }
            out->memory_gib = machines[i].memory_gib;
            snprintf(out->memory_source, ST_PLAN_SOURCE_LEN, "%s", machines[i].source);
            snprintf(out->compute_source, ST_PLAN_SOURCE_LEN, "unknown");
            snprintf(out->stream_source, ST_PLAN_SOURCE_LEN, "unknown");
            return ST_OK;
        }
    return ST_ERR(ST_ERR_INVALID_ARG, "unknown machine '%s' (known: frontier, local; or give a "
                  "machine file)", name);
}

st_status st_plan_model_get(const char *name, st_plan_model *out)
{
    if (!name || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_model_get: NULL argument");
    for (int i = 0; i < N_MODELS; i++)
        if (strcmp(name, models[i].name) == 0) {
            memset(out, 0, sizeof *out);
            snprintf(out->name, sizeof out->name, "%s", models[i].name);
            out->layers = models[i].layers;
            out->hidden = models[i].hidden;
            out->heads = models[i].heads;
            out->seq = models[i].seq;
            out->vocab = models[i].vocab;
            out->params = gpt_params((uint64_t)out->layers, (uint64_t)out->hidden, (uint64_t)out->seq,
                                     (uint64_t)out->vocab);
            return ST_OK;
        }
    return ST_ERR(ST_ERR_INVALID_ARG, "unknown model '%s' (known: tiny, gpt2-124m, gpt-25m, gpt-deep, 1.3b, 20b; or give a "
                  "parameter count)", name);
}

/* The numeric keys: where each figure and its source live in st_plan_machine, its lower bound. */
#define AT(field) offsetof(st_plan_machine, field)
static const struct {
    const char *key;
    size_t offset, source_offset;
    int allow_zero;
} numeric_keys[] = {
    {"gcd_gbs", AT(bw_gbs[ST_LEVEL_GCD]), AT(bw_source[ST_LEVEL_GCD]), 0},
    {"gpu_gbs", AT(bw_gbs[ST_LEVEL_GPU]), AT(bw_source[ST_LEVEL_GPU]), 0},
    {"node_gbs", AT(bw_gbs[ST_LEVEL_NODE]), AT(bw_source[ST_LEVEL_NODE]), 0},
    {"gcd_us", AT(lat_us[ST_LEVEL_GCD]), AT(lat_source[ST_LEVEL_GCD]), 1},
    {"gpu_us", AT(lat_us[ST_LEVEL_GPU]), AT(lat_source[ST_LEVEL_GPU]), 1},
    {"node_us", AT(lat_us[ST_LEVEL_NODE]), AT(lat_source[ST_LEVEL_NODE]), 1},
    {"memory_gib", AT(memory_gib), AT(memory_source), 0},
    {"compute_gflops", AT(compute_gflops), AT(compute_source), 1},
    {"stream_gbs", AT(stream_gbs), AT(stream_source), 1},
    {"gcd_solo_gbs", AT(solo_gbs[ST_LEVEL_GCD]), AT(bw_source[ST_LEVEL_GCD]), 1},
    {"gpu_solo_gbs", AT(solo_gbs[ST_LEVEL_GPU]), AT(bw_source[ST_LEVEL_GPU]), 1},
    {"node_solo_gbs", AT(solo_gbs[ST_LEVEL_NODE]), AT(bw_source[ST_LEVEL_NODE]), 1},
};
#undef AT
#define N_NUMERIC ((int)(sizeof numeric_keys / sizeof numeric_keys[0]))
#define N_KEYS (N_NUMERIC + 1) /* + name */

static void trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t' || **b == '\r'))
        (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

/* Applies one value; k is the key's index (N_NUMERIC = name). */
static st_status apply_value(st_plan_machine *m, int k, const char *v, size_t vlen, const char *src, int line)
{
    if (k == N_NUMERIC) {
        if (vlen == 0 || vlen >= sizeof m->name)
            return ST_ERR(ST_ERR_FORMAT, "%s:%d: name must be 1 to %d characters", src, line,
                          (int)sizeof m->name - 1);
        memcpy(m->name, v, vlen);
        m->name[vlen] = '\0';
        return ST_OK;
    }
    char buf[64];
    char *end;
    if (vlen == 0 || vlen >= sizeof buf)
        return ST_ERR(ST_ERR_FORMAT, "%s:%d: %s needs a number", src, line, numeric_keys[k].key);
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
    errno = 0;
    double x = strtod(buf, &end);
    int low_ok = numeric_keys[k].allow_zero ? x >= 0 : x > 0;
    if (*end || errno || !isfinite(x) || !low_ok)
        return ST_ERR(ST_ERR_FORMAT, "%s:%d: %s = '%s' is not a finite number %s", src, line,
                      numeric_keys[k].key, buf, numeric_keys[k].allow_zero ? ">= 0" : "> 0");
    *(double *)((char *)m + numeric_keys[k].offset) = x;
    snprintf((char *)m + numeric_keys[k].source_offset, ST_PLAN_SOURCE_LEN, "file: %s", src);
    return ST_OK;
}

static st_status parse_line(st_plan_machine *m, const char *b, const char *e, int seen[N_KEYS],
                            const char *src, int line)
{
    trim(&b, &e);
    if (b == e || *b == '#')
        return ST_OK;
    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (!eq)
        return ST_ERR(ST_ERR_FORMAT, "%s:%d: expected key = value, got '%.*s'", src, line, (int)(e - b), b);
    const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
    trim(&kb, &ke);
    trim(&vb, &ve);
    size_t klen = (size_t)(ke - kb);
    for (int k = 0; k < N_KEYS; k++) {
        const char *key = k == N_NUMERIC ? "name" : numeric_keys[k].key;
        if (strlen(key) != klen || strncmp(kb, key, klen) != 0)
            continue;
        if (seen[k])
            return ST_ERR(ST_ERR_FORMAT, "%s:%d: key '%s' given twice", src, line, key);
        seen[k] = 1;
        return apply_value(m, k, vb, (size_t)(ve - vb), src, line);
    }
    return ST_ERR(ST_ERR_FORMAT, "%s:%d: unknown key '%.*s' (keys: name, gcd_gbs, gpu_gbs, node_gbs, "
                  "gcd_us, gpu_us, node_us, memory_gib, compute_gflops, stream_gbs, gcd_solo_gbs, gpu_solo_gbs, "
                  "node_solo_gbs)", src, line, (int)klen, kb);
}

st_status st_plan_machine_parse(const char *text, const char *source, st_plan_machine *inout)
{
    if (!text || !inout)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_machine_parse: NULL argument");
    const char *src = source ? source : "<machine>";
    st_plan_machine m = *inout;
    int seen[N_KEYS] = {0};
    int line = 1;
    for (const char *b = text;; line++) {
        const char *e = strchr(b, '\n');
        const char *end = e ? e : b + strlen(b);
        ST_TRY(parse_line(&m, b, end, seen, src, line));
        if (!e)
            break;
        b = e + 1;
    }
    *inout = m;
    return ST_OK;
}

st_status st_plan_machine_load(const char *path, st_plan_machine *inout)
{
    if (!path || !inout)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_machine_load: NULL argument");
    /* A machine file is a handful of lines; 64 KiB is far beyond any real one. A FIFO or other
     * non-regular file is refused without waiting on it. */
    char *text = NULL;
    size_t n = 0;
    st_status s = st_io_read_all(path, 65536, &text, &n);
    if (s != ST_OK)
        return ST_ERR(s, "machine file: %s", st_last_error());
    if (memchr(text, '\0', n))
        s = ST_ERR(ST_ERR_FORMAT, "machine file '%s' contains a NUL byte (not a text file)", path);
    else
        s = st_plan_machine_parse(text, path, inout);
    free(text);
    return s;
}
