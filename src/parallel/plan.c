/* The partition planner: per-scheme communication time and memory per device from the closed-form
 * volumes (partition_volume.c) and the machine's per-level figures, the choice of the fastest
 * scheme that fits, and the sentence that explains it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "plan_internal.h"
#include "shard_bucket.h"

static const char *const level_names[ST_LEVEL_COUNT] = {"GCD", "GPU", "NODE"};

void st_plan_input_init(st_plan_input *in)
{
    if (!in)
        return;
    memset(in, 0, sizeof *in);
    in->shape = (st_topo_shape){1, 1, 1};
    st_plan_machine_get("local", &in->machine);
    st_plan_model_get("gpt2-124m", &in->model);
    in->param_bytes = 2;
    in->grad_bytes = 2;
    in->optim_bytes = st_partition_optim_bytes(2);
    in->micro_batches = 1;
    in->micro_batch_size = 1;
    in->overlap = ST_PLAN_ENGINE_OVERLAP;
    in->unit_layout = ST_PLAN_UNITS_ENGINE;
}

/* The layout the per-micro-batch collectives of scheme p run on: the engine's is balanced where
 * parameters are sharded (quantized or not), contiguous otherwise (shard.h). */
static int unit_layout(const st_plan_input *in, const st_partition *p)
{
    if (in->unit_layout != ST_PLAN_UNITS_ENGINE)
        return in->unit_layout;
    return p->params != ST_SHARD_NONE ? ST_PLAN_UNITS_BALANCED : ST_PLAN_UNITS_CONTIGUOUS;
}

static st_status check_machine(const st_plan_machine *m)
{
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        if (!(m->bw_gbs[l] > 0) || !(m->lat_us[l] >= 0))
            return ST_ERR(ST_ERR_INVALID_ARG, "plan: machine '%s' has %s bandwidth %g GB/s and latency "
                          "%g us (need > 0 and >= 0)", m->name, level_names[l], m->bw_gbs[l], m->lat_us[l]);
    if (!(m->memory_gib > 0))
        return ST_ERR(ST_ERR_INVALID_ARG, "plan: machine '%s' has device memory %g GiB", m->name,
                      m->memory_gib);
    if (!(m->compute_gflops >= 0) || !(m->stream_gbs >= 0))
        return ST_ERR(ST_ERR_INVALID_ARG, "plan: machine '%s' has compute %g GFLOP/s and stream bandwidth %g "
                      "GB/s (need >= 0; 0 = unknown)", m->name, m->compute_gflops, m->stream_gbs);
    return ST_OK;
}

st_status st_plan_evaluate(const st_plan_input *in, const st_partition *p, st_plan_row *out)
{
    if (!in || !p || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_evaluate: NULL argument");
    ST_TRY(check_machine(&in->machine));
    if (!(in->overlap >= 0 && in->overlap <= 1))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_evaluate: overlap %g is not in [0, 1]", in->overlap);
    if (in->act_bytes != 0 && in->act_bytes != 2 && in->act_bytes != 4)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_evaluate: act_bytes %d is not 0, 2 or 4", in->act_bytes);
    if (in->unit_layout != ST_PLAN_UNITS_CONTIGUOUS && in->unit_layout != ST_PLAN_UNITS_BALANCED &&
        in->unit_layout != ST_PLAN_UNITS_ENGINE)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_evaluate: unit layout %d is not contiguous, balanced or the "
                      "engine's", in->unit_layout);
    uint64_t bucket;
    ST_TRY(shard_bucket_threshold(&bucket)); /* a malformed STRATA_SHARD_BUCKET is an error here too */
    (void)bucket;
    st_partition_model pm = {in->model.params, in->param_bytes, in->grad_bytes, in->optim_bytes,
                             in->micro_batches, in->model.hidden > 0 ? (uint64_t)in->model.hidden : 0,
                             in->n_units, in->unit_numel};
    st_plan_row r;
    memset(&r, 0, sizeof r);
    ST_TRY(st_partition_traffic_get(p, &in->shape, &pm, &r.traffic));
    ST_TRY(st_partition_memory_get(p, &in->shape, &pm, &r.state));
    const char *name = st_partition_name(p);
    r.name = name ? name : "custom";
    r.partition = *p;
    /* Once-per-step collectives run on the whole flat vector: the closed forms, each level at its
     * bandwidth. Per-micro-batch ones run unit by unit: where the unit layout is known, each unit's
     * collectives are charged their busiest rank (plan_units.c); otherwise (a raw parameter count)
     * as the closed forms, one call per layer. */
    st_plan_input laid = *in;
    laid.unit_layout = unit_layout(in, p);
    int units = plan_unit_comm(&laid, p, r.traffic.padded, r.level_s, r.messages);
    uint64_t calls = (uint64_t)plan_gpt_buckets(&laid, p, NULL, NULL); /* bucketed units (shard_bucket.h) */
    uint64_t step_msgs[ST_LEVEL_COUNT] = {0, 0, 0};
    for (int i = 0; i < r.traffic.n_phases; i++) {
        const st_partition_phase *ph = &r.traffic.phases[i];
        if (ph->when == ST_PHASE_STEP)
            step_msgs[ph->level] += ph->messages;
        else if (!units)
            r.messages[ph->level] += calls * (uint64_t)in->micro_batches * ph->messages;
    }
    double node_ranks = (double)in->shape.gpus_per_node * in->shape.gcds_per_gpu;
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        double bw = in->machine.bw_gbs[l] * 1e9 / (l == ST_LEVEL_NODE ? node_ranks : 1.0);
        double lat = in->machine.lat_us[l] * 1e-6;
        r.messages[l] += step_msgs[l];
        r.level_s[l] += (double)r.traffic.once[l].sent / bw + (double)step_msgs[l] * lat;
        if (!units)
            r.level_s[l] += (double)r.traffic.micro_batch[l].sent * in->micro_batches / bw +
                            (double)(r.messages[l] - step_msgs[l]) * lat;
        r.comm_s += r.level_s[l];
    }
    plan_memory(in, p, &r);
    plan_compute(in, p, &r);
    *out = r;
    return ST_OK;
}

