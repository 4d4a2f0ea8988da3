/* strata-train's multi-rank model state (train_shard.h): the engine's creation, measured with the
 * device allocator's counters, and the memory report at the end of a run. */
#include <string.h>
#include "train_shard.h"

int train_shard_create(train_shard *t, st_params *ps, st_comm *c, const st_partition *p,
                       const st_adamw_config *ac, char *err, size_t errlen)
{
    st_device_memory m0, m1;
    st_device *dev = st_params_device(ps);
    t->p = *p;
    st_device_memory_get(dev, &m0);
    st_status s = st_shard_create(ps, c, p, ac, &t->s);
    st_device_memory_get(dev, &m1);
    if (s) {
        snprintf(err, errlen, "sharded model state: %s", st_last_error());
        return -1;
    }
    t->engine_bytes = m1.current - m0.current;
    return 0;
}

int train_shard_attach(train_shard *t, st_graph_plan *plan, st_device *dev, char *err, size_t errlen)
{
    st_device_memory m0, m1;
    st_device_memory_get(dev, &m0);
    if (st_shard_attach_graph(t->s, plan, NULL) != ST_OK) {
        snprintf(err, errlen, "attaching the model graph to the sharded state: %s", st_last_error());
        return -1;
    }
    st_device_memory_get(dev, &m1);
    t->released_bytes = m0.current > m1.current ? m0.current - m1.current : 0;
    st_device_memory_reset_peak(dev);
    return 0;
}

static void scheme_text(const train_shard *t, char *buf, size_t n)
{
    const char *name = st_partition_name(&t->p);
    if (name) snprintf(buf, n, "%s", name);
    else st_partition_format(&t->p, buf, n);
}

void train_shard_describe(const train_shard *t, FILE *out)
{
    char name[128], form[128];
    scheme_text(t, name, sizeof name);
    st_partition_format(&t->p, form, sizeof form);
    fprintf(out, "partition %s: %s", name, form);
    st_partition_model pm;
    if ((t->p.qw || t->p.qg) && t->s && st_shard_model(t->s, 1, &pm) == ST_OK) {
        fprintf(out, " (elements per scale:");
        if (t->p.qw) fprintf(out, " weights %lld", (long long)st_partition_qw_block(&t->p));
        if (t->p.qg)
            fprintf(out, "%s gradients %lld%s", t->p.qw ? "," : "", (long long)st_partition_qg_block(&t->p, pm.row),
                    t->p.qgblock ? "" : ", a row of the model");
        fprintf(out, ")");
    }
    fprintf(out, "\n");
}

/* Bytes of the kinds the engine allocates itself (the replicated ones live in the arenas). */
static uint64_t engine_kinds(const train_shard *t, const st_partition_memory *m)
{
    return (t->p.params ? m->params : 0) + (t->p.grads ? m->grads : 0) + m->optim + m->secondary;
}

void train_shard_report(const train_shard *t, st_device *dev, FILE *progress, FILE *log)
{
    st_device_memory dm = {0, 0, 0};
    st_partition_memory m = {0, 0, 0, 0, 0};
    st_partition_model pm = {0, 0, 0, 0, 0, 0, 0, NULL};
    st_device_memory_get(dev, &dm);
    uint64_t working = 0;
    if (t->s && (st_shard_memory(t->s, &m) || st_shard_model(t->s, 1, &pm) ||
                 st_shard_working_memory(t->s, &working)))
        t = NULL;
    if (progress && t && t->s)
        fprintf(progress, "memory per rank: params %llu, grads %llu, optim %llu, secondary %llu bytes; the "
                "engine allocated %llu (its kinds %llu), the arenas %llu, %llu of them released for "
                "per-layer gathering (working slots %llu)\n", (unsigned long long)m.params,
                (unsigned long long)m.grads, (unsigned long long)m.optim, (unsigned long long)m.secondary,
                (unsigned long long)t->engine_bytes, (unsigned long long)engine_kinds(t, &m),
                (unsigned long long)t->arena_bytes, (unsigned long long)t->released_bytes,
                (unsigned long long)working);
    if (progress) fprintf(progress, "device peak: %llu bytes of tensors%s\n", (unsigned long long)dm.peak,
                          t && t->s ? " while training" : "");
    if (!log) return;
    fprintf(log, "{\"summary\": {\"peak_bytes\": %llu", (unsigned long long)dm.peak);
    if (t && t->s) {
        char name[128];
        scheme_text(t, name, sizeof name);
        fprintf(log, ", \"scheme\": \"%s\", \"partitioned_params\": %llu, \"model_row\": %llu, \"mem_params\": %llu, "
                "\"mem_grads\": %llu, \"mem_optim\": %llu, \"mem_secondary\": %llu, \"engine_bytes\": %llu, "
                "\"engine_kinds\": %llu, \"arena_bytes\": %llu, \"released_bytes\": %llu, \"working_bytes\": %llu",
                name, (unsigned long long)pm.params, (unsigned long long)pm.row,
                (unsigned long long)m.params, (unsigned long long)m.grads, (unsigned long long)m.optim,
                (unsigned long long)m.secondary, (unsigned long long)t->engine_bytes,
                (unsigned long long)engine_kinds(t, &m), (unsigned long long)t->arena_bytes,
                (unsigned long long)t->released_bytes, (unsigned long long)working);
        /* the balanced layout's units: strata-info --unit-sizes makes its closed forms per unit */
        for (int k = 0; k < pm.n_units; k++)
            fprintf(log, "%s%llu", k ? "," : ", \"unit_sizes\": \"", (unsigned long long)pm.unit_numel[k]);
        if (pm.n_units > 0)
            fputc('"', log);
    }
    fputs("}}\n", log);
}

void train_shard_destroy(train_shard *t)
{
    st_shard_destroy(t->s);
    t->s = NULL;
}