static int dominant_level(const st_plan_row *r)
{
    int best = 0;
    for (int l = 1; l < ST_LEVEL_COUNT; l++)
        if (r->level_s[l] > r->level_s[best])
            best = l;
    return best;
}

static int is_exact(const st_plan_row *r) { return !r->partition.qw && !r->partition.qg; }

/* Whether row a is a better choice than row b (both fit). */
static int better(const st_plan_row *a, const st_plan_row *b)
{
    if (a->step_s != b->step_s)
        return a->step_s < b->step_s;
    return a->memory < b->memory;
}

/* Appends to the explanation; silently truncates (the buffer is far larger than any sentence). */
static void say(st_plan_result *res, size_t *used, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(st_plan_result *res, size_t *used, const char *fmt, ...)
{
    if (*used >= sizeof res->explanation)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(res->explanation + *used, sizeof res->explanation - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n;
}

static void explain(const st_plan_input *in, st_plan_result *res)
{
    size_t used = 0;
    const st_plan_row *c = res->chosen >= 0 ? &res->rows[res->chosen] : NULL;
    int runner = -1, n_unfit = 0, quant = -1;
    for (int i = 0; i < res->n_rows; i++) {
        if (!res->rows[i].fits)
            n_unfit++;
        else if (!is_exact(&res->rows[i]) && i != res->chosen)
            quant = quant < 0 || better(&res->rows[i], &res->rows[quant]) ? i : quant;
        else if (i != res->chosen && (runner < 0 || better(&res->rows[i], &res->rows[runner])))
            runner = i;
    }
    if (c) {
        int l = dominant_level(c);
        if (c->compute_s > 0)
            say(res, &used, "chose %s: %.3g s per step, %.3g s of compute and %.3g s of communication, "
                "dominated by the %s level (%.3g s)", c->name, c->step_s, c->compute_s, c->comm_s,
                level_names[l], c->level_s[l]);
        else
            say(res, &used, "chose %s: %.3g s of communication per step (compute rate unknown), dominated "
                "by the %s level (%.3g s)", c->name, c->comm_s, level_names[l], c->level_s[l]);
        if (runner >= 0)
            say(res, &used, "; next fastest that fits: %s at %.3g s (%.2fx slower)", res->rows[runner].name,
                res->rows[runner].step_s, res->rows[runner].step_s / (c->step_s > 0 ? c->step_s : 1e-300));
    } else {
        say(res, &used, "no scheme fits in %.1f GiB per device", in->machine.memory_gib);
    }
    if (quant >= 0 && (!c || better(&res->rows[quant], c)))
        say(res, &used, "; with quantized communication (lossy, not chosen by itself) %s would take %.3g s",
            res->rows[quant].name, res->rows[quant].step_s);
    if (n_unfit) {
        say(res, &used, "; did not fit in %.1f GiB:", in->machine.memory_gib);
        for (int i = 0; i < res->n_rows; i++)
            if (!res->rows[i].fits)
                say(res, &used, " %s (%.1f GiB)", res->rows[i].name, res->rows[i].memory / 1073741824.0);
    }
    say(res, &used, ".");
}

st_status st_plan_choose(const st_plan_input *in, const st_partition *extra, st_plan_result *out)
{
    if (!in || !out)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_plan_choose: NULL argument");
    st_plan_result *res = out;
    st_plan_result tmp;
    memset(&tmp, 0, sizeof tmp);
    int n = st_partition_scheme_count();
    for (int i = 0; i <= n; i++) {
        st_partition p;
        const char *name;
        if (i < n)
            ST_TRY(st_partition_scheme(i, &name, &p));
        else if (extra && !st_partition_name(extra) && tmp.n_rows < ST_PLAN_MAX_ROWS)
            p = *extra;
        else
            break;
        ST_TRY(st_plan_evaluate(in, &p, &tmp.rows[tmp.n_rows]));
        tmp.n_rows++;
    }
    /* Quantized communication changes the numbers trained on: the choice is among exact schemes
     * (and the caller's own), and the explanation names a faster quantized one. */
    tmp.chosen = -1;
    for (int i = 0; i < tmp.n_rows; i++)
        if (tmp.rows[i].fits && (is_exact(&tmp.rows[i]) || i >= n) &&
            (tmp.chosen < 0 || better(&tmp.rows[i], &tmp.rows[tmp.chosen])))
            tmp.chosen = i;
    explain(in, &tmp);
    *res = tmp;
    return ST_OK;
}
